//! Scheduling attributes: getpriority/setpriority (nice values),
//! sched_getscheduler/sched_setscheduler, sched_getparam/sched_setparam,
//! sched_get_priority_max/min, sched_rr_get_interval,
//! sched_getaffinity/sched_setaffinity. They are per thread, inherited by
//! new threads and processes, and checked as Linux checks them; the host
//! schedules the sandbox's threads (see `SchedAttrs`).

use std::sync::{Arc, OnceLock};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::published::{SchedAttrs, ThreadPublished};
use crate::kernel::task::Credentials;
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_getpriority, sys_getpriority),
    (libc::SYS_setpriority, sys_setpriority),
    (libc::SYS_sched_getscheduler, sys_sched_getscheduler),
    (libc::SYS_sched_setscheduler, sys_sched_setscheduler),
    (libc::SYS_sched_getparam, sys_sched_getparam),
    (libc::SYS_sched_setparam, sys_sched_setparam),
    (libc::SYS_sched_get_priority_max, sys_sched_get_priority_max),
    (libc::SYS_sched_get_priority_min, sys_sched_get_priority_min),
    (libc::SYS_sched_rr_get_interval, sys_sched_rr_get_interval),
    (libc::SYS_sched_getaffinity, sys_sched_getaffinity),
    (libc::SYS_sched_setaffinity, sys_sched_setaffinity),
];

const PRIO_PROCESS: u64 = 0;
const PRIO_PGRP: u64 = 1;
const PRIO_USER: u64 = 2;
const SCHED_RESET_ON_FORK: i32 = 0x4000_0000;
/// The round-robin time slice Linux reports for SCHED_RR (RR_TIMESLICE).
const RR_TIMESLICE_NS: i64 = 100_000_000;

/// A thread some call names, with its process's credentials.
struct Target {
    published: Arc<ThreadPublished>,
    creds: Credentials,
}

/// The thread `pid` names: the caller for 0, else any thread of the
/// sandbox by its id (a zombie process's first thread too).
fn thread(task: &Task, pid: i32) -> Result<Target, Errno> {
    if pid == 0 || pid == task.tid {
        return Ok(Target {
            published: task.published.clone(),
            creds: task.creds,
        });
    }
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    let entry = task.procs.entry(pid).ok_or(Errno::ESRCH)?;
    let group = entry.group.ok_or(Errno::ESRCH)?;
    let published = group
        .published()
        .into_iter()
        .find(|&(tid, _)| tid == pid)
        .map(|(_, p)| p)
        // A first thread that has ended stays until its process does.
        .or_else(|| group.leader().filter(|_| entry.tgid == pid))
        .ok_or(Errno::ESRCH)?;
    let creds = group.facts().map(|f| f.creds).ok_or(Errno::ESRCH)?;
    Ok(Target { published, creds })
}

/// Every thread of every process matching `matches(pgid, uid)`.
fn threads_where(task: &Task, matches: impl Fn(i32, u32) -> bool) -> Vec<Target> {
    let mut out = Vec::new();
    for pid in task.procs.all_pids() {
        let Some(entry) = task.procs.entry(pid) else {
            continue;
        };
        let Some(group) = entry.group else { continue };
        let Some(creds) = group.facts().map(|f| f.creds) else {
            continue;
        };
        if !matches(entry.pgid, creds.uid) {
            continue;
        }
        out.extend(
            group
                .published()
                .into_iter()
                .map(|(_, published)| Target { published, creds }),
        );
    }
    out
}

/// The threads getpriority/setpriority name by `which` and `who`.
fn priority_targets(task: &Task, which: u64, who: u64) -> Result<Vec<Target>, Errno> {
    let who = who as i32;
    let targets = match which {
        PRIO_PROCESS => thread(task, who).map(|t| vec![t]).unwrap_or_default(),
        PRIO_PGRP => {
            let pgid = if who == 0 {
                task.procs.pgid(task.tgid)?
            } else {
                who
            };
            threads_where(task, |pg, _| pg == pgid)
        }
        PRIO_USER => {
            let uid = if who == 0 { task.creds.uid } else { who as u32 };
            threads_where(task, |_, u| u == uid)
        }
        _ => return Err(Errno::EINVAL),
    };
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(targets)
}

/// Linux's check_same_owner / set_one_prio_perm: root, or the caller's
/// effective uid is the target's real or effective uid.
fn may_change(task: &Task, target: &Credentials) -> Result<(), Errno> {
    let euid = task.creds.euid;
    if euid == 0 || euid == target.uid || euid == target.euid {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// May the caller lower a nice value to `nice` (RLIMIT_NICE, or root)?
fn may_nice(task: &Task, nice: i32) -> bool {
    let limit = task.rlimits[libc::RLIMIT_NICE as usize].cur;
    task.creds.euid == 0 || (20 - nice) as u64 <= limit
}

/// getpriority returns 20 - nice (1 to 40) of the most favoured target,
/// so that no valid answer looks like an error.
fn sys_getpriority(task: &mut Task, a: [u64; 6]) -> SysResult {
    let targets = priority_targets(task, a[0], a[1])?;
    let nice = targets
        .iter()
        .map(|t| t.published.sched().nice)
        .min()
        .unwrap_or(0);
    Ok((20 - nice) as u64)
}

fn sys_setpriority(task: &mut Task, a: [u64; 6]) -> SysResult {
    let nice = (a[2] as i32).clamp(-20, 19);
    let targets = priority_targets(task, a[0], a[1])?;
    let mut result = Ok(0);
    for target in targets {
        if let Err(e) = may_change(task, &target.creds) {
            result = Err(e);
            continue;
        }
        let mut attrs = target.published.sched();
        if nice < attrs.nice && !may_nice(task, nice) {
            result = Err(Errno::EACCES);
            continue;
        }
        attrs.nice = nice;
        target.published.set_sched(attrs);
    }
    result
}

fn is_rt(policy: i32) -> bool {
    matches!(policy, libc::SCHED_FIFO | libc::SCHED_RR)
}

/// The priority range of `policy`, or EINVAL for no such policy.
fn priority_range(policy: i32) -> Result<(i32, i32), Errno> {
    match policy {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok((1, 99)),
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE => Ok((0, 0)),
        // SCHED_DEADLINE: only through sched_setattr, with priority 0.
        6 => Ok((0, 0)),
        _ => Err(Errno::EINVAL),
    }
}

/// The pid argument of the sched_* calls: EINVAL if negative.
fn sched_target(task: &Task, pid: u64) -> Result<Target, Errno> {
    let pid = pid as i32;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    thread(task, pid)
}

/// sched_setscheduler/sched_setparam (`policy` None: keep the current).
fn set_scheduler(task: &mut Task, pid: u64, policy: Option<i32>, param: u64) -> SysResult {
    if param == 0 || (pid as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let priority: i32 = task.mm.read_val(param)?;
    let target = sched_target(task, pid)?;
    let current = target.published.sched();
    let (policy, reset_on_fork) = match policy {
        Some(p) => (p & !SCHED_RESET_ON_FORK, p & SCHED_RESET_ON_FORK != 0),
        None => (current.policy, current.reset_on_fork),
    };
    let (low, high) = priority_range(policy)?;
    if policy == 6 || !(low..=high).contains(&priority) {
        return Err(Errno::EINVAL);
    }
    may_change(task, &target.creds)?;
    if task.creds.euid != 0 {
        // Linux's rules without CAP_SYS_NICE: real-time within
        // RLIMIT_RTPRIO, no clearing SCHED_RESET_ON_FORK.
        let rtprio = task.rlimits[libc::RLIMIT_RTPRIO as usize].cur;
        if is_rt(policy)
            && ((policy != current.policy && rtprio == 0)
                || (priority > current.rt_priority && priority as u64 > rtprio))
        {
            return Err(Errno::EPERM);
        }
        if current.reset_on_fork && !reset_on_fork {
            return Err(Errno::EPERM);
        }
    }
    target.published.set_sched(SchedAttrs {
        policy,
        rt_priority: priority,
        reset_on_fork,
        ..current
    });
    Ok(0)
}

fn sys_sched_setscheduler(task: &mut Task, a: [u64; 6]) -> SysResult {
    set_scheduler(task, a[0], Some(a[1] as i32), a[2])
}

fn sys_sched_setparam(task: &mut Task, a: [u64; 6]) -> SysResult {
    set_scheduler(task, a[0], None, a[1])
}

fn sys_sched_getscheduler(task: &mut Task, a: [u64; 6]) -> SysResult {
    let attrs = sched_target(task, a[0])?.published.sched();
    let flag = if attrs.reset_on_fork {
        SCHED_RESET_ON_FORK
    } else {
        0
    };
    Ok((attrs.policy | flag) as u64)
}

fn sys_sched_getparam(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[1] == 0 || (a[0] as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let attrs = sched_target(task, a[0])?.published.sched();
    task.mm.write_val(a[1], &attrs.rt_priority)?;
    Ok(0)
}

fn sys_sched_get_priority_max(_task: &mut Task, a: [u64; 6]) -> SysResult {
    priority_range(a[0] as i32).map(|(_, high)| high as u64)
}

fn sys_sched_get_priority_min(_task: &mut Task, a: [u64; 6]) -> SysResult {
    priority_range(a[0] as i32).map(|(low, _)| low as u64)
}

fn sys_sched_rr_get_interval(task: &mut Task, a: [u64; 6]) -> SysResult {
    let attrs = sched_target(task, a[0])?.published.sched();
    let ns = if attrs.policy == libc::SCHED_RR {
        RR_TIMESLICE_NS
    } else {
        0
    };
    task.mm
        .write_val(a[1], &[ns / 1_000_000_000, ns % 1_000_000_000])?;
    Ok(0)
}

/// The host's `nr_cpu_ids`: how many CPU numbers can exist.
fn nr_cpu_ids() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        let from_sysfs = std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|s| {
                let last = s.trim().rsplit([',', '-']).next()?.to_owned();
                last.parse::<usize>().ok()
            })
            .map(|max| max + 1);
        from_sysfs.unwrap_or_else(|| {
            let set = host_affinity();
            (0..rustix::thread::CpuSet::MAX_CPU)
                .rev()
                .find(|&c| set.is_set(c))
                .map_or(1, |c| c + 1)
        })
    })
}

fn host_affinity() -> rustix::thread::CpuSet {
    rustix::thread::sched_getaffinity(None).unwrap_or_else(|_| {
        let mut one = rustix::thread::CpuSet::new();
        one.set(0);
        one
    })
}

/// The CPUs the sandbox may use, as bytes of a cpu_set_t of `size`.
fn host_mask(size: usize) -> Vec<u8> {
    let set = host_affinity();
    let mut bytes = vec![0u8; size];
    let limit = (size * 8).min(rustix::thread::CpuSet::MAX_CPU);
    for cpu in (0..limit).filter(|&c| set.is_set(c)) {
        bytes[cpu / 8] |= 1 << (cpu % 8);
    }
    bytes
}

fn sys_sched_getaffinity(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [pid, len, mask, ..] = a;
    let len = len as u32 as usize;
    let ncpus = nr_cpu_ids();
    if len * 8 < ncpus || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let size = ncpus.div_ceil(64) * 8;
    let attrs = sched_target(task, pid)?.published.sched();
    let mut bytes = host_mask(size);
    if let Some(chosen) = &attrs.affinity {
        for (b, c) in bytes
            .iter_mut()
            .zip(chosen.iter().chain(std::iter::repeat(&0)))
        {
            *b &= c;
        }
    }
    let n = len.min(size);
    task.mm.copy_out(mask, &bytes[..n])?;
    Ok(n as u64)
}

/// sched_setaffinity: the mask must name at least one CPU the sandbox
/// has (EINVAL otherwise); the thread then reports that set.
fn sys_sched_setaffinity(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [pid, len, mask, ..] = a;
    let size = nr_cpu_ids().div_ceil(64) * 8;
    let mut chosen = vec![0u8; size];
    let n = (len as u32 as usize).min(size);
    task.mm.copy_in(mask, &mut chosen[..n])?;
    let target = sched_target(task, pid)?;
    may_change(task, &target.creds)?;
    let usable = host_mask(size);
    if !usable.iter().zip(&chosen).any(|(h, c)| h & c != 0) {
        return Err(Errno::EINVAL);
    }
    let mut attrs = target.published.sched();
    attrs.affinity = Some(chosen);
    target.published.set_sched(attrs);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_ranges_are_linuxs() {
        assert_eq!(priority_range(libc::SCHED_FIFO), Ok((1, 99)));
        assert_eq!(priority_range(libc::SCHED_OTHER), Ok((0, 0)));
        assert_eq!(priority_range(4), Err(Errno::EINVAL));
        assert_eq!(priority_range(-1), Err(Errno::EINVAL));
    }

    #[test]
    fn reset_on_fork_gives_children_the_default_policy() {
        let parent = SchedAttrs {
            nice: -5,
            policy: libc::SCHED_FIFO,
            rt_priority: 10,
            reset_on_fork: true,
            affinity: None,
        };
        let child = parent.for_child();
        assert_eq!(
            (child.policy, child.rt_priority, child.nice),
            (libc::SCHED_OTHER, 0, 0)
        );
        assert!(!child.reset_on_fork);
        let plain = SchedAttrs {
            reset_on_fork: false,
            ..parent.clone()
        };
        assert_eq!(plain.for_child(), plain);
    }
}
