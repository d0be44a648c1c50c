//! The task loop: deliver pending signals, switch into the guest, handle
//! what brought us back, repeat.

use vmm::{Access, Context, Event, Vector};

use crate::kernel::job_control;
use crate::kernel::siginfo::{
    SigInfo, BUS_ADRALN, BUS_ADRERR, FPE_FLTINV, FPE_INTDIV, ILL_ILLOPN, SEGV_ACCERR, SEGV_MAPERR,
    SI_KERNEL, TRAP_TRACE,
};
use crate::kernel::signal_delivery::{deliver, force, restore_fpu};
use crate::kernel::signal_frame::TrapInfo;
use crate::kernel::sleep::collect_posted;
use crate::kernel::{ExitStatus, Task};
use crate::mm::FaultError;
use crate::syscalls;

/// The platform failed underneath a running task.
#[derive(Debug, thiserror::Error)]
#[error("platform failure while running the guest: {0}")]
pub struct RunError(#[from] vmm::PlatformError);

/// The signal (and si_code, si_addr) Linux raises for a CPU exception.
fn signal_for(vector: Vector, addr: u64, rip: u64) -> SigInfo {
    let (sig, code, addr) = match vector {
        Vector::DIVIDE_ERROR => (libc::SIGFPE, FPE_INTDIV, rip),
        Vector::X87_FLOATING_POINT | Vector::SIMD_FLOATING_POINT => (libc::SIGFPE, FPE_FLTINV, rip),
        Vector::DEBUG => (libc::SIGTRAP, TRAP_TRACE, rip),
        Vector::BREAKPOINT => (libc::SIGTRAP, SI_KERNEL, 0),
        Vector::INVALID_OPCODE => (libc::SIGILL, ILL_ILLOPN, rip),
        Vector::ALIGNMENT_CHECK => (libc::SIGBUS, BUS_ADRALN, addr),
        _ => (libc::SIGSEGV, SI_KERNEL, 0),
    };
    SigInfo::fault(sig, code, addr)
}

/// x86 page-fault error-code bits for sigcontext's `err`.
fn page_fault_code(access: Access) -> u64 {
    let mut err = 4; // user mode
    if access.contains(Access::WRITE) {
        err |= 2;
    }
    if access.contains(Access::EXEC) {
        err |= 16;
    }
    err
}

impl Task {
    /// Resolve a guest page fault (the memory manager stays locked only for
    /// this).
    fn fault(&self, addr: u64, access: Access) -> Result<(), FaultError> {
        self.mm.lock().handle_fault(addr, access)
    }
}

/// Run `task` until its thread ends (on its own or with its process).
pub fn run(task: &mut Task, ctx: &mut dyn Context) -> Result<ExitStatus, RunError> {
    task.inbox.set_interrupter(ctx.interrupter());
    task.usage_start = Some(super::rusage::Usage::of_this_thread());
    let mut retried_fault = None;
    loop {
        // Another thread's exit_group, fatal signal or execve ends this one.
        if let Some(status) = task.group.ending(task.tid) {
            return Ok(status);
        }
        collect_posted(task);
        // Another thread is stopping the process (job control): it keeps
        // `stop_wanted` up until the stop is over, so the process table
        // (a sandbox-wide lock) stays out of this per-event path.
        if task.group.stop_wanted() {
            job_control::park_while_stopped(task);
            continue;
        }
        if let Some(image) = task.fpu_restore.take() {
            restore_fpu(task, ctx, image)?;
        }
        deliver(task, ctx)?;
        // rt_sigsuspend's temporary mask ends here when no handler took it.
        if let Some(mask) = task.signals.saved_mask.take() {
            task.signals.mask = mask;
        }
        if let Some(status) = task.exit_status {
            return Ok(status);
        }
        task.publish_running();
        let asp = task.mm.lock().address_space();
        let event = ctx.switch(&*asp, &mut task.regs)?;
        if !matches!(event, Event::PageFault { .. }) {
            retried_fault = None;
        }
        tracing::trace!(
            ?event,
            rip = format_args!("{:#x}", task.regs.rip),
            "guest event"
        );
        match event {
            Event::Syscall => {
                let nr = task.regs.orig_rax;
                let args = task.regs.syscall_args();
                task.regs.rax = syscalls::dispatch(task, nr, args);
            }
            Event::PageFault { addr, access } => match task.fault(addr, access) {
                Ok(()) => retried_fault = None,
                // Another thread may have backed the page, with the platform
                // mirroring it at the next switch: try once more.
                Err(FaultError::AlreadyBacked) if retried_fault != Some(addr) => {
                    retried_fault = Some(addr);
                    continue;
                }
                Err(FaultError::OutOfMemory) => {
                    tracing::error!("guest out of memory at {addr:#x}; killing it");
                    task.exit_status = Some(ExitStatus::Signaled(libc::SIGKILL));
                }
                Err(e) => {
                    tracing::debug!(
                        "pid {}: {e:?} fault at {addr:#x} ({access:?}) from {:#x}",
                        task.tgid,
                        task.regs.rip
                    );
                    let (signo, code) = match e {
                        FaultError::Unmapped => (libc::SIGSEGV, SEGV_MAPERR),
                        FaultError::PastEof => (libc::SIGBUS, BUS_ADRERR),
                        _ => (libc::SIGSEGV, SEGV_ACCERR),
                    };
                    let trap = TrapInfo {
                        trapno: 14,
                        err: page_fault_code(access),
                        cr2: addr,
                    };
                    force(task, SigInfo::fault(signo, code, addr), trap);
                }
            },
            Event::Exception { vector, code, addr } => {
                tracing::debug!(
                    "pid {}: exception {vector:?} at {:#x}",
                    task.tgid,
                    task.regs.rip
                );
                let info = signal_for(vector, addr, task.regs.rip);
                let trap = TrapInfo {
                    trapno: u64::from(vector.0),
                    err: code,
                    cr2: 0,
                };
                force(task, info, trap);
            }
            // Pending signals are looked at on every pass.
            Event::Interrupted => {}
        }
        if let Some(status) = task.exit_status {
            return Ok(status);
        }
    }
}
