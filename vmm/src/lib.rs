//! Host side of rvisor's platforms.
//!
//! A platform runs guest instructions and hands every system call, fault and
//! exception back to the sentry as an [`Event`]. The sentry drives all
//! platforms through the traits in [`platform`]; it never knows which one it
//! drives. Guest memory lives in one [`MemoryFile`] per sandbox.

pub mod kvm;
pub mod memfile;
pub mod platform;
pub mod ptrace;

pub use memfile::{FileRange, MemoryFile, MemoryFileError};
pub use platform::{
    Access, AddressSpace, Context, Event, Interrupter, Platform, PlatformError, Result, ThreadSeed,
};
pub use ring0::abi::{Regs, Vector};

/// Size of a guest page.
pub const PAGE_SIZE: u64 = 4096;
