//! File-backed `mmap`.
//!
//! A file the sentry keeps in memory is mapped by its own pages
//! (`page_cache.rs`): shared mappings are those pages, private ones show
//! them copy-on-write. The first shared mapping moves the file's bytes into
//! such pages. Everything else (files still the read-only host's, devices)
//! gets anonymous memory holding a copy of the file, which is exact for
//! private mappings and for read-only shared ones of files nobody writes.

use std::sync::Arc;

use vmm::Access;

use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{FileMap, Placement, VmaKind};
use crate::vfs::inode::Data;
use crate::vfs::page_cache::FilePages;
use crate::vfs::{with_io_buffer, File};

/// `mmap(place, len, perms, MAP_PRIVATE, fd, offset)`.
pub fn mmap_file_copy(
    task: &mut Task,
    place: Placement,
    len: u64,
    perms: Access,
    fd: i32,
    offset: u64,
) -> SysResult {
    mmap_file(task, place, len, perms, false, fd, offset)
}

/// `mmap` of file `fd`: `len` (page-aligned) bytes from `offset`
/// (page-aligned), `shared` for MAP_SHARED.
pub fn mmap_file(
    task: &mut Task,
    place: Placement,
    len: u64,
    perms: Access,
    shared: bool,
    fd: i32,
    offset: u64,
) -> SysResult {
    let file = task.fds.get(fd)?;
    let flags = file.status_flags()?;
    if flags & libc::O_PATH as u32 != 0 {
        return Err(Errno::EBADF);
    }
    let mode = flags & libc::O_ACCMODE as u32;
    if mode == libc::O_WRONLY as u32 {
        return Err(Errno::EACCES);
    }
    let read_write = mode == libc::O_RDWR as u32;
    if shared && perms.contains(Access::WRITE) && !read_write {
        return Err(Errno::EACCES);
    }
    if !file.stat()?.is_regular() {
        return Err(Errno::ENODEV);
    }
    if offset
        .checked_add(len)
        .is_none_or(|end| end > i64::MAX as u64)
    {
        return Err(Errno::EOVERFLOW);
    }
    // A sealed memfd takes no new shared mapping that could write.
    let sealed = file
        .inode()
        .and_then(|n| n.seals.as_ref().map(|s| s.no_writes()))
        .unwrap_or(false);
    if shared && sealed && perms.contains(Access::WRITE) {
        return Err(Errno::EPERM);
    }
    if let Some(pages) = file_pages(task, file.as_ref(), shared)? {
        let may_write = !shared || (read_write && !sealed);
        let file: Arc<dyn crate::mm::MappedFile> = if shared && may_write {
            pages.writable_mapping()
        } else {
            pages
        };
        let map = FileMap {
            file,
            offset,
            shared,
            may_write,
        };
        return task.mm.lock().map_file(place, len, perms, map);
    }
    if shared && perms.contains(Access::WRITE) {
        // Writes through a copy would never reach the file.
        tracing::warn!("shared writable mapping of a file not kept in memory");
        return Err(Errno::ENODEV);
    }
    copy_mapping(task, file.as_ref(), place, len, perms, offset)
}

/// The pages of `file` if it is (or, for a shared mapping, can become) a
/// file the sentry keeps in memory-file pages.
fn file_pages(task: &Task, file: &dyn File, shared: bool) -> Result<Option<Arc<FilePages>>, Errno> {
    let Some(node) = file.inode() else {
        return Ok(None);
    };
    // Taken first: the memory manager is never locked under an inode.
    let mf = task.mm.lock().memory_file();
    let Some(mut data) = node.data_mut() else {
        return Ok(None);
    };
    match &*data {
        Data::Paged(pages) => Ok(Some(pages.clone())),
        Data::Mem(bytes) if shared => {
            let pages = FilePages::from_bytes(mf, bytes)?;
            tracing::debug!(ino = node.ino, "file moved to pages for a shared mapping");
            *data = Data::Paged(pages.clone());
            Ok(Some(pages))
        }
        _ => Ok(None),
    }
}

/// A mapping holding a copy of the file's bytes; bytes past its end read
/// as zero.
fn copy_mapping(
    task: &mut Task,
    file: &dyn File,
    place: Placement,
    len: u64,
    perms: Access,
    offset: u64,
) -> SysResult {
    let rw = Access::READ | Access::WRITE;
    let at = task.mm.lock().map_anon(place, len, rw, VmaKind::Anon)?;
    let filled = copy_file(task, file, at, len, offset).and_then(|()| {
        if perms == rw {
            Ok(())
        } else {
            task.mm.lock().protect(at, len, perms)
        }
    });
    if let Err(e) = filled {
        let _ = task.mm.lock().unmap(at, len);
        return Err(e);
    }
    Ok(at)
}

/// Copy up to `len` bytes of `file` from `offset` to guest memory at `at`,
/// stopping at the end of the file.
fn copy_file(
    task: &mut Task,
    file: &dyn File,
    at: u64,
    len: u64,
    offset: u64,
) -> Result<(), Errno> {
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len - done).unwrap_or(usize::MAX);
        let n = with_io_buffer(want, |buf| -> Result<usize, Errno> {
            let n = file.pread(buf, offset + done)?;
            task.mm.copy_out(at + done, &buf[..n])?;
            Ok(n)
        })?;
        if n == 0 {
            break;
        }
        done += n as u64;
    }
    Ok(())
}
