//! pidfd_open, pidfd_send_signal, pidfd_getfd: files naming processes
//! (`vfs/pidfd.rs`); CLONE_PIDFD (process.rs) and waitid's P_PIDFD
//! (wait.rs) use `open_pidfd` and `pidfd_of`.

use std::sync::Arc;

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::siginfo::{SigInfo, SI_TKILL, SI_USER};
use crate::kernel::signal_delivery::send;
use crate::kernel::Task;
use crate::vfs::pidfd::PidFd;
use crate::vfs::File;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_pidfd_open, sys_pidfd_open),
    (libc::SYS_pidfd_send_signal, sys_pidfd_send_signal),
    (libc::SYS_pidfd_getfd, sys_pidfd_getfd),
];

const PIDFD_NONBLOCK: u64 = libc::O_NONBLOCK as u64;
const PIDFD_SIGNAL_THREAD: u64 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u64 = 2;

/// A new pidfd (always close-on-exec) for process `pid` in the caller's
/// table: its descriptor.
pub(super) fn open_pidfd(task: &mut Task, pid: i32, nonblock: bool) -> Result<i32, Errno> {
    let notice = task.procs.exit_notice(pid)?;
    let file: Arc<dyn File> = Arc::new(PidFd::new(pid, notice, nonblock));
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    task.fds.install(file, true, 0, limit)
}

/// The pidfd descriptor `fd` is: EBADF if it is not one.
pub(super) fn pidfd_of(task: &Task, fd: i32) -> Result<Arc<dyn File>, Errno> {
    let file = task.fds.get(fd)?;
    if file
        .as_any()
        .and_then(|f| f.downcast_ref::<PidFd>())
        .is_none()
    {
        return Err(Errno::EBADF);
    }
    Ok(file)
}

/// The `PidFd` inside a file `pidfd_of` returned.
pub(super) fn as_pidfd(file: &Arc<dyn File>) -> &PidFd {
    file.as_any()
        .and_then(|f| f.downcast_ref::<PidFd>())
        .expect("checked by pidfd_of")
}

/// pidfd_open(pid, flags): a process (not another thread: ENOENT), alive
/// or not yet reaped.
fn sys_pidfd_open(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [pid, flags, ..] = a;
    let pid = pid as i32;
    if flags & !PIDFD_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let entry = task.procs.entry(pid).ok_or(Errno::ESRCH)?;
    if entry.tgid != pid {
        return Err(Errno::ENOENT);
    }
    Ok(open_pidfd(task, pid, flags & PIDFD_NONBLOCK != 0)? as u64)
}

/// pidfd_send_signal(pidfd, sig, info, flags): kill (or sigqueue, with
/// `info`) aimed by pidfd. A zombie takes it and does nothing; a reaped
/// process is ESRCH.
fn sys_pidfd_send_signal(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [fd, sig, info_ptr, flags, ..] = a;
    if flags & !(PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP) != 0 || flags.count_ones() > 1 {
        return Err(Errno::EINVAL);
    }
    let sig = sig as i32;
    if !(0..=64).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    let file = pidfd_of(task, fd as i32)?;
    let target = as_pidfd(&file).target(&task.procs).ok_or(Errno::ESRCH)?;
    let to_self = target.pid == task.tgid;
    let info = if info_ptr == 0 {
        SigInfo::from_sender(sig, SI_USER, task.tgid, task.creds.uid)
    } else {
        let mut info: SigInfo = task.mm.read_val(info_ptr)?;
        crate::kernel::posix_timers::forget_origin(&mut info);
        if info.signo != sig {
            return Err(Errno::EINVAL);
        }
        // Towards another process, no posing as the kernel or kill.
        if !to_self && (info.code >= 0 || info.code == SI_TKILL) {
            return Err(Errno::EPERM);
        }
        info
    };
    if sig == 0 || target.exited {
        return Ok(0);
    }
    if flags & PIDFD_SIGNAL_THREAD != 0 {
        // The pidfd's thread: the process's first.
        if to_self && task.tid == task.tgid {
            send(task, info);
        } else if let Some(inbox) = task.procs.thread_inbox(Some(target.pid), target.pid) {
            inbox.post(info);
        }
    } else if to_self {
        if task.group.len() > 1 {
            task.group.post_shared(info);
        } else {
            send(task, info);
        }
    } else {
        task.procs.send_to_process(target.pid, info);
    }
    Ok(0)
}

/// pidfd_getfd(pidfd, targetfd, flags): a duplicate of another process's
/// descriptor, close-on-exec. Only a process the caller could trace
/// (same user, or root) may be asked.
fn sys_pidfd_getfd(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [fd, target_fd, flags, ..] = a;
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let file = pidfd_of(task, fd as i32)?;
    let target = as_pidfd(&file).target(&task.procs).ok_or(Errno::ESRCH)?;
    if target.exited {
        return Err(Errno::ESRCH);
    }
    let group = task
        .procs
        .entry(target.pid)
        .and_then(|e| e.group)
        .ok_or(Errno::ESRCH)?;
    let facts = group.facts().ok_or(Errno::ESRCH)?;
    let (me, them) = (task.creds, facts.creds);
    if me.euid != 0 && (me.uid != them.uid || me.uid != them.euid || me.uid != them.suid) {
        return Err(Errno::EPERM);
    }
    let table = facts.fds.upgrade().ok_or(Errno::ESRCH)?;
    let wanted = table.get(target_fd as i32)?;
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    Ok(task.fds.install(wanted, true, 0, limit)? as u64)
}
