//! `ioctl`s of the caller's terminal: its job control (foreground group,
//! session, controlling terminal) is the sentry's, because sandbox pids
//! are virtual; its settings are the host terminal's, changed only by a
//! process allowed to (`kernel::tty_jobs`).

use std::os::fd::BorrowedFd;

use crate::errno::{Errno, SysResult};
use crate::host::KERNEL_TERMIOS_SIZE;
use crate::kernel::{tty_jobs, Task};

/// A terminal `ioctl` on `tty`, or `None` if `cmd` is not one handled here
/// (the file's own `ioctl_get` answers it).
pub(super) fn ioctl(task: &mut Task, tty: BorrowedFd<'_>, cmd: u32, arg: u64) -> Option<SysResult> {
    let result = match u64::from(cmd) {
        libc::TIOCGPGRP => task
            .procs
            .tty_pgrp(task.tgid)
            .and_then(|pgrp| task.mm.write_val(arg, &pgrp)),
        libc::TIOCGSID => task
            .procs
            .tty_sid(task.tgid)
            .and_then(|sid| task.mm.write_val(arg, &sid)),
        libc::TIOCSPGRP => set_pgrp(task, arg),
        libc::TIOCSCTTY => {
            let steal = arg == 1 && task.creds.euid == 0;
            task.procs.set_ctty(task.tgid, steal)
        }
        libc::TIOCNOTTY => task.procs.drop_ctty(task.tgid),
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF => tty_jobs::check(task, libc::SIGTTOU)
            .and_then(|()| {
                let mut termios = [0u8; KERNEL_TERMIOS_SIZE];
                task.mm.copy_in(arg, &mut termios)?;
                crate::host::tcsets(tty, u64::from(cmd), &termios)
            }),
        libc::TIOCSWINSZ => task.mm.read_val::<[u16; 4]>(arg).and_then(|w| {
            let ws = rustix::termios::Winsize {
                ws_row: w[0],
                ws_col: w[1],
                ws_xpixel: w[2],
                ws_ypixel: w[3],
            };
            Ok(rustix::termios::tcsetwinsize(tty, ws)?)
        }),
        libc::TCFLSH | libc::TCXONC | libc::TCSBRK | libc::TCSBRKP => {
            tty_jobs::check(task, libc::SIGTTOU)
                .and_then(|()| crate::host::tty_ioctl_int(tty, u64::from(cmd), arg as i32))
        }
        _ => return None,
    };
    Some(result.map(|()| 0))
}

/// `tcsetpgrp`: a background caller is stopped with SIGTTOU first (an
/// orphaned one is refused with ENOTTY, as Linux does).
fn set_pgrp(task: &mut Task, arg: u64) -> Result<(), Errno> {
    match tty_jobs::check(task, libc::SIGTTOU) {
        Err(Errno::EIO) => return Err(Errno::ENOTTY),
        r => r?,
    }
    let pgrp: i32 = task.mm.read_val(arg)?;
    task.procs.set_tty_pgrp(task.tgid, pgrp)
}
