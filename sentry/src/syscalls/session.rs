//! Process groups and sessions: setpgid, getpgid, getpgrp, setsid,
//! getsid. The rules live in the process table
//! (`kernel/process_table/groups.rs`).

use super::Handler;
use crate::errno::SysResult;
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_setpgid, sys_setpgid),
    (libc::SYS_getpgid, sys_getpgid),
    (libc::SYS_getpgrp, sys_getpgrp),
    (libc::SYS_setsid, sys_setsid),
    (libc::SYS_getsid, sys_getsid),
];

/// A pid argument where 0 means the caller.
fn pid_or_self(task: &Task, pid: u64) -> i32 {
    match pid as i32 {
        0 => task.tgid,
        p => p,
    }
}

fn sys_setpgid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let pid = pid_or_self(task, a[0]);
    let pgid = match a[1] as i32 {
        0 => pid,
        g => g,
    };
    task.procs.setpgid(task.tgid, pid, pgid)?;
    Ok(0)
}

fn sys_getpgid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let pid = pid_or_self(task, a[0]);
    Ok(task.procs.pgid(pid)? as u64)
}

fn sys_getpgrp(task: &mut Task, _a: [u64; 6]) -> SysResult {
    Ok(task.procs.pgid(task.tgid)? as u64)
}

fn sys_setsid(task: &mut Task, _a: [u64; 6]) -> SysResult {
    Ok(task.procs.setsid(task.tgid)? as u64)
}

fn sys_getsid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let pid = pid_or_self(task, a[0]);
    Ok(task.procs.sid(pid)? as u64)
}
