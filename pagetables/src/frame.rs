//! Where table frames come from: the one contract the unsafe code rests on.

use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

use crate::ENTRY_COUNT;

/// The memory of one table frame as this crate accesses it.
///
/// Entries are atomics because the frames are shared with the MMU: while a
/// vCPU runs on these tables, the processor sets ACCESSED/DIRTY bits with
/// locked read-modify-writes. Atomic accesses make that sharing well-defined
/// and let permission changes keep bits set concurrently.
pub type RawFrame = [AtomicU64; ENTRY_COUNT];

/// Size of a table frame.
pub const FRAME_SIZE: u64 = 4096;

/// A source of 4 KiB table frames, addressed by physical address.
///
/// The VMM implements it over its mapping of guest memory (physical address =
/// guest-physical address); ring0 could implement it over a direct map.
///
/// Correctness (not memory safety) also needs: `allocate_frame` returns
/// zeroed frames at distinct 4096-aligned addresses below 2^52 that nothing
/// else writes, except the MMU setting ACCESSED/DIRTY. The page-table code
/// frees only frames it allocated, once each.
///
/// # Safety
///
/// [`frame_ptr`](Self::frame_ptr) is the only door to raw memory, and
/// implementors promise, for *any* `phys` it is called with:
///
/// - it either panics or returns a pointer aligned for `AtomicU64` and valid
///   for reads and writes of 4096 bytes for as long as the `&self` borrow it
///   was called through lasts (frames can only be freed, and memory released,
///   through `&mut self`, so this borrow is what keeps them alive);
/// - while that borrow lasts, other code accesses those bytes only with atomic
///   operations (the MMU's ACCESSED/DIRTY updates are locked and count as
///   such), so the atomic accesses of this crate never race a plain one.
///
/// Asking for every `phys`, not only allocated ones, means no bug in the tree
/// code or corrupted entry can turn into an access outside the allocator's
/// memory: an implementor over guest memory checks bounds and panics.
pub unsafe trait FrameAllocator {
    /// A zeroed table frame, or `None` when memory for tables is exhausted.
    fn allocate_frame(&mut self) -> Option<u64>;

    /// Give back a frame from `allocate_frame`; the caller no longer uses it.
    fn free_frame(&mut self, phys: u64);

    /// Where the frame at `phys` can be read and written by this code.
    fn frame_ptr(&self, phys: u64) -> NonNull<RawFrame>;
}

// SAFETY: every call is forwarded to `A`, whose own implementation upholds the
// contract; the mutable borrow keeps others from freeing frames meanwhile.
unsafe impl<A: FrameAllocator + ?Sized> FrameAllocator for &mut A {
    fn allocate_frame(&mut self) -> Option<u64> {
        (**self).allocate_frame()
    }

    fn free_frame(&mut self, phys: u64) {
        (**self).free_frame(phys)
    }

    fn frame_ptr(&self, phys: u64) -> NonNull<RawFrame> {
        (**self).frame_ptr(phys)
    }
}
