//! Copy-in and copy-out: how system calls read and write guest memory.

use vmm::{Access, MemoryFile, PAGE_SIZE};

use super::{aligned_window, MemoryManager, COW_CHUNK, FAULT_CHUNK};
use crate::errno::Errno;

impl MemoryManager {
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
            // Past the end of a mapped file is a bus error for the guest,
            // and a bad address for a system call.
            if seg_end > super::fault::file_limit(vstart, &vma) {
                return Err(Errno::EFAULT);
            }
            // Back the same aligned windows a guest fault would, so the
            // guest does not trap on neighbours of what the sentry touched.
            let (lo, hi) = aligned_window(FAULT_CHUNK, cur, seg_end, vstart, vma.end);
            self.back(lo, hi)?;
            if access.contains(Access::WRITE) {
                // Pages shared with another process get a copy of their own
                // first, as a guest write would.
                let (lo, hi) = aligned_window(COW_CHUNK, cur, seg_end, vstart, vma.end);
                self.break_cow(lo, hi)?;
            }
            for p in self.pmas.pieces(cur, seg_end) {
                f(
                    &self.mf,
                    p.start,
                    p.range.offset,
                    (p.end - p.start) as usize,
                )?;
            }
            cur = seg_end;
        }
        Ok(())
    }

    /// Read guest memory without backing anything: pages nobody touched
    /// read as the zeros they would hold. For the sentry's own looks at a
    /// process (/proc/PID/cmdline) that must not change it. EFAULT if a
    /// byte is unmapped or unreadable.
    pub fn peek(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let end = addr.checked_add(buf.len() as u64).ok_or(Errno::EFAULT)?;
        let mut cur = addr;
        while cur < end {
            match self.vmas.get_containing(cur) {
                Some((_, v)) if v.perms.contains(Access::READ) => cur = v.end,
                _ => return Err(Errno::EFAULT),
            }
        }
        buf.fill(0);
        for p in self.pmas.pieces(addr, end) {
            let at = (p.start - addr) as usize;
            self.mf
                .read(
                    p.range.offset,
                    &mut buf[at..at + (p.end - p.start) as usize],
                )
                .map_err(|_| Errno::EFAULT)?;
        }
        Ok(())
    }

    /// Bytes of guest memory backed so far: the resident set.
    pub fn resident(&self) -> u64 {
        self.vmas
            .iter()
            .flat_map(|(s, v)| self.pmas.pieces(s, v.end))
            .map(|p| p.end - p.start)
            .sum()
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
    /// Move up to `len` bytes between guest memory at `addr` and a host
    /// descriptor with one call of `op(memory file, pieces)`, the pieces
    /// being the (file offset, length) runs behind the buffer in order: a
    /// host `readv` into guest memory for `access` WRITE, a `writev` from
    /// it for READ, with no sentry copy in between. Where the buffer stops
    /// being accessible the pieces stop (EFAULT if none is left). The
    /// memory manager stays locked meanwhile (the pages must not be freed
    /// under the host call), so `op` must not block.
    pub fn host_transfer(
        &mut self,
        addr: u64,
        len: usize,
        access: Access,
        op: impl FnOnce(&MemoryFile, &[(u64, usize)]) -> std::io::Result<usize>,
    ) -> Result<usize, Errno> {
        let mut pieces = Vec::new();
        let walk = self.with_pieces(addr, len, access, |_, _, off, n| {
            pieces.push((off, n));
            Ok(())
        });
        match walk {
            Err(e) if pieces.is_empty() => Err(e),
            _ if pieces.is_empty() => Ok(0),
            _ => Ok(op(&self.mf, &pieces)?),
        }
    }

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

    /// Compare-and-swap the 32-bit guest word at `addr` (4-byte aligned),
    /// as a write would reach it (backed, copy-on-write broken): returns
    /// what it held. EFAULT if it is not writable.
    pub fn compare_exchange_u32(&mut self, addr: u64, old: u32, new: u32) -> Result<u32, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut seen = None;
        self.with_pieces(addr, 4, Access::WRITE, |mf, _, off, _| {
            seen = Some(
                mf.compare_exchange_u32(off, old, new)
                    .map_err(|_| Errno::EFAULT)?,
            );
            Ok(())
        })?;
        seen.ok_or(Errno::EFAULT)
    }

    /// Write a plain-data value to guest memory.
    pub fn write_val<T: bytemuck::Pod>(&mut self, addr: u64, v: &T) -> Result<(), Errno> {
        self.copy_out(addr, bytemuck::bytes_of(v))
    }
}
