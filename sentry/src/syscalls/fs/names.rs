//! Calls that add, remove or move names: mkdir, mknod, symlink, link,
//! unlink, rmdir, rename and their `*at` forms. The changes stay in the
//! sentry's tree (see `vfs::change`); the host tree is never written.

use super::path::{at_path, at_target, creator, Target};
use super::{fd_arg, read_path};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::change::{RENAME_EXCHANGE, RENAME_NOREPLACE};
use crate::vfs::path::split_last;

const AT_FDCWD: i32 = libc::AT_FDCWD;

/// The absolute guest path of path argument `addr` relative to `dirfd`.
pub(super) fn path_at(task: &mut Task, dirfd: i32, addr: u64) -> Result<Vec<u8>, Errno> {
    let path = read_path(task, addr, false)?;
    at_path(task, dirfd, &path)
}

fn mkdir_at(task: &mut Task, dirfd: i32, addr: u64, mode: u64) -> SysResult {
    let path = path_at(task, dirfd, addr)?;
    let who = creator(task);
    task.fs
        .vfs()
        .mkdir(&path, mode as u32, who, &*task)
        .map(|()| 0)
}

pub(super) fn sys_mkdir(task: &mut Task, a: [u64; 6]) -> SysResult {
    mkdir_at(task, AT_FDCWD, a[0], a[1])
}

pub(super) fn sys_mkdirat(task: &mut Task, a: [u64; 6]) -> SysResult {
    mkdir_at(task, fd_arg(a[0]), a[1], a[2])
}

fn mknod_at(task: &mut Task, dirfd: i32, addr: u64, mode: u64) -> SysResult {
    let path = path_at(task, dirfd, addr)?;
    let who = creator(task);
    task.fs
        .vfs()
        .mknod(&path, mode as u32, who, &*task)
        .map(|()| 0)
}

pub(super) fn sys_mknod(task: &mut Task, a: [u64; 6]) -> SysResult {
    mknod_at(task, AT_FDCWD, a[0], a[1])
}

pub(super) fn sys_mknodat(task: &mut Task, a: [u64; 6]) -> SysResult {
    mknod_at(task, fd_arg(a[0]), a[1], a[2])
}

fn symlink_at(task: &mut Task, target: u64, dirfd: i32, addr: u64) -> SysResult {
    let target = read_path(task, target, false)?;
    let path = path_at(task, dirfd, addr)?;
    let who = creator(task);
    task.fs
        .vfs()
        .symlink(&target, &path, who, &*task)
        .map(|()| 0)
}

/// symlink(target, linkpath).
pub(super) fn sys_symlink(task: &mut Task, a: [u64; 6]) -> SysResult {
    symlink_at(task, a[0], AT_FDCWD, a[1])
}

/// symlinkat(target, newdirfd, linkpath).
pub(super) fn sys_symlinkat(task: &mut Task, a: [u64; 6]) -> SysResult {
    symlink_at(task, a[0], fd_arg(a[1]), a[2])
}

/// link(old, new).
pub(super) fn sys_link(task: &mut Task, a: [u64; 6]) -> SysResult {
    sys_linkat(task, [AT_FDCWD as u64, a[0], AT_FDCWD as u64, a[1], 0, 0])
}

/// linkat(olddirfd, old, newdirfd, new, flags).
pub(super) fn sys_linkat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[4] as i32;
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_FOLLOW != 0;
    let old = match at_target(task, fd_arg(a[0]), a[1], flags)? {
        Target::Path(p) => task.fs.vfs().resolve(&p, follow, &*task)?.node().clone(),
        Target::File(f) => f.inode().ok_or(Errno::EXDEV)?,
    };
    let new = path_at(task, fd_arg(a[2]), a[3])?;
    let who = creator(task);
    task.fs.vfs().link(&old, &new, who, &*task).map(|()| 0)
}

/// Removing a name: the special last components first, then the tree.
fn remove_at(task: &mut Task, dirfd: i32, addr: u64, dir: bool) -> SysResult {
    let path = path_at(task, dirfd, addr)?;
    if path.iter().all(|&c| c == b'/') {
        return Err(if dir { Errno::EBUSY } else { Errno::EISDIR });
    }
    match (split_last(&path).1, dir) {
        (b".", true) => return Err(Errno::EINVAL),
        (b"..", true) => return Err(Errno::ENOTEMPTY),
        (b"." | b"..", false) => return Err(Errno::EISDIR),
        _ => {}
    }
    let who = creator(task);
    task.fs.vfs().remove(&path, dir, who, &*task).map(|()| 0)
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
    const WHITEOUT: u64 = 4;
    let (noreplace, exchange) = (u64::from(RENAME_NOREPLACE), u64::from(RENAME_EXCHANGE));
    let flags = a[4];
    if flags & !(noreplace | exchange | WHITEOUT) != 0
        || flags & (noreplace | exchange) == noreplace | exchange
        || (flags & exchange != 0 && flags & WHITEOUT != 0)
    {
        return Err(Errno::EINVAL);
    }
    let old = path_at(task, fd_arg(a[0]), a[1])?;
    let new = path_at(task, fd_arg(a[2]), a[3])?;
    if flags & WHITEOUT != 0 {
        // Making a whiteout device takes CAP_MKNOD in the host's eyes.
        return Err(Errno::EPERM);
    }
    let who = creator(task);
    task.fs
        .vfs()
        .rename(&old, &new, flags as u32, who, &*task)
        .map(|()| 0)
}
