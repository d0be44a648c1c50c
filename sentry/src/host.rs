//! The few raw host system calls the sentry needs that `rustix` does not
//! offer safely. Each takes only owned or borrowed Rust values.

use crate::errno::Errno;
use crate::kernel::task::RLimit;

/// The host's limit for resource `resource`, if it has one.
pub fn getrlimit(resource: u32) -> Option<RLimit> {
    let mut r = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: prlimit64 on ourselves (pid 0) only writes one rlimit64 into `r`.
    let rc = unsafe {
        libc::prlimit64(
            0,
            resource as libc::__rlimit_resource_t,
            std::ptr::null(),
            &mut r,
        )
    };
    (rc == 0).then_some(RLimit {
        cur: r.rlim_cur,
        max: r.rlim_max,
    })
}

/// The host process group of `pid` (0: the caller). A group led from
/// outside our pid namespace reads as 0, which is why this is not
/// rustix's `getpgid` (its `Pid` cannot be 0 and it panics).
pub fn process_group(pid: i32) -> Result<i32, Errno> {
    // SAFETY: getpgid takes a plain integer and touches no memory of ours.
    let rc = unsafe { libc::getpgid(pid) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(rc)
    }
}

/// The host session of `pid` (0: the caller); 0 when its leader is outside
/// our pid namespace, as in a container (see `process_group`).
pub fn session(pid: i32) -> Result<i32, Errno> {
    // SAFETY: getsid takes a plain integer and touches no memory of ours.
    let rc = unsafe { libc::getsid(pid) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(rc)
    }
}

/// The foreground process group of the terminal `fd` (TIOCGPGRP); 0 when
/// that group is outside our pid namespace (see `process_group`).
pub fn terminal_foreground(fd: std::os::fd::BorrowedFd<'_>) -> Result<i32, Errno> {
    use std::os::fd::AsRawFd;
    let mut pgrp: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes one pid_t into `pgrp`, which outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPGRP, &mut pgrp) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(pgrp)
    }
}

/// The session of the terminal `fd` (TIOCGSID); it answers only for the
/// caller's controlling terminal. 0 when the session is outside our pid
/// namespace (see `process_group`).
pub fn terminal_session(fd: std::os::fd::BorrowedFd<'_>) -> Result<i32, Errno> {
    use std::os::fd::AsRawFd;
    let mut sid: libc::pid_t = 0;
    // SAFETY: TIOCGSID writes one pid_t into `sid`, which outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGSID, &mut sid) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(sid)
    }
}

/// The calling host thread's resource usage (`getrusage(RUSAGE_THREAD)`).
pub fn thread_rusage() -> libc::rusage {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage = unsafe { std::mem::zeroed::<libc::rusage>() };
    // SAFETY: getrusage writes one rusage into `usage`, which outlives the
    // call; RUSAGE_THREAD cannot fail for the calling thread.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL)`: every thread of every host process
/// (the sandbox's stubs and vCPU threads among them) has passed a memory
/// barrier when it returns.
pub fn membarrier_global() -> Result<(), Errno> {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes plain integers and touches no memory.
    let rc = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(())
    }
}

/// `getdents64` on a host directory: fills `buf` with `struct linux_dirent64`
/// records (the guest's layout too) and returns how many bytes it used.
pub fn getdents64(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which we
    // borrow mutably for the duration of the call; `fd` is a live descriptor.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            fd.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(rc as usize)
}

/// Size of the kernel's `struct termios` that `TCGETS` fills (x86-64).
pub const KERNEL_TERMIOS_SIZE: usize = 36;

/// `ioctl(fd, TCGETS)`: the terminal attributes in the kernel's layout.
pub fn tcgets(fd: std::os::fd::BorrowedFd<'_>) -> Result<[u8; KERNEL_TERMIOS_SIZE], Errno> {
    use std::os::fd::AsRawFd;
    // Room for the larger termios2 too, should a kernel ever write more.
    let mut buf = [0u8; 64];
    // SAFETY: TCGETS writes one kernel `struct termios` (36 bytes on
    // x86-64) to the pointer; `buf` is 64 writable bytes we own.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCGETS, buf.as_mut_ptr()) };
    if rc < 0 {
        return Err(last_errno());
    }
    let mut out = [0u8; KERNEL_TERMIOS_SIZE];
    out.copy_from_slice(&buf[..KERNEL_TERMIOS_SIZE]);
    Ok(out)
}

/// `faccessat2(fd, "", mode, AT_EMPTY_PATH | flags)`: may the caller access
/// the file `fd` refers to (an `O_PATH` descriptor is fine)?
pub fn access_fd(fd: std::os::fd::BorrowedFd<'_>, mode: u32, eaccess: bool) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let mut flags = libc::AT_EMPTY_PATH;
    if eaccess {
        flags |= libc::AT_EACCESS;
    }
    // SAFETY: the path is a static NUL-terminated empty string; the kernel
    // only reads it. No memory is written.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_faccessat2,
            fd.as_raw_fd(),
            c"".as_ptr(),
            mode as libc::c_int,
            flags,
        )
    };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The calling thread's errno after a failed raw call.
fn last_errno() -> Errno {
    Errno::from(std::io::Error::last_os_error())
}

/// `ioctl(fd, cmd, termios)` for `TCSETS`, `TCSETSW` and `TCSETSF`: set the
/// terminal attributes from the kernel's `struct termios` layout.
pub fn tcsets(
    fd: std::os::fd::BorrowedFd<'_>,
    cmd: u64,
    termios: &[u8; KERNEL_TERMIOS_SIZE],
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    if ![libc::TCSETS, libc::TCSETSW, libc::TCSETSF].contains(&cmd) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the TCSETS family only reads one kernel `struct termios`
    // (36 bytes on x86-64) from the pointer, which `termios` provides.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), cmd, termios.as_ptr()) };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// A terminal `ioctl` whose argument is a plain integer (`TCFLSH`,
/// `TCXONC`, `TCSBRK`, `TCSBRKP`): nothing is read or written in memory.
pub fn tty_ioctl_int(fd: std::os::fd::BorrowedFd<'_>, cmd: u64, arg: i32) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    if ![libc::TCFLSH, libc::TCXONC, libc::TCSBRK, libc::TCSBRKP].contains(&cmd) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: these requests take their argument by value; no memory of
    // ours is touched.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), cmd, arg as libc::c_long) };
    if rc < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// A set of host signals.
fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set we own; sigaddset only
    // changes it (invalid numbers are refused with EINVAL, ignored here).
    unsafe {
        let mut set = std::mem::zeroed::<libc::sigset_t>();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Block `signals` in the calling thread (and so in the threads it starts
/// from now on), so that only a thread waiting for them takes them.
pub fn block_signals(signals: &[i32]) -> Result<(), Errno> {
    let set = sigset(signals);
    // SAFETY: `set` is an initialised signal set; the old mask is not asked for.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(Errno(rc));
    }
    Ok(())
}

/// Wait for one of `signals` (blocked in every thread) and take it: its
/// number and `si_code` (`SI_KERNEL` when the kernel sent it, as a
/// terminal does; `SI_USER` and the like when a process did).
pub fn wait_signal(signals: &[i32]) -> Result<(i32, i32), Errno> {
    let set = sigset(signals);
    loop {
        // SAFETY: all-zero bytes are a valid siginfo_t (plain integers).
        let mut info = unsafe { std::mem::zeroed::<libc::siginfo_t>() };
        // SAFETY: `set` is an initialised signal set; the kernel writes one
        // siginfo_t into `info`, which we own.
        let rc = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if rc > 0 {
            return Ok((rc, info.si_code));
        }
        // A stop and continue of the process ends the wait with EINTR too.
        let e = last_errno();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
}

/// Stop the whole host process with job-control signal `sig`, as a
/// process whose default action for `sig` runs: the parent's `waitpid`
/// sees it stopped by `sig`. Returns once the process is continued, or at
/// once if the host discards the stop (the process group is orphaned, or
/// `sig` is ignored). The signal is sent to the calling thread alone, so
/// that a thread waiting for it with `wait_signal` cannot take it, and is
/// unblocked just long enough to be acted on.
pub fn stop_self(sig: i32) -> Result<(), Errno> {
    let set = sigset(&[sig]);
    // SAFETY: all-zero bytes are a valid sigset_t; it is filled in below.
    let mut old = unsafe { std::mem::zeroed::<libc::sigset_t>() };
    // SAFETY: `set` is initialised; the old mask is written into `old`.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
    if rc != 0 {
        return Err(Errno(rc));
    }
    let tid = rustix::thread::gettid().as_raw_nonzero().get();
    // SAFETY: tgkill with our own pid and thread id; no memory is involved.
    let sent = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) };
    let sent = if sent < 0 { Err(last_errno()) } else { Ok(()) };
    // SAFETY: `set` is initialised. Unblocking makes the pending signal act
    // before the call returns; then the old mask comes back.
    unsafe {
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    sent
}

/// End the whole host process by signal `sig`, as a process killed by it
/// ends: its parent's `waitpid` sees WIFSIGNALED with `sig`. No core file
/// is written (RLIMIT_CORE goes to 0 first: it would be rvisor's, not the
/// guest's). Returns only if `sig` does not end a process by default.
pub fn die_by_signal(sig: i32) {
    let no_core = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let set = sigset(&[sig]);
    // SAFETY: setrlimit reads one rlimit we own. A zeroed sigaction is
    // SIG_DFL with an empty mask and no flags. `set` is an initialised
    // signal set. tgkill names our own pid and thread id. No memory of
    // ours is written.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        let dfl: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
        // Sent to this thread alone so that no thread waiting for it in
        // `wait_signal` takes it; unblocking it makes it act.
        libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}
