//! Job control on the caller's terminal from the accessing task's side
//! (Linux's `__tty_check_change`): a process of a background group that
//! reads the terminal gets SIGTTIN, one that writes it with TOSTOP set or
//! changes its settings gets SIGTTOU, and the call restarts once the group
//! is continued; with the signal blocked or ignored, or the group
//! orphaned, the call fails with EIO instead (a write or change simply
//! proceeds when SIGTTOU is blocked or ignored). Which group is in the
//! foreground is the process table's (`process_table/terminal.rs`).

use std::os::fd::BorrowedFd;

use super::process_table::TtyAccess;
use super::signal::sig_bit;
use super::sleep::{collect_posted, signal_pending};
use super::Task;
use crate::errno::Errno;

/// `SIG_IGN` as a handler address.
const SIG_IGN: u64 = 1;

/// Offset of `c_lflag` in the kernel's `struct termios`.
const LFLAG_OFFSET: usize = 12;

/// Whether the task blocks or ignores `sig`.
fn blocked_or_ignored(task: &Task, sig: i32) -> bool {
    task.signals.mask & sig_bit(sig) != 0
        || task.signals.actions.get((sig - 1) as usize).handler == SIG_IGN
}

/// May the task use the terminal in a way that `sig` (SIGTTIN for reads,
/// SIGTTOU for writes and changes) guards? A background caller's group is
/// sent `sig` and the call is to restart (ERESTARTSYS).
pub fn check(task: &mut Task, sig: i32) -> Result<(), Errno> {
    let TtyAccess::Background { pgid, orphaned } = task.procs.tty_access(task.tgid) else {
        return Ok(());
    };
    if blocked_or_ignored(task, sig) {
        return match sig {
            libc::SIGTTIN => Err(Errno::EIO),
            _ => Ok(()),
        };
    }
    if orphaned {
        return Err(Errno::EIO);
    }
    tracing::debug!(
        "pid {}: background terminal access, signal {sig}",
        task.tgid
    );
    task.procs.signal_group(pgid, sig);
    Err(Errno::ERESTARTSYS)
}

/// The host's own check for a read: with rvisor in the host terminal's
/// background (the host shell's `bg`), the sentry would otherwise wait in
/// `poll` for input that never comes; a read of no bytes makes the host
/// stop all of rvisor with SIGTTIN, as it would stop the program itself,
/// until the shell's `fg` (the read then restarts and returns 0), or fail
/// with EIO in an orphaned host group. The host's write and `ioctl` calls
/// check for themselves.
fn host_read_check(task: &mut Task, tty: BorrowedFd<'_>) -> Result<(), Errno> {
    if !task.procs.terminal_attached() {
        return Ok(());
    }
    // A signal already here is delivered first, as the host would before
    // its read: stopping all of rvisor must not hold it up.
    collect_posted(task);
    if signal_pending(task) {
        return Err(Errno::ERESTARTSYS);
    }
    let mut nothing = [0u8; 0];
    match rustix::io::read(tty, &mut nothing[..]) {
        Err(rustix::io::Errno::IO) => Err(Errno::EIO),
        Err(rustix::io::Errno::INTR) => Err(Errno::ERESTARTSYS),
        _ => Ok(()),
    }
}

/// Before reading (`reading`) or writing the terminal `tty`: writes are
/// checked only when the terminal has TOSTOP set.
pub fn before_io(task: &mut Task, tty: BorrowedFd<'_>, reading: bool) -> Result<(), Errno> {
    if reading {
        check(task, libc::SIGTTIN)?;
        return host_read_check(task, tty);
    }
    // The host's settings are read only for a background writer.
    if task.procs.tty_access(task.tgid) == TtyAccess::Allowed {
        return Ok(());
    }
    let termios = crate::host::tcgets(tty)?;
    let mut lflag = [0u8; 4];
    lflag.copy_from_slice(&termios[LFLAG_OFFSET..LFLAG_OFFSET + 4]);
    if u32::from_ne_bytes(lflag) & libc::TOSTOP == 0 {
        return Ok(());
    }
    check(task, libc::SIGTTOU)
}
