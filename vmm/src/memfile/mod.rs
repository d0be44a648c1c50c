//! The memory file: one memfd backs every page of a sandbox's guest memory.
//!
//! The sentry allocates page ranges of it for guest pages and reads and writes
//! guest memory through its own shared mapping of the whole file, so copying
//! system-call arguments is a bounds-checked memory copy. Platforms map the
//! same ranges into the guest (the ptrace stub with `mmap`, KVM as
//! guest-physical memory). The file is sparse: host pages are allocated only
//! when first touched, and freed ranges are hole-punched back to the host.
//!
//! Pages may have several owners (copy-on-write after fork): `share` adds a
//! reference, `free` drops one, and a page returns to the allocator with
//! its last reference (`refs.rs`).
//!
//! Small freed ranges are kept back unpunched, up to [`SPARE_MAX`] bytes,
//! and allocated again first: reusing pages the host still has spares
//! punching them and faulting fresh ones in. Copies (fork's and
//! copy-on-write's, [`MemoryFile::allocate_for_overwrite`]) take them as
//! they are, other allocations zeroed.

mod refs;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Mutex;

use rustix::fs::{fallocate, ftruncate, memfd_create, seek, FallocateFlags, MemfdFlags, SeekFrom};
use rustix::mm::{madvise, mmap, munmap, Advice, MapFlags, ProtFlags};

use crate::PAGE_SIZE;
use refs::SharedRefs;

/// A page-aligned range of the memory file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileRange {
    pub offset: u64,
    pub len: u64,
}

impl FileRange {
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
    /// The sub-range starting `skip` bytes in, `len` long.
    pub fn slice(&self, skip: u64, len: u64) -> FileRange {
        debug_assert!(skip + len <= self.len);
        FileRange {
            offset: self.offset + skip,
            len,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MemoryFileError {
    #[error("cannot create the memory file: {0}")]
    Create(#[source] std::io::Error),
    #[error("guest memory exhausted: {requested} bytes requested")]
    Exhausted { requested: u64 },
    #[error("range {offset:#x}+{len:#x} lies outside the memory file")]
    OutOfRange { offset: u64, len: u64 },
    #[error("madvise on the memory file: {0}")]
    Advise(#[source] std::io::Error),
}

/// The sandbox's guest memory.
pub struct MemoryFile {
    fd: OwnedFd,
    base: NonNull<u8>,
    size: u64,
    pages: Mutex<Pages>,
}

/// Bytes of freed ranges kept back unpunched for reuse by copies.
pub const SPARE_MAX: u64 = 1 << 20;

/// The allocator's state: free ranges and the reference counts of shared
/// pages, changed together.
struct Pages {
    free: FreeList,
    refs: SharedRefs,
    /// Freed ranges whose old contents are still there, oldest first: given
    /// out only to callers that overwrite them whole.
    spare: std::collections::VecDeque<FileRange>,
    spare_bytes: u64,
}

// SAFETY: `base` points at a MAP_SHARED mapping owned by this object for its
// whole life; every access goes through bounds-checked copies, and concurrent
// guest access to the same pages is the expected shared-memory behaviour.
unsafe impl Send for MemoryFile {}
// SAFETY: as for Send; the free list is behind a Mutex.
unsafe impl Sync for MemoryFile {}

impl MemoryFile {
    /// A memory file able to hold `size` bytes (rounded up to pages). Nothing
    /// is allocated on the host until pages are touched.
    pub fn new(size: u64) -> Result<Self, MemoryFileError> {
        let size = size.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let create = |e: rustix::io::Errno| MemoryFileError::Create(e.into());
        let fd = memfd_create("rvisor-memory", MemfdFlags::CLOEXEC).map_err(create)?;
        ftruncate(&fd, size).map_err(create)?;
        let len =
            usize::try_from(size).map_err(|_| MemoryFileError::Exhausted { requested: size })?;
        // SAFETY: a fresh mapping chosen by the kernel (null hint, no
        // MAP_FIXED), so it cannot alias any existing Rust object; `fd` is a
        // valid memfd of exactly `len` bytes.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::NORESERVE,
                &fd,
                0,
            )
        }
        .map_err(create)?;
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(MemoryFileError::Create(
            std::io::Error::other("null mapping"),
        ))?;
        Ok(MemoryFile {
            fd,
            base,
            size,
            pages: Mutex::new(Pages {
                free: FreeList::new(size),
                refs: SharedRefs::default(),
                spare: Default::default(),
                spare_bytes: 0,
            }),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Host address of the sentry's shared mapping of the whole file (offset
    /// 0), for registering it as guest-physical memory with KVM. It stays
    /// valid, `size()` bytes long, for as long as `self` lives.
    pub fn host_address(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    /// Allocate `len` bytes (rounded up to pages) of zeroed memory: pages
    /// kept back (zeroed now: cheaper than a fresh page's host fault) or
    /// hole-punched ones.
    pub fn allocate(&self, len: u64) -> Result<FileRange, MemoryFileError> {
        let len = len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if let Some(r) = self.take_spare(len) {
            if self.fill(r.offset, r.len, 0).is_ok() {
                return Ok(r);
            }
            // Cannot happen for a range of the file; never hand out pages
            // that may not be zero.
            self.punch_free(r.offset, r.len);
        }
        self.allocate_punched(len)
    }

    /// Allocate `len` bytes (a multiple of pages) from the hole-punched
    /// free ranges.
    fn allocate_punched(&self, len: u64) -> Result<FileRange, MemoryFileError> {
        let offset = self
            .pages()
            .free
            .take(len)
            .ok_or(MemoryFileError::Exhausted { requested: len })?;
        Ok(FileRange { offset, len })
    }

    /// Allocate `len` bytes (rounded up to pages) that the caller will
    /// overwrite whole before anyone reads them: pages kept back if there
    /// are some (their old contents are still there), else zeroed ones.
    pub fn allocate_for_overwrite(&self, len: u64) -> Result<FileRange, MemoryFileError> {
        let len = len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        match self.take_spare(len) {
            Some(r) => Ok(r),
            None => self.allocate_punched(len),
        }
    }

    /// `len` bytes (a multiple of pages) of the kept-back ranges, from the
    /// smallest that holds them.
    fn take_spare(&self, len: u64) -> Option<FileRange> {
        let mut pages = self.pages();
        let best = pages
            .spare
            .iter()
            .enumerate()
            .filter(|(_, r)| r.len >= len)
            .min_by_key(|(_, r)| r.len)
            .map(|(i, _)| i)?;
        let r = pages.spare.remove(best)?;
        pages.spare_bytes -= len;
        if r.len > len {
            pages.spare.push_back(r.slice(len, r.len - len));
        }
        Some(FileRange {
            offset: r.offset,
            len,
        })
    }

    fn pages(&self) -> std::sync::MutexGuard<'_, Pages> {
        self.pages.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add one owner to every page of `range` (allocated, not free).
    pub fn share(&self, range: FileRange) {
        if range.len > 0 {
            self.pages().refs.inc(range.offset, range.end());
        }
    }

    /// Drop one owner of every page of `range`; pages whose last owner this
    /// was return to the allocator and their memory to the host.
    pub fn free(&self, range: FileRange) {
        if range.len == 0 {
            return;
        }
        let gone = self.pages().refs.dec(range.offset, range.end());
        for (start, end) in gone {
            self.release(start, end - start);
        }
    }

    /// `range` cut where the number of owners changes: each piece with its
    /// number of owners (1 for pages only one holds).
    pub fn owners(&self, range: FileRange) -> Vec<(FileRange, u32)> {
        self.pages()
            .refs
            .counts(range.offset, range.end())
            .into_iter()
            .map(|(s, e, n)| {
                (
                    FileRange {
                        offset: s,
                        len: e - s,
                    },
                    n,
                )
            })
            .collect()
    }

    /// Bytes currently allocated (each shared page counted once; pages
    /// kept back for copies count as free).
    pub fn used(&self) -> u64 {
        let pages = self.pages();
        self.size - pages.free.free_bytes - pages.spare_bytes
    }

    /// Make the pages of `range` (still allocated, whoever owns them) read
    /// as zero and give their memory back to the host: every mapping of
    /// them sees the zeroes at once. For a file cut short while mapped.
    pub fn punch(&self, range: FileRange) {
        if range.len == 0 {
            return;
        }
        if let Err(e) = fallocate(
            &self.fd,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            range.offset,
            range.len,
        ) {
            tracing::warn!("memory file hole punch failed ({e}); zeroing instead");
            let _ = self.fill(range.offset, range.len, 0);
        }
    }

    /// Return pages nobody owns to the allocator and the host; small ranges
    /// are kept back for copies first, the oldest kept ones going back
    /// instead when there are too many.
    fn release(&self, offset: u64, len: u64) {
        if len > SPARE_MAX {
            return self.punch_free(offset, len);
        }
        let evicted: Vec<FileRange> = {
            let mut pages = self.pages();
            let mut evicted = Vec::new();
            while pages.spare_bytes + len > SPARE_MAX {
                let Some(old) = pages.spare.pop_front() else {
                    break;
                };
                pages.spare_bytes -= old.len;
                evicted.push(old);
            }
            pages.spare.push_back(FileRange { offset, len });
            pages.spare_bytes += len;
            evicted
        };
        for r in evicted {
            self.punch_free(r.offset, r.len);
        }
    }

    /// Punch `len` bytes at `offset` out of the file and give them to the
    /// allocator.
    fn punch_free(&self, offset: u64, len: u64) {
        // Punching the hole both releases host memory and guarantees the
        // range reads as zeroes when it is allocated again.
        if let Err(e) = fallocate(
            &self.fd,
            FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
            offset,
            len,
        ) {
            // Without the hole the pages keep old contents; zero them so the
            // next owner cannot see them.
            tracing::warn!("memory file hole punch failed ({e}); zeroing instead");
            let _ = self.fill(offset, len, 0);
        }
        self.pages().free.give(offset, len);
    }

    /// Drop the sentry's own page-table entries for `len` bytes at
    /// `offset`. The contents stay in the file and the sentry's next access
    /// maps them again; what this is for is the side effect: the kernel's
    /// MMU notifiers tell KVM, which then drops every guest mapping of those
    /// pages (see the KVM platform's shadow-paging notes).
    pub fn drop_host_ptes(&self, offset: u64, len: u64) -> Result<(), MemoryFileError> {
        let n = usize::try_from(len).map_err(|_| MemoryFileError::OutOfRange { offset, len })?;
        let off = self.check(offset, n)?;
        // SAFETY: `check` proved the range lies inside our shared mapping;
        // MADV_DONTNEED on a shared file mapping keeps the data (it lives in
        // the memfd), so every Rust access to it stays valid and sees the
        // same bytes.
        unsafe { madvise(self.base.as_ptr().add(off).cast(), n, Advice::LinuxDontNeed) }
            .map_err(|e| MemoryFileError::Advise(e.into()))
    }

    /// Allocate the host pages of `len` bytes at `offset` now, in one
    /// system call, and map them in the sentry (for writing if `write`),
    /// instead of one host page fault per page later. For the KVM platform:
    /// when the sentry's mapping already has a page, KVM's fault on it is
    /// cheaper and also maps its neighbours (prefetch).
    pub fn populate(&self, offset: u64, len: u64, write: bool) -> Result<(), MemoryFileError> {
        let n = usize::try_from(len).map_err(|_| MemoryFileError::OutOfRange { offset, len })?;
        let off = self.check(offset, n)?;
        let advice = if write {
            Advice::LinuxPopulateWrite
        } else {
            Advice::LinuxPopulateRead
        };
        // SAFETY: `check` proved the range lies inside our shared mapping;
        // populating changes no contents.
        unsafe { madvise(self.base.as_ptr().add(off).cast(), n, advice) }
            .map_err(|e| MemoryFileError::Advise(e.into()))
    }

    fn check(&self, offset: u64, len: usize) -> Result<usize, MemoryFileError> {
        let len64 = len as u64;
        match offset.checked_add(len64) {
            Some(end) if end <= self.size => Ok(offset as usize),
            _ => Err(MemoryFileError::OutOfRange { offset, len: len64 }),
        }
    }

    /// Copy `buf.len()` bytes at `offset` into `buf`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemoryFileError> {
        let off = self.check(offset, buf.len())?;
        // SAFETY: `check` proved [off, off + len) lies inside our mapping,
        // which lives as long as `self`; `buf` is a distinct Rust buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.as_ptr().add(off), buf.as_mut_ptr(), buf.len());
        }
        Ok(())
    }

    /// Copy `buf` into the file at `offset`.
    pub fn write(&self, offset: u64, buf: &[u8]) -> Result<(), MemoryFileError> {
        let off = self.check(offset, buf.len())?;
        // SAFETY: as in `read`; the mapping is writable.
        unsafe {
            std::ptr::copy_nonoverlapping(buf.as_ptr(), self.base.as_ptr().add(off), buf.len());
        }
        Ok(())
    }

    /// `writev(2)` the file's `pieces` ((offset, length) pairs, in order)
    /// to host descriptor `fd`, straight from the mapping (no bounce
    /// buffer). The caller keeps the pages allocated for the call's
    /// duration.
    pub fn write_to_fd(&self, fd: BorrowedFd<'_>, pieces: &[(u64, usize)]) -> io::Result<usize> {
        let iov = self.iovecs(pieces)?;
        // SAFETY: every iovec lies inside our mapping (`iovecs` checked
        // them), which lives as long as `self`; the kernel only reads them,
        // and no Rust reference to those bytes exists (guests may be
        // writing them).
        let r = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// `readv(2)` from host descriptor `fd` into the file's `pieces`,
    /// straight into the mapping. The caller keeps the pages allocated
    /// for the call's duration and owns them alone.
    pub fn read_from_fd(&self, fd: BorrowedFd<'_>, pieces: &[(u64, usize)]) -> io::Result<usize> {
        let iov = self.iovecs(pieces)?;
        // SAFETY: as in `write_to_fd`; the mapping is writable and the
        // kernel stores only inside the iovecs.
        let r = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), iov.len() as libc::c_int) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }

    /// Atomically replace the aligned 32-bit word at `offset` with `new`
    /// if it holds `old`; returns what it held. Guest threads may be
    /// changing the word at the same moment (a futex), so this is a real
    /// compare-and-swap on the shared mapping.
    pub fn compare_exchange_u32(
        &self,
        offset: u64,
        old: u32,
        new: u32,
    ) -> Result<u32, MemoryFileError> {
        let off = self.check(offset, 4)?;
        if off % 4 != 0 {
            return Err(MemoryFileError::OutOfRange { offset, len: 4 });
        }
        // SAFETY: `check` proved the word lies inside our writable shared
        // mapping, which lives as long as `self`, and it is 4-byte aligned;
        // every access the sentry makes to such a word is atomic or a plain
        // copy of guest data, which the guest may race with anyway.
        let word =
            unsafe { std::sync::atomic::AtomicU32::from_ptr(self.base.as_ptr().add(off).cast()) };
        Ok(
            match word.compare_exchange(
                old,
                new,
                std::sync::atomic::Ordering::SeqCst,
                std::sync::atomic::Ordering::SeqCst,
            ) {
                Ok(v) | Err(v) => v,
            },
        )
    }

    /// Host iovecs over the mapping for `pieces`, each checked to lie
    /// inside the file.
    fn iovecs(&self, pieces: &[(u64, usize)]) -> io::Result<Vec<libc::iovec>> {
        pieces
            .iter()
            .map(|&(offset, len)| {
                let off = self.check(offset, len).map_err(io::Error::other)?;
                Ok(libc::iovec {
                    // SAFETY: `check` proved `off` is inside the mapping.
                    iov_base: unsafe { self.base.as_ptr().add(off) }.cast(),
                    iov_len: len,
                })
            })
            .collect()
    }

    /// Set `len` bytes at `offset` to `byte`.
    pub fn fill(&self, offset: u64, len: u64, byte: u8) -> Result<(), MemoryFileError> {
        let n = usize::try_from(len).map_err(|_| MemoryFileError::OutOfRange { offset, len })?;
        let off = self.check(offset, n)?;
        // SAFETY: `check` proved the range lies inside our writable mapping.
        unsafe { std::ptr::write_bytes(self.base.as_ptr().add(off), byte, n) };
        Ok(())
    }

    /// Copy `len` bytes inside the file from `src` to `dst` (ranges may overlap).
    pub fn copy_within(&self, src: u64, dst: u64, len: u64) -> Result<(), MemoryFileError> {
        let n =
            usize::try_from(len).map_err(|_| MemoryFileError::OutOfRange { offset: src, len })?;
        let s = self.check(src, n)?;
        let d = self.check(dst, n)?;
        // SAFETY: both ranges were checked to lie inside our mapping; `copy`
        // allows overlap.
        unsafe { std::ptr::copy(self.base.as_ptr().add(s), self.base.as_ptr().add(d), n) };
        Ok(())
    }
}

impl MemoryFile {
    /// Copy `len` bytes from `src` to `dst`, which must read as zero (a
    /// fresh allocation) and not overlap `src`. Only the source's pages
    /// that exist are copied: a hole needs no copy, and reading it through
    /// the shared mapping would allocate a page for it on both sides (a
    /// forked process's backed ranges are mostly never-touched stack and
    /// heap).
    pub fn copy_to_zeroed(&self, src: u64, dst: u64, len: u64) -> Result<(), MemoryFileError> {
        let n =
            usize::try_from(len).map_err(|_| MemoryFileError::OutOfRange { offset: src, len })?;
        self.check(src, n)?;
        self.check(dst, n)?;
        let end = src + len;
        let mut at = src;
        while at < end {
            let data = match seek(&self.fd, SeekFrom::Data(at)) {
                Ok(data) => data,
                // No data at or after `at`.
                Err(rustix::io::Errno::NXIO) => break,
                // A host that cannot tell: copy the rest whole.
                Err(_) => at,
            };
            if data >= end {
                break;
            }
            let hole = seek(&self.fd, SeekFrom::Hole(data)).map_or(end, |h| h.min(end));
            self.copy_within(data, dst + (data - src), hole - data)?;
            at = hole;
        }
        Ok(())
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        // SAFETY: `base`/`size` describe the mapping made in `new`; nothing
        // can reference it once `self` is being dropped.
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.size as usize) };
    }
}

/// First-fit free list of page ranges, coalescing on free.
struct FreeList {
    /// offset -> length of each free range; ranges never touch.
    ranges: BTreeMap<u64, u64>,
    /// Sum of the free ranges' lengths.
    free_bytes: u64,
}

impl FreeList {
    fn new(size: u64) -> Self {
        let mut ranges = BTreeMap::new();
        if size > 0 {
            ranges.insert(0, size);
        }
        FreeList {
            ranges,
            free_bytes: size,
        }
    }

    fn take(&mut self, len: u64) -> Option<u64> {
        let (&off, &have) = self.ranges.iter().find(|(_, &l)| l >= len)?;
        self.ranges.remove(&off);
        self.free_bytes -= len;
        if have > len {
            self.ranges.insert(off + len, have - len);
        }
        Some(off)
    }

    fn give(&mut self, mut off: u64, mut len: u64) {
        self.free_bytes += len;
        if let Some((&prev, &plen)) = self.ranges.range(..off).next_back() {
            debug_assert!(prev + plen <= off, "double free of memory-file range");
            if prev + plen == off {
                self.ranges.remove(&prev);
                off = prev;
                len += plen;
            }
        }
        if let Some(&nlen) = self.ranges.get(&(off + len)) {
            self.ranges.remove(&(off + len));
            len += nlen;
        }
        self.ranges.insert(off, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_list_coalesces_neighbours() {
        let mut f = FreeList::new(16 * PAGE_SIZE);
        let a = f.take(4 * PAGE_SIZE).unwrap();
        let b = f.take(4 * PAGE_SIZE).unwrap();
        let c = f.take(8 * PAGE_SIZE).unwrap();
        assert_eq!((a, b, c), (0, 4 * PAGE_SIZE, 8 * PAGE_SIZE));
        assert!(f.take(PAGE_SIZE).is_none());
        f.give(a, 4 * PAGE_SIZE);
        f.give(c, 8 * PAGE_SIZE);
        f.give(b, 4 * PAGE_SIZE);
        assert_eq!(f.ranges.len(), 1);
        assert_eq!(f.take(16 * PAGE_SIZE), Some(0));
    }

    #[test]
    fn copies_to_zeroed_memory_keep_holes_holes() {
        let mf = MemoryFile::new(1 << 20).unwrap();
        let src = mf.allocate(4 * PAGE_SIZE).unwrap();
        let dst = mf.allocate(4 * PAGE_SIZE).unwrap();
        mf.write(src.offset + 10, b"first").unwrap();
        mf.write(src.offset + 2 * PAGE_SIZE + 4090, b"straddles")
            .unwrap();
        mf.copy_to_zeroed(src.offset, dst.offset, src.len).unwrap();
        // Page 1 is still a hole on both sides. (Checked first: reading a
        // hole through the shared mapping fills it.)
        for base in [src.offset, dst.offset] {
            let hole = seek(&mf.fd, SeekFrom::Hole(base)).unwrap();
            assert_eq!(hole, base + PAGE_SIZE);
        }
        let (mut want, mut got) = (vec![0u8; 4 * 4096], vec![1u8; 4 * 4096]);
        mf.read(src.offset, &mut want).unwrap();
        mf.read(dst.offset, &mut got).unwrap();
        assert!(got == want, "the copy differs from its source");
    }

    #[test]
    fn freed_memory_reads_back_as_zero() {
        let mf = MemoryFile::new(8 << 20).unwrap();
        // Larger than what is kept back for copies: punched at once.
        let r = mf.allocate(2 * SPARE_MAX).unwrap();
        mf.write(r.offset, b"secret").unwrap();
        mf.free(r);
        let r2 = mf.allocate(PAGE_SIZE).unwrap();
        assert_eq!(r2.offset, r.offset);
        let mut buf = [1u8; 6];
        mf.read(r2.offset, &mut buf).unwrap();
        assert_eq!(buf, [0; 6]);
    }

    #[test]
    fn small_freed_ranges_are_reused_zeroed_or_for_copies() {
        let mf = MemoryFile::new(8 << 20).unwrap();
        let r = mf.allocate(4 * PAGE_SIZE).unwrap();
        mf.write(r.offset, b"secret").unwrap();
        mf.write(r.offset + PAGE_SIZE, b"secret").unwrap();
        mf.free(r);
        assert_eq!(mf.used(), 0, "kept-back pages count as free");
        // A zeroed allocation gets them zeroed (best fit, the rest stays
        // kept back).
        let z = mf.allocate(PAGE_SIZE).unwrap();
        assert_eq!(z.offset, r.offset);
        let mut buf = [1u8; 6];
        mf.read(z.offset, &mut buf).unwrap();
        assert_eq!(buf, [0; 6]);
        // A copy takes them as they are.
        let c = mf.allocate_for_overwrite(3 * PAGE_SIZE).unwrap();
        assert_eq!(c.offset, r.offset + PAGE_SIZE);
        mf.read(c.offset, &mut buf).unwrap();
        assert_eq!(&buf, b"secret");
        assert_eq!(mf.used(), 4 * PAGE_SIZE);
        // Past the limit, the oldest kept-back ranges are punched and freed.
        mf.free(c);
        let big = mf.allocate(SPARE_MAX).unwrap();
        assert_ne!(big.offset, c.offset, "too large for the kept-back range");
        mf.free(big);
        assert_eq!(mf.used(), PAGE_SIZE);
        mf.read(c.offset, &mut buf).unwrap();
        assert_eq!(buf, [0; 6]);
    }

    #[test]
    fn punched_pages_read_zero_and_stay_allocated() {
        let mf = MemoryFile::new(1 << 20).unwrap();
        let r = mf.allocate(2 * PAGE_SIZE).unwrap();
        mf.write(r.offset + PAGE_SIZE, b"tail").unwrap();
        mf.punch(r.slice(PAGE_SIZE, PAGE_SIZE));
        let mut buf = [1u8; 4];
        mf.read(r.offset + PAGE_SIZE, &mut buf).unwrap();
        assert_eq!(buf, [0; 4]);
        assert_eq!(mf.used(), 2 * PAGE_SIZE, "punching frees nothing");
    }

    #[test]
    fn shared_pages_are_freed_with_their_last_owner() {
        let mf = MemoryFile::new(1 << 20).unwrap();
        let r = mf.allocate(4 * PAGE_SIZE).unwrap();
        assert_eq!(mf.used(), 4 * PAGE_SIZE);
        mf.share(r);
        // One owner lets go of the middle two pages, the other of all.
        mf.free(r.slice(PAGE_SIZE, 2 * PAGE_SIZE));
        assert_eq!(mf.owners(r).len(), 3);
        mf.free(r);
        assert_eq!(
            mf.used(),
            2 * PAGE_SIZE,
            "pages 0 and 3 still have an owner"
        );
        mf.free(r.slice(0, PAGE_SIZE));
        mf.free(r.slice(3 * PAGE_SIZE, PAGE_SIZE));
        assert_eq!(mf.used(), 0);
    }

    #[test]
    fn out_of_range_access_is_an_error() {
        let mf = MemoryFile::new(2 * PAGE_SIZE).unwrap();
        let mut buf = [0u8; 8];
        assert!(mf.read(2 * PAGE_SIZE - 4, &mut buf).is_err());
        assert!(mf.write(u64::MAX - 2, &buf).is_err());
        assert!(mf.allocate(3 * PAGE_SIZE).is_err());
    }

    #[test]
    fn compare_exchange_swaps_only_the_expected_value() {
        let mf = MemoryFile::new(2 * PAGE_SIZE).unwrap();
        mf.write(8, &5u32.to_ne_bytes()).unwrap();
        assert_eq!(mf.compare_exchange_u32(8, 4, 9).unwrap(), 5, "no swap");
        assert_eq!(mf.compare_exchange_u32(8, 5, 9).unwrap(), 5);
        let mut word = [0u8; 4];
        mf.read(8, &mut word).unwrap();
        assert_eq!(u32::from_ne_bytes(word), 9);
        assert!(mf.compare_exchange_u32(9, 0, 0).is_err(), "misaligned");
        assert!(mf.compare_exchange_u32(2 * PAGE_SIZE, 0, 0).is_err());
    }
}
