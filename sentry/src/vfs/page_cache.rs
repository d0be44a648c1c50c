//! [`FilePages`]: an in-memory file's bytes kept in memory-file pages, so
//! that `MAP_SHARED` mappings map the file itself.
//!
//! A file moves here from its byte vector the first time it is mapped
//! shared, and stays. `read`/`write`/`truncate` then work on the same pages
//! the guest's mappings hold, so each side sees the other's stores at once.
//!
//! Lifetime: the file owns one reference to each of its pages and mappings
//! take their own (`MemoryFile::share`, through `pin`), so pages live while
//! either holds them: an unlinked file's pages stay while mapped, and go
//! with the last of the file and its mappings.
//!
//! Truncation: pages wholly past the new end are zeroed by punching them.
//! Pages nobody else holds are freed; mapped ones stay the file's (zero),
//! so that if the file grows again its mappings still share its pages.
//!
//! Locking: one mutex per file, taken under the memory-manager lock by
//! faults (`pin`) and under the inode's data lock by reads and writes;
//! neither is ever taken inside it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use vmm::{FileRange, MemoryFile, PAGE_SIZE};

use crate::errno::Errno;
use crate::mm::MappedFile;
use crate::vfs::inode::MAX_MEM_FILE;

pub struct FilePages {
    mf: Arc<MemoryFile>,
    inner: Mutex<Inner>,
    /// The handle every shared mapping that may write holds (see
    /// `WritableMapping`), while one exists.
    writable: Mutex<Weak<WritableMapping>>,
}

/// What a shared mapping that may be written maps instead of the file's
/// pages themselves: the same pages, but counting its holders (each VMA,
/// including split and forked ones) tells whether such a mapping exists,
/// which `F_SEAL_WRITE` must refuse with EBUSY.
pub struct WritableMapping(Arc<FilePages>);

impl MappedFile for WritableMapping {
    fn size(&self) -> u64 {
        self.0.size()
    }

    fn pin(&self, offset: u64, len: u64) -> Result<Vec<FileRange>, Errno> {
        self.0.pin(offset, len)
    }
}

#[derive(Default)]
struct Inner {
    size: u64,
    /// File page index -> memory-file offset of its page. Pages never
    /// written (holes) are absent and read as zero.
    pages: BTreeMap<u64, u64>,
}

impl FilePages {
    /// A file holding `bytes`.
    pub fn from_bytes(mf: Arc<MemoryFile>, bytes: &[u8]) -> Result<Arc<Self>, Errno> {
        let pages = Arc::new(FilePages {
            mf,
            inner: Mutex::new(Inner::default()),
            writable: Mutex::new(Weak::new()),
        });
        pages.write(bytes, 0)?;
        Ok(pages)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> u64 {
        self.inner().size
    }

    /// The handle a new shared mapping that may write maps.
    pub fn writable_mapping(self: &Arc<Self>) -> Arc<WritableMapping> {
        let mut w = self.writable.lock().unwrap_or_else(|e| e.into_inner());
        w.upgrade().unwrap_or_else(|| {
            let handle = Arc::new(WritableMapping(self.clone()));
            *w = Arc::downgrade(&handle);
            handle
        })
    }

    /// Whether a shared mapping that may write exists.
    pub fn writably_mapped(&self) -> bool {
        let w = self.writable.lock().unwrap_or_else(|e| e.into_inner());
        w.strong_count() > 0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read at `offset`: what is there, 0 at or past the end.
    pub fn read(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let inner = self.inner();
        if offset >= inner.size {
            return Ok(0);
        }
        let n = buf.len().min((inner.size - offset) as usize);
        let mut done = 0;
        while done < n {
            let at = offset + done as u64;
            let in_page = (at % PAGE_SIZE) as usize;
            let take = (PAGE_SIZE as usize - in_page).min(n - done);
            let out = &mut buf[done..done + take];
            match inner.pages.get(&(at / PAGE_SIZE)) {
                Some(&page) => self
                    .mf
                    .read(page + in_page as u64, out)
                    .map_err(|_| Errno::EIO)?,
                None => out.fill(0),
            }
            done += take;
        }
        Ok(n)
    }

    /// Write at `offset`, growing the file (holes read as zero). EFBIG past
    /// `MAX_MEM_FILE`, ENOSPC when the memory file is full.
    pub fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= MAX_MEM_FILE)
            .ok_or(Errno::EFBIG)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let mut inner = self.inner();
        let first = offset / PAGE_SIZE;
        self.fill_holes(&mut inner, first, end.div_ceil(PAGE_SIZE) - first)?;
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let in_page = at % PAGE_SIZE;
            let take = (PAGE_SIZE - in_page).min((buf.len() - done) as u64) as usize;
            let page = inner.pages[&(at / PAGE_SIZE)];
            self.mf
                .write(page + in_page, &buf[done..done + take])
                .map_err(|_| Errno::EIO)?;
            done += take;
        }
        inner.size = inner.size.max(end);
        Ok(buf.len())
    }

    /// Give pages `[first, first + count)` that have none a fresh page each.
    fn fill_holes(&self, inner: &mut Inner, first: u64, count: u64) -> Result<(), Errno> {
        let mut page = first;
        while page < first + count {
            if inner.pages.contains_key(&page) {
                page += 1;
                continue;
            }
            // One allocation for the whole run of holes.
            let run_end = inner
                .pages
                .range(page..first + count)
                .next()
                .map_or(first + count, |(&p, _)| p);
            let range = self
                .mf
                .allocate((run_end - page) * PAGE_SIZE)
                .map_err(|_| Errno::ENOSPC)?;
            for (i, p) in (page..run_end).enumerate() {
                inner.pages.insert(p, range.offset + i as u64 * PAGE_SIZE);
            }
            page = run_end;
        }
        Ok(())
    }

    /// Resize to `len` bytes. The bytes past the new end in its last page
    /// are zeroed (a mapping shows them, and growing again must not bring
    /// them back), pages wholly past it are punched, and freed unless a
    /// mapping still holds them.
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        if len > MAX_MEM_FILE {
            return Err(Errno::EFBIG);
        }
        let mut inner = self.inner();
        if len < inner.size {
            if let Some(&page) = inner.pages.get(&(len / PAGE_SIZE)) {
                let in_page = len % PAGE_SIZE;
                if in_page != 0 {
                    self.mf
                        .fill(page + in_page, PAGE_SIZE - in_page, 0)
                        .map_err(|_| Errno::EIO)?;
                }
            }
            let beyond: Vec<(u64, u64)> = inner
                .pages
                .range(len.div_ceil(PAGE_SIZE)..)
                .map(|(&p, &o)| (p, o))
                .collect();
            for (index, offset) in beyond {
                let range = FileRange {
                    offset,
                    len: PAGE_SIZE,
                };
                if self.mf.owners(range).iter().all(|&(_, n)| n == 1) {
                    inner.pages.remove(&index);
                    self.mf.free(range);
                } else {
                    self.mf.punch(range);
                }
            }
        }
        inner.size = len;
        Ok(())
    }

    /// The whole file (to load a program from it).
    pub fn read_all(&self) -> Result<Vec<u8>, Errno> {
        let size = usize::try_from(self.len()).map_err(|_| Errno::EFBIG)?;
        let mut bytes = vec![0u8; size];
        let n = self.read(&mut bytes, 0)?;
        bytes.truncate(n);
        Ok(bytes)
    }
}

impl MappedFile for FilePages {
    fn size(&self) -> u64 {
        self.len()
    }

    fn pin(&self, offset: u64, len: u64) -> Result<Vec<FileRange>, Errno> {
        let first = offset / PAGE_SIZE;
        let count = len.div_ceil(PAGE_SIZE);
        if first
            .checked_add(count)
            .is_none_or(|end| end > MAX_MEM_FILE / PAGE_SIZE)
        {
            return Err(Errno::EFBIG);
        }
        let mut inner = self.inner();
        // Pages within the mapping but never written get a page now, which
        // both sides then share; the file's size does not change.
        self.fill_holes(&mut inner, first, count)?;
        let mut runs: Vec<FileRange> = Vec::new();
        for (_, &page) in inner.pages.range(first..first + count) {
            match runs.last_mut() {
                Some(last) if last.end() == page => last.len += PAGE_SIZE,
                _ => runs.push(FileRange {
                    offset: page,
                    len: PAGE_SIZE,
                }),
            }
        }
        for &run in &runs {
            self.mf.share(run);
        }
        Ok(runs)
    }
}

impl Drop for FilePages {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        for &offset in inner.pages.values() {
            self.mf.free(FileRange {
                offset,
                len: PAGE_SIZE,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mf() -> Arc<MemoryFile> {
        Arc::new(MemoryFile::new(16 << 20).unwrap())
    }

    #[test]
    fn reads_and_writes_span_pages_and_stop_at_the_end() {
        let f = FilePages::from_bytes(mf(), b"hello").unwrap();
        assert_eq!(f.write(b"xyz", PAGE_SIZE - 1), Ok(3));
        assert_eq!(f.len(), PAGE_SIZE + 2);
        let mut buf = [9u8; 8];
        assert_eq!(f.read(&mut buf, PAGE_SIZE - 2), Ok(4));
        assert_eq!(&buf[..4], b"\0xyz");
        assert_eq!(f.read(&mut buf, 0), Ok(8));
        assert_eq!(&buf[..8], b"hello\0\0\0");
        assert_eq!(f.read(&mut buf, PAGE_SIZE + 2), Ok(0));
        assert_eq!(f.write(b"x", MAX_MEM_FILE), Err(Errno::EFBIG));
    }

    #[test]
    fn writable_mappings_are_counted_while_held() {
        let f = FilePages::from_bytes(mf(), b"x").unwrap();
        assert!(!f.writably_mapped());
        let a = f.writable_mapping();
        let b = f.writable_mapping();
        assert!(Arc::ptr_eq(&a, &b), "one handle, so VMAs still merge");
        assert_eq!(a.size(), 1);
        drop(a);
        assert!(f.writably_mapped());
        drop(b);
        assert!(!f.writably_mapped());
    }

    #[test]
    fn holes_cost_nothing_until_written() {
        let mf = mf();
        let f = FilePages::from_bytes(mf.clone(), b"").unwrap();
        f.truncate(64 * PAGE_SIZE).unwrap();
        assert_eq!(mf.used(), 0);
        let mut buf = [1u8; 4];
        assert_eq!(f.read(&mut buf, 10 * PAGE_SIZE), Ok(4));
        assert_eq!(buf, [0; 4]);
        f.write(b"a", 10 * PAGE_SIZE).unwrap();
        assert_eq!(mf.used(), PAGE_SIZE);
    }

    #[test]
    fn pinned_pages_are_the_files_and_outlive_it() {
        let mf = mf();
        let f = FilePages::from_bytes(mf.clone(), &[7u8; 3 * PAGE_SIZE as usize]).unwrap();
        let runs = f.pin(PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
        assert_eq!(runs.iter().map(|r| r.len).sum::<u64>(), 2 * PAGE_SIZE);
        // A store through the "mapping" is the file's.
        mf.write(runs[0].offset, b"mapped").unwrap();
        let mut buf = [0u8; 6];
        f.read(&mut buf, PAGE_SIZE).unwrap();
        assert_eq!(&buf, b"mapped");
        drop(f);
        assert_eq!(mf.used(), 2 * PAGE_SIZE, "the mapped pages stay");
        for r in runs {
            mf.free(r);
        }
        assert_eq!(mf.used(), 0);
    }

    #[test]
    fn truncation_zeroes_the_tail_and_keeps_mapped_pages() {
        let mf = mf();
        let f = FilePages::from_bytes(mf.clone(), &[7u8; 4 * PAGE_SIZE as usize]).unwrap();
        let runs = f.pin(2 * PAGE_SIZE, PAGE_SIZE).unwrap();
        f.truncate(10).unwrap();
        assert_eq!(f.len(), 10);
        // Page 3 was the file's alone: freed. Page 2 is mapped: zeroed, kept.
        assert_eq!(mf.used(), 2 * PAGE_SIZE);
        let mut page = [1u8; 16];
        mf.read(runs[0].offset, &mut page).unwrap();
        assert_eq!(page, [0; 16]);
        f.truncate(3 * PAGE_SIZE).unwrap();
        let mut buf = [1u8; 16];
        assert_eq!(f.read(&mut buf, 5), Ok(16));
        assert_eq!(&buf[..5], &[7u8; 5]);
        assert_eq!(&buf[5..], &[0u8; 11]);
        mf.write(runs[0].offset, b"again").unwrap();
        let mut five = [0u8; 5];
        f.read(&mut five, 2 * PAGE_SIZE).unwrap();
        assert_eq!(&five, b"again", "the mapping still shares the page");
    }
}
