//! Calls on descriptors themselves: close, fstat, dup, dup2, dup3, fcntl,
//! ioctl, lseek, flock, and pipe/pipe2 which create them.
//!
//! File locks: one sandbox runs one process today, and a process never
//! conflicts with its own record locks, so every lock is granted and
//! `F_GETLK` finds none. Arguments are still checked as Linux does.

use std::sync::Arc;

use super::{fd_arg, nofile_limit};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::fdtable::NR_OPEN;
use crate::vfs::memfd;
use crate::vfs::{File, HostFile};

const O_PATH: u32 = libc::O_PATH as u32;

pub(super) fn sys_close(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.fds.remove(fd_arg(a[0]))?;
    Ok(0)
}

/// close_range(first, last, flags): CLOSE_RANGE_UNSHARE gives the caller
/// a table of its own first (as `unshare(CLONE_FILES)`),
/// CLOSE_RANGE_CLOEXEC marks instead of closing.
pub(super) fn sys_close_range(task: &mut Task, a: [u64; 6]) -> SysResult {
    const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
    const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;
    let [first, last, flags, ..] = a;
    let (first, last) = (first as u32, last as u32);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if first > i32::MAX as u32 {
        return Ok(0);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        task.fds.unshare();
    }
    let last = last.min(i32::MAX as u32) as i32;
    task.fds
        .close_range(first as i32, last, flags & CLOSE_RANGE_CLOEXEC != 0);
    Ok(0)
}

pub(super) fn sys_fstat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let st = task.fds.get(fd_arg(a[0]))?.stat()?;
    task.mm.write_val(a[1], &st)?;
    Ok(0)
}

pub(super) fn sys_dup(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let limit = nofile_limit(task);
    Ok(task.fds.install(file, false, 0, limit)? as u64)
}

pub(super) fn sys_dup2(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (old, new) = (fd_arg(a[0]), fd_arg(a[1]));
    let file = task.fds.get(old)?;
    if old == new {
        return Ok(new as u64);
    }
    dup_to(task, file, new, false)
}

pub(super) fn sys_dup3(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (old, new, flags) = (fd_arg(a[0]), fd_arg(a[1]), a[2] as i32);
    if flags & !libc::O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let file = task.fds.get(old)?;
    dup_to(task, file, new, flags & libc::O_CLOEXEC != 0)
}

/// Put `file` at descriptor `new`, closing what was there.
fn dup_to(task: &mut Task, file: Arc<dyn File>, new: i32, cloexec: bool) -> SysResult {
    if new < 0 || new as u64 >= nofile_limit(task).min(NR_OPEN) {
        return Err(Errno::EBADF);
    }
    // The replaced file, if any, is closed when this returns.
    drop(task.fds.install_at(new, file, cloexec));
    Ok(new as u64)
}

pub(super) fn sys_fcntl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (fd, cmd, arg) = (fd_arg(a[0]), a[1] as i32, a[2]);
    let file = task.fds.get(fd)?;
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let limit = nofile_limit(task);
            let min = arg as i32;
            if min < 0 || min as u64 >= limit.min(NR_OPEN) {
                return Err(Errno::EINVAL);
            }
            let cloexec = cmd == libc::F_DUPFD_CLOEXEC;
            Ok(task.fds.install(file, cloexec, min, limit)? as u64)
        }
        libc::F_GETFD => Ok(if task.fds.cloexec(fd)? {
            libc::FD_CLOEXEC as u64
        } else {
            0
        }),
        libc::F_SETFD => {
            task.fds
                .set_cloexec(fd, arg & libc::FD_CLOEXEC as u64 != 0)?;
            Ok(0)
        }
        libc::F_GETFL => Ok(u64::from(file.status_flags()?)),
        libc::F_SETFL => {
            if file.status_flags()? & O_PATH != 0 {
                return Err(Errno::EBADF);
            }
            file.set_status_flags(arg as u32)?;
            Ok(0)
        }
        // Other commands are not usable on O_PATH descriptors at all.
        _ if file.status_flags()? & O_PATH != 0 => Err(Errno::EBADF),
        libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | F_OFD_GETLK
        | F_OFD_SETLK
        | F_OFD_SETLKW => record_lock(task, file.as_ref(), cmd, arg),
        F_ADD_SEALS => memfd::add_seals(file.as_ref(), arg as u32).map(|()| 0),
        F_GET_SEALS => memfd::get_seals(file.as_ref()).map(u64::from),
        _ => Err(Errno::EINVAL),
    }
}

const F_OFD_GETLK: i32 = 36;
const F_ADD_SEALS: i32 = 1033;
const F_GET_SEALS: i32 = 1034;
const F_OFD_SETLK: i32 = 37;
const F_OFD_SETLKW: i32 = 38;

/// `struct flock`.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Flock {
    l_type: i16,
    l_whence: i16,
    pad: u32,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
    pad2: u32,
}

/// A record lock command: granted, or (`*GETLK`) reported free.
fn record_lock(task: &mut Task, file: &dyn File, cmd: i32, arg: u64) -> SysResult {
    let mut lock: Flock = task.mm.read_val(arg)?;
    let lock_type = i32::from(lock.l_type);
    if ![libc::F_RDLCK, libc::F_WRLCK, libc::F_UNLCK].contains(&lock_type)
        || ![libc::SEEK_SET, libc::SEEK_CUR, libc::SEEK_END].contains(&i32::from(lock.l_whence))
    {
        return Err(Errno::EINVAL);
    }
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && lock.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    if matches!(cmd, libc::F_GETLK | F_OFD_GETLK) {
        lock.l_type = libc::F_UNLCK as i16;
        task.mm.write_val(arg, &lock)?;
        return Ok(0);
    }
    // A lock needs the matching access mode.
    let mode = file.status_flags()? as i32 & libc::O_ACCMODE;
    let ok = match lock_type {
        libc::F_RDLCK => mode != libc::O_WRONLY,
        libc::F_WRLCK => mode != libc::O_RDONLY,
        _ => true,
    };
    if !ok {
        return Err(Errno::EBADF);
    }
    Ok(0)
}

/// flock(fd, op): granted, after the checks.
pub(super) fn sys_flock(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    if file.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    match a[1] as i32 & !libc::LOCK_NB {
        libc::LOCK_SH | libc::LOCK_EX | libc::LOCK_UN => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

pub(super) fn sys_ioctl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (fd, cmd, arg) = (fd_arg(a[0]), a[1] as u32, a[2]);
    let file = task.fds.get(fd)?;
    if file.status_flags()? & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if let Some(tty) = file.terminal() {
        if let Some(result) = super::tty::ioctl(task, tty, cmd, arg) {
            return result;
        }
    }
    match u64::from(cmd) {
        libc::FIOCLEX => task.fds.set_cloexec(fd, true).map(|()| 0),
        libc::FIONCLEX => task.fds.set_cloexec(fd, false).map(|()| 0),
        libc::FIONBIO => {
            let on: i32 = task.mm.read_val(arg)?;
            let flags = file.status_flags()?;
            let nonblock = libc::O_NONBLOCK as u32;
            let flags = if on != 0 {
                flags | nonblock
            } else {
                flags & !nonblock
            };
            file.set_status_flags(flags).map(|()| 0)
        }
        _ => {
            let (out, ret) = file.ioctl_get(cmd)?;
            task.mm.copy_out(arg, &out)?;
            Ok(ret)
        }
    }
}

pub(super) fn sys_lseek(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    file.seek(a[1] as i64, a[2] as i32)
}

pub(super) fn sys_pipe(task: &mut Task, a: [u64; 6]) -> SysResult {
    make_pipe(task, a[0], 0)
}

pub(super) fn sys_pipe2(task: &mut Task, a: [u64; 6]) -> SysResult {
    make_pipe(task, a[0], a[1])
}

/// Buffer size of the host pipes behind guest pipes (Linux's default limit
/// for unprivileged users, /proc/sys/fs/pipe-max-size).
const PIPE_BUFFER: usize = 1 << 20;

/// A pipe is a host pipe: its ends are plain host streams, which a blocked
/// guest reader or writer waits on interruptibly (`kernel::sleep`).
fn make_pipe(task: &mut Task, fds_addr: u64, flags: u64) -> SysResult {
    let known = (libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) as u64;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    // Non-blocking on the host whatever the guest asked: see
    // `HostFile::pipe_end`.
    let mut host_flags = rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK;
    if flags & libc::O_DIRECT as u64 != 0 {
        host_flags |= rustix::pipe::PipeFlags::DIRECT;
    }
    let (r, w) = rustix::pipe::pipe_with(host_flags)?;
    // A bigger buffer lets a writer run ahead: every guest system call is a
    // trap here, so fewer reader/writer hand-offs matter more than natively.
    let _ = rustix::pipe::fcntl_setpipe_size(&w, PIPE_BUFFER);
    let cloexec = flags & libc::O_CLOEXEC as u64 != 0;
    let limit = nofile_limit(task);
    // F_GETFL of a pipe end: its access mode and the pipe2 flags that stay.
    let kept = flags as u32 & (libc::O_NONBLOCK | libc::O_DIRECT) as u32;
    let r: Arc<dyn File> = Arc::new(HostFile::pipe_end(r, libc::O_RDONLY as u32 | kept)?);
    let w: Arc<dyn File> = Arc::new(HostFile::pipe_end(w, libc::O_WRONLY as u32 | kept)?);
    let rfd = task.fds.install(r, cloexec, 0, limit)?;
    let wfd = match task.fds.install(w, cloexec, 0, limit) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = task.fds.remove(rfd);
            return Err(e);
        }
    };
    if let Err(e) = task.mm.write_val(fds_addr, &[rfd, wfd]) {
        let _ = task.fds.remove(rfd);
        let _ = task.fds.remove(wfd);
        return Err(e);
    }
    Ok(0)
}
