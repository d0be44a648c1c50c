//! `fork`: a child address space sharing the parent's pages copy-on-write.
//!
//! Every backed range gains the child as a second owner (`MemoryFile::share`)
//! and is marked copy-on-write on both sides; the parent's writable
//! mappings are narrowed to read-only before any of its threads runs guest
//! code again, so neither process sees the other's later writes (`cow.rs`).

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
    /// Share this address space's pages with a child process.
    pub fn fork_share(&mut self) -> Result<ForkedMemory, Errno> {
        let mut pmas = PmaSet::default();
        let mut narrow = Vec::new();
        for p in self.pmas.pieces(0, u64::MAX) {
            self.mf.share(p.range);
            // Shared memory stays shared: both sides keep writing the same
            // pages. Everything else is copy-on-write from now on.
            let shared = self
                .vmas
                .get_containing(p.start)
                .is_some_and(|(_, v)| v.is_shared());
            pmas.insert(p.start, p.end, p.range, !shared);
            if shared {
                continue;
            }
            if !p.cow {
                self.pmas.mark_cow(p.start, p.start + 1);
                narrow.push(p);
            }
        }
        let forked = ForkedMemory {
            mf: self.mf.clone(),
            vmas: self.vmas.clone(),
            pmas: Some(pmas),
            layout: self.layout,
            brk_start: self.brk_start,
            brk: self.brk,
        };
        // Pieces already copy-on-write are mirrored read-only already.
        for p in narrow {
            // One backing range may straddle VMAs that mprotect made differ.
            for (vstart, vend, perms) in self.vmas.spans(p.start, p.end) {
                if perms.contains(Access::WRITE) {
                    let range = p.range.slice(vstart - p.start, vend - vstart);
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

    /// Un-share the window around `addr` at once, for the parent (a copy)
    /// and so for the child (whose pages are then its own alone; see
    /// `from_fork`): both would write there first thing (the stack around
    /// the forking thread's stack pointer, its TLS block), and a fault each
    /// costs far more than copying one window now.
    pub fn fork_unshare_hot(&mut self, addr: u64) -> Result<(), Errno> {
        let Some((start, vma)) = self.vmas.get_containing(addr) else {
            return Ok(());
        };
        if !vma.perms.contains(Access::WRITE) {
            return Ok(());
        }
        let (lo, hi) = aligned_window(COW_CHUNK, addr, addr + 1, start, vma.end);
        self.break_cow(lo, hi)
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
                        .map_file(p.start, p.range, perms)
                        .map_err(platform_errno)?;
                    continue;
                }
                // Pages the parent stopped sharing (see `fork_unshare_hot`)
                // are this process's alone: writable from the start.
                for (run, owners) in mm.mf.owners(p.range) {
                    let start = p.start + (run.offset - p.range.offset);
                    let alone = owners == 1;
                    if alone {
                        mm.pmas.take_range(start, start + run.len);
                        mm.pmas.insert(start, start + run.len, run, false);
                    }
                    mm.asp
                        .map_file(start, run, mirror_perms(perms, !alone))
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
