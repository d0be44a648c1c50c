//! eventfd and eventfd2: a counter file (`vfs/eventfd.rs`).

use std::sync::Arc;

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::eventfd::{EventFd, EFD_SEMAPHORE};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_eventfd, sys_eventfd),
    (libc::SYS_eventfd2, sys_eventfd2),
];

const EFD_CLOEXEC: u64 = libc::O_CLOEXEC as u64;
const EFD_NONBLOCK: u64 = libc::O_NONBLOCK as u64;

fn sys_eventfd(task: &mut Task, a: [u64; 6]) -> SysResult {
    make_eventfd(task, a[0] as u32, 0)
}

fn sys_eventfd2(task: &mut Task, a: [u64; 6]) -> SysResult {
    make_eventfd(task, a[0] as u32, a[1] as u32 as u64)
}

fn make_eventfd(task: &mut Task, initval: u32, flags: u64) -> SysResult {
    if flags & !(EFD_CLOEXEC | EFD_NONBLOCK | u64::from(EFD_SEMAPHORE)) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = EventFd::new(
        initval,
        flags & u64::from(EFD_SEMAPHORE) != 0,
        flags & EFD_NONBLOCK != 0,
    )?;
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    let fd = task
        .fds
        .install(Arc::new(file), flags & EFD_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}
