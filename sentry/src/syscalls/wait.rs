//! wait4 and waitid: a parent learns that a child exited, stopped or
//! continued. The children are chosen and their reports consumed in the
//! process table (`kernel/process_table/wait.rs`); a wait that finds
//! nothing sleeps until something is posted to the task (every change
//! posts SIGCHLD, wanted or not).

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::process_table::{
    WaitEvent, WaitFlags, WaitKind, WaitResult, WaitSelector, CLD_CONTINUED, CLD_EXITED,
    CLD_KILLED, CLD_STOPPED,
};
use crate::kernel::sleep::wait_for_post;
use crate::kernel::{ExitStatus, Task};

pub(super) const TABLE: &[(i64, Handler)] =
    &[(libc::SYS_wait4, sys_wait4), (libc::SYS_waitid, sys_waitid)];

/// Options both calls accept whatever they select.
const THREAD_OPTIONS: i32 = libc::__WALL | libc::__WCLONE | libc::__WNOTHREAD;

/// Wait for a child chosen by `sel` to have something `flags` asks for;
/// `None` at once with `nohang`. A signal ends the sleep with
/// ERESTARTSYS (restarted under SA_RESTART, as Linux's are).
fn wait_for_child(
    task: &mut Task,
    sel: WaitSelector,
    flags: WaitFlags,
    nohang: bool,
) -> Result<Option<WaitResult>, Errno> {
    let far = std::time::Instant::now() + std::time::Duration::from_secs(1 << 32);
    loop {
        match task.procs.wait(task.tgid, sel, flags)? {
            Some(r) => return Ok(Some(r)),
            None if nohang => return Ok(None),
            None => wait_for_post(task, far).map_err(|_| Errno::ERESTARTSYS)?,
        }
    }
}

/// The `wait4` status word of an event.
fn wait_status(event: WaitEvent) -> i32 {
    match event {
        WaitEvent::Exited(ExitStatus::Exited(c)) => i32::from(c) << 8,
        WaitEvent::Exited(ExitStatus::Signaled(s)) => s,
        WaitEvent::Stopped(sig) => (sig << 8) | 0x7f,
        WaitEvent::Continued => 0xffff,
    }
}

fn sys_wait4(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [pid, wstatus, options, rusage, ..] = a;
    let (pid, options) = (pid as i32, options as i32);
    if options & !(libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED | THREAD_OPTIONS) != 0 {
        return Err(Errno::EINVAL);
    }
    let sel = match pid {
        -1 => WaitSelector::Any,
        0 => WaitSelector::Pgid(task.procs.pgid(task.tgid)?),
        // -INT_MIN has no value.
        i32::MIN => return Err(Errno::ESRCH),
        p if p > 0 => WaitSelector::Pid(p),
        p => WaitSelector::Pgid(-p),
    };
    let flags = WaitFlags {
        exited: true,
        stopped: options & libc::WUNTRACED != 0,
        continued: options & libc::WCONTINUED != 0,
        nowait: false,
        kind: WaitKind::from_options(options),
    };
    let Some(r) = wait_for_child(task, sel, flags, options & libc::WNOHANG != 0)? else {
        return Ok(0);
    };
    if wstatus != 0 {
        task.mm.write_val(wstatus, &wait_status(r.event))?;
    }
    if rusage != 0 {
        task.mm.write_val(rusage, &r.usage.to_guest())?;
    }
    Ok(r.pid as u64)
}

const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;
const P_PIDFD: u64 = 3;

/// The children `waitid(idtype, id)` selects.
fn waitid_selector(task: &Task, idtype: u64, id: u64) -> Result<WaitSelector, Errno> {
    let id = id as i32;
    match idtype {
        P_ALL => Ok(WaitSelector::Any),
        P_PID if id > 0 => Ok(WaitSelector::Pid(id)),
        P_PGID if id == 0 => Ok(WaitSelector::Pgid(task.procs.pgid(task.tgid)?)),
        P_PGID if id > 0 => Ok(WaitSelector::Pgid(id)),
        P_PIDFD => {
            let file = super::pidfd::pidfd_of(task, id)?;
            let pidfd = super::pidfd::as_pidfd(&file);
            // A reaped process is no child of anyone's any more.
            match pidfd.target(&task.procs) {
                Some(t) => Ok(WaitSelector::Pid(t.pid)),
                None => Err(Errno::ECHILD),
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

/// Whether waitid's id is a pidfd opened with PIDFD_NONBLOCK: without
/// WNOHANG it then answers EAGAIN instead of waiting.
fn pidfd_nonblocking(task: &Task, idtype: u64, id: u64) -> bool {
    idtype == P_PIDFD
        && super::pidfd::pidfd_of(task, id as i32)
            .is_ok_and(|f| super::pidfd::as_pidfd(&f).nonblocking())
}

/// si_code and si_status of an event.
fn child_code(event: WaitEvent) -> (i32, i32) {
    match event {
        WaitEvent::Exited(ExitStatus::Exited(c)) => (CLD_EXITED, i32::from(c)),
        WaitEvent::Exited(ExitStatus::Signaled(s)) => (CLD_KILLED, s),
        WaitEvent::Stopped(sig) => (CLD_STOPPED, sig),
        WaitEvent::Continued => (CLD_CONTINUED, libc::SIGCONT),
    }
}

fn waitid_result(task: &mut Task, a: [u64; 6]) -> Result<Option<WaitResult>, Errno> {
    let [idtype, id, _, options, ..] = a;
    let options = options as i32;
    let kinds = libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED;
    if options & !(kinds | libc::WNOHANG | libc::WNOWAIT | THREAD_OPTIONS) != 0
        || options & kinds == 0
    {
        return Err(Errno::EINVAL);
    }
    let sel = waitid_selector(task, idtype, id)?;
    let flags = WaitFlags {
        exited: options & libc::WEXITED != 0,
        stopped: options & libc::WSTOPPED != 0,
        continued: options & libc::WCONTINUED != 0,
        nowait: options & libc::WNOWAIT != 0,
        kind: WaitKind::from_options(options),
    };
    let nohang = options & libc::WNOHANG != 0;
    if !nohang && pidfd_nonblocking(task, idtype, id) {
        return match wait_for_child(task, sel, flags, true)? {
            Some(r) => Ok(Some(r)),
            None => Err(Errno::EAGAIN),
        };
    }
    wait_for_child(task, sel, flags, nohang)
}

fn sys_waitid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (infop, rusage) = (a[2], a[4]);
    let result = waitid_result(task, a);
    if let Ok(Some(r)) = &result {
        if rusage != 0 {
            task.mm.write_val(rusage, &r.usage.to_guest())?;
        }
    }
    // Linux fills these siginfo fields whatever the outcome: zeros when
    // nothing was found (WNOHANG) or the call failed.
    if infop != 0 {
        let (signo, code, pid, uid, status) = match result {
            Ok(Some(r)) => {
                let (code, status) = child_code(r.event);
                (libc::SIGCHLD, code, r.pid, r.uid, status)
            }
            _ => (0, 0, 0, 0, 0),
        };
        task.mm.write_val(infop, &[signo, 0, code])?;
        task.mm.write_val(infop + 16, &[pid, uid as i32, status])?;
    }
    result.map(|_| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_encoded_as_linux_does() {
        let st = wait_status;
        assert_eq!(st(WaitEvent::Exited(ExitStatus::Exited(3))), 0x300);
        assert_eq!(st(WaitEvent::Exited(ExitStatus::Signaled(9))), 9);
        assert_eq!(st(WaitEvent::Stopped(libc::SIGTSTP)), 0x147f);
        assert_eq!(st(WaitEvent::Continued), 0xffff);
        assert_eq!(
            child_code(WaitEvent::Stopped(libc::SIGSTOP)),
            (CLD_STOPPED, libc::SIGSTOP)
        );
    }
}
