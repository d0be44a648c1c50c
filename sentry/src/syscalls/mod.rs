//! The system-call table: the one place that says which calls rvisor
//! implements. Each family lives in its own file and exports a `TABLE` of
//! (number, handler) pairs; anything absent returns ENOSYS, logged once.

mod creds;
mod epoll;
mod eventfd;
mod fs;
mod futex;
mod info;
mod membarrier;
mod mempolicy;
mod mlock;
mod mm;
pub mod names;
mod pidfd;
mod posix_timer;
mod process;
mod rusage;
mod sched;
mod session;
mod signal;
mod sigwait;
mod socket;
mod socket_cmsg;
mod socket_io;
mod socket_mmsg;
mod sockopt;
pub mod strace;
mod time;
mod timerfd;
mod wait;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::errno::{Errno, SysResult};
use crate::kernel::siginfo::{SigInfo, SI_USER};
use crate::kernel::{signal_delivery, Task};

/// A system-call handler: the task and its six raw arguments.
pub type Handler = fn(&mut Task, [u64; 6]) -> SysResult;

/// System calls that raise SIGPIPE when they fail with EPIPE.
const WRITES: [i64; 6] = [
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_pwrite64,
    libc::SYS_pwritev,
    libc::SYS_pwritev2,
    libc::SYS_sendfile,
];

/// Highest system-call number plus one on x86-64.
const MAX_SYSCALL: usize = 512;

fn table() -> &'static [Option<Handler>; MAX_SYSCALL] {
    static TABLE: OnceLock<[Option<Handler>; MAX_SYSCALL]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [None; MAX_SYSCALL];
        for group in [
            creds::TABLE,
            epoll::TABLE,
            eventfd::TABLE,
            fs::TABLE,
            futex::TABLE,
            info::TABLE,
            membarrier::TABLE,
            mempolicy::TABLE,
            mlock::TABLE,
            mm::TABLE,
            pidfd::TABLE,
            posix_timer::TABLE,
            process::TABLE,
            rusage::TABLE,
            sched::TABLE,
            session::TABLE,
            signal::TABLE,
            sigwait::TABLE,
            socket::TABLE,
            socket_io::TABLE,
            socket_mmsg::TABLE,
            sockopt::TABLE,
            time::TABLE,
            timerfd::TABLE,
            wait::TABLE,
        ] {
            for &(nr, h) in group {
                let nr = nr as usize;
                assert!(t[nr].is_none(), "system call {nr} registered twice");
                t[nr] = Some(h);
            }
        }
        t
    })
}

/// Whether rvisor implements system call `nr`.
pub fn is_implemented(nr: u64) -> bool {
    usize::try_from(nr)
        .ok()
        .and_then(|n| table().get(n).copied().flatten())
        .is_some()
}

/// Run system call `nr` for `task` and return the value for `rax`.
pub fn dispatch(task: &mut Task, nr: u64, args: [u64; 6]) -> u64 {
    let handler = usize::try_from(nr)
        .ok()
        .and_then(|n| table().get(n).copied().flatten());
    let result = match handler {
        Some(h) => h(task, args),
        None => {
            log_unimplemented_once(nr);
            Err(Errno::ENOSYS)
        }
    };
    if task.strace {
        strace::print(task, nr, args, result);
    }
    // Writing to a pipe or socket with no reader raises SIGPIPE.
    if result == Err(Errno::EPIPE) && WRITES.contains(&(nr as i64)) {
        let info = SigInfo::from_sender(libc::SIGPIPE, SI_USER, task.tgid, task.creds.uid);
        signal_delivery::send(task, info);
    }
    match result {
        Ok(v) => v,
        Err(e) => e.to_return(),
    }
}

fn log_unimplemented_once(nr: u64) {
    static LOGGED: [AtomicU64; MAX_SYSCALL / 64] = [const { AtomicU64::new(0) }; MAX_SYSCALL / 64];
    let name = names::name(nr).unwrap_or("unknown");
    let Some(word) = LOGGED.get((nr / 64) as usize) else {
        tracing::warn!("unimplemented system call {nr} ({name})");
        return;
    };
    let bit = 1u64 << (nr % 64);
    if word.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
        tracing::warn!("unimplemented system call {name} ({nr}): returning ENOSYS");
    }
}
