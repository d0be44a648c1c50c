//! x86-64 4-level page tables over a frame-allocator trait.
//!
//! The VMM builds guest page tables with it inside guest-physical memory, and
//! ring0 can use it unchanged: it needs only `core`. All memory access goes
//! through [`FrameAllocator::frame_ptr`], whose contract is the one thing the
//! unsafe code here relies on.
//!
//! - `entry`: the entry format; `addr`: canonical addresses, sizes, indices;
//! - `frame`: the allocator trait; `table`: atomic access to one table frame;
//! - `page_tables`: the tree and single-page operations; `split`: 2 MiB to
//!   4 KiB; `range`: protect/unmap over ranges; `visit`: enumeration;
//! - `cr3`: PCID-tagged CR3 values.
#![no_std]

mod addr;
mod cr3;
mod entry;
mod error;
mod frame;
mod page_tables;
mod range;
mod split;
mod table;
mod visit;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use addr::{is_canonical, PageSize, ENTRY_COUNT, PHYS_LIMIT, VIRT_BITS};
pub use cr3::{cr3_value, Pcid, CR3_NO_FLUSH};
pub use entry::{Entry, EntryFlags, ADDRESS_MASK};
pub use error::Error;
pub use frame::{FrameAllocator, RawFrame, FRAME_SIZE};
pub use page_tables::PageTables;
