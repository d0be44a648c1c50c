//! Test support: a frame allocator over boxed frames, and a checker of the
//! tree's structural invariants.

extern crate std;

use core::cell::Cell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use std::boxed::Box;
use std::vec::Vec;

use crate::addr::{Level, ROOT_LEVEL};
use crate::{EntryFlags, FrameAllocator, PageTables, RawFrame, ENTRY_COUNT, FRAME_SIZE};

/// Physical address of frame 0; not zero, so a stray 0 is never a frame.
const BASE: u64 = 0x4000_0000;

/// Frames in boxes (stable addresses, never released before the arena), a
/// live bit per frame so a use after free panics, and an optional cap to
/// provoke `OutOfFrames`.
pub(crate) struct Arena {
    frames: Vec<Box<RawFrame>>,
    live: Vec<bool>,
    free: Vec<usize>,
    /// Most frames live at once; a `Cell` so a test can tighten it while
    /// the tables borrow the arena.
    pub(crate) limit: Cell<usize>,
}

impl Arena {
    pub(crate) fn new() -> Self {
        Arena {
            frames: Vec::new(),
            live: Vec::new(),
            free: Vec::new(),
            limit: Cell::new(usize::MAX),
        }
    }

    pub(crate) fn live_frames(&self) -> usize {
        self.live.iter().filter(|&&l| l).count()
    }

    fn slot(&self, phys: u64) -> usize {
        assert!(
            phys >= BASE && phys.is_multiple_of(FRAME_SIZE),
            "bad frame {phys:#x}"
        );
        let i = usize::try_from((phys - BASE) / FRAME_SIZE).unwrap();
        assert!(self.live.get(i) == Some(&true), "frame {phys:#x} not live");
        i
    }
}

// SAFETY: `frame_ptr` panics for any address that is not a live frame and
// otherwise points into a boxed `RawFrame`, which is aligned, 4096 bytes,
// never moved and not dropped before the arena; the arena itself touches
// frame contents only through atomic stores (zeroing).
unsafe impl FrameAllocator for Arena {
    fn allocate_frame(&mut self) -> Option<u64> {
        if self.live_frames() >= self.limit.get() {
            return None;
        }
        let i = match self.free.pop() {
            Some(i) => {
                for e in self.frames[i].iter() {
                    e.store(0, Ordering::Relaxed);
                }
                i
            }
            None => {
                self.frames
                    .push(Box::new(core::array::from_fn(|_| AtomicU64::new(0))));
                self.live.push(false);
                self.frames.len() - 1
            }
        };
        self.live[i] = true;
        Some(BASE + i as u64 * FRAME_SIZE)
    }

    fn free_frame(&mut self, phys: u64) {
        let i = self.slot(phys);
        self.live[i] = false;
        self.free.push(i);
    }

    fn frame_ptr(&self, phys: u64) -> NonNull<RawFrame> {
        NonNull::from(&*self.frames[self.slot(phys)])
    }
}

/// Check the invariants of the tree (every non-root table non-empty, every
/// intermediate entry exactly `TABLE`) and return how many tables it has.
pub(crate) fn check_tree<A: FrameAllocator>(pt: &PageTables<A>) -> usize {
    fn tables<A: FrameAllocator>(pt: &PageTables<A>, table: u64, level: Level) -> usize {
        let mut count = 1;
        let mut present = 0;
        for i in 0..ENTRY_COUNT {
            let e = pt.table(table).get(i);
            if !e.is_present() {
                continue;
            }
            present += 1;
            if level > 0 && !e.is_huge() {
                assert_eq!(e.flags(), EntryFlags::TABLE, "intermediate flags");
                count += tables(pt, e.address(), level - 1);
            } else {
                assert!(level <= 1, "leaf above the page directory");
            }
        }
        assert!(
            level == ROOT_LEVEL || present > 0,
            "empty table left at level {level}"
        );
        count
    }
    tables(pt, pt.root_phys(), ROOT_LEVEL)
}
