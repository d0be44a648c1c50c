//! Safe wrappers over the raw ptrace, wait and signal calls the ptrace
//! platform makes. Every wrapper takes a pid of a stub this process traces;
//! the kernel checks that, so a wrong pid is an error, never memory unsafety.

use std::io;

use libc::pid_t;
use ring0::abi::Regs;

fn check(r: libc::c_long, call: &'static str) -> Result<libc::c_long, (&'static str, io::Error)> {
    if r < 0 {
        Err((call, io::Error::last_os_error()))
    } else {
        Ok(r)
    }
}

pub type SysResult<T> = Result<T, (&'static str, io::Error)>;

pub fn get_regs(pid: pid_t, regs: &mut Regs) -> SysResult<()> {
    // SAFETY: PTRACE_GETREGS writes exactly one user_regs_struct, whose
    // layout `Regs` reproduces (checked by a test in ring0), into `regs`.
    let r = unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, std::ptr::from_mut(regs)) };
    check(r, "PTRACE_GETREGS").map(drop)
}

thread_local! {
    /// How many times this thread has written a tracee's whole register
    /// set: a context that cached its stub thread's registers knows they
    /// still hold only while this has not moved (injected system calls
    /// overwrite them).
    static REGS_WRITES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// See `REGS_WRITES`.
pub fn regs_writes() -> u64 {
    REGS_WRITES.with(std::cell::Cell::get)
}

pub fn set_regs(pid: pid_t, regs: &Regs) -> SysResult<()> {
    REGS_WRITES.with(|n| n.set(n.get() + 1));
    // SAFETY: PTRACE_SETREGS only reads one user_regs_struct from `regs`.
    let r = unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, std::ptr::from_ref(regs)) };
    check(r, "PTRACE_SETREGS").map(drop)
}

/// Store just `rax` (a system call's result): about half the cost of
/// PTRACE_SETREGS here.
pub fn set_rax(pid: pid_t, rax: u64) -> SysResult<()> {
    // SAFETY: PTRACE_POKEUSER takes an offset into the user area and the
    // word by value; no pointer is dereferenced.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_POKEUSER,
            pid,
            std::mem::offset_of!(Regs, rax),
            rax as libc::c_long,
        )
    };
    check(r, "PTRACE_POKEUSER").map(drop)
}

/// Resume `pid` with `request` (PTRACE_SYSEMU or PTRACE_CONT), delivering no signal.
pub fn resume(pid: pid_t, request: libc::c_uint) -> SysResult<()> {
    // SAFETY: resume requests take no pointers; data 0 means no signal.
    let r = unsafe { libc::ptrace(request, pid, 0, 0) };
    check(r, "ptrace resume").map(drop)
}

pub fn set_options(pid: pid_t, options: libc::c_int) -> SysResult<()> {
    // SAFETY: PTRACE_SETOPTIONS takes the options by value in `data`.
    let r = unsafe { libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, options as libc::c_long) };
    check(r, "PTRACE_SETOPTIONS").map(drop)
}

/// The siginfo of the signal `pid` is stopped for.
pub fn get_siginfo(pid: pid_t) -> SysResult<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: PTRACE_GETSIGINFO writes one siginfo_t into `si`.
    let r = unsafe { libc::ptrace(libc::PTRACE_GETSIGINFO, pid, 0, std::ptr::from_mut(&mut si)) };
    check(r, "PTRACE_GETSIGINFO").map(|_| si)
}

/// How a waited-for stub changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// Stopped with this stop signal (SIGTRAP|0x80 for system-call stops).
    Stopped(i32),
    Exited(i32),
    Signaled(i32),
}

/// Wait for `pid` to stop or die. Retries on EINTR.
pub fn wait(pid: pid_t) -> SysResult<WaitStatus> {
    wait_event(pid).map(|(status, _)| status)
}

/// The same, with the PTRACE_EVENT_* of a ptrace event stop (else 0).
pub fn wait_event(pid: pid_t) -> SysResult<(WaitStatus, i32)> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes one int into `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(("waitpid", e));
        }
        return Ok(if libc::WIFSTOPPED(status) {
            (WaitStatus::Stopped(libc::WSTOPSIG(status)), status >> 16)
        } else if libc::WIFEXITED(status) {
            (WaitStatus::Exited(libc::WEXITSTATUS(status)), 0)
        } else {
            (WaitStatus::Signaled(libc::WTERMSIG(status)), 0)
        });
    }
}

/// Attach to thread `tid` (PTRACE_SEIZE with `options`) and stop it
/// (PTRACE_INTERRUPT); the caller waits for the stop.
pub fn seize_and_interrupt(tid: pid_t, options: libc::c_int) -> SysResult<()> {
    // SAFETY: PTRACE_SEIZE takes the options by value in `data`.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, options as libc::c_long) };
    check(r, "PTRACE_SEIZE")?;
    // SAFETY: PTRACE_INTERRUPT takes no pointers.
    let r = unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) };
    check(r, "PTRACE_INTERRUPT").map(drop)
}

/// Detach from stopped tracee `pid` and let it run on, with no signal.
pub fn detach(pid: pid_t) -> SysResult<()> {
    // SAFETY: PTRACE_DETACH takes no pointers; data 0 means no signal.
    let r = unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
    check(r, "PTRACE_DETACH").map(drop)
}

/// The message of `pid`'s current ptrace event stop (a new child's pid for
/// PTRACE_EVENT_FORK).
pub fn event_msg(pid: pid_t) -> SysResult<u64> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: PTRACE_GETEVENTMSG writes one unsigned long into `msg`.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0,
            std::ptr::from_mut(&mut msg),
        )
    };
    check(r, "PTRACE_GETEVENTMSG").map(|_| msg)
}

/// Send `sig` to thread `tid`, whichever process it is in.
pub fn tkill(tid: pid_t, sig: i32) -> SysResult<()> {
    // SAFETY: a plain system call with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_tkill, tid, sig) };
    check(r, "tkill").map(drop)
}

/// Kill and reap a stub, with every thread of it this process traces.
///
/// Its first thread cannot be reaped while another thread of it is a
/// zombie, and a traced thread stays one until its tracer waits for it:
/// the tracer may be another sentry thread that no longer waits (a thread
/// that exec'd still traces its stub thread in the old stub), so all are
/// reaped here (any thread of the tracing process may wait for them).
pub fn kill_and_reap(pid: pid_t) {
    // SAFETY: a plain system call with integer arguments.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // A zombie first thread keeps its pid, so these are its threads.
    let threads: Vec<pid_t> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&tid| tid != pid)
                .collect()
        })
        .unwrap_or_default();
    for tid in threads.into_iter().chain([pid]) {
        // Until it is gone: a stop not yet reported may come first. An
        // error (ECHILD: a thread someone else reaped) ends the wait too.
        while let Ok(WaitStatus::Stopped(_)) = wait(tid) {}
    }
}

/// The calling thread's id, asked of the host once per thread (it is
/// needed on every switch to find the caller's stub thread).
pub fn gettid() -> pid_t {
    thread_local! {
        static TID: pid_t = rustix::thread::gettid().as_raw_nonzero().get();
    }
    TID.with(|t| *t)
}

/// `NT_X86_XSTATE`: the regset holding the XSAVE image.
const NT_X86_XSTATE: libc::c_int = 0x202;
/// Enough for any XSAVE image ptrace returns (AVX-512 is 2.7 KiB; AMX tiles
/// are not enabled for stubs).
pub const XSTATE_MAX: usize = 16 << 10;

/// The XSAVE image of stopped thread `pid`.
pub fn get_xstate(pid: pid_t) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; XSTATE_MAX];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: PTRACE_GETREGSET writes at most iov_len bytes into `buf`
    // (which outlives the call) and updates iov_len to the size written.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGSET,
            pid,
            NT_X86_XSTATE,
            std::ptr::from_mut(&mut iov),
        )
    };
    check(r, "PTRACE_GETREGSET").map(|_| {
        buf.truncate(iov.iov_len);
        buf
    })
}

/// Load an XSAVE image into stopped thread `pid`; the kernel validates it.
pub fn set_xstate(pid: pid_t, image: &[u8]) -> SysResult<()> {
    let mut copy = image.to_vec();
    let mut iov = libc::iovec {
        iov_base: copy.as_mut_ptr().cast(),
        iov_len: copy.len(),
    };
    // SAFETY: PTRACE_SETREGSET only reads iov_len bytes from `copy`, which
    // outlives the call.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_SETREGSET,
            pid,
            NT_X86_XSTATE,
            std::ptr::from_mut(&mut iov),
        )
    };
    check(r, "PTRACE_SETREGSET").map(drop)
}
