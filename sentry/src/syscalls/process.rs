//! Process-lifetime system calls: exit, exit_group, arch_prctl, prctl.

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::{ExitStatus, Task};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_exit, sys_exit),
    (libc::SYS_exit_group, sys_exit_group),
    (libc::SYS_arch_prctl, sys_arch_prctl),
    (libc::SYS_prctl, sys_prctl),
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

/// Length of a task name, including the NUL (TASK_COMM_LEN).
const COMM_LEN: usize = 16;

fn sys_prctl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [option, arg2, ..] = a;
    match option as i32 {
        libc::PR_SET_NAME => {
            // Linux copies at most COMM_LEN - 1 bytes and needs no NUL.
            task.comm = match task.mm.read_cstring(arg2, COMM_LEN - 1) {
                Ok(name) => name,
                Err(Errno::ENAMETOOLONG) => {
                    let mut raw = [0u8; COMM_LEN - 1];
                    task.mm.copy_in(arg2, &mut raw)?;
                    raw.to_vec()
                }
                Err(e) => return Err(e),
            };
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut out = [0u8; COMM_LEN];
            out[..task.comm.len()].copy_from_slice(&task.comm);
            task.mm.copy_out(arg2, &out).map(|()| 0)
        }
        // The sandbox has no core dumps or setuid transitions to guard;
        // report the defaults a fresh process sees.
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE if arg2 <= 1 => Ok(0),
        libc::PR_GET_NO_NEW_PRIVS => Ok(u64::from(task.no_new_privs)),
        libc::PR_SET_NO_NEW_PRIVS if arg2 == 1 => {
            task.no_new_privs = true;
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => task.mm.write_val(arg2, &task.pdeathsig).map(|()| 0),
        libc::PR_SET_PDEATHSIG if arg2 <= 64 => {
            task.pdeathsig = arg2 as i32;
            Ok(0)
        }
        libc::PR_GET_SECCOMP => Ok(0),
        libc::PR_CAPBSET_READ if arg2 <= 63 => Ok(0),
        // Anything else (including PR_SET_VMA naming, which kernels without
        // CONFIG_ANON_VMA_NAME refuse) is EINVAL, as Linux reports for
        // options it does not support.
        _ => Err(Errno::EINVAL),
    }
}
