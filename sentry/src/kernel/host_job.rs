//! rvisor as a job of the host shell that started it, when it runs on its
//! controlling terminal (`terminal_signals::claim`). The shell sees rvisor
//! where it would see the program rvisor runs, the sandbox's first
//! process, so rvisor mirrors that process's job-control state on the
//! host: when it stops, rvisor stops itself with the same signal (the
//! shell's `waitpid` reports it stopped and the shell takes the terminal
//! back); when the shell continues rvisor (`fg`, `bg`), the first
//! process's group is continued; after `fg`, that group is the sandbox
//! terminal's foreground again, as the shell makes the job's group the
//! host terminal's.
//!
//! The first process alone decides, not the whole foreground group: the
//! shell waits for its own child, and a first process that is a shell
//! with job control keeps running while its jobs stop. While rvisor is
//! stopped, all of the sandbox is, background processes too (natively
//! they would run on); ptrace stubs wait for their stopped tracers and
//! KVM vCPU threads leave `KVM_RUN` with EINTR and re-enter it.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::host::{process_group, session, terminal_foreground};

use super::process_table::{KillScope, ProcessTable, INIT_PID};
use super::ExitStatus;

/// rvisor stopped itself for the first process and has not been continued
/// since. One per host process: the host stops and continues all of it.
static STOPPED_SELF: AtomicBool = AtomicBool::new(false);

/// The first process has stopped for `sig`: stop rvisor on the host the
/// same way. Returns once the host continues rvisor (SIGCONT, which
/// `continued` passes on), or at once if the host discards the stop.
pub fn follow_stop(sig: i32) {
    tracing::debug!("the first process stopped by signal {sig}: stopping rvisor");
    STOPPED_SELF.store(true, Ordering::SeqCst);
    if let Err(e) = crate::host::stop_self(sig) {
        tracing::warn!("cannot stop rvisor with signal {sig}: {e}");
    }
}

/// The host continued rvisor (or sent it SIGCONT): continue the first
/// process's group, as the shell's `kill(-pgid, SIGCONT)` would the job.
/// If rvisor had stopped itself and is now the host terminal's foreground
/// (`fg`, not `bg`), that group takes the sandbox terminal's foreground.
pub fn continued(procs: &ProcessTable) {
    if STOPPED_SELF.swap(false, Ordering::SeqCst) && host_foreground() {
        procs.retake_foreground(INIT_PID);
    }
    match procs.pgid(INIT_PID) {
        Ok(pgid) => procs.signal_from_host(KillScope::Group(pgid), libc::SIGCONT),
        Err(_) => tracing::debug!("SIGCONT: the first process has gone"),
    }
}

/// The host terminal hung up (or the host shell, hanging up, sent its
/// jobs SIGHUP): as a hangup of the sandbox's terminal, the first
/// process's group and the terminal's foreground group get SIGHUP, then
/// SIGCONT so that a stopped process sees it.
pub fn hangup(procs: &ProcessTable) {
    let mut groups: Vec<i32> = procs.pgid(INIT_PID).into_iter().collect();
    if let Some(fg) = procs.foreground_pgrp() {
        if !groups.contains(&fg) {
            groups.push(fg);
        }
    }
    tracing::debug!("hangup: SIGHUP to groups {groups:?}");
    for sig in [libc::SIGHUP, libc::SIGCONT] {
        for &pgid in &groups {
            procs.signal_group(pgid, sig);
        }
    }
}

/// rvisor is about to end with the first process's `status`: as the host
/// shell's job, it ends the way that process did, killed by the same
/// signal (a shell treats a job killed by SIGINT differently from one
/// that exited 130). Without a terminal, rvisor exits with 128+N.
pub fn end_like(status: ExitStatus) {
    if let ExitStatus::Signaled(sig) = status {
        if super::terminal_signals::claimed() {
            tracing::debug!("the first process was killed by signal {sig}: so is rvisor");
            crate::host::die_by_signal(sig);
        }
    }
}

/// Whether rvisor's host process group is the foreground of its terminal.
fn host_foreground() -> bool {
    use std::os::fd::AsFd;
    let fg = terminal_foreground(std::io::stdin().as_fd());
    matches!((fg, process_group(0)), (Ok(fg), Ok(own)) if fg == own && fg != 0)
}

/// Whether rvisor's host process group has a parent in another group of
/// its session, that is, is not orphaned: a job-control shell runs each
/// job in a group of its own. The host keeps terminal stop signals from
/// stopping an orphaned group, so without such a parent the first
/// process's group counts as orphaned too (and rvisor never stops itself
/// for SIGTSTP, SIGTTIN or SIGTTOU). Only rvisor's ancestors within its
/// group are looked at, not other members (siblings in a pipeline of a
/// non-interactive shell).
pub fn has_job_control_parent() -> bool {
    let (Ok(pgrp), Ok(sid)) = (process_group(0), session(0)) else {
        return false;
    };
    // Our session or group led from outside our pid namespace (0): the
    // shell that would take the terminal back is not one we can see.
    if pgrp == 0 || sid == 0 {
        return false;
    }
    let mut next = parent_of(0);
    // Bounded: the walk only follows parents, but /proc may change under it.
    for _ in 0..64 {
        let Some(pid) = next.filter(|&pid| pid > 0) else {
            return false;
        };
        let (Ok(its_pgrp), Ok(its_sid)) = (process_group(pid), session(pid)) else {
            return false;
        };
        if its_sid != sid {
            return false;
        }
        if its_pgrp != pgrp {
            return true;
        }
        next = parent_of(pid);
    }
    false
}

/// A host process's parent (`pid` 0: ours), from `/proc/PID/stat`; 0 when
/// the parent is outside our pid namespace.
fn parent_of(pid: i32) -> Option<i32> {
    let path = if pid == 0 {
        "/proc/self/stat".to_string()
    } else {
        format!("/proc/{pid}/stat")
    };
    parse_ppid(&std::fs::read_to_string(path).ok()?)
}

/// The parent pid in a `/proc/PID/stat` line: the second field after the
/// command name, which is in parentheses and may itself hold any byte.
fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_pid_is_read_after_the_command_name() {
        assert_eq!(parse_ppid("42 (a) b) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("42 (sh) R"), None);
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn a_parent_in_the_same_session_and_another_group_is_found() {
        // The test runner's own standing, asked of the host directly. In a
        // container the session (or group) may be led from outside our pid
        // namespace and read as 0; that must answer false, not panic.
        let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
        assert_eq!(parent_of(0), Some(parent));
        let (own_sid, own_pgrp) = (session(0).unwrap(), process_group(0).unwrap());
        let expected = own_sid != 0
            && own_pgrp != 0
            && parent > 0
            && session(parent).ok() == Some(own_sid)
            && process_group(parent).ok() != Some(own_pgrp);
        if expected {
            assert!(has_job_control_parent());
        }
        if own_sid == 0 || own_pgrp == 0 {
            assert!(!has_job_control_parent());
        }
    }

    #[test]
    fn a_group_and_session_outside_the_namespace_read_as_zero_without_panicking() {
        // pid 1's group and session are its own inside any pid namespace,
        // and a missing pid is ESRCH, as the raw calls report.
        assert_eq!(process_group(1).ok(), session(1).ok());
        assert_eq!(process_group(i32::MAX), Err(crate::errno::Errno::ESRCH));
        assert_eq!(session(i32::MAX), Err(crate::errno::Errno::ESRCH));
    }
}
