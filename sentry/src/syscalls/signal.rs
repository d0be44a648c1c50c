//! Signal system calls: the per-task state (rt_sigaction, rt_sigprocmask,
//! rt_sigpending, sigaltstack), sending (kill, tkill, tgkill,
//! rt_sigqueueinfo) and returning from a handler (rt_sigreturn). The rules
//! are Linux's (`kernel/signal.rs`, `kernel/signal_delivery.rs`).

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::process_table::{KillScope, KillTarget};
use crate::kernel::siginfo::{SigInfo, SI_TKILL, SI_USER};
use crate::kernel::signal::{MaskHow, SigAction, SigStack, NSIG, UNBLOCKABLE};
use crate::kernel::signal_delivery::send;
use crate::kernel::signal_frame::pop_frame;
use crate::kernel::sleep::sleep_until;
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_rt_sigaction, sys_rt_sigaction),
    (libc::SYS_rt_sigprocmask, sys_rt_sigprocmask),
    (libc::SYS_rt_sigpending, sys_rt_sigpending),
    (libc::SYS_sigaltstack, sys_sigaltstack),
    (libc::SYS_kill, sys_kill),
    (libc::SYS_tkill, sys_tkill),
    (libc::SYS_tgkill, sys_tgkill),
    (libc::SYS_rt_sigqueueinfo, sys_rt_sigqueueinfo),
    (libc::SYS_rt_tgsigqueueinfo, sys_rt_tgsigqueueinfo),
    (libc::SYS_rt_sigreturn, sys_rt_sigreturn),
    (libc::SYS_pause, sys_pause),
    (libc::SYS_rt_sigsuspend, sys_rt_sigsuspend),
];

/// The only `sigsetsize` x86-64 Linux accepts: 64 signals, 8 bytes.
const SIGSET_SIZE: u64 = 8;

fn sys_rt_sigaction(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [sig, act, oldact, sigsetsize, ..] = a;
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = match act {
        0 => None,
        p => Some(task.mm.read_val::<SigAction>(p)?),
    };
    let old = task.signals.set_action(sig as i32, new)?;
    if oldact != 0 {
        task.mm.write_val(oldact, &old)?;
    }
    Ok(0)
}

fn sys_rt_sigprocmask(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [how, set, oldset, sigsetsize, ..] = a;
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = if set != 0 {
        let new = task.mm.read_val::<u64>(set)?;
        // `how` matters only when there is a new set.
        let how = MaskHow::from_raw(how as i32)?;
        task.signals.change_mask(how, new)
    } else {
        task.signals.mask
    };
    if oldset != 0 {
        task.mm.write_val(oldset, &old)?;
    }
    Ok(0)
}

fn sys_rt_sigpending(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [set, sigsetsize, ..] = a;
    if sigsetsize > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    // This thread's and the process's (Linux reports both).
    let all = task.pending_signals.set() | task.group.shared_set();
    let pending = (all & task.signals.mask).to_ne_bytes();
    task.mm.copy_out(set, &pending[..sigsetsize as usize])?;
    Ok(0)
}

fn sys_sigaltstack(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [ss, old_ss, ..] = a;
    let new = match ss {
        0 => None,
        p => Some(task.mm.read_val::<SigStack>(p)?),
    };
    let old = task.signals.set_altstack(new, task.regs.rsp)?;
    if old_ss != 0 {
        task.mm.write_val(old_ss, &old)?;
    }
    Ok(0)
}

/// A signal number `kill` and friends accept: 0 (just check) to 64.
fn signal_arg(sig: u64) -> Result<i32, Errno> {
    i32::try_from(sig)
        .ok()
        .filter(|s| (0..=NSIG as i32).contains(s))
        .ok_or(Errno::EINVAL)
}

/// Send `sig` from the task to itself.
fn send_to_self(task: &mut Task, sig: i32, code: i32) {
    if sig != 0 {
        let info = SigInfo::from_sender(sig, code, task.tgid, task.creds.uid);
        send(task, info);
    }
}

fn sys_kill(task: &mut Task, a: [u64; 6]) -> SysResult {
    let sig = signal_arg(a[1])?;
    let scope = match a[0] as i32 {
        p if p > 0 => KillScope::Pid(p),
        0 => KillScope::Group(task.procs.pgid(task.tgid)?),
        -1 => KillScope::All,
        // -INT_MIN has no value.
        i32::MIN => return Err(Errno::ESRCH),
        p => KillScope::Group(-p),
    };
    let targets = task.procs.kill_targets(task.tgid, scope);
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    for target in targets {
        signal_target(task, target, sig, SI_USER);
    }
    Ok(0)
}

/// Send `sig` to one process (a zombie takes it and does nothing).
fn signal_target(task: &mut Task, target: KillTarget, sig: i32, code: i32) {
    if target.pid == task.tgid {
        // For our own process: with several threads, whichever takes it
        // first (this one, unless it blocks it).
        if sig != 0 && task.group.len() > 1 {
            task.publish_mask(0);
            let info = SigInfo::from_sender(sig, code, task.tgid, task.creds.uid);
            task.group.post_shared(info);
        } else {
            send_to_self(task, sig, code);
        }
        return;
    }
    if target.inbox.is_some() && sig != 0 {
        let info = SigInfo::from_sender(sig, code, task.tgid, task.creds.uid);
        task.procs.send_to_process(target.pid, info);
    }
}

fn sys_tkill(task: &mut Task, a: [u64; 6]) -> SysResult {
    let sig = signal_arg(a[1])?;
    match a[0] as i32 {
        tid if tid <= 0 => Err(Errno::EINVAL),
        tid if signal_thread(task, None, tid, sig) => Ok(0),
        _ => Err(Errno::ESRCH),
    }
}

fn sys_tgkill(task: &mut Task, a: [u64; 6]) -> SysResult {
    let sig = signal_arg(a[2])?;
    let (tgid, tid) = (a[0] as i32, a[1] as i32);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    if !signal_thread(task, Some(tgid), tid, sig) {
        return Err(Errno::ESRCH);
    }
    Ok(0)
}

/// Send `sig` to thread `tid` (of process `tgid` if given); whether it
/// exists.
fn signal_thread(task: &mut Task, tgid: Option<i32>, tid: i32, sig: i32) -> bool {
    if tid == task.tid && tgid.is_none_or(|g| g == task.tgid) {
        send_to_self(task, sig, SI_TKILL);
        return true;
    }
    let Some(inbox) = task.procs.thread_inbox(tgid, tid) else {
        return false;
    };
    if sig != 0 {
        inbox.post(SigInfo::from_sender(
            sig,
            SI_TKILL,
            task.tgid,
            task.creds.uid,
        ));
    }
    true
}

fn sys_rt_sigqueueinfo(task: &mut Task, a: [u64; 6]) -> SysResult {
    let sig = signal_arg(a[1])?;
    let mut info: SigInfo = task.mm.read_val(a[2])?;
    crate::kernel::posix_timers::forget_origin(&mut info);
    let pid = a[0] as i32;
    info.signo = sig;
    if pid == task.tgid {
        if sig != 0 {
            send(task, info);
        }
        return Ok(0);
    }
    // Towards another process, the sender may not pose as the kernel or
    // as kill/tgkill (Linux: si_code >= 0 or SI_TKILL is EPERM).
    if info.code >= 0 || info.code == SI_TKILL {
        return Err(Errno::EPERM);
    }
    if pid <= 0 || task.procs.inbox(pid).is_none() {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        task.procs.send_to_process(pid, info);
    }
    Ok(0)
}

/// rt_tgsigqueueinfo(tgid, tid, sig, info): rt_sigqueueinfo aimed at one
/// thread, with the same rule for posing as the kernel or as tgkill.
fn sys_rt_tgsigqueueinfo(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (tgid, tid) = (a[0] as i32, a[1] as i32);
    let sig = signal_arg(a[2])?;
    let mut info: SigInfo = task.mm.read_val(a[3])?;
    crate::kernel::posix_timers::forget_origin(&mut info);
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    info.signo = sig;
    if tgid != task.tgid && (info.code >= 0 || info.code == SI_TKILL) {
        return Err(Errno::EPERM);
    }
    if tid == task.tid && tgid == task.tgid {
        if sig != 0 {
            send(task, info);
        }
        return Ok(0);
    }
    let inbox = task
        .procs
        .thread_inbox(Some(tgid), tid)
        .ok_or(Errno::ESRCH)?;
    if sig != 0 {
        inbox.post(info);
    }
    Ok(0)
}

fn sys_rt_sigreturn(task: &mut Task, _a: [u64; 6]) -> SysResult {
    match pop_frame(task) {
        Ok(fpu) => {
            task.fpu_restore = fpu;
            // The dispatcher stores the result in rax: give back the
            // restored value so it survives.
            Ok(task.regs.rax)
        }
        Err(_) => {
            // A bad frame kills the thread with SIGSEGV, as on Linux.
            let info = SigInfo::fault(libc::SIGSEGV, crate::kernel::siginfo::SI_KERNEL, 0);
            crate::kernel::signal_delivery::force(task, info, Default::default());
            Ok(task.regs.rax)
        }
    }
}

/// Sleep until a signal is delivered.
fn wait_for_signal(task: &mut Task) -> SysResult {
    let far = std::time::Instant::now() + std::time::Duration::from_secs(1 << 32);
    loop {
        // Only a handler ends the wait: without one, Linux restarts it.
        sleep_until(task, far).map_err(|_| Errno::ERESTARTNOHAND)?;
    }
}

fn sys_pause(task: &mut Task, _a: [u64; 6]) -> SysResult {
    wait_for_signal(task)
}

fn sys_rt_sigsuspend(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[1] != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask: u64 = task.mm.read_val(a[0])?;
    // The handler's frame records the mask from before the call, so its
    // rt_sigreturn restores it (Linux's saved_sigmask).
    task.signals.saved_mask = Some(task.signals.mask);
    task.signals.mask = mask & !UNBLOCKABLE;
    wait_for_signal(task)
}
