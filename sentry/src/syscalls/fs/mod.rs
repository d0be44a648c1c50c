//! File system calls: `io` moves bytes (read, write and their vector and
//! positioned forms, sendfile, getdents64), `path` looks names up (open, stat,
//! access, readlink, getcwd, chdir), `fd` manages descriptors (close, dup,
//! fcntl, ioctl, lseek, locks), `names` adds, removes and moves names
//! (mkdir, unlink, rename, link, symlink, ...), `attr` changes attributes
//! and size (chmod, chown, utimensat, truncate, umask) and answers statfs,
//! `xattr` keeps extended attributes, `memfd` makes memfds.
//!
//! Guest memory is only touched through `task.mm`, so a bad pointer is an
//! EFAULT, never a crash. A transfer stops where guest memory stops being
//! accessible, as Linux's does, and EFAULT means not even the first byte was.

mod attr;
mod fd;
mod io;
mod memfd;
mod names;
mod path;
mod poll;
mod splice;
mod tty;
mod xattr;

use vmm::Access;

pub(super) use path::{at_path, creator};
pub(super) use poll::with_sigmask;

use super::Handler;
use crate::errno::Errno;
use crate::kernel::Task;
use crate::vfs::path::PATH_MAX;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_close_range, fd::sys_close_range),
    (libc::SYS_splice, splice::sys_splice),
    (libc::SYS_tee, splice::sys_tee),
    (libc::SYS_vmsplice, splice::sys_vmsplice),
    (libc::SYS_sync, attr::sys_sync),
    (libc::SYS_utime, attr::sys_utime),
    (libc::SYS_utimes, attr::sys_utimes),
    (libc::SYS_futimesat, attr::sys_futimesat),
    (libc::SYS_fallocate, attr::sys_fallocate),
    (libc::SYS_syncfs, attr::sys_syncfs),
    (libc::SYS_sync_file_range, attr::sys_sync_file_range),
    (libc::SYS_setxattr, xattr::sys_setxattr),
    (libc::SYS_lsetxattr, xattr::sys_lsetxattr),
    (libc::SYS_fsetxattr, xattr::sys_fsetxattr),
    (libc::SYS_getxattr, xattr::sys_getxattr),
    (libc::SYS_lgetxattr, xattr::sys_lgetxattr),
    (libc::SYS_fgetxattr, xattr::sys_fgetxattr),
    (libc::SYS_listxattr, xattr::sys_listxattr),
    (libc::SYS_llistxattr, xattr::sys_llistxattr),
    (libc::SYS_flistxattr, xattr::sys_flistxattr),
    (libc::SYS_removexattr, xattr::sys_removexattr),
    (libc::SYS_lremovexattr, xattr::sys_lremovexattr),
    (libc::SYS_fremovexattr, xattr::sys_fremovexattr),
    (libc::SYS_poll, poll::sys_poll),
    (libc::SYS_ppoll, poll::sys_ppoll),
    (libc::SYS_select, poll::sys_select),
    (libc::SYS_pselect6, poll::sys_pselect6),
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
    (libc::SYS_preadv2, io::sys_preadv2),
    (libc::SYS_pwritev2, io::sys_pwritev2),
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
    (libc::SYS_mkdir, names::sys_mkdir),
    (libc::SYS_mkdirat, names::sys_mkdirat),
    (libc::SYS_mknod, names::sys_mknod),
    (libc::SYS_mknodat, names::sys_mknodat),
    (libc::SYS_symlink, names::sys_symlink),
    (libc::SYS_symlinkat, names::sys_symlinkat),
    (libc::SYS_link, names::sys_link),
    (libc::SYS_linkat, names::sys_linkat),
    (libc::SYS_unlink, names::sys_unlink),
    (libc::SYS_unlinkat, names::sys_unlinkat),
    (libc::SYS_rmdir, names::sys_rmdir),
    (libc::SYS_rename, names::sys_rename),
    (libc::SYS_renameat, names::sys_renameat),
    (libc::SYS_renameat2, names::sys_renameat2),
    (libc::SYS_chmod, attr::sys_chmod),
    (libc::SYS_fchmod, attr::sys_fchmod),
    (libc::SYS_fchmodat, attr::sys_fchmodat),
    (libc::SYS_chown, attr::sys_chown),
    (libc::SYS_fchown, attr::sys_fchown),
    (libc::SYS_lchown, attr::sys_lchown),
    (libc::SYS_fchownat, attr::sys_fchownat),
    (libc::SYS_utimensat, attr::sys_utimensat),
    (libc::SYS_truncate, attr::sys_truncate),
    (libc::SYS_ftruncate, attr::sys_ftruncate),
    (libc::SYS_fsync, attr::sys_fsync),
    (libc::SYS_fdatasync, attr::sys_fsync),
    (libc::SYS_fadvise64, attr::sys_fadvise64),
    (libc::SYS_umask, attr::sys_umask),
    (libc::SYS_statfs, attr::sys_statfs),
    (libc::SYS_fstatfs, attr::sys_fstatfs),
    (libc::SYS_flock, fd::sys_flock),
    (libc::SYS_copy_file_range, io::sys_copy_file_range),
    (libc::SYS_memfd_create, memfd::sys_memfd_create),
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
        .is_some_and(|end| end <= task.mm.lock().layout().max_addr)
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
            .lock()
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
