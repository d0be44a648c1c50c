//! Job control on the signalled task's side: the effects a stop or
//! continue signal has as soon as it is sent (Linux's `prepare_signal`),
//! a stopped process waiting without running guest code until SIGCONT or
//! SIGKILL, and the parent's SA_NOCLDSTOP. The process table records the
//! stop for `wait` and tells the parent (`process_table/job.rs`).

use std::time::{Duration, Instant};

use super::process_table::{CLD_CONTINUED, CLD_STOPPED, INIT_PID};
use super::siginfo::SigInfo;
use super::signal::sig_bit;
use super::sleep::collect_posted;
use super::Task;

/// Signals whose default action stops the process.
pub const STOP_SIGNALS: u64 = sig_bit(libc::SIGSTOP)
    | sig_bit(libc::SIGTSTP)
    | sig_bit(libc::SIGTTIN)
    | sig_bit(libc::SIGTTOU);

/// Before `sig` is queued for `task`, blocked or ignored or not: SIGCONT
/// discards pending stop signals and ends a stop, a stop signal discards
/// a pending SIGCONT, SIGKILL ends a stop.
pub fn on_send(task: &mut Task, sig: i32) {
    match sig {
        libc::SIGCONT => {
            task.pending_signals.discard(STOP_SIGNALS);
            task.procs.cont(task.tgid);
        }
        libc::SIGKILL => task.procs.end_stop_for_kill(task.tgid),
        s if sig_bit(s) & STOP_SIGNALS != 0 => {
            task.pending_signals.discard(sig_bit(libc::SIGCONT));
        }
        _ => {}
    }
}

/// Whether a posted signal reaches `task`: a child's stop or continue
/// report is dropped when SIGCHLD's action has SA_NOCLDSTOP.
pub fn wanted(task: &Task, info: &SigInfo) -> bool {
    if info.signo != libc::SIGCHLD || !matches!(info.code, CLD_STOPPED | CLD_CONTINUED) {
        return true;
    }
    let action = task.signals.actions.get((libc::SIGCHLD - 1) as usize);
    action.flags & libc::SA_NOCLDSTOP as u64 == 0
}

/// The default action of stop signal `sig`: the process stops until
/// SIGCONT or SIGKILL. Its thread sleeps on the inbox meanwhile, taking
/// in (not delivering) what arrives. Terminal stop signals are discarded
/// in an orphaned process group, as Linux does.
pub fn stop(task: &mut Task, sig: i32) {
    if sig != libc::SIGSTOP {
        let orphaned = task
            .procs
            .pgid(task.tgid)
            .is_ok_and(|pgid| task.procs.is_orphaned_pgrp(pgid));
        if orphaned {
            return;
        }
    }
    if task.procs.is_stopped(task.tgid) {
        return;
    }
    // The process's other threads stop first (their run loops park), so
    // the parent hears of the stop only once the whole group has stopped,
    // as on Linux. A thread that cannot be reached in time (it should not
    // happen: every sleep is interruptible) does not hold the stop up.
    let several = task.group.len() > 1;
    if several {
        task.group.begin_stop(task.tid);
        task.group.wait_parked(task.tid, Duration::from_secs(2));
    }
    if task.procs.stop(task.tgid, sig) {
        tracing::debug!("pid {}: stopped by signal {sig}", task.tgid);
        // On a terminal, rvisor is the host shell's job in the first
        // process's place: it stops with it (and is back once continued).
        if task.tgid == INIT_PID && task.procs.terminal_attached() {
            super::host_job::follow_stop(sig);
        }
        wait_while_stopped(task);
    }
    if several {
        task.group.end_stop();
    }
}

/// Another thread of the process is stopping it: wait, parked, until the
/// stop is over (or SIGKILL, or the process ends).
pub fn park_while_stopped(task: &mut Task) {
    task.group.set_parked(true);
    let inbox = task.inbox.clone();
    while (task.group.stop_wanted() || task.procs.is_stopped(task.tgid))
        && task.pending_signals.set() & sig_bit(libc::SIGKILL) == 0
        && task.group.ending(task.tid).is_none()
    {
        inbox.wait_until(Instant::now() + Duration::from_secs(3600));
        collect_posted(task);
    }
    task.group.set_parked(false);
}

/// Sleep on the inbox, taking in (not delivering) what arrives, while the
/// process is stopped. Other signals, fatal ones too, stay pending until
/// SIGCONT: Linux wakes a stopped process only for SIGKILL.
pub fn wait_while_stopped(task: &mut Task) {
    let inbox = task.inbox.clone();
    while task.procs.is_stopped(task.tgid)
        && task.pending_signals.set() & sig_bit(libc::SIGKILL) == 0
        && task.group.ending(task.tid).is_none()
    {
        inbox.wait_until(Instant::now() + Duration::from_secs(3600));
        collect_posted(task);
    }
    // The SIGCONT that ended the stop was posted with it (under the
    // table's lock): take it in now, so its handler runs before the
    // interrupted call restarts.
    collect_posted(task);
    tracing::debug!("pid {}: continues", task.tgid);
}
