//! The task loop: switch into the guest, handle what brought us back, repeat.

use vmm::{Context, Event, Vector};

use crate::kernel::{ExitStatus, Task};
use crate::mm::FaultError;
use crate::syscalls;

/// The platform failed underneath a running task.
#[derive(Debug, thiserror::Error)]
#[error("platform failure while running the guest: {0}")]
pub struct RunError(#[from] vmm::PlatformError);

/// The signal Linux sends for a CPU exception.
fn signal_for(vector: Vector) -> i32 {
    match vector {
        Vector::DIVIDE_ERROR | Vector::X87_FLOATING_POINT | Vector::SIMD_FLOATING_POINT => {
            libc::SIGFPE
        }
        Vector::DEBUG | Vector::BREAKPOINT => libc::SIGTRAP,
        Vector::INVALID_OPCODE => libc::SIGILL,
        Vector::ALIGNMENT_CHECK => libc::SIGBUS,
        _ => libc::SIGSEGV,
    }
}

/// Run `task` until its process exits.
pub fn run(task: &mut Task, ctx: &mut dyn Context) -> Result<ExitStatus, RunError> {
    loop {
        let event = ctx.switch(task.mm.address_space(), &mut task.regs)?;
        tracing::trace!(
            ?event,
            rip = format_args!("{:#x}", task.regs.rip),
            "guest event"
        );
        let fatal = match event {
            Event::Syscall => {
                let nr = task.regs.orig_rax;
                let args = task.regs.syscall_args();
                task.regs.rax = syscalls::dispatch(task, nr, args);
                None
            }
            Event::PageFault { addr, access } => match task.mm.handle_fault(addr, access) {
                Ok(()) => None,
                Err(FaultError::OutOfMemory) => {
                    tracing::error!("guest out of memory at {addr:#x}; killing it");
                    Some(libc::SIGKILL)
                }
                Err(_) => Some(libc::SIGSEGV),
            },
            Event::Exception { vector, .. } => Some(signal_for(vector)),
            // Nothing to deliver yet: signals arrive with the process model.
            Event::Interrupted => None,
        };
        if let Some(sig) = fatal {
            // Signal handlers are not delivered yet, so every fault is fatal.
            task.exit_status = Some(ExitStatus::Signaled(sig));
        }
        if let Some(status) = task.exit_status {
            return Ok(status);
        }
    }
}
