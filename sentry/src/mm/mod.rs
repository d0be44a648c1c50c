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
//! Backing is created lazily, on a guest fault or a sentry access, in chunks
//! of up to `FAULT_CHUNK` bytes: traps cost microseconds on our hosts, while
//! an untouched memory-file page costs nothing.

mod layout;
mod pma;
mod vma;

use std::sync::Arc;

use vmm::{Access, AddressSpace, MemoryFile, PAGE_SIZE};

pub use layout::Layout;
use pma::PmaSet;
use vma::VmaSet;
pub use vma::{Vma, VmaKind};

use crate::errno::Errno;

/// How much backing a single fault creates: the aligned window around the
/// faulting address.
const FAULT_CHUNK: u64 = 2 << 20;
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
    asp: Box<dyn AddressSpace>,
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
            asp,
            vmas: VmaSet::default(),
            pmas: PmaSet::default(),
            layout,
            brk_start: 0,
            brk: 0,
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn address_space(&mut self) -> &mut dyn AddressSpace {
        self.asp.as_mut()
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
        for range in self.pmas.remove_range(addr, end) {
            self.mf.free(range);
        }
        self.asp.unmap(addr, len).map_err(platform_errno)
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
        self.vmas.set_perms(addr, end, perms);
        self.remirror(addr, end)
    }

    /// Re-establish the platform mappings of every PMA in `[start, end)` from
    /// the current VMA permissions.
    fn remirror(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        for (s, e, range) in self.pmas.pieces(start, end) {
            let perms = self.vmas.perms_at(s).unwrap_or_default();
            if perms.is_empty() {
                self.asp.unmap(s, e - s).map_err(platform_errno)?;
            } else {
                self.asp.map_file(s, range, perms).map_err(platform_errno)?;
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
        for range in self.pmas.remove_range(old, old + old_len) {
            self.mf.free(range);
        }
        self.asp.unmap(old, old_len).map_err(platform_errno)?;
        self.vmas.insert(
            dst,
            Vma {
                end: dst + new_len,
                perms: vma.perms,
                kind: vma.kind,
            },
        );
        for (s, e, range) in moved {
            let to = dst + (s - old);
            self.pmas.insert(to, to + (e - s), range);
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

    /// Resolve a guest fault at `addr`.
    pub fn handle_fault(&mut self, addr: u64, access: Access) -> Result<(), FaultError> {
        let (start, vma) = match self.vmas.get_containing(addr) {
            Some((s, v)) => (s, v.clone()),
            None => self.grow_stack(addr).ok_or(FaultError::Unmapped)?,
        };
        if !vma.perms.contains(access) || vma.perms.is_empty() {
            return Err(FaultError::Protection);
        }
        if self.pmas.contains(addr) {
            // Backed and mirrored with the VMA's permissions, yet it faulted:
            // the access was one the platform could not tell us about (a
            // write or execute the VMA forbids).
            return Err(FaultError::Protection);
        }
        // Back the aligned window around the fault: sequential access then
        // traps once per window in either direction.
        let lo = (addr & !(FAULT_CHUNK - 1)).max(start);
        let hi = (addr & !(FAULT_CHUNK - 1))
            .saturating_add(FAULT_CHUNK)
            .min(vma.end);
        self.back(lo, hi).map_err(|_| FaultError::OutOfMemory)
    }

    /// Extend a grows-down stack VMA to cover `addr` if within the limit.
    fn grow_stack(&mut self, addr: u64) -> Option<(u64, Vma)> {
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
    /// not backed yet, mirroring the new pages into the platform.
    fn back(&mut self, lo: u64, hi: u64) -> Result<(), Errno> {
        let perms = self.vmas.perms_at(lo).unwrap_or_default();
        for (s, e) in self.pmas.gaps(lo, hi) {
            let range = self.mf.allocate(e - s).map_err(|_| Errno::ENOMEM)?;
            self.pmas.insert(s, e, range);
            if !perms.is_empty() {
                self.asp.map_file(s, range, perms).map_err(platform_errno)?;
            }
        }
        Ok(())
    }

    /// Make `[addr, addr + len)` accessible to the sentry for `access`, then
    /// call `f` with each (guest address, memory-file offset, length) piece.
    fn with_pieces(
        &mut self,
        addr: u64,
        len: usize,
        access: Access,
        mut f: impl FnMut(&MemoryFile, u64, u64, usize) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        let mut cur = addr;
        while cur < end {
            let (vstart, vma) = match self.vmas.get_containing(cur) {
                Some((s, v)) => (s, v.clone()),
                None => self.grow_stack(cur).ok_or(Errno::EFAULT)?,
            };
            if !vma.perms.contains(access) || vma.perms.is_empty() {
                return Err(Errno::EFAULT);
            }
            let seg_end = end.min(vma.end);
            // Back the same aligned windows a guest fault would, so the
            // guest does not trap on neighbours of what the sentry touched.
            let lo = (cur & !(FAULT_CHUNK - 1)).max(vstart);
            let hi = seg_end
                .checked_next_multiple_of(FAULT_CHUNK)
                .unwrap_or(vma.end)
                .min(vma.end);
            self.back(lo, hi)?;
            for (s, e, range) in self.pmas.pieces(cur, seg_end) {
                f(&self.mf, s, range.offset, (e - s) as usize)?;
            }
            cur = seg_end;
        }
        Ok(())
    }

    /// Copy guest memory at `addr` into `buf`; EFAULT if any byte is not readable.
    pub fn copy_in(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let len = buf.len();
        self.with_pieces(addr, len, Access::READ, |mf, ga, off, n| {
            let at = (ga - addr) as usize;
            mf.read(off, &mut buf[at..at + n])
                .map_err(|_| Errno::EFAULT)
        })
    }

    /// Copy `buf` to guest memory at `addr`; EFAULT if any byte is not writable.
    pub fn copy_out(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        self.with_pieces(addr, buf.len(), Access::WRITE, |mf, ga, off, n| {
            let at = (ga - addr) as usize;
            mf.write(off, &buf[at..at + n]).map_err(|_| Errno::EFAULT)
        })
    }

    /// Zero `len` bytes of guest memory at `addr`.
    pub fn zero(&mut self, addr: u64, len: u64) -> Result<(), Errno> {
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        self.with_pieces(addr, len, Access::WRITE, |mf, _, off, n| {
            mf.fill(off, n as u64, 0).map_err(|_| Errno::EFAULT)
        })
    }

    /// Read a NUL-terminated string of at most `max` bytes (without the NUL).
    /// ENAMETOOLONG if no NUL is found within `max` bytes.
    pub fn read_cstring(&mut self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut cur = addr;
        while out.len() < max {
            // Read up to the end of the current page so we never fault on a
            // page the string does not reach.
            let page_left = (PAGE_SIZE - cur % PAGE_SIZE) as usize;
            let n = page_left.min(max - out.len());
            let mut chunk = vec![0u8; n];
            self.copy_in(cur, &mut chunk)?;
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&chunk);
            cur += n as u64;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// Read a plain-data value from guest memory.
    pub fn read_val<T: bytemuck::Pod>(&mut self, addr: u64) -> Result<T, Errno> {
        let mut v = T::zeroed();
        self.copy_in(addr, bytemuck::bytes_of_mut(&mut v))?;
        Ok(v)
    }

    /// Write a plain-data value to guest memory.
    pub fn write_val<T: bytemuck::Pod>(&mut self, addr: u64, v: &T) -> Result<(), Errno> {
        self.copy_out(addr, bytemuck::bytes_of(v))
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
        for range in self.pmas.remove_range(addr, end) {
            self.mf.free(range);
        }
        self.asp.unmap(addr, len).map_err(platform_errno)
    }

    /// Current program break.
    pub fn brk(&self) -> u64 {
        self.brk
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        for range in self.pmas.remove_range(0, u64::MAX) {
            self.mf.free(range);
        }
    }
}

fn platform_errno(e: vmm::PlatformError) -> Errno {
    tracing::error!("platform mapping failed: {e}");
    Errno::ENOMEM
}

#[cfg(test)]
mod tests;
