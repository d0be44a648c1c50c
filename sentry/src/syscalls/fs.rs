//! File system calls. Placeholder: write to the standard streams.

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[(libc::SYS_write, sys_write)];

fn sys_write(task: &mut Task, a: [u64; 6]) -> SysResult {
    let len = usize::try_from(a[2])
        .map_err(|_| Errno::EINVAL)?
        .min(1 << 20);
    let mut buf = vec![0u8; len];
    task.mm.copy_in(a[1], &mut buf)?;
    task.fds.write(a[0] as i32, &buf).map(|n| n as u64)
}
