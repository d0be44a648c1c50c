//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait and
//! epoll_pwait2 over an epoll instance (`vfs/epoll.rs`). A wait sleeps on
//! the instance's host descriptor together with the task's inbox, so a
//! signal ends it with EINTR; epoll waits are never restarted, as on Linux.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;

use super::fs::with_sigmask;
use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::sleep::poll_host;
use crate::kernel::Task;
use crate::vfs::epoll::{CtlOp, EpollFile, GuestEpollEvent};
use crate::vfs::File;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_epoll_create, sys_epoll_create),
    (libc::SYS_epoll_create1, sys_epoll_create1),
    (libc::SYS_epoll_ctl, sys_epoll_ctl),
    (libc::SYS_epoll_wait, sys_epoll_wait),
    (libc::SYS_epoll_pwait, sys_epoll_pwait),
    (libc::SYS_epoll_pwait2, sys_epoll_pwait2),
];

const EVENT_SIZE: u64 = std::mem::size_of::<GuestEpollEvent>() as u64;
/// Most events one wait returns (`EP_MAX_EVENTS`).
const MAX_EVENTS: u64 = i32::MAX as u64 / EVENT_SIZE;
/// The only `sigsetsize` x86-64 Linux accepts.
const SIGSET_SIZE: u64 = 8;

fn sys_epoll_create(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[0] as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    make_epoll(task, false)
}

fn sys_epoll_create1(task: &mut Task, a: [u64; 6]) -> SysResult {
    let cloexec = libc::EPOLL_CLOEXEC as u64;
    if a[0] & !cloexec != 0 {
        return Err(Errno::EINVAL);
    }
    make_epoll(task, a[0] & cloexec != 0)
}

fn make_epoll(task: &mut Task, cloexec: bool) -> SysResult {
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    let file = Arc::new(EpollFile::new()?);
    Ok(task.fds.install(file, cloexec, 0, limit)? as u64)
}

/// The epoll instance behind `file`; EINVAL for any other file.
fn as_epoll(file: &Arc<dyn File>) -> Result<&EpollFile, Errno> {
    file.as_any()
        .and_then(|f| f.downcast_ref::<EpollFile>())
        .ok_or(Errno::EINVAL)
}

fn sys_epoll_ctl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [epfd, op, fd, event, ..] = a;
    let read_event = |task: &mut Task| task.mm.read_val::<GuestEpollEvent>(event);
    // Linux reads the event before it looks at either descriptor.
    let op = match op as i32 {
        libc::EPOLL_CTL_ADD => CtlOp::Add(read_event(task)?),
        libc::EPOLL_CTL_MOD => CtlOp::Mod(read_event(task)?),
        libc::EPOLL_CTL_DEL => CtlOp::Del,
        _ => {
            // EBADF still comes first for bad descriptors.
            task.fds.get(epfd as i32)?;
            task.fds.get(fd as i32)?;
            return Err(Errno::EINVAL);
        }
    };
    let ep_file = task.fds.get(epfd as i32)?;
    let target = task.fds.get(fd as i32)?;
    let host = target.host_stream().ok_or(Errno::EPERM)?;
    if Arc::ptr_eq(&ep_file, &target) {
        return Err(Errno::EINVAL);
    }
    as_epoll(&ep_file)?.ctl(host, op)?;
    Ok(0)
}

/// The shared part of the waits: check the arguments, wait until events
/// are ready, a signal arrives (EINTR) or `deadline` passes, and copy
/// the events out.
fn epoll_wait_common(
    task: &mut Task,
    epfd: u64,
    events: u64,
    max: u64,
    deadline: Option<Instant>,
) -> SysResult {
    let max = u64::from(max as i32 as u32);
    if max == 0 || max > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let end = events.checked_add(max * EVENT_SIZE);
    if end.is_none_or(|e| e > task.mm.lock().layout().max_addr) {
        return Err(Errno::EFAULT);
    }
    let file = task.fds.get(epfd as i32)?;
    let epoll = as_epoll(&file)?;
    let host = file.host_stream().ok_or(Errno::EINVAL)?;
    loop {
        let ready = epoll.ready_events(max as usize)?;
        if !ready.is_empty() {
            task.mm.copy_out(events, bytemuck::cast_slice(&ready))?;
            return Ok(ready.len() as u64);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
        poll_host(task, &[(host, PollFlags::IN)], deadline)?;
    }
}

/// An `int` millisecond timeout: negative waits forever.
fn ms_deadline(timeout: u64) -> Option<Instant> {
    let ms = timeout as i32;
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

fn sys_epoll_wait(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [epfd, events, max, timeout, ..] = a;
    epoll_wait_common(task, epfd, events, max, ms_deadline(timeout))
}

fn sys_epoll_pwait(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [epfd, events, max, timeout, sigmask, sigsetsize] = a;
    if sigmask != 0 && sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let deadline = ms_deadline(timeout);
    with_sigmask(task, sigmask, |task| {
        epoll_wait_common(task, epfd, events, max, deadline)
    })
}

fn sys_epoll_pwait2(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [epfd, events, max, timeout, sigmask, sigsetsize] = a;
    let deadline = if timeout == 0 {
        None
    } else {
        let [sec, nsec]: [i64; 2] = task.mm.read_val(timeout)?;
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        let d = Duration::new(sec as u64, nsec as u32);
        Some(
            Instant::now()
                .checked_add(d)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32)),
        )
    };
    if sigmask != 0 && sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    with_sigmask(task, sigmask, |task| {
        epoll_wait_common(task, epfd, events, max, deadline)
    })
}
