//! Copy-on-write: pages fork left shared between two processes.
//!
//! Shared pages are mirrored read-only in every address space holding them
//! (their PMAs are marked `cow`). The first write, by the guest (a fault)
//! or by the sentry (copy-out), breaks the sharing for the aligned window
//! around it: pages others still hold are copied into fresh memory-file
//! pages, pages nobody else holds any more are simply mirrored writable
//! again. The memory file counts the owners of each shared page and frees
//! it with its last owner.

use vmm::{Access, FileRange};

use super::pma::Piece;
use super::{platform_errno, MemoryManager};
use crate::errno::Errno;

/// The permissions a piece is mirrored with: its VMA's, without write while
/// its pages may be shared.
pub(super) fn mirror_perms(vma_perms: Access, cow: bool) -> Access {
    if cow {
        vma_perms.difference(Access::WRITE)
    } else {
        vma_perms
    }
}

impl MemoryManager {
    /// Give `[lo, hi)` (within one writable VMA) pages of its own where they
    /// are copy-on-write, and mirror them writable.
    pub(super) fn break_cow(&mut self, lo: u64, hi: u64) -> Result<(), Errno> {
        let shared: Vec<Piece> = self
            .pmas
            .pieces(lo, hi)
            .into_iter()
            .filter(|p| p.cow)
            .collect();
        if shared.is_empty() {
            return Ok(());
        }
        let perms = self.vmas.perms_at(lo).unwrap_or_default();
        let mut replaced = Vec::new();
        let result = shared
            .iter()
            .try_for_each(|p| self.own_piece(p, perms, &mut replaced));
        // Other threads must stop reaching the replaced pages before this
        // process lets go of them.
        self.asp.sync().map_err(platform_errno)?;
        for range in replaced {
            self.mf.free(range);
        }
        result
    }

    /// Make piece `p` this process's own; the pages it stops using are
    /// added to `replaced`.
    fn own_piece(
        &mut self,
        p: &Piece,
        perms: Access,
        replaced: &mut Vec<FileRange>,
    ) -> Result<(), Errno> {
        for (run, owners) in self.mf.owners(p.range) {
            let start = p.start + (run.offset - p.range.offset);
            let end = start + run.len;
            let own = if owners > 1 {
                let copy = self
                    .mf
                    .allocate_for_overwrite(run.len)
                    .map_err(|_| Errno::ENOMEM)?;
                // A plain copy: the window is small and was just used, and
                // looking for holes (SEEK_HOLE) would scan all the data
                // after it, which costs far more than the copy.
                if self
                    .mf
                    .copy_within(run.offset, copy.offset, run.len)
                    .is_err()
                {
                    self.mf.free(copy);
                    return Err(Errno::ENOMEM);
                }
                replaced.push(run);
                copy
            } else {
                // The last owner: the pages are already its own.
                run
            };
            self.pmas.take_range(start, end);
            self.pmas.insert(start, end, own, false);
            self.asp
                .map_file(start, own, perms)
                .map_err(platform_errno)?;
        }
        Ok(())
    }
}
