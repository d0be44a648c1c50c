//! The memory manager of one guest process: its VMAs, the memory-file pages
//! that back them, `brk`, and the copy-in/copy-out API every system call uses
//! to touch guest memory.
//!
//! Two maps describe an address space, as in gVisor's memmap:
//! - VMAs (`vma.rs`): what the guest asked for: ranges with permissions.
//! - PMAs (`pma.rs`): which memory-file pages currently back parts of those
//!   ranges. Every PMA is mirrored in the platform's address space with its
//!   VMA's permissions, so a guest fault always means "not backed yet" or a
//!   real permission violation.
//!
//! Files: `vma.rs` and `pma.rs` (the two maps), `fault.rs` (first touch and
//! stack growth), `file_map.rs` (mappings of files), `io.rs`
//! (copy-in/copy-out), `fork.rs` and `cow.rs` (pages shared copy-on-write
//! by fork), `layout.rs`; the mapping calls
//! (mmap, munmap, mprotect, mremap, brk) are here.
//!
//! Backing is created lazily, on a guest fault or a sentry access, in chunks
//! of up to `FAULT_CHUNK` bytes: traps cost microseconds on our hosts, while
//! an untouched memory-file page costs nothing.

mod cow;
mod fault;
mod file_map;
mod fork;
mod io;
mod layout;
mod pma;
mod shared;
mod vma;

use std::sync::Arc;

use vmm::{Access, AddressSpace, MemoryFile, PAGE_SIZE};

pub use file_map::{FileMap, MappedFile};
pub use fork::ForkedMemory;
pub use layout::Layout;
use pma::PmaSet;
pub use shared::{SharedMm, WeakMm};
use vma::VmaSet;
pub use vma::{Vma, VmaKind};

use crate::errno::Errno;

/// How much backing a single fault creates: the aligned window around the
/// faulting address.
const FAULT_CHUNK: u64 = 2 << 20;

/// How much of a copy-on-write area one write copies: the aligned window
/// around it. Smaller than `FAULT_CHUNK` because every byte is copied,
/// while a fault costs about as much as copying 64 KiB.
const COW_CHUNK: u64 = 64 << 10;

/// The `chunk`-aligned windows covering `[lo, hi)`, clipped to the VMA
/// `[vma_start, vma_end)`: what a fault or a sentry access backs (or
/// copies), so either traps at most once per window.
fn aligned_window(chunk: u64, lo: u64, hi: u64, vma_start: u64, vma_end: u64) -> (u64, u64) {
    let start = (lo & !(chunk - 1)).max(vma_start);
    let end = hi
        .checked_next_multiple_of(chunk)
        .unwrap_or(vma_end)
        .min(vma_end);
    (start, end)
}
/// Largest stack the guest may grow to (RLIMIT_STACK default).
pub const STACK_LIMIT: u64 = 8 << 20;
/// How far below a faulting address a stack grows at once.
const STACK_GROW_SLACK: u64 = 64 << 10;

pub fn page_align_down(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

pub fn page_align_up(a: u64) -> Option<u64> {
    a.checked_add(PAGE_SIZE - 1).map(page_align_down)
}

/// Why a guest fault could not be resolved: the signal the guest gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No mapping at the address (SIGSEGV, SEGV_MAPERR).
    Unmapped,
    /// A mapping exists but forbids the access (SIGSEGV, SEGV_ACCERR).
    Protection,
    /// The page is backed and its mapping allows the access as the platform
    /// reported it, yet it faulted: either the access was one the platform
    /// cannot describe (ptrace reports a write as a read), or another
    /// thread backed the page and the platform has not mirrored it yet. The
    /// caller retries once, then treats it as `Protection`.
    AlreadyBacked,
    /// The page lies wholly past the end of the file it maps (SIGBUS,
    /// BUS_ADRERR).
    PastEof,
    /// The sandbox is out of memory.
    OutOfMemory,
}

/// Where `mmap` may place a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere; the address is a hint.
    Hint(u64),
    /// Exactly here, replacing what was there (MAP_FIXED).
    Fixed(u64),
    /// Exactly here, failing with EEXIST if occupied (MAP_FIXED_NOREPLACE).
    FixedNoReplace(u64),
}

pub struct MemoryManager {
    mf: Arc<MemoryFile>,
    asp: Arc<dyn AddressSpace>,
    vmas: VmaSet,
    pmas: PmaSet,
    layout: Layout,
    brk_start: u64,
    brk: u64,
}

impl MemoryManager {
    pub fn new(mf: Arc<MemoryFile>, asp: Box<dyn AddressSpace>, layout: Layout) -> Self {
        MemoryManager {
            mf,
            asp: Arc::from(asp),
            vmas: VmaSet::default(),
            pmas: PmaSet::default(),
            layout,
            brk_start: 0,
            brk: 0,
        }
    }

    /// The sandbox's memory file, which backs every guest page.
    pub fn memory_file(&self) -> Arc<MemoryFile> {
        self.mf.clone()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The platform's address space, which the process's threads run in
    /// (each without holding the memory manager).
    pub fn address_space(&self) -> Arc<dyn AddressSpace> {
        self.asp.clone()
    }

    pub fn vmas(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.vmas.iter()
    }

    /// Set where the program break starts (end of the loaded image).
    pub fn set_brk_start(&mut self, addr: u64) {
        self.brk_start = addr;
        self.brk = addr;
    }

    /// Create an anonymous private mapping. Returns its address.
    pub fn map_anon(
        &mut self,
        place: Placement,
        len: u64,
        perms: Access,
        kind: VmaKind,
    ) -> Result<u64, Errno> {
        self.map_vma(place, len, perms, kind, None)
    }

    /// Map a file (`file.offset` is where the mapping starts in it). Nothing
    /// is backed until touched. Returns the mapping's address.
    pub fn map_file(
        &mut self,
        place: Placement,
        len: u64,
        perms: Access,
        file: FileMap,
    ) -> Result<u64, Errno> {
        self.map_vma(place, len, perms, VmaKind::Anon, Some(file))
    }

    fn map_vma(
        &mut self,
        place: Placement,
        len: u64,
        perms: Access,
        kind: VmaKind,
        file: Option<FileMap>,
    ) -> Result<u64, Errno> {
        let len = page_align_up(len).filter(|&l| l > 0).ok_or(Errno::ENOMEM)?;
        let addr = match place {
            Placement::Fixed(addr) => {
                self.check_range(addr, len)?;
                self.unmap(addr, len)?;
                addr
            }
            Placement::FixedNoReplace(addr) => {
                self.check_range(addr, len)?;
                if self.vmas.overlaps(addr, addr + len) {
                    return Err(Errno::EEXIST);
                }
                addr
            }
            Placement::Hint(hint) => self.find_free(hint, len)?,
        };
        self.vmas.insert(
            addr,
            Vma {
                end: addr + len,
                perms,
                kind,
                file,
            },
        );
        Ok(addr)
    }

    fn check_range(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if !addr.is_multiple_of(PAGE_SIZE)
            || addr < self.layout.min_addr
            || end > self.layout.max_addr
        {
            return Err(if !addr.is_multiple_of(PAGE_SIZE) {
                Errno::EINVAL
            } else {
                Errno::ENOMEM
            });
        }
        Ok(())
    }

    /// Find a free range of `len` bytes: at `hint` if it is free, else the
    /// highest gap below the mmap base, as Linux's top-down allocator does.
    fn find_free(&self, hint: u64, len: u64) -> Result<u64, Errno> {
        let hint = page_align_down(hint);
        if hint >= self.layout.min_addr
            && hint
                .checked_add(len)
                .is_some_and(|e| e <= self.layout.max_addr)
            && !self.vmas.overlaps(hint, hint + len)
        {
            return Ok(hint);
        }
        self.vmas
            .find_gap_below(self.layout.mmap_base, len, self.layout.min_addr)
            .or_else(|| {
                self.vmas
                    .find_gap_below(self.layout.max_addr, len, self.layout.min_addr)
            })
            .ok_or(Errno::ENOMEM)
    }

    /// Remove every mapping in `[addr, addr + len)`.
    pub fn unmap(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len).filter(|&l| l > 0).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if !self.vmas.overlaps(addr, end) {
            return Ok(());
        }
        self.vmas.remove_range(addr, end);
        let freed = self.pmas.remove_range(addr, end);
        // Unmapped first: another thread may be running guest code in this
        // address space, and must not reach pages that the memory file may
        // hand to another process as soon as they are freed.
        let unmapped = self.asp.unmap(addr, len).map_err(platform_errno);
        for range in freed {
            self.mf.free(range);
        }
        unmapped
    }

    /// Change the permissions of `[addr, addr + len)`, all of which must be mapped.
    pub fn protect(&mut self, addr: u64, len: u64, perms: Access) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let len = page_align_up(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if !self.vmas.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        // A shared mapping of a file opened read-only never becomes writable.
        let refused = perms.contains(Access::WRITE)
            && self.vmas.iter().any(|(s, v)| {
                s < end && v.end > addr && v.file.as_ref().is_some_and(|f| f.shared && !f.may_write)
            });
        if refused {
            return Err(Errno::EACCES);
        }
        self.vmas.set_perms(addr, end, perms);
        self.remirror(addr, end)?;
        // Other threads must not keep rights this took away.
        self.asp.sync().map_err(platform_errno)
    }

    /// Re-establish the platform mappings of every PMA in `[start, end)` from
    /// the current VMA permissions.
    fn remirror(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        for p in self.pmas.pieces(start, end) {
            let perms = cow::mirror_perms(self.vmas.perms_at(p.start).unwrap_or_default(), p.cow);
            if perms.is_empty() {
                self.asp
                    .unmap(p.start, p.end - p.start)
                    .map_err(platform_errno)?;
            } else {
                self.asp
                    .map_file(p.start, p.range, perms)
                    .map_err(platform_errno)?;
            }
        }
        Ok(())
    }

    /// `mremap`: resize the mapping at `old` and possibly move it.
    pub fn remap(
        &mut self,
        old: u64,
        old_len: u64,
        new_len: u64,
        may_move: bool,
        fixed: Option<u64>,
    ) -> Result<u64, Errno> {
        if !old.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let old_len = page_align_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_align_up(new_len)
            .filter(|&l| l > 0)
            .ok_or(Errno::EINVAL)?;
        if old_len == 0 {
            // Duplicating shared mappings is not supported for private memory.
            return Err(Errno::EINVAL);
        }
        let old_end = old.checked_add(old_len).ok_or(Errno::EFAULT)?;
        let vma = self.vmas.get_containing(old).ok_or(Errno::EFAULT)?;
        if old_end > vma.1.end {
            return Err(Errno::EFAULT);
        }
        let (vstart, vma) = (vma.0, vma.1.clone());
        // What moves starts `old - vstart` into the VMA, and into its file.
        let vma = Vma {
            file: vma.file.as_ref().map(|f| f.advanced(old - vstart)),
            ..vma
        };
        if let Some(dst) = fixed {
            if dst % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            let dst_end = dst.checked_add(new_len).ok_or(Errno::EINVAL)?;
            if dst < old_end && old < dst_end {
                return Err(Errno::EINVAL);
            }
            self.check_range(dst, new_len)?;
            self.unmap(dst, new_len)?;
            return self.move_mapping(old, old_len, dst, new_len, &vma);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.unmap(old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        // Grow in place if the pages after the mapping are free.
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end
            && grow_end <= self.layout.max_addr
            && !self.vmas.overlaps(old_end, grow_end)
        {
            self.vmas.extend_end(vstart, grow_end);
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let dst = self.find_free(0, new_len)?;
        self.move_mapping(old, old_len, dst, new_len, &vma)
    }

    /// Move the pages of `[old, old + old_len)` to `dst`, keeping their
    /// memory-file backing, and make the destination `new_len` long.
    fn move_mapping(
        &mut self,
        old: u64,
        old_len: u64,
        dst: u64,
        new_len: u64,
        vma: &Vma,
    ) -> Result<u64, Errno> {
        let keep = old_len.min(new_len);
        let moved = self.pmas.take_range(old, old + keep);
        self.vmas.remove_range(old, old + old_len);
        let freed = self.pmas.remove_range(old, old + old_len);
        // Unmapped before freed, as in `unmap`.
        let unmapped = self.asp.unmap(old, old_len).map_err(platform_errno);
        for range in freed {
            self.mf.free(range);
        }
        unmapped?;
        self.vmas.insert(
            dst,
            Vma {
                end: dst + new_len,
                ..vma.clone()
            },
        );
        for p in moved {
            let to = dst + (p.start - old);
            self.pmas.insert_piece(pma::Piece {
                start: to,
                end: to + (p.end - p.start),
                ..p
            });
        }
        self.remirror(dst, dst + keep)?;
        Ok(dst)
    }

    /// `brk`: move the program break; returns the (possibly unchanged) break.
    pub fn set_brk(&mut self, addr: u64) -> u64 {
        if addr < self.brk_start {
            return self.brk;
        }
        let old_top = page_align_up(self.brk).unwrap_or(self.brk);
        let Some(new_top) = page_align_up(addr) else {
            return self.brk;
        };
        if new_top > old_top {
            let len = new_top - old_top;
            let perms = Access::READ | Access::WRITE;
            if self.vmas.overlaps(old_top, new_top)
                || self
                    .map_anon(
                        Placement::FixedNoReplace(old_top),
                        len,
                        perms,
                        VmaKind::Heap,
                    )
                    .is_err()
            {
                return self.brk;
            }
        } else if new_top < old_top && self.unmap(new_top, old_top - new_top).is_err() {
            return self.brk;
        }
        self.brk = addr;
        addr
    }

    /// Back all of `[addr, addr + len)` now (MAP_POPULATE).
    pub fn populate(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        let mut cur = addr;
        while cur < end {
            let Some((_, vma)) = self.vmas.get_containing(cur) else {
                return Err(Errno::ENOMEM);
            };
            let hi = vma.end.min(end);
            self.back(cur, hi)?;
            cur = hi;
        }
        Ok(())
    }

    /// Drop the backing of `[addr, addr + len)` so it reads as zeroes again
    /// (MADV_DONTNEED on private anonymous memory).
    pub fn discard(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if !self.vmas.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        // Shared memory keeps its contents (Linux repopulates it from the
        // shared object): only private pages are dropped.
        let private: Vec<(u64, u64)> = self
            .vmas
            .iter()
            .filter(|(s, v)| *s < end && v.end > addr && !v.is_shared())
            .map(|(s, v)| (s.max(addr), v.end.min(end)))
            .collect();
        for (lo, hi) in private {
            let freed = self.pmas.remove_range(lo, hi);
            // Unmapped before freed, as in `unmap`.
            let unmapped = self.asp.unmap(lo, hi - lo).map_err(platform_errno);
            for range in freed {
                self.mf.free(range);
            }
            unmapped?;
        }
        Ok(())
    }

    /// ENOMEM unless every page of `[addr, addr + len)` is mapped (mlock,
    /// munlock, mincore).
    pub fn check_mapped(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if self.vmas.covers(addr, end) {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// Bytes of all mappings (what `mlockall(MCL_CURRENT)` would lock).
    pub fn mapped_bytes(&self) -> u64 {
        self.vmas.iter().map(|(s, v)| v.end - s).sum()
    }

    /// `mincore`: one byte per page of `[addr, addr + len)`, 1 where the
    /// page is backed. ENOMEM if part of the range is unmapped.
    pub fn residency(&self, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
        self.check_mapped(addr, len)?;
        let pages = len.div_ceil(PAGE_SIZE);
        Ok((0..pages)
            .map(|i| u8::from(self.pmas.page_at(addr + i * PAGE_SIZE).is_some()))
            .collect())
    }

    /// `msync`: shared mappings are the file's own pages, so there is
    /// nothing to write back; ENOMEM if part of the range is unmapped.
    pub fn sync_range(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if !self.vmas.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Where the program break started.
    pub fn brk_start(&self) -> u64 {
        self.brk_start
    }

    /// Current program break.
    pub fn brk(&self) -> u64 {
        self.brk
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        // The address space goes first (a ptrace stub dies, and its exit
        // drops its mappings cheaply), so that punching the freed pages out
        // of the memory file need not hunt them down in the stub.
        drop(std::mem::replace(&mut self.asp, Arc::new(Released)));
        for range in self.pmas.remove_range(0, u64::MAX) {
            self.mf.free(range);
        }
    }
}

/// Stands in for a dropped memory manager's address space.
struct Released;

impl AddressSpace for Released {
    fn map_file(&self, _: u64, _: vmm::FileRange, _: vmm::Access) -> vmm::Result<()> {
        Ok(())
    }
    fn unmap(&self, _: u64, _: u64) -> vmm::Result<()> {
        Ok(())
    }
    fn spawn_thread(&self) -> vmm::Result<Box<dyn vmm::ThreadSeed>> {
        Err(vmm::PlatformError::Protocol(
            "address space released".into(),
        ))
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

fn platform_errno(e: vmm::PlatformError) -> Errno {
    tracing::error!("platform mapping failed: {e}");
    Errno::ENOMEM
}

#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod tests;
