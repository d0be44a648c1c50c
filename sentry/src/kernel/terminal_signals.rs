//! Signals the caller's terminal generates. Typing ^C, ^\ or ^Z (or
//! resizing the window) makes the host kernel signal the terminal's host
//! foreground group, which is rvisor's own: the sandbox's process groups
//! are virtual. So rvisor blocks those signals in every thread and one
//! thread takes them and sends each to the foreground group of the
//! sandbox's terminal instead: rvisor itself neither dies nor stops, and
//! the host terminal's foreground group is never changed.

use std::os::fd::AsFd;
use std::sync::Arc;

use super::process_table::ProcessTable;

/// What the terminal sends to its foreground group.
const FORWARDED: [i32; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH];

/// Whether the sandbox runs on the caller's controlling terminal: its
/// stdin is that terminal. If so, the terminal's signals are blocked in
/// the calling thread and so in every thread it starts afterwards: call
/// this before the sentry starts any thread.
pub fn claim() -> bool {
    let stdin = std::io::stdin();
    let stdin = stdin.as_fd();
    if !rustix::termios::isatty(stdin) {
        return false;
    }
    // TIOCGSID answers only for the caller's controlling terminal.
    let same = rustix::termios::tcgetsid(stdin).is_ok();
    if !same {
        tracing::debug!("stdin is a terminal, but not the controlling one");
        return false;
    }
    match crate::host::block_signals(&FORWARDED) {
        Ok(()) => {
            tracing::debug!("running on the caller's controlling terminal");
            true
        }
        Err(e) => {
            tracing::warn!("cannot take the terminal's signals: {e}");
            false
        }
    }
}

/// Start the thread that passes the terminal's signals (blocked by
/// `claim`) to the sandbox terminal's foreground group. It lives as long
/// as rvisor.
pub fn forward(procs: Arc<ProcessTable>) {
    let started = std::thread::Builder::new()
        .name("rvisor-tty-signals".into())
        .spawn(move || loop {
            let sig = match crate::host::wait_signal(&FORWARDED) {
                Ok(sig) => sig,
                Err(e) => {
                    tracing::error!("waiting for terminal signals: {e}");
                    return;
                }
            };
            match procs.foreground_pgrp() {
                Some(pgrp) => {
                    tracing::debug!("terminal signal {sig} to group {pgrp}");
                    procs.signal_group(pgrp, sig);
                }
                None => tracing::debug!("terminal signal {sig}: no foreground group"),
            }
        });
    if let Err(e) = started {
        tracing::error!("cannot start the terminal signal thread: {e}");
    }
}
