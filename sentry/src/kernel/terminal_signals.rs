//! Signals the caller's terminal generates, and those the host sends
//! rvisor as a job. Typing ^C, ^\ or ^Z (or resizing the window) makes
//! the host kernel signal the terminal's host foreground group, which is
//! rvisor's own: the sandbox's process groups are virtual. So rvisor
//! blocks those signals in every thread and one thread takes them and
//! sends each to the foreground group of the sandbox's terminal instead:
//! rvisor itself neither dies nor stops on them, and the host terminal's
//! foreground group is never changed. That thread also takes what the
//! host shell and `kill` send rvisor (`kernel/host_job.rs` has the
//! rest): SIGCONT continues the first process's group, SIGHUP hangs the
//! sandbox's terminal up, and a signal a host process sent (SIGTERM,
//! `kill -INT`...) goes to the first process, the program rvisor runs.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::host_job;
use super::process_table::{KillScope, ProcessTable, INIT_PID};
use super::siginfo::SI_KERNEL;

/// What the terminal sends to its foreground group.
const FORWARDED: [i32; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH];

/// Every signal the forwarding thread takes: the terminal's, and those a
/// host shell or `kill` sends a job.
const TAKEN: [i32; 7] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTSTP,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGHUP,
    libc::SIGTERM,
];

/// `claim` found the controlling terminal and took its signals.
static CLAIMED: AtomicBool = AtomicBool::new(false);

/// Whether the sandbox runs on the caller's controlling terminal: its
/// stdin is that terminal. If so, the signals `forward` takes are blocked
/// in the calling thread and so in every thread it starts afterwards:
/// call this before the sentry starts any thread.
pub fn claim() -> bool {
    let stdin = std::io::stdin();
    let stdin = stdin.as_fd();
    if !rustix::termios::isatty(stdin) {
        return false;
    }
    // TIOCGSID answers only for the caller's controlling terminal.
    let same = crate::host::terminal_session(stdin).is_ok();
    if !same {
        tracing::debug!("stdin is a terminal, but not the controlling one");
        return false;
    }
    match crate::host::block_signals(&TAKEN) {
        Ok(()) => {
            tracing::debug!("running on the caller's controlling terminal");
            CLAIMED.store(true, Ordering::SeqCst);
            true
        }
        Err(e) => {
            tracing::warn!("cannot take the terminal's signals: {e}");
            false
        }
    }
}

/// Whether `claim` took the terminal: rvisor is a job of the host shell.
pub fn claimed() -> bool {
    CLAIMED.load(Ordering::SeqCst)
}

/// Start the thread that passes the signals blocked by `claim` on to the
/// sandbox. It lives as long as rvisor.
pub fn forward(procs: Arc<ProcessTable>) {
    // The host shell's view of the first process decides whether its
    // group is orphaned (and so whether ^Z may stop it).
    procs.set_outside_parent(host_job::has_job_control_parent);
    let started = std::thread::Builder::new()
        .name("rvisor-tty-signals".into())
        .spawn(move || loop {
            match crate::host::wait_signal(&TAKEN) {
                Ok((sig, code)) => route(&procs, sig, code),
                Err(e) => {
                    tracing::error!("waiting for terminal signals: {e}");
                    return;
                }
            }
        });
    if let Err(e) = started {
        tracing::error!("cannot start the terminal signal thread: {e}");
    }
}

/// Where host signal `sig` (with `si_code` `code`) goes in the sandbox.
fn route(procs: &ProcessTable, sig: i32, code: i32) {
    match sig {
        libc::SIGCONT => host_job::continued(procs),
        libc::SIGHUP => host_job::hangup(procs),
        // The terminal's own signals come from the kernel.
        _ if code == SI_KERNEL && FORWARDED.contains(&sig) => match procs.foreground_pgrp() {
            Some(pgrp) => {
                tracing::debug!("terminal signal {sig} to group {pgrp}");
                procs.signal_group(pgrp, sig);
            }
            None => tracing::debug!("terminal signal {sig}: no foreground group"),
        },
        // `kill` of rvisor is `kill` of the program it runs.
        _ => {
            tracing::debug!("host signal {sig} (code {code}) to the first process");
            procs.signal_from_host(KillScope::Pid(INIT_PID), sig);
        }
    }
}
