//! Safe, atomic access to the entries of one table frame.

use core::sync::atomic::Ordering;

use crate::{Entry, FrameAllocator, RawFrame, ENTRY_COUNT};

// Orderings: stores are Release and loads Acquire so that a freshly zeroed
// table is fully written before the entry linking it is visible to another
// thread (or to a page walk on another CPU, which follows x86 ordering once
// the compiler has kept program order). On x86 these are plain moves.

/// One table frame, borrowed from its allocator for as long as `'a`.
#[derive(Clone, Copy)]
pub(crate) struct Table<'a> {
    entries: &'a RawFrame,
}

impl<'a> Table<'a> {
    /// The table stored in the frame at `phys`.
    pub(crate) fn at<A: FrameAllocator + ?Sized>(alloc: &'a A, phys: u64) -> Self {
        let ptr = alloc.frame_ptr(phys);
        // SAFETY: by the `FrameAllocator` contract `ptr` is aligned and valid
        // for reads and writes of the whole frame while `alloc` is borrowed,
        // which the lifetime 'a ties this reference to, and other code uses
        // the frame only atomically; `RawFrame` has interior mutability, so a
        // shared reference to it is allowed alongside those writers.
        let entries = unsafe { ptr.as_ref() };
        Table { entries }
    }

    pub(crate) fn get(self, i: usize) -> Entry {
        Entry::from_bits(self.entries[i].load(Ordering::Acquire))
    }

    pub(crate) fn set(self, i: usize, entry: Entry) {
        self.entries[i].store(entry.bits(), Ordering::Release);
    }

    /// Store `entry` in slot `i`, returning what it held at that instant.
    pub(crate) fn swap(self, i: usize, entry: Entry) -> Entry {
        Entry::from_bits(self.entries[i].swap(entry.bits(), Ordering::AcqRel))
    }

    /// Clear entry `i`, returning what it held at that instant (including any
    /// DIRTY bit the MMU set just before).
    pub(crate) fn take(self, i: usize) -> Entry {
        self.swap(i, Entry::EMPTY)
    }

    /// Replace entry `i` with `f(old)` atomically, so ACCESSED/DIRTY bits the
    /// MMU sets meanwhile are not lost; `f` may run more than once.
    pub(crate) fn update(self, i: usize, mut f: impl FnMut(Entry) -> Entry) {
        let _ = self.entries[i].fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
            Some(f(Entry::from_bits(bits)).bits())
        });
    }

    /// True when no entry is present: the table can be freed.
    pub(crate) fn is_empty(self) -> bool {
        (0..ENTRY_COUNT).all(|i| !self.get(i).is_present())
    }
}
