//! timerfd_create, timerfd_settime, timerfd_gettime: a timer file
//! (`vfs/timerfd.rs`).

use std::sync::Arc;

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::timerfd::{Setting, TimerFd};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_timerfd_create, sys_timerfd_create),
    (libc::SYS_timerfd_settime, sys_timerfd_settime),
    (libc::SYS_timerfd_gettime, sys_timerfd_gettime),
];

const TFD_CLOEXEC: u64 = libc::O_CLOEXEC as u64;
const TFD_NONBLOCK: u64 = libc::O_NONBLOCK as u64;

fn sys_timerfd_create(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [clock, flags, ..] = a;
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = TimerFd::new(clock as i32, flags & TFD_NONBLOCK != 0)?;
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    let fd = task
        .fds
        .install(Arc::new(file), flags & TFD_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}

/// The timer file `fd` is: EBADF if none, EINVAL if another kind.
fn with_timer<R>(
    task: &Task,
    fd: u64,
    f: impl FnOnce(&TimerFd) -> Result<R, Errno>,
) -> Result<R, Errno> {
    let file = task.fds.get(fd as i32)?;
    let timer = file
        .as_any()
        .and_then(|f| f.downcast_ref::<TimerFd>())
        .ok_or(Errno::EINVAL)?;
    f(timer)
}

fn sys_timerfd_settime(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [fd, flags, new, old, ..] = a;
    let new: Setting = task.mm.read_val(new)?;
    let previous = with_timer(task, fd, |t| t.set(flags as u32, new))?;
    if old != 0 {
        task.mm.write_val(old, &previous)?;
    }
    Ok(0)
}

fn sys_timerfd_gettime(task: &mut Task, a: [u64; 6]) -> SysResult {
    let current = with_timer(task, a[0], TimerFd::get)?;
    task.mm.write_val(a[1], &current)?;
    Ok(0)
}
