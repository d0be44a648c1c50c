//! `fork`: a child address space sharing the parent's pages copy-on-write.
//!
//! Every backed range gains the child as a second owner (`MemoryFile::share`)
//! and is marked copy-on-write on both sides; the parent's writable
//! mappings are narrowed to read-only before any of its threads runs guest
//! code again, so neither process sees the other's later writes (`cow.rs`).
//! Only the windows both sides write first (the forking thread's stack and
//! TLS) are copied for the child at once.

use std::sync::Arc;

use vmm::{Access, AddressSpace, MemoryFile};

use super::cow::mirror_perms;
use super::pma::PmaSet;
use super::vma::VmaSet;
use super::{aligned_window, platform_errno, Layout, MemoryManager, COW_CHUNK};
use crate::errno::Errno;

/// What a child's memory manager is built from. It holds references to
/// memory-file pages (dropped if it is dropped unused).
pub struct ForkedMemory {
    mf: Arc<MemoryFile>,
    vmas: VmaSet,
    pmas: Option<PmaSet>,
    layout: Layout,
    brk_start: u64,
    brk: u64,
}

impl MemoryManager {
    /// Share this address space's pages with a child process. The windows
    /// around each of the `hot` addresses (the forking thread's stack
    /// pointer and TLS block: both sides write there first thing) are not
    /// shared: the child gets a copy of them at once, and the parent keeps
    /// its pages there writable. One 64 KiB copy each is far cheaper than a
    /// copy-on-write fault on each side, and the parent's mappings there
    /// (and whatever the platform built from them) stay as they are.
    pub fn fork_share(&mut self, hot: &[u64]) -> Result<ForkedMemory, Errno> {
        let windows = self.hot_windows(hot)?;
        // The copies are allocated before anything changes, so that running
        // out of memory leaves the parent as it was.
        let mut copies = Vec::with_capacity(windows.len());
        for &(lo, hi) in &windows {
            match self.mf.allocate_for_overwrite(hi - lo) {
                Ok(copy) => copies.push(copy),
                Err(_) => {
                    for copy in copies {
                        self.mf.free(copy);
                    }
                    return Err(Errno::ENOMEM);
                }
            }
        }
        let mut forked = ForkedMemory {
            mf: self.mf.clone(),
            vmas: self.vmas.clone(),
            pmas: Some(PmaSet::default()),
            layout: self.layout,
            brk_start: self.brk_start,
            brk: self.brk,
        };
        let child = forked.pmas.as_mut().expect("just made");
        let mut narrow = Vec::new();
        for p in self.pmas.pieces(0, u64::MAX) {
            // Shared memory stays shared: both sides keep writing the same
            // pages.
            let shared = self
                .vmas
                .get_containing(p.start)
                .is_some_and(|(_, v)| v.is_shared());
            if shared {
                self.mf.share(p.range);
                child.insert(p.start, p.end, p.range, false);
                continue;
            }
            // Everything else is copy-on-write from now on, but for the hot
            // windows, which the child gets copies of below.
            for (lo, hi, hot) in split_by_windows(p.start, p.end, &windows) {
                if hot {
                    continue;
                }
                let range = p.range.slice(lo - p.start, hi - lo);
                self.mf.share(range);
                child.insert(lo, hi, range, true);
                if !p.cow {
                    if (lo, hi) != (p.start, p.end) {
                        // Part of a PMA: split it, so that the hot part
                        // stays the parent's own.
                        self.pmas.take_range(lo, hi);
                        self.pmas.insert(lo, hi, range, true);
                    } else {
                        self.pmas.mark_cow(p.start, p.start + 1);
                    }
                    narrow.push((lo, hi, range));
                }
            }
        }
        for (&(lo, hi), copy) in windows.iter().zip(copies) {
            // Backed pages are copied; a gap stays a gap in the child too
            // (its pages of the copy go back at once).
            let mut filled = lo;
            for p in self.pmas.pieces(lo, hi) {
                let dst = copy.slice(p.start - lo, p.end - p.start);
                self.mf
                    .copy_within(p.range.offset, dst.offset, dst.len)
                    .map_err(|_| Errno::ENOMEM)?;
                child.insert(p.start, p.end, dst, false);
                if p.start > filled {
                    self.mf.free(copy.slice(filled - lo, p.start - filled));
                }
                filled = p.end;
            }
            if hi > filled {
                self.mf.free(copy.slice(filled - lo, hi - filled));
            }
        }
        // Pieces already copy-on-write are mirrored read-only already.
        for (start, end, range) in narrow {
            // One backing range may straddle VMAs that mprotect made differ.
            for (vstart, vend, perms) in self.vmas.spans(start, end) {
                if perms.contains(Access::WRITE) {
                    let range = range.slice(vstart - start, vend - vstart);
                    self.asp
                        .map_file(vstart, range, mirror_perms(perms, true))
                        .map_err(platform_errno)?;
                }
            }
        }
        // Other threads of the parent may be running: they must fault on
        // their next write, before the parent's fork returns.
        self.asp.sync().map_err(platform_errno)?;
        Ok(forked)
    }

    /// The aligned windows (sorted, disjoint) around the `hot` addresses
    /// that lie in writable private memory, made the parent's own first
    /// (a copy-on-write piece there is broken now, as a write would).
    fn hot_windows(&mut self, hot: &[u64]) -> Result<Vec<(u64, u64)>, Errno> {
        let mut windows: Vec<(u64, u64)> = Vec::new();
        for &addr in hot {
            let Some((start, vma)) = self.vmas.get_containing(addr) else {
                continue;
            };
            if !vma.perms.contains(Access::WRITE) || vma.is_shared() {
                continue;
            }
            windows.push(aligned_window(COW_CHUNK, addr, addr + 1, start, vma.end));
        }
        windows.sort_unstable();
        windows.dedup_by(|next, prev| {
            // Aligned windows within VMAs either coincide or are disjoint.
            next.0 < prev.1
        });
        for &(lo, hi) in &windows {
            self.break_cow(lo, hi)?;
        }
        Ok(windows)
    }

    /// The child's memory manager over its own platform address space.
    pub fn from_fork(mut forked: ForkedMemory, asp: Box<dyn AddressSpace>) -> Result<Self, Errno> {
        let mut mm = MemoryManager::new(forked.mf.clone(), asp, forked.layout);
        mm.vmas = std::mem::take(&mut forked.vmas);
        mm.pmas = forked.pmas.take().unwrap_or_default();
        mm.brk_start = forked.brk_start;
        mm.brk = forked.brk;
        // Mirror every backed page into the new address space, VMA by VMA,
        // read-only while shared.
        let vmas: Vec<(u64, u64, Access)> =
            mm.vmas.iter().map(|(s, v)| (s, v.end, v.perms)).collect();
        for (vstart, vend, perms) in vmas {
            if perms.is_empty() {
                continue;
            }
            for p in mm.pmas.pieces(vstart, vend) {
                if !p.cow {
                    mm.asp
                        .map_file_backed(p.start, p.range, perms)
                        .map_err(platform_errno)?;
                    continue;
                }
                // Pages the parent stopped sharing since the fork (it let
                // them go, or wrote them first) are this process's alone:
                // writable from the start.
                for (run, owners) in mm.mf.owners(p.range) {
                    let start = p.start + (run.offset - p.range.offset);
                    let alone = owners == 1;
                    if alone {
                        mm.pmas.take_range(start, start + run.len);
                        mm.pmas.insert(start, start + run.len, run, false);
                    }
                    mm.asp
                        .map_file_backed(start, run, mirror_perms(perms, !alone))
                        .map_err(platform_errno)?;
                }
            }
        }
        Ok(mm)
    }
}

impl Drop for ForkedMemory {
    fn drop(&mut self) {
        if let Some(mut pmas) = self.pmas.take() {
            for range in pmas.remove_range(0, u64::MAX) {
                self.mf.free(range);
            }
        }
    }
}

/// `[start, end)` cut at the edges of `windows` (sorted, disjoint): each
/// part with whether it lies in a window.
fn split_by_windows(start: u64, end: u64, windows: &[(u64, u64)]) -> Vec<(u64, u64, bool)> {
    let mut parts = Vec::new();
    let mut at = start;
    for &(lo, hi) in windows {
        if hi <= at || lo >= end {
            continue;
        }
        if lo > at {
            parts.push((at, lo, false));
        }
        let top = hi.min(end);
        parts.push((at.max(lo), top, true));
        at = top;
    }
    if at < end {
        parts.push((at, end, false));
    }
    parts
}
