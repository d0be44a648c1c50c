//! Process-lifetime system calls: exit, exit_group, arch_prctl.

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::{ExitStatus, Task};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_exit, sys_exit),
    (libc::SYS_exit_group, sys_exit_group),
    (libc::SYS_arch_prctl, sys_arch_prctl),
];

fn sys_exit(task: &mut Task, a: [u64; 6]) -> SysResult {
    // A single-threaded process: the last thread's exit ends it.
    task.exit_status = Some(ExitStatus::Exited(a[0] as u8));
    Ok(0)
}

fn sys_exit_group(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.exit_status = Some(ExitStatus::Exited(a[0] as u8));
    Ok(0)
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;
const ARCH_GET_CPUID: u64 = 0x1011;
const ARCH_SET_CPUID: u64 = 0x1012;

fn sys_arch_prctl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [code, addr, ..] = a;
    let max = task.mm.layout().max_addr;
    match code {
        ARCH_SET_FS | ARCH_SET_GS if addr >= max => Err(Errno::EPERM),
        ARCH_SET_FS => {
            task.regs.fs_base = addr;
            Ok(0)
        }
        ARCH_SET_GS => {
            task.regs.gs_base = addr;
            Ok(0)
        }
        ARCH_GET_FS => task.mm.write_val(addr, &task.regs.fs_base).map(|()| 0),
        ARCH_GET_GS => task.mm.write_val(addr, &task.regs.gs_base).map(|()| 0),
        // CPUID is never faulting for the guest.
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(Errno::ENODEV),
        _ => Err(Errno::EINVAL),
    }
}
