//! Calls that change a file's attributes or size, or ask about its file
//! system: chmod, chown, utimensat, truncate, ftruncate, umask, statfs,
//! fstatfs; and fsync, fdatasync, fadvise64, which have nothing to do on
//! memory files.

use std::sync::Arc;

use super::fd_arg;
use super::names::path_at;
use super::path::{at_target, creator, Target};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::change::SetTime;
use crate::vfs::inode::{Inode, Time};
use crate::vfs::statfs::GuestStatfs;
use crate::vfs::File;

const AT_FDCWD: i32 = libc::AT_FDCWD;
const O_PATH: u32 = libc::O_PATH as u32;

/// The inode an attribute call changes: by path, or the file `dirfd` is
/// (EPERM for a host file such as a standard stream, which the guest may
/// not change).
fn inode_at(task: &mut Task, dirfd: i32, addr: u64, flags: i32) -> Result<Arc<Inode>, Errno> {
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    match at_target(task, dirfd, addr, flags)? {
        Target::File(f) => f.inode().ok_or(Errno::EPERM),
        Target::Path(path) => Ok(task.fs.vfs().resolve(&path, follow, &*task)?.node().clone()),
    }
}

/// The inode of descriptor `fd` (fchmod, fchown, futimens): EBADF for
/// `O_PATH`.
fn inode_fd(task: &Task, fd: i32) -> Result<Arc<Inode>, Errno> {
    let file = task.fds.get(fd)?;
    if file.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    file.inode().ok_or(Errno::EPERM)
}

/// Only the owner (or root) changes a file's mode or times.
fn owner_only(task: &Task, node: &Inode) -> Result<(), Errno> {
    let euid = task.creds.fsuid;
    if euid == 0 || euid == node.meta().uid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

fn chmod(task: &Task, node: &Inode, mode: u64) -> SysResult {
    owner_only(task, node)?;
    task.fs.vfs().chmod(node, mode as u32);
    Ok(0)
}

pub(super) fn sys_chmod(task: &mut Task, a: [u64; 6]) -> SysResult {
    let node = inode_at(task, AT_FDCWD, a[0], 0)?;
    chmod(task, &node, a[1])
}

/// fchmodat(dirfd, path, mode, flags).
pub(super) fn sys_fchmodat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let node = inode_at(task, fd_arg(a[0]), a[1], 0)?;
    chmod(task, &node, a[2])
}

pub(super) fn sys_fchmod(task: &mut Task, a: [u64; 6]) -> SysResult {
    let node = inode_fd(task, fd_arg(a[0]))?;
    chmod(task, &node, a[1])
}

/// chown: root may give files away; others may only set the group to
/// one of their own (here: their egid) on files they own.
fn chown(task: &Task, node: &Inode, uid: u64, gid: u64) -> SysResult {
    let (uid, gid) = (uid as u32, gid as u32);
    let (euid, egid) = (task.creds.euid, task.creds.egid);
    if euid != 0 {
        let m = *node.meta();
        let uid_ok = uid == u32::MAX || uid == m.uid;
        let gid_ok = gid == u32::MAX || gid == m.gid || gid == egid;
        if euid != m.uid || !uid_ok || !gid_ok {
            return Err(Errno::EPERM);
        }
    }
    task.fs.vfs().chown(node, uid, gid);
    Ok(0)
}

pub(super) fn sys_chown(task: &mut Task, a: [u64; 6]) -> SysResult {
    let node = inode_at(task, AT_FDCWD, a[0], 0)?;
    chown(task, &node, a[1], a[2])
}

pub(super) fn sys_lchown(task: &mut Task, a: [u64; 6]) -> SysResult {
    let node = inode_at(task, AT_FDCWD, a[0], libc::AT_SYMLINK_NOFOLLOW)?;
    chown(task, &node, a[1], a[2])
}

pub(super) fn sys_fchown(task: &mut Task, a: [u64; 6]) -> SysResult {
    let node = inode_fd(task, fd_arg(a[0]))?;
    chown(task, &node, a[1], a[2])
}

/// fchownat(dirfd, path, owner, group, flags).
pub(super) fn sys_fchownat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[4] as i32;
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let node = inode_at(task, fd_arg(a[0]), a[1], flags)?;
    chown(task, &node, a[2], a[3])
}

/// utimensat(dirfd, path, times, flags); a NULL path means `dirfd` itself.
pub(super) fn sys_utimensat(task: &mut Task, a: [u64; 6]) -> SysResult {
    const UTIME_NOW: i64 = (1 << 30) - 1;
    const UTIME_OMIT: i64 = (1 << 30) - 2;
    let [dirfd, path, times, flags, ..] = a;
    let (dirfd, flags) = (fd_arg(dirfd), flags as i32);
    let (atime, mtime) = if times == 0 {
        (SetTime::Now, SetTime::Now)
    } else {
        let t: [i64; 4] = task.mm.read_val(times)?;
        let conv = |sec: i64, nsec: i64| match nsec {
            UTIME_NOW => Ok(SetTime::Now),
            UTIME_OMIT => Ok(SetTime::Omit),
            0..=999_999_999 => Ok(SetTime::To(Time { sec, nsec })),
            _ => Err(Errno::EINVAL),
        };
        (conv(t[0], t[1])?, conv(t[2], t[3])?)
    };
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    change_times(task, dirfd, path, flags, atime, mtime)
}

/// Set the times of what `dirfd` and `path` name (`dirfd` itself for a
/// NULL path); explicit times are the owner's to set.
fn change_times(
    task: &mut Task,
    dirfd: i32,
    path: u64,
    flags: i32,
    atime: SetTime,
    mtime: SetTime,
) -> SysResult {
    let node = if path == 0 && dirfd != AT_FDCWD {
        inode_fd(task, dirfd)?
    } else {
        inode_at(task, dirfd, path, flags)?
    };
    let explicit = matches!(atime, SetTime::To(_)) || matches!(mtime, SetTime::To(_));
    if explicit {
        owner_only(task, &node)?;
    }
    task.fs.vfs().set_times(&node, atime, mtime);
    Ok(0)
}

/// utime(path, times): `struct utimbuf` holds whole seconds; NULL: now.
pub(super) fn sys_utime(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [path, times, ..] = a;
    let (atime, mtime) = if times == 0 {
        (SetTime::Now, SetTime::Now)
    } else {
        let t: [i64; 2] = task.mm.read_val(times)?;
        let at = |sec| SetTime::To(Time { sec, nsec: 0 });
        (at(t[0]), at(t[1]))
    };
    if path == 0 {
        return Err(Errno::EFAULT);
    }
    change_times(task, AT_FDCWD, path, 0, atime, mtime)
}

/// The two `struct timeval`s of utimes/futimesat (NULL: now).
fn timevals(task: &Task, addr: u64) -> Result<(SetTime, SetTime), Errno> {
    if addr == 0 {
        return Ok((SetTime::Now, SetTime::Now));
    }
    let t: [i64; 4] = task.mm.read_val(addr)?;
    let conv = |sec: i64, usec: i64| {
        if (0..1_000_000).contains(&usec) {
            Ok(SetTime::To(Time {
                sec,
                nsec: usec * 1000,
            }))
        } else {
            Err(Errno::EINVAL)
        }
    };
    Ok((conv(t[0], t[1])?, conv(t[2], t[3])?))
}

/// utimes(path, times).
pub(super) fn sys_utimes(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (atime, mtime) = timevals(task, a[1])?;
    if a[0] == 0 {
        return Err(Errno::EFAULT);
    }
    change_times(task, AT_FDCWD, a[0], 0, atime, mtime)
}

/// futimesat(dirfd, path, times): a NULL path is `dirfd` itself.
pub(super) fn sys_futimesat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (atime, mtime) = timevals(task, a[2])?;
    change_times(task, fd_arg(a[0]), a[1], 0, atime, mtime)
}

/// truncate(path, length).
pub(super) fn sys_truncate(task: &mut Task, a: [u64; 6]) -> SysResult {
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_at(task, AT_FDCWD, a[0])?;
    let who = creator(task);
    task.fs.vfs().truncate(&path, a[1], who, &*task).map(|()| 0)
}

/// ftruncate(fd, length): only a file open for writing can be resized.
pub(super) fn sys_ftruncate(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    if (a[1] as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    file.truncate(a[1]).map(|()| 0)
}

/// umask(mask): returns the old mask.
pub(super) fn sys_umask(task: &mut Task, a: [u64; 6]) -> SysResult {
    Ok(u64::from(task.fs.set_umask(a[0] as u32)))
}

/// The statfs answer for `file`: its mount's, or a tmpfs-like one for a
/// host stream.
fn statfs_of(file: &dyn File) -> GuestStatfs {
    let dev = file.inode().map_or(0, |n| n.dev);
    GuestStatfs::for_dev(dev)
}

/// statfs(path, buf).
pub(super) fn sys_statfs(task: &mut Task, a: [u64; 6]) -> SysResult {
    let path = path_at(task, AT_FDCWD, a[0])?;
    let dev = task.fs.vfs().resolve(&path, true, &*task)?.node().dev;
    task.mm.write_val(a[1], &GuestStatfs::for_dev(dev))?;
    Ok(0)
}

/// fstatfs(fd, buf).
pub(super) fn sys_fstatfs(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    task.mm.write_val(a[1], &statfs_of(file.as_ref()))?;
    Ok(0)
}

/// fsync and fdatasync: memory files are always as durable as they get.
pub(super) fn sys_fsync(task: &mut Task, a: [u64; 6]) -> SysResult {
    if task.fds.get(fd_arg(a[0]))?.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Ok(0)
}

/// sync: nothing the sandbox writes is on a disk.
pub(super) fn sys_sync(_task: &mut Task, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// syncfs(fd) and sync_file_range(fd, ...): EBADF for a bad descriptor,
/// else nothing to do, as for fsync. sync_file_range checks its range and
/// flags as Linux does.
pub(super) fn sys_syncfs(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.fds.get(fd_arg(a[0]))?;
    Ok(0)
}

pub(super) fn sys_sync_file_range(task: &mut Task, a: [u64; 6]) -> SysResult {
    const VALID_FLAGS: u64 = 1 | 2 | 4;
    let [fd, offset, nbytes, flags, ..] = a;
    let (offset, nbytes) = (offset as i64, nbytes as i64);
    if flags & !VALID_FLAGS != 0 || offset < 0 || nbytes < 0 || offset.checked_add(nbytes).is_none()
    {
        return Err(Errno::EINVAL);
    }
    let file = task.fds.get(fd_arg(fd))?;
    let kind = file.stat()?.file_type();
    if kind != libc::S_IFREG
        && kind != libc::S_IFDIR
        && kind != libc::S_IFBLK
        && kind != libc::S_IFLNK
    {
        return Err(Errno::ESPIPE);
    }
    Ok(0)
}

/// fallocate(fd, mode, offset, len): mode 0 and FALLOC_FL_KEEP_SIZE, with
/// Linux's checks in its order; other modes (punching holes, zeroing,
/// collapsing or inserting ranges) are EOPNOTSUPP, as on a file system
/// without them.
pub(super) fn sys_fallocate(task: &mut Task, a: [u64; 6]) -> SysResult {
    const FALLOC_FL_KEEP_SIZE: u64 = 1;
    const FALLOC_FL_PUNCH_HOLE: u64 = 2;
    const KNOWN_MODES: u64 = 0x7f;
    let [fd, mode, offset, len, ..] = a;
    let (offset, len) = (offset as i64, len as i64);
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !KNOWN_MODES != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let file = task.fds.get(fd_arg(fd))?;
    let flags = file.status_flags()?;
    let access = flags & libc::O_ACCMODE as u32;
    if flags & O_PATH != 0 || access == libc::O_RDONLY as u32 {
        return Err(Errno::EBADF);
    }
    match file.stat()?.file_type() {
        libc::S_IFIFO => return Err(Errno::ESPIPE),
        libc::S_IFDIR => return Err(Errno::EISDIR),
        libc::S_IFREG => {}
        _ => return Err(Errno::ENODEV),
    }
    let end = offset.checked_add(len).ok_or(Errno::EFBIG)? as u64;
    if mode & !FALLOC_FL_KEEP_SIZE != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    file.allocate(end, mode & FALLOC_FL_KEEP_SIZE != 0)?;
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
