//! Calls that name files: open, openat, creat, stat, lstat, newfstatat,
//! statx, access, faccessat, faccessat2, readlink, readlinkat, getcwd,
//! chdir, fchdir.

use std::sync::Arc;

use rustix::event::PollFlags;

use super::{fd_arg, nofile_limit, read_path};
use crate::errno::{Errno, SysResult};
use crate::kernel::sleep::poll_host;
use crate::kernel::Task;
use crate::vfs::fdtable::NR_OPEN;
use crate::vfs::fifo::FifoFile;
use crate::vfs::path::join;
use crate::vfs::{Creator, File};

/// `AT_STATX_SYNC_TYPE`: the two bits of statx's sync mode.
const AT_STATX_SYNC_TYPE: i32 = 0x6000;
/// `STATX__RESERVED`: a mask bit statx refuses.
const STATX_RESERVED: u32 = 0x8000_0000;

/// The absolute guest path that `path` (non-empty) names relative to
/// `dirfd`: itself if absolute, else from the cwd (`AT_FDCWD`) or from the
/// directory `dirfd` is open on (ENOTDIR if it is not a directory).
pub(in crate::syscalls) fn at_path(task: &Task, dirfd: i32, path: &[u8]) -> Result<Vec<u8>, Errno> {
    if path.first() == Some(&b'/') {
        return Ok(path.to_vec());
    }
    if dirfd == libc::AT_FDCWD {
        return Ok(task.fs.absolute(path));
    }
    let file = task.fds.get(dirfd)?;
    let base = file.dir_path().ok_or(Errno::ENOTDIR)?;
    Ok(join(base, path))
}

/// What an `*at` call that may take `AT_EMPTY_PATH` operates on.
pub(super) enum Target {
    /// The file `dirfd` refers to (an empty path).
    File(Arc<dyn File>),
    /// A file to look up by absolute guest path.
    Path(Vec<u8>),
}

pub(super) fn at_target(
    task: &mut Task,
    dirfd: i32,
    path_addr: u64,
    flags: i32,
) -> Result<Target, Errno> {
    let empty_ok = flags & libc::AT_EMPTY_PATH != 0;
    // Since Linux 6.11 a NULL path means "" with AT_EMPTY_PATH.
    let path = if path_addr == 0 && empty_ok {
        Vec::new()
    } else {
        read_path(task, path_addr, empty_ok)?
    };
    if !path.is_empty() {
        return Ok(Target::Path(at_path(task, dirfd, &path)?));
    }
    if dirfd == libc::AT_FDCWD {
        return Ok(Target::Path(task.fs.cwd().to_vec()));
    }
    Ok(Target::File(task.fds.get(dirfd)?))
}

pub(super) fn sys_open(task: &mut Task, a: [u64; 6]) -> SysResult {
    open_at(task, libc::AT_FDCWD, a[0], a[1] as i32, a[2] as u32)
}

pub(super) fn sys_openat(task: &mut Task, a: [u64; 6]) -> SysResult {
    open_at(task, fd_arg(a[0]), a[1], a[2] as i32, a[3] as u32)
}

pub(super) fn sys_creat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    open_at(task, libc::AT_FDCWD, a[0], flags, a[1] as u32)
}

/// Who creates files for `task`: its file-system ids (the effective ones
/// unless setfsuid/setfsgid changed them) and umask.
pub(in crate::syscalls) fn creator(task: &Task) -> Creator {
    Creator {
        uid: task.creds.fsuid,
        gid: task.creds.fsgid,
        umask: task.fs.umask(),
    }
}

fn open_at(task: &mut Task, dirfd: i32, path_addr: u64, flags: i32, mode: u32) -> SysResult {
    let path = read_path(task, path_addr, false)?;
    // Linux reserves the descriptor before it looks the path up.
    let limit = nofile_limit(task);
    if task.fds.lowest_free(0) as u64 >= limit.min(NR_OPEN) {
        return Err(Errno::EMFILE);
    }
    let path = at_path(task, dirfd, &path)?;
    let file = task
        .fs
        .vfs()
        .open(&path, flags, mode, creator(task), &*task)?;
    wait_for_fifo_partner(task, &file)?;
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let fd = task.fds.install(file, cloexec, 0, limit)?;
    Ok(fd as u64)
}

/// A blocking open of a FIFO ends here, once the other side has opened
/// too; a signal interrupts it as Linux's does (ERESTARTSYS), and the
/// dropped file uncounts the opener.
fn wait_for_fifo_partner(task: &mut Task, file: &Arc<dyn File>) -> Result<(), Errno> {
    let Some(fifo) = file.as_any().and_then(|f| f.downcast_ref::<FifoFile>()) else {
        return Ok(());
    };
    fifo.wait_for_partner(
        |bell| match poll_host(task, &[(bell, PollFlags::IN)], None) {
            Ok(_) => Ok(()),
            Err(Errno::EINTR) => Err(Errno::ERESTARTSYS),
            Err(e) => Err(e),
        },
    )
}

pub(super) fn sys_stat(task: &mut Task, a: [u64; 6]) -> SysResult {
    stat_at(task, libc::AT_FDCWD, a[0], a[1], 0)
}

pub(super) fn sys_lstat(task: &mut Task, a: [u64; 6]) -> SysResult {
    stat_at(task, libc::AT_FDCWD, a[0], a[1], libc::AT_SYMLINK_NOFOLLOW)
}

pub(super) fn sys_newfstatat(task: &mut Task, a: [u64; 6]) -> SysResult {
    stat_at(task, fd_arg(a[0]), a[1], a[2], a[3] as i32)
}

fn stat_at(task: &mut Task, dirfd: i32, path_addr: u64, buf: u64, flags: i32) -> SysResult {
    let known = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    let st = match at_target(task, dirfd, path_addr, flags)? {
        Target::File(f) => f.stat()?,
        Target::Path(p) => task.fs.vfs().stat(&p, follow, &*task)?,
    };
    task.mm.write_val(buf, &st)?;
    Ok(0)
}

/// statx(dirfd, path, flags, mask, buf).
pub(super) fn sys_statx(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [dirfd, path_addr, flags, mask, buf, _] = a;
    let (flags, mask) = (flags as i32, mask as u32);
    let known = libc::AT_SYMLINK_NOFOLLOW
        | libc::AT_EMPTY_PATH
        | libc::AT_NO_AUTOMOUNT
        | AT_STATX_SYNC_TYPE;
    if flags & !known != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let sync = (flags & AT_STATX_SYNC_TYPE) as u32;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    let sx = match at_target(task, fd_arg(dirfd), path_addr, flags)? {
        Target::File(f) => f.statx(mask, sync)?,
        Target::Path(p) => task.fs.vfs().statx(&p, follow, &*task)?,
    };
    task.mm.write_val(buf, &sx)?;
    Ok(0)
}

pub(super) fn sys_access(task: &mut Task, a: [u64; 6]) -> SysResult {
    access_at(task, libc::AT_FDCWD, a[0], a[1], 0)
}

pub(super) fn sys_faccessat(task: &mut Task, a: [u64; 6]) -> SysResult {
    access_at(task, fd_arg(a[0]), a[1], a[2], 0)
}

pub(super) fn sys_faccessat2(task: &mut Task, a: [u64; 6]) -> SysResult {
    access_at(task, fd_arg(a[0]), a[1], a[2], a[3] as i32)
}

fn access_at(task: &mut Task, dirfd: i32, path_addr: u64, mode: u64, flags: i32) -> SysResult {
    let rwx = (libc::R_OK | libc::W_OK | libc::X_OK) as u64;
    if mode & !rwx != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & !(libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let mode = mode as u32;
    let eaccess = flags & libc::AT_EACCESS != 0;
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    match at_target(task, dirfd, path_addr, flags)? {
        Target::File(f) => f.access(mode, eaccess)?,
        Target::Path(p) => {
            let c = &task.creds;
            let (uid, gid) = if eaccess {
                (c.fsuid, c.fsgid)
            } else {
                (c.uid, c.gid)
            };
            task.fs.vfs().access(&p, mode, follow, uid, gid, &*task)?
        }
    }
    Ok(0)
}

pub(super) fn sys_readlink(task: &mut Task, a: [u64; 6]) -> SysResult {
    readlink_at(task, libc::AT_FDCWD, a[0], a[1], a[2])
}

pub(super) fn sys_readlinkat(task: &mut Task, a: [u64; 6]) -> SysResult {
    readlink_at(task, fd_arg(a[0]), a[1], a[2], a[3])
}

/// readlinkat: the target, cut to `size` bytes, no NUL. An empty path reads
/// the link an `O_PATH|O_NOFOLLOW` descriptor refers to.
fn readlink_at(task: &mut Task, dirfd: i32, path_addr: u64, buf: u64, size: u64) -> SysResult {
    let size = size as i32;
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(task, path_addr, true)?;
    let target = if !path.is_empty() {
        let path = at_path(task, dirfd, &path)?;
        task.fs.vfs().readlink(&path, &*task)?
    } else if dirfd == libc::AT_FDCWD {
        return Err(Errno::ENOENT);
    } else {
        task.fds.get(dirfd)?.readlink()?
    };
    let n = target.len().min(size as usize);
    task.mm.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

/// getcwd(buf, size): the path and its NUL; ERANGE if they do not fit.
/// Returns the length including the NUL, as the system call does.
pub(super) fn sys_getcwd(task: &mut Task, a: [u64; 6]) -> SysResult {
    let mut cwd = task.fs.cwd().to_vec();
    cwd.push(0);
    if (a[1] as usize) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    task.mm.copy_out(a[0], &cwd)?;
    Ok(cwd.len() as u64)
}

pub(super) fn sys_chdir(task: &mut Task, a: [u64; 6]) -> SysResult {
    let path = read_path(task, a[0], false)?;
    let path = task.fs.absolute(&path);
    let (uid, gid) = (task.creds.fsuid, task.creds.fsgid);
    let cwd = task.fs.vfs().canonical_dir(&path, uid, gid, &*task)?;
    task.fs.set_cwd(cwd);
    Ok(0)
}

pub(super) fn sys_fchdir(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let path = file.dir_path().ok_or(Errno::ENOTDIR)?;
    let (uid, gid) = (task.creds.fsuid, task.creds.fsgid);
    let cwd = task.fs.vfs().canonical_dir(path, uid, gid, &*task)?;
    task.fs.set_cwd(cwd);
    Ok(0)
}
