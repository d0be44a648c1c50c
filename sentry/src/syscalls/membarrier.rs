//! membarrier: a memory barrier on every running thread of the process.
//! The sandbox's guest threads run as host threads (KVM vCPU threads of
//! the sentry, or threads of ptrace stub processes), so every command
//! that needs the barrier is done with the host's MEMBARRIER_CMD_GLOBAL,
//! which reaches all of them. The private and global "expedited" forms
//! keep Linux's registration rule.

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[(libc::SYS_membarrier, sys_membarrier)];

const QUERY: u64 = 0;
const GLOBAL: u64 = 1;
const GLOBAL_EXPEDITED: u64 = 1 << 1;
const REGISTER_GLOBAL_EXPEDITED: u64 = 1 << 2;
const PRIVATE_EXPEDITED: u64 = 1 << 3;
const REGISTER_PRIVATE_EXPEDITED: u64 = 1 << 4;
const PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 5;
const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 6;

/// The commands QUERY reports.
const SUPPORTED: u64 = GLOBAL
    | GLOBAL_EXPEDITED
    | REGISTER_GLOBAL_EXPEDITED
    | PRIVATE_EXPEDITED
    | REGISTER_PRIVATE_EXPEDITED
    | PRIVATE_EXPEDITED_SYNC_CORE
    | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;

fn sys_membarrier(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [cmd, flags, ..] = a;
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    match cmd {
        QUERY => Ok(SUPPORTED),
        GLOBAL | GLOBAL_EXPEDITED => barrier(),
        REGISTER_GLOBAL_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            task.group.register_membarrier(cmd as u32);
            Ok(0)
        }
        PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_SYNC_CORE => {
            // Each needs its own registration first (EPERM).
            let register = (cmd << 1) as u32;
            if task.group.membarrier_registered() & register == 0 {
                return Err(Errno::EPERM);
            }
            barrier()
        }
        _ => Err(Errno::EINVAL),
    }
}

fn barrier() -> SysResult {
    crate::host::membarrier_global()?;
    Ok(0)
}
