//! [`FileFrames`]: page-table frames taken from the memory file, so that
//! guest-physical address = memory-file offset for tables too.
//!
//! Freed frames are not returned to the memory file at once: on a
//! shadow-paging host (PVM) KVM may still hold a shadow page built from a
//! freed table, linked from other shadow pages, and would reuse it, stale,
//! if the frame became a table again. They wait in a quarantine shared by
//! the whole machine until [`super::machine::Machine`] has made KVM drop
//! every shadow page (which it does only once many frames wait); then they
//! are zeroed and kept for the next tables (a fresh page would cost a host
//! page fault, and punching it out of the file a system call).

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use pagetables::{FrameAllocator, RawFrame, FRAME_SIZE};

use crate::memfile::{FileRange, MemoryFile};

/// Frames freed since KVM last dropped its shadow pages, and frames ready
/// for reuse as tables.
#[derive(Default)]
pub(super) struct Quarantine {
    frames: Mutex<Vec<u64>>,
    /// Zeroed frames no shadow page was built from since KVM last dropped
    /// them all: reused before new memory-file pages, which the host would
    /// have to fault in (and punch again when they are released).
    ready: Mutex<Vec<u64>>,
}

/// Most frames kept ready for reuse (16 MiB); more are given back.
const READY_MAX: usize = 4096;

impl Quarantine {
    fn add(&self, phys: u64) {
        self.frames
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(phys);
    }

    /// How many frames wait.
    pub(super) fn len(&self) -> usize {
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A zeroed frame for a new table, if one is ready.
    fn take_ready(&self) -> Option<u64> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Makes every waiting frame reusable: zeroed and kept ready, or, past
    /// [`READY_MAX`], given back to `mf` in contiguous runs. Call only once
    /// no shadow page built before the call can be used any more.
    pub(super) fn release(&self, mf: &MemoryFile) {
        let mut frames =
            std::mem::take(&mut *self.frames.lock().unwrap_or_else(|e| e.into_inner()));
        frames.sort_unstable();
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        let keep = READY_MAX.saturating_sub(ready.len()).min(frames.len());
        let give_back = frames.split_off(keep);
        for run in runs(&frames) {
            if mf.fill(run.offset, run.len, 0).is_err() {
                // Cannot happen for frames of the file; never reuse a
                // frame that may not be zero.
                mf.free(run);
                continue;
            }
            ready.extend((run.offset..run.end()).step_by(FRAME_SIZE as usize));
        }
        drop(ready);
        for run in runs(&give_back) {
            mf.free(run);
        }
    }
}

/// Sorted frame addresses as contiguous ranges.
fn runs(frames: &[u64]) -> Vec<FileRange> {
    let mut out: Vec<FileRange> = Vec::new();
    for &f in frames {
        match out.last_mut() {
            Some(r) if r.end() == f => r.len += FRAME_SIZE,
            _ => out.push(FileRange {
                offset: f,
                len: FRAME_SIZE,
            }),
        }
    }
    out
}

/// Table frames from the memory file.
pub(super) struct FileFrames {
    mf: Arc<MemoryFile>,
    quarantine: Arc<Quarantine>,
}

impl FileFrames {
    pub(super) fn new(mf: Arc<MemoryFile>, quarantine: Arc<Quarantine>) -> Self {
        FileFrames { mf, quarantine }
    }
}

// SAFETY: `frame_ptr` checks that the whole frame lies inside the memory
// file and returns a pointer into the sentry's mapping of it, which lives as
// long as the `Arc<MemoryFile>` held here (so at least as long as any
// `&self` borrow). The mapping is page-aligned, so the pointer is aligned
// for `AtomicU64`. Table frames are allocated only through this allocator
// and never handed to the sentry's memory manager, so apart from the MMU
// (locked updates) nothing else accesses them while they are tables.
unsafe impl FrameAllocator for FileFrames {
    fn allocate_frame(&mut self) -> Option<u64> {
        if let Some(frame) = self.quarantine.take_ready() {
            return Some(frame);
        }
        // Fresh memory-file pages read as zero (new, or hole-punched on free).
        self.mf.allocate(FRAME_SIZE).ok().map(|r| r.offset)
    }

    fn free_frame(&mut self, phys: u64) {
        self.quarantine.add(phys);
    }

    fn frame_ptr(&self, phys: u64) -> NonNull<RawFrame> {
        assert!(
            phys.is_multiple_of(FRAME_SIZE)
                && phys
                    .checked_add(FRAME_SIZE)
                    .is_some_and(|end| end <= self.mf.size()),
            "page-table frame {phys:#x} outside the memory file"
        );
        let addr = self.mf.host_address() + phys;
        NonNull::new(addr as *mut RawFrame).expect("the memory file mapping is not at 0")
    }
}
