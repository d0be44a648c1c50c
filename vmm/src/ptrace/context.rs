//! A guest thread on the ptrace platform: runs guest code in the stub with
//! PTRACE_SYSEMU and turns each stop into an `Event`.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use ring0::abi::{Regs, Vector};

use crate::platform::{
    downcast, Access, AddressSpace, Context, Event, Interrupter, PlatformError, Result, ThreadSeed,
};

use super::address_space::{PtraceAddressSpace, Shared};
use super::sys::{self, WaitStatus};

/// Stop signal of a system-call stop with PTRACE_O_TRACESYSGOOD.
const SYSCALL_STOP: i32 = libc::SIGTRAP | 0x80;

pub struct PtraceContext {
    /// The stub currently running this context's guest code, or 0.
    running: Arc<AtomicI32>,
    /// The stub thread this context last ran in (its FPU state lives
    /// there), or 0 before the first switch.
    last: i32,
    /// For a thread's context (not the process's first): its stub thread,
    /// attached by the calling sentry thread, and the address space's shared
    /// state, where it registers at its first switch and unregisters when
    /// the thread ends.
    thread: Option<StubThread>,
    /// Where the stub page's `syscall` is, to make the thread exit.
    exit_addr: u64,
    /// The registers stub thread `last` holds now, as read at its last
    /// stop, so the next switch writes only what the sentry changed; with
    /// `sys::regs_writes()` then, which tells whether this sentry thread
    /// has overwritten them since (an injected system call).
    held: Option<(Regs, u64)>,
}

struct StubThread {
    tid: i32,
    shared: Option<Arc<Mutex<Shared>>>,
}

impl PtraceContext {
    pub(super) fn new() -> Self {
        PtraceContext {
            running: Arc::new(AtomicI32::new(0)),
            last: 0,
            thread: None,
            exit_addr: 0,
            held: None,
        }
    }

    fn last_stub(&self) -> Result<i32> {
        match self.last {
            0 => Err(PlatformError::Protocol(
                "no FPU state before the first switch".into(),
            )),
            pid => Ok(pid),
        }
    }
}

struct PtraceInterrupter {
    running: Arc<AtomicI32>,
}

impl Interrupter for PtraceInterrupter {
    fn interrupt(&self) {
        let tid = self.running.load(Ordering::Acquire);
        if tid != 0 {
            // SIGSTOP cannot be blocked or handled by the stub. Directed at
            // the one stub thread, it is a signal-delivery stop the tracer
            // sees and suppresses; no other stub thread stops.
            let _ = sys::tkill(tid, libc::SIGSTOP);
        }
    }
}

/// A new stub thread, cloned by the parent thread's stub and waiting to be
/// seized by the sentry thread that will run it.
pub(super) struct PtraceThreadSeed {
    pub(super) tid: i32,
    pub(super) exit_addr: u64,
}

impl ThreadSeed for PtraceThreadSeed {
    fn into_context(self: Box<Self>) -> Result<Box<dyn Context>> {
        let tid = self.tid;
        let host = |(c, e)| PlatformError::host(c, e);
        let opts = libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL;
        if let Err(e) = sys::seize_and_interrupt(tid, opts) {
            let _ = sys::tkill(tid, libc::SIGKILL);
            return Err(host(e));
        }
        match sys::wait(tid).map_err(host)? {
            WaitStatus::Stopped(_) => {}
            other => {
                return Err(PlatformError::StubDied(format!(
                    "new stub thread {tid}: {other:?}"
                )))
            }
        }
        let mut ctx = PtraceContext::new();
        ctx.thread = Some(StubThread { tid, shared: None });
        ctx.exit_addr = self.exit_addr;
        Ok(Box::new(ctx))
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        self.release_thread();
    }
}

impl PtraceContext {
    /// End this context's own stub thread, if it has one.
    fn release_thread(&mut self) {
        let Some(StubThread { tid, shared }) = self.thread.take() else {
            return;
        };
        if let Some(shared) = shared {
            shared
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove_tracee(tid);
        }
        // End just this stub thread (a SIGKILL would end the whole stub):
        // it executes exit() from the stub page.
        let mut regs = Regs::default();
        if sys::get_regs(tid, &mut regs).is_ok() {
            regs.rip = self.exit_addr;
            regs.rax = libc::SYS_exit as u64;
            regs.rdi = 0;
            regs.orig_rax = u64::MAX;
            if sys::set_regs(tid, &regs).is_ok() && sys::resume(tid, libc::PTRACE_CONT).is_ok() {
                while let Ok(WaitStatus::Stopped(_)) = sys::wait(tid) {
                    if sys::resume(tid, libc::PTRACE_CONT).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

impl Context for PtraceContext {
    fn switch(&mut self, asp: &dyn AddressSpace, regs: &mut Regs) -> Result<Event> {
        let asp = downcast::<PtraceAddressSpace>(asp)?;
        if let Some(StubThread {
            shared: Some(shared),
            ..
        }) = &self.thread
        {
            // The thread exec'd: from now on it runs in the new address
            // space's stub, and its thread of the old stub must go now
            // (the old stub cannot be reaped while it is left).
            if !Arc::ptr_eq(shared, asp.shared()) {
                self.release_thread();
            }
        }
        if let Some(StubThread { tid, shared }) = &mut self.thread {
            if shared.is_none() {
                let s = asp.shared().clone();
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add_tracee(sys::gettid(), *tid);
                *shared = Some(s);
            }
        }
        asp.flush()?;
        let pid = asp.my_tracee()?;
        let host = |(c, e)| PlatformError::host(c, e);
        let held = self
            .held
            .take()
            .filter(|&(_, writes)| self.last == pid && writes == sys::regs_writes())
            .map(|(r, _)| r);
        self.last = pid;
        store_regs(pid, held.as_ref(), regs).map_err(host)?;
        self.running.store(pid, Ordering::Release);
        let status = sys::resume(pid, libc::PTRACE_SYSEMU).and_then(|()| sys::wait(pid));
        self.running.store(0, Ordering::Release);
        let sig = match status.map_err(host)? {
            WaitStatus::Stopped(sig) => sig,
            other => return Err(PlatformError::StubDied(format!("{other:?}"))),
        };
        sys::get_regs(pid, regs).map_err(host)?;
        self.held = Some((*regs, sys::regs_writes()));
        if sig == SYSCALL_STOP {
            return Ok(Event::Syscall);
        }
        if !matches!(
            sig,
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
        ) {
            return Ok(Event::Interrupted);
        }
        let si = sys::get_siginfo(pid).map_err(host)?;
        // SAFETY: for the fault signals matched above the kernel fills in
        // si_addr, so reading that union member is defined.
        let addr = unsafe { si.si_addr() } as u64;
        Ok(classify(sig, si.si_code, addr, regs.rip))
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(PtraceInterrupter {
            running: self.running.clone(),
        })
    }

    fn fpu_state(&mut self) -> Result<Vec<u8>> {
        sys::get_xstate(self.last_stub()?).map_err(|(c, e)| PlatformError::host(c, e))
    }

    fn set_fpu_state(&mut self, image: &[u8]) -> Result<()> {
        sys::set_xstate(self.last_stub()?, image).map_err(|(c, e)| PlatformError::host(c, e))
    }
}

/// Write `regs` into stopped stub thread `pid`, which holds `held` (if
/// known): nothing when they are the same, just `rax` when only a system
/// call's result differs (each ptrace request costs about a microsecond on
/// our hosts, PTRACE_SETREGS the most).
fn store_regs(pid: i32, held: Option<&Regs>, regs: &Regs) -> sys::SysResult<()> {
    match held {
        Some(h) if h == regs => Ok(()),
        Some(h)
            if Regs {
                rax: regs.rax,
                ..*h
            } == *regs =>
        {
            sys::set_rax(pid, regs.rax)
        }
        _ => sys::set_regs(pid, regs),
    }
}

const SI_KERNEL: i32 = 0x80;
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
const FPE_INTDIV: i32 = 1;
const FPE_INTOVF: i32 = 2;
const TRAP_TRACE: i32 = 2;

/// Map a host fault signal back to the CPU event that caused it.
fn classify(sig: i32, code: i32, addr: u64, rip: u64) -> Event {
    let exception = |vector: Vector| Event::Exception {
        vector,
        code: 0,
        addr,
    };
    match sig {
        libc::SIGSEGV if code == SEGV_MAPERR || code == SEGV_ACCERR => {
            // ptrace does not expose the page-fault error code; an
            // instruction fetch is the only case we can recognise.
            let access = if addr == rip {
                Access::EXEC
            } else {
                Access::READ
            };
            Event::PageFault { addr, access }
        }
        libc::SIGSEGV if code == SI_KERNEL => Event::Exception {
            vector: Vector::GENERAL_PROTECTION,
            code: 0,
            addr: 0,
        },
        libc::SIGSEGV => exception(Vector::GENERAL_PROTECTION),
        libc::SIGBUS => exception(Vector::ALIGNMENT_CHECK),
        libc::SIGILL => exception(Vector::INVALID_OPCODE),
        libc::SIGFPE if code == FPE_INTDIV || code == FPE_INTOVF => exception(Vector::DIVIDE_ERROR),
        libc::SIGFPE => exception(Vector::SIMD_FLOATING_POINT),
        libc::SIGTRAP if code == TRAP_TRACE => exception(Vector::DEBUG),
        _ => exception(Vector::BREAKPOINT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_signals_map_to_cpu_events() {
        assert_eq!(
            classify(libc::SIGSEGV, SEGV_MAPERR, 0x1000, 0x400000),
            Event::PageFault {
                addr: 0x1000,
                access: Access::READ
            }
        );
        assert_eq!(
            classify(libc::SIGSEGV, SEGV_ACCERR, 0x400000, 0x400000),
            Event::PageFault {
                addr: 0x400000,
                access: Access::EXEC
            }
        );
        assert!(matches!(
            classify(libc::SIGSEGV, SI_KERNEL, 0, 1),
            Event::Exception {
                vector: Vector::GENERAL_PROTECTION,
                ..
            }
        ));
        assert!(matches!(
            classify(libc::SIGFPE, FPE_INTDIV, 0, 1),
            Event::Exception {
                vector: Vector::DIVIDE_ERROR,
                ..
            }
        ));
        assert!(matches!(
            classify(libc::SIGILL, 2, 0, 1),
            Event::Exception {
                vector: Vector::INVALID_OPCODE,
                ..
            }
        ));
    }
}
