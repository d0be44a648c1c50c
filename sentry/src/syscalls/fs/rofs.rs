//! Calls that would change the tree: mkdir, mknod, symlink, link, unlink,
//! rmdir, rename, chmod, chown, utimensat, truncate. The tree is read-only,
//! so each answers what Linux answers on a read-only mount: the lookup
//! errors first (ENOENT, ENOTDIR, EEXIST, ...), then EROFS. Also the calls
//! that have nothing to do on it: fsync, fdatasync, fadvise64.

use super::path::{at_path, at_target, Target};
use super::{fd_arg, read_path};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::path::split_last;

const AT_FDCWD: i32 = libc::AT_FDCWD;
const O_PATH: u32 = libc::O_PATH as u32;

/// The absolute guest path of path argument `addr` relative to `dirfd`.
fn path_at(task: &mut Task, dirfd: i32, addr: u64) -> Result<Vec<u8>, Errno> {
    let path = read_path(task, addr, false)?;
    at_path(task, dirfd, &path)
}

/// Creating a name: EEXIST if taken, else EROFS.
fn create_at(task: &mut Task, dirfd: i32, addr: u64) -> SysResult {
    let path = path_at(task, dirfd, addr)?;
    Err(task.fs.hostfs().create_error(&path))
}

pub(super) fn sys_mkdir(task: &mut Task, a: [u64; 6]) -> SysResult {
    create_at(task, AT_FDCWD, a[0])
}

pub(super) fn sys_mkdirat(task: &mut Task, a: [u64; 6]) -> SysResult {
    create_at(task, fd_arg(a[0]), a[1])
}

pub(super) fn sys_mknod(task: &mut Task, a: [u64; 6]) -> SysResult {
    create_at(task, AT_FDCWD, a[0])
}

pub(super) fn sys_mknodat(task: &mut Task, a: [u64; 6]) -> SysResult {
    create_at(task, fd_arg(a[0]), a[1])
}

/// symlink(target, linkpath).
pub(super) fn sys_symlink(task: &mut Task, a: [u64; 6]) -> SysResult {
    read_path(task, a[0], false)?;
    create_at(task, AT_FDCWD, a[1])
}

/// symlinkat(target, newdirfd, linkpath).
pub(super) fn sys_symlinkat(task: &mut Task, a: [u64; 6]) -> SysResult {
    read_path(task, a[0], false)?;
    create_at(task, fd_arg(a[1]), a[2])
}

/// link(old, new).
pub(super) fn sys_link(task: &mut Task, a: [u64; 6]) -> SysResult {
    let old = path_at(task, AT_FDCWD, a[0])?;
    task.fs.hostfs().lookup(&old, false)?;
    create_at(task, AT_FDCWD, a[1])
}

/// linkat(olddirfd, old, newdirfd, new, flags).
pub(super) fn sys_linkat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[4] as i32;
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    if let Target::Path(old) = at_target(task, fd_arg(a[0]), a[1], flags)? {
        task.fs.hostfs().lookup(&old, follow)?;
    }
    create_at(task, fd_arg(a[2]), a[3])
}

/// Removing a name: the special last components first, then EROFS once
/// the parent directory is found.
fn remove_at(task: &mut Task, dirfd: i32, addr: u64, dir: bool) -> SysResult {
    let path = path_at(task, dirfd, addr)?;
    if path.iter().all(|&c| c == b'/') {
        return Err(if dir { Errno::EBUSY } else { Errno::EISDIR });
    }
    match (split_last(&path).1, dir) {
        (b".", true) => Err(Errno::EINVAL),
        (b"..", true) => Err(Errno::ENOTEMPTY),
        (b"." | b"..", false) => Err(Errno::EISDIR),
        _ => Err(task.fs.hostfs().remove_error(&path)),
    }
}

pub(super) fn sys_unlink(task: &mut Task, a: [u64; 6]) -> SysResult {
    remove_at(task, AT_FDCWD, a[0], false)
}

pub(super) fn sys_rmdir(task: &mut Task, a: [u64; 6]) -> SysResult {
    remove_at(task, AT_FDCWD, a[0], true)
}

/// unlinkat(dirfd, path, flags).
pub(super) fn sys_unlinkat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[2] as i32;
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    remove_at(task, fd_arg(a[0]), a[1], flags & libc::AT_REMOVEDIR != 0)
}

pub(super) fn sys_rename(task: &mut Task, a: [u64; 6]) -> SysResult {
    rename_at(task, [AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0])
}

pub(super) fn sys_renameat(task: &mut Task, a: [u64; 6]) -> SysResult {
    rename_at(task, [a[0], a[1], a[2], a[3], 0])
}

pub(super) fn sys_renameat2(task: &mut Task, a: [u64; 6]) -> SysResult {
    rename_at(task, [a[0], a[1], a[2], a[3], a[4]])
}

/// renameat2(olddirfd, old, newdirfd, new, flags).
fn rename_at(task: &mut Task, a: [u64; 5]) -> SysResult {
    const NOREPLACE: u64 = 1;
    const EXCHANGE: u64 = 2;
    const WHITEOUT: u64 = 4;
    let flags = a[4];
    if flags & !(NOREPLACE | EXCHANGE | WHITEOUT) != 0
        || flags & (NOREPLACE | EXCHANGE) == NOREPLACE | EXCHANGE
    {
        return Err(Errno::EINVAL);
    }
    let old = path_at(task, fd_arg(a[0]), a[1])?;
    let new = path_at(task, fd_arg(a[2]), a[3])?;
    for path in [&old, &new] {
        let err = task.fs.hostfs().remove_error(path);
        if err != Errno::EROFS {
            return Err(err);
        }
    }
    for path in [&old, &new] {
        if matches!(split_last(path).1, b"." | b"..") {
            return Err(Errno::EBUSY);
        }
    }
    Err(Errno::EROFS)
}

/// Changing an existing file's metadata: lookup errors, else EROFS.
fn modify_at(task: &mut Task, dirfd: i32, addr: u64, flags: i32) -> SysResult {
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    match at_target(task, dirfd, addr, flags)? {
        Target::File(_) => Err(Errno::EROFS),
        Target::Path(path) => Err(task.fs.hostfs().modify_error(&path, follow)),
    }
}

/// The same on an open descriptor (fchmod, fchown, futimens).
fn modify_fd(task: &mut Task, fd: i32) -> SysResult {
    if task.fds.get(fd)?.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Err(Errno::EROFS)
}

pub(super) fn sys_chmod(task: &mut Task, a: [u64; 6]) -> SysResult {
    modify_at(task, AT_FDCWD, a[0], 0)
}

pub(super) fn sys_fchmodat(task: &mut Task, a: [u64; 6]) -> SysResult {
    modify_at(task, fd_arg(a[0]), a[1], 0)
}

pub(super) fn sys_fchmod(task: &mut Task, a: [u64; 6]) -> SysResult {
    modify_fd(task, fd_arg(a[0]))
}

pub(super) fn sys_chown(task: &mut Task, a: [u64; 6]) -> SysResult {
    modify_at(task, AT_FDCWD, a[0], 0)
}

pub(super) fn sys_lchown(task: &mut Task, a: [u64; 6]) -> SysResult {
    modify_at(task, AT_FDCWD, a[0], libc::AT_SYMLINK_NOFOLLOW)
}

pub(super) fn sys_fchown(task: &mut Task, a: [u64; 6]) -> SysResult {
    modify_fd(task, fd_arg(a[0]))
}

/// fchownat(dirfd, path, owner, group, flags).
pub(super) fn sys_fchownat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[4] as i32;
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    modify_at(task, fd_arg(a[0]), a[1], flags)
}

/// utimensat(dirfd, path, times, flags); a NULL path means `dirfd` itself.
pub(super) fn sys_utimensat(task: &mut Task, a: [u64; 6]) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let [dirfd, path, times, flags, ..] = a;
    let (dirfd, flags) = (fd_arg(dirfd), flags as i32);
    let mut change = true;
    if times != 0 {
        let t: [i64; 4] = task.mm.read_val(times)?;
        let valid =
            |ns: i64| (0..1_000_000_000).contains(&ns) || ns == UTIME_NOW || ns == UTIME_OMIT;
        if !valid(t[1]) || !valid(t[3]) {
            return Err(Errno::EINVAL);
        }
        change = t[1] != UTIME_OMIT || t[3] != UTIME_OMIT;
    }
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let result = if path == 0 && dirfd != AT_FDCWD {
        modify_fd(task, dirfd)
    } else {
        modify_at(task, dirfd, path, flags)
    };
    match result {
        // Both times UTIME_OMIT: nothing to change, which Linux allows.
        Err(Errno::EROFS) if !change => Ok(0),
        r => r,
    }
}

/// truncate(path, length).
pub(super) fn sys_truncate(task: &mut Task, a: [u64; 6]) -> SysResult {
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_at(task, AT_FDCWD, a[0])?;
    let st = task.fs.hostfs().stat(&path, true)?;
    if st.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !st.is_regular() {
        return Err(Errno::EINVAL);
    }
    Err(Errno::EROFS)
}

/// ftruncate(fd, length): only a file open for writing can be resized.
pub(super) fn sys_ftruncate(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    file.truncate(a[1]).map(|()| 0)
}

/// fsync and fdatasync: nothing of the tree is ever dirty.
pub(super) fn sys_fsync(task: &mut Task, a: [u64; 6]) -> SysResult {
    if task.fds.get(fd_arg(a[0]))?.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Ok(0)
}

/// fadvise64(fd, offset, len, advice): advice is only advice.
pub(super) fn sys_fadvise64(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    if file.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if file.stat()?.file_type() == libc::S_IFIFO {
        return Err(Errno::ESPIPE);
    }
    if a[3] > libc::POSIX_FADV_NOREUSE as u64 || (a[2] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}
