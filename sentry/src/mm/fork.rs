//! `fork`: a child address space with its own copy of every page.
//!
//! The copy is eager: each backed range is copied into fresh memory-file
//! pages before the parent returns (only the pages that exist: holes stay
//! holes). Copy-on-write would share them until
//! the first write; that comes with the full process model.

use std::sync::Arc;

use vmm::{AddressSpace, MemoryFile};

use super::pma::PmaSet;
use super::vma::VmaSet;
use super::{platform_errno, Layout, MemoryManager};
use crate::errno::Errno;

/// What a child's memory manager is built from. It holds memory-file
/// pages (freed if it is dropped unused).
pub struct ForkedMemory {
    mf: Arc<MemoryFile>,
    vmas: VmaSet,
    pmas: Option<PmaSet>,
    layout: Layout,
    brk_start: u64,
    brk: u64,
}

impl MemoryManager {
    /// Copy this address space for a child process.
    pub fn fork_copy(&self) -> Result<ForkedMemory, Errno> {
        let mut pmas = PmaSet::default();
        for (start, end, range) in self.pmas.pieces(0, u64::MAX) {
            let copy = match self.mf.allocate(range.len) {
                Ok(c) => c,
                Err(_) => {
                    free_all(&self.mf, &mut pmas);
                    return Err(Errno::ENOMEM);
                }
            };
            if self
                .mf
                .copy_to_zeroed(range.offset, copy.offset, range.len)
                .is_err()
            {
                self.mf.free(copy);
                free_all(&self.mf, &mut pmas);
                return Err(Errno::ENOMEM);
            }
            pmas.insert(start, end, copy);
        }
        Ok(ForkedMemory {
            mf: self.mf.clone(),
            vmas: self.vmas.clone(),
            pmas: Some(pmas),
            layout: self.layout,
            brk_start: self.brk_start,
            brk: self.brk,
        })
    }

    /// The child's memory manager over its own platform address space.
    pub fn from_fork(mut forked: ForkedMemory, asp: Box<dyn AddressSpace>) -> Result<Self, Errno> {
        let mut mm = MemoryManager::new(forked.mf.clone(), asp, forked.layout);
        mm.vmas = std::mem::take(&mut forked.vmas);
        mm.pmas = forked.pmas.take().unwrap_or_default();
        mm.brk_start = forked.brk_start;
        mm.brk = forked.brk;
        // Mirror every backed page into the new address space, VMA by VMA:
        // one backing range may straddle VMAs that mprotect made differ.
        let vmas: Vec<(u64, u64, vmm::Access)> =
            mm.vmas.iter().map(|(s, v)| (s, v.end, v.perms)).collect();
        for (vstart, vend, perms) in vmas {
            if perms.is_empty() {
                continue;
            }
            for (start, _, range) in mm.pmas.pieces(vstart, vend) {
                mm.asp
                    .map_file(start, range, perms)
                    .map_err(platform_errno)?;
            }
        }
        Ok(mm)
    }
}

fn free_all(mf: &MemoryFile, pmas: &mut PmaSet) {
    for range in pmas.remove_range(0, u64::MAX) {
        mf.free(range);
    }
}

impl Drop for ForkedMemory {
    fn drop(&mut self) {
        if let Some(mut pmas) = self.pmas.take() {
            free_all(&self.mf, &mut pmas);
        }
    }
}
