//! Resolving guest faults: backing memory-file pages on first touch, and
//! growing the stack.

use vmm::Access;

use super::cow::mirror_perms;
use super::{
    aligned_window, page_align_down, page_align_up, platform_errno, FaultError, MemoryManager, Vma,
    VmaKind, COW_CHUNK, FAULT_CHUNK, STACK_GROW_SLACK, STACK_LIMIT,
};
use crate::errno::Errno;

impl MemoryManager {
    /// Resolve a guest fault at `addr`.
    pub fn handle_fault(&mut self, addr: u64, access: Access) -> Result<(), FaultError> {
        let (start, vma) = match self.vmas.get_containing(addr) {
            Some((s, v)) => (s, v.clone()),
            None => self.grow_stack(addr).ok_or(FaultError::Unmapped)?,
        };
        if !vma.perms.contains(access) || vma.perms.is_empty() {
            return Err(FaultError::Protection);
        }
        if let Some(page) = self.pmas.page_at(addr) {
            // A copy-on-write page is mirrored read-only, so a fault on it
            // in a writable VMA is a write (ptrace reports every data
            // access as a read, and a read of a mirrored page only faults
            // before the platform mirrored it, where copying is harmless).
            if page.cow && vma.perms.contains(Access::WRITE) && access != Access::EXEC {
                let (lo, hi) = aligned_window(COW_CHUNK, addr, addr + 1, start, vma.end);
                return self.break_cow(lo, hi).map_err(|_| FaultError::OutOfMemory);
            }
            return Err(FaultError::AlreadyBacked);
        }
        if addr >= file_limit(start, &vma) {
            return Err(FaultError::PastEof);
        }
        // Back the aligned window around the fault: sequential access then
        // traps once per window in either direction.
        let (lo, hi) = aligned_window(FAULT_CHUNK, addr, addr + 1, start, vma.end);
        self.back(lo, hi).map_err(|_| FaultError::OutOfMemory)
    }

    /// Where `addr` lies in the memory file if it is in shared memory
    /// (backing it first): the name a futex there has in every process that
    /// maps the same pages. `None` for private memory.
    pub fn shared_offset(&mut self, addr: u64) -> Option<u64> {
        let (start, vma) = self.vmas.get_containing(addr)?;
        if !vma.is_shared() {
            return None;
        }
        if self.pmas.page_at(addr).is_none() {
            let (lo, hi) = aligned_window(FAULT_CHUNK, addr, addr + 1, start, vma.end);
            self.back(lo, hi).ok()?;
        }
        let page = self.pmas.page_at(addr)?;
        Some(page.range.offset + (addr - page.start))
    }

    /// Extend a grows-down stack VMA to cover `addr` if within the limit.
    pub(super) fn grow_stack(&mut self, addr: u64) -> Option<(u64, Vma)> {
        let (start, vma) = self.vmas.first_above(addr)?;
        let page = page_align_down(addr);
        if vma.kind != VmaKind::Stack || vma.end - page > STACK_LIMIT {
            return None;
        }
        // Grow a little past the fault so a descending stack faults rarely,
        // but never into the mapping below.
        let floor = self
            .vmas
            .last_end_below(page)
            .unwrap_or(0)
            .max(self.layout.min_addr);
        let new_start = page
            .saturating_sub(STACK_GROW_SLACK)
            .max(vma.end - STACK_LIMIT)
            .max(floor);
        if new_start > page {
            return None;
        }
        let vma = self.vmas.extend_start(start, new_start)?;
        Some((new_start, vma))
    }

    /// Back `[lo, hi)` (within one VMA) with memory-file pages where it is
    /// not backed yet, mirroring the new pages into the platform. A file's
    /// VMA is backed by the file's pages, and only up to its last page.
    pub(super) fn back(&mut self, lo: u64, hi: u64) -> Result<(), Errno> {
        let Some((vstart, vma)) = self.vmas.get_containing(lo).map(|(s, v)| (s, v.clone())) else {
            return Ok(());
        };
        let hi = hi.min(file_limit(vstart, &vma));
        if hi <= lo {
            return Ok(());
        }
        let perms = vma.perms;
        for (s, e) in self.pmas.gaps(lo, hi) {
            let Some(f) = &vma.file else {
                let range = self.mf.allocate(e - s).map_err(|_| Errno::ENOMEM)?;
                self.pmas.insert(s, e, range, false);
                if !perms.is_empty() {
                    self.asp.map_file(s, range, perms).map_err(platform_errno)?;
                }
                continue;
            };
            // A private mapping shows the file's pages until it writes.
            let cow = !f.shared;
            let mut at = s;
            for run in f.file.pin(f.offset + (s - vstart), e - s)? {
                self.pmas.insert(at, at + run.len, run, cow);
                if !perms.is_empty() {
                    self.asp
                        .map_file(at, run, mirror_perms(perms, cow))
                        .map_err(platform_errno)?;
                }
                at += run.len;
            }
        }
        Ok(())
    }
}

/// The guest address where the pages of the file mapped by `vma` (starting
/// at `start`) end: a page wholly past the end of the file has nothing
/// behind it (SIGBUS). `vma.end` for memory that is not a file's.
pub(super) fn file_limit(start: u64, vma: &Vma) -> u64 {
    let Some(f) = &vma.file else {
        return vma.end;
    };
    let pages_end = page_align_up(f.file.size()).unwrap_or(u64::MAX);
    let inside = pages_end.saturating_sub(f.offset);
    start.saturating_add(inside).min(vma.end)
}
