//! File system calls: `io` moves bytes (read, write and their vector and
//! positioned forms, sendfile, getdents64), `path` looks names up (open, stat,
//! access, readlink, getcwd, chdir), `fd` manages descriptors (close, dup,
//! fcntl, ioctl, lseek), `rofs` answers the calls that would change the
//! read-only tree (mkdir, unlink, rename, chmod, ...: EROFS after lookup).
//!
//! Guest memory is only touched through `task.mm`, so a bad pointer is an
//! EFAULT, never a crash. A transfer stops where guest memory stops being
//! accessible, as Linux's does, and EFAULT means not even the first byte was.

mod fd;
mod io;
mod path;
mod rofs;

use vmm::Access;

use super::Handler;
use crate::errno::Errno;
use crate::kernel::Task;
use crate::vfs::path::PATH_MAX;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_pipe, fd::sys_pipe),
    (libc::SYS_pipe2, fd::sys_pipe2),
    (libc::SYS_read, io::sys_read),
    (libc::SYS_write, io::sys_write),
    (libc::SYS_readv, io::sys_readv),
    (libc::SYS_writev, io::sys_writev),
    (libc::SYS_pread64, io::sys_pread64),
    (libc::SYS_pwrite64, io::sys_pwrite64),
    (libc::SYS_preadv, io::sys_preadv),
    (libc::SYS_pwritev, io::sys_pwritev),
    (libc::SYS_getdents64, io::sys_getdents64),
    (libc::SYS_sendfile, io::sys_sendfile),
    (libc::SYS_open, path::sys_open),
    (libc::SYS_openat, path::sys_openat),
    (libc::SYS_creat, path::sys_creat),
    (libc::SYS_stat, path::sys_stat),
    (libc::SYS_lstat, path::sys_lstat),
    (libc::SYS_newfstatat, path::sys_newfstatat),
    (libc::SYS_statx, path::sys_statx),
    (libc::SYS_access, path::sys_access),
    (libc::SYS_faccessat, path::sys_faccessat),
    (libc::SYS_faccessat2, path::sys_faccessat2),
    (libc::SYS_readlink, path::sys_readlink),
    (libc::SYS_readlinkat, path::sys_readlinkat),
    (libc::SYS_getcwd, path::sys_getcwd),
    (libc::SYS_chdir, path::sys_chdir),
    (libc::SYS_fchdir, path::sys_fchdir),
    (libc::SYS_close, fd::sys_close),
    (libc::SYS_fstat, fd::sys_fstat),
    (libc::SYS_dup, fd::sys_dup),
    (libc::SYS_dup2, fd::sys_dup2),
    (libc::SYS_dup3, fd::sys_dup3),
    (libc::SYS_fcntl, fd::sys_fcntl),
    (libc::SYS_ioctl, fd::sys_ioctl),
    (libc::SYS_lseek, fd::sys_lseek),
    (libc::SYS_mkdir, rofs::sys_mkdir),
    (libc::SYS_mkdirat, rofs::sys_mkdirat),
    (libc::SYS_mknod, rofs::sys_mknod),
    (libc::SYS_mknodat, rofs::sys_mknodat),
    (libc::SYS_symlink, rofs::sys_symlink),
    (libc::SYS_symlinkat, rofs::sys_symlinkat),
    (libc::SYS_link, rofs::sys_link),
    (libc::SYS_linkat, rofs::sys_linkat),
    (libc::SYS_unlink, rofs::sys_unlink),
    (libc::SYS_unlinkat, rofs::sys_unlinkat),
    (libc::SYS_rmdir, rofs::sys_rmdir),
    (libc::SYS_rename, rofs::sys_rename),
    (libc::SYS_renameat, rofs::sys_renameat),
    (libc::SYS_renameat2, rofs::sys_renameat2),
    (libc::SYS_chmod, rofs::sys_chmod),
    (libc::SYS_fchmod, rofs::sys_fchmod),
    (libc::SYS_fchmodat, rofs::sys_fchmodat),
    (libc::SYS_chown, rofs::sys_chown),
    (libc::SYS_fchown, rofs::sys_fchown),
    (libc::SYS_lchown, rofs::sys_lchown),
    (libc::SYS_fchownat, rofs::sys_fchownat),
    (libc::SYS_utimensat, rofs::sys_utimensat),
    (libc::SYS_truncate, rofs::sys_truncate),
    (libc::SYS_ftruncate, rofs::sys_ftruncate),
    (libc::SYS_fsync, rofs::sys_fsync),
    (libc::SYS_fdatasync, rofs::sys_fsync),
    (libc::SYS_fadvise64, rofs::sys_fadvise64),
];

/// A descriptor argument: Linux takes an `int`, ignoring the upper bits.
fn fd_arg(a: u64) -> i32 {
    a as i32
}

/// The task's RLIMIT_NOFILE: descriptors must stay below it.
fn nofile_limit(task: &Task) -> u64 {
    task.rlimits[libc::RLIMIT_NOFILE as usize].cur
}

/// Read a path argument: EFAULT for a bad pointer, ENAMETOOLONG past
/// PATH_MAX, ENOENT if empty unless `allow_empty` (AT_EMPTY_PATH).
fn read_path(task: &mut Task, addr: u64, allow_empty: bool) -> Result<Vec<u8>, Errno> {
    let path = task.mm.read_cstring(addr, PATH_MAX)?;
    if path.is_empty() && !allow_empty {
        return Err(Errno::ENOENT);
    }
    Ok(path)
}

/// Whether `[addr, addr + len)` lies in the user half at all (Linux's
/// `access_ok`): EFAULT before anything else if not.
fn user_range_ok(task: &Task, addr: u64, len: u64) -> bool {
    addr.checked_add(len)
        .is_some_and(|end| end <= task.mm.layout().max_addr)
}

/// How many of the `len` bytes at `addr` the guest may access with
/// `access`, counting from `addr` and stopping at the first byte it may
/// not. A stack below its current bottom grows as a real access would
/// make it.
fn accessible_len(task: &mut Task, addr: u64, len: usize, access: Access) -> usize {
    if !user_range_ok(task, addr, len as u64) {
        return 0;
    }
    let end = addr + len as u64;
    let mut cur = addr;
    let mut probed = false;
    while cur < end {
        let vma = task
            .mm
            .vmas()
            .find(|(_, v)| v.end > cur)
            .filter(|&(start, _)| start <= cur)
            .map(|(_, v)| (v.end, v.perms));
        match vma {
            Some((vend, perms)) if perms.contains(access) && !perms.is_empty() => {
                cur = vend;
                probed = false;
            }
            Some(_) => break,
            None if !probed => {
                // Nothing mapped here yet, but a grows-down stack may
                // extend to cover it: touch it as a copy would, then look
                // again.
                probed = true;
                if task.mm.copy_in(cur, &mut [0u8; 1]).is_err() {
                    break;
                }
            }
            None => break,
        }
    }
    (cur.min(end) - addr) as usize
}

#[cfg(test)]
mod tests;
