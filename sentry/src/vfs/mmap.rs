//! File-backed `mmap`: for now a private copy of the file's bytes. The host
//! tree is read-only, so nobody can change the file under a mapping.

use vmm::Access;

use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{Placement, VmaKind};
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
/// (page-aligned), `shared` for MAP_SHARED. The mapping is anonymous memory
/// holding a copy of the file; bytes past the end of the file read as zero.
/// A shared mapping is only possible read-only, where a copy is exact.
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
    if shared && perms.contains(Access::WRITE) {
        if mode != libc::O_RDWR as u32 {
            return Err(Errno::EACCES);
        }
        // Writes through a copy would never reach the file.
        tracing::warn!("shared writable file mappings are not supported yet");
        return Err(Errno::ENODEV);
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
    let rw = Access::READ | Access::WRITE;
    let at = task.mm.lock().map_anon(place, len, rw, VmaKind::Anon)?;
    let filled = copy_file(task, file.as_ref(), at, len, offset).and_then(|()| {
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
