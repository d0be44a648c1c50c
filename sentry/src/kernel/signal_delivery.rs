//! Sending signals to a task and delivering them: default actions, or a
//! handler frame on the guest stack (`signal_frame`).

use std::collections::VecDeque;

use vmm::Context;

use super::job_control;
use super::posix_timers::SI_TIMER;
use super::siginfo::{SigInfo, SI_KERNEL};
use super::signal::{sig_bit, SigAction, NSIG, UNBLOCKABLE};
use super::signal_action::{default_action, DefaultAction};
use super::signal_frame::{push_frame, TrapInfo, FXSAVE_LEN};
use super::{ExitStatus, Task};
use crate::errno::Errno;

const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;
/// Signals below this are standard: at most one of each is pending.
const SIGRTMIN: i32 = 32;

/// A signal waiting for delivery.
#[derive(Clone, Copy, Debug)]
pub struct PendingSignal {
    pub info: SigInfo,
    /// Set for signals raised by a CPU exception.
    pub trap: Option<TrapInfo>,
}

/// The signals queued for a task, in delivery order.
#[derive(Default)]
pub struct PendingSignals {
    queue: VecDeque<PendingSignal>,
}

impl PendingSignals {
    /// Bit set of the pending signals (for rt_sigpending, /proc).
    pub fn set(&self) -> u64 {
        self.queue.iter().fold(0, |m, p| m | sig_bit(p.info.signo))
    }

    /// Take the first pending signal in `set` (sigtimedwait).
    pub fn take_in(&mut self, set: u64) -> Option<SigInfo> {
        let i = self
            .queue
            .iter()
            .position(|p| sig_bit(p.info.signo) & set != 0)?;
        self.queue.remove(i).map(|p| p.info)
    }

    /// Drop every pending signal in `mask`.
    pub fn discard(&mut self, mask: u64) {
        self.queue.retain(|p| sig_bit(p.info.signo) & mask == 0);
    }

    fn take_first(&mut self, blocked: u64) -> Option<PendingSignal> {
        let i = self
            .queue
            .iter()
            .position(|p| sig_bit(p.info.signo) & blocked & !UNBLOCKABLE == 0)?;
        self.queue.remove(i)
    }
}

fn ignored(action: &SigAction, sig: i32) -> bool {
    action.handler == SIG_IGN
        || (action.handler == SIG_DFL
            && matches!(
                default_action(sig),
                DefaultAction::Ignore | DefaultAction::Continue
            ))
}

/// Queue `info` for `task`, as `kill` and friends do. A signal that is
/// ignored and not blocked is discarded now; a standard signal already
/// pending is not queued twice.
pub fn send(task: &mut Task, info: SigInfo) {
    let sig = info.signo;
    if !(1..=NSIG as i32).contains(&sig) {
        return;
    }
    job_control::on_send(task, sig);
    let action = task.signals.actions.get((sig - 1) as usize);
    let dropped = (task.signals.mask & sig_bit(sig) == 0 && ignored(&action, sig))
        || (sig < SIGRTMIN && task.pending_signals.set() & sig_bit(sig) != 0);
    if dropped {
        if info.code == SI_TIMER {
            if let Some(timers) = task.group.existing_posix_timers() {
                timers.dropped(&info);
            }
        }
        return;
    }
    task.pending_signals
        .queue
        .push_back(PendingSignal { info, trap: None });
}

/// Raise a signal for a fault the task cannot continue past. Like Linux's
/// force_sig: if the task blocks or ignores it, the default action is
/// restored and the signal unblocked, so it cannot be lost.
pub fn force(task: &mut Task, info: SigInfo, trap: TrapInfo) {
    let sig = info.signo;
    let i = (sig - 1) as usize;
    if task.signals.mask & sig_bit(sig) != 0 || task.signals.actions.get(i).handler == SIG_IGN {
        task.signals.actions.set(i, SigAction::default());
        task.signals.mask &= !sig_bit(sig);
    }
    task.pending_signals.queue.push_front(PendingSignal {
        info,
        trap: Some(trap),
    });
}

/// A system call interrupted by a signal returned a restart code: turn it
/// into EINTR or back up to the `syscall` instruction, as Linux decides
/// from the handler about to run (`None`: no handler runs).
fn settle_restart(task: &mut Task, handler: Option<&SigAction>) {
    if task.regs.orig_rax == u64::MAX {
        return;
    }
    let code = Errno(-(task.regs.rax as i64) as i32);
    if !code.is_restart() {
        return;
    }
    let restart = match code {
        Errno::ERESTARTSYS => handler.is_none_or(|a| a.flags & libc::SA_RESTART as u64 != 0),
        Errno::ERESTARTNOINTR => true,
        _ => handler.is_none(),
    };
    if restart {
        // `syscall` is two bytes; rax gets the number back.
        task.regs.rip = task.regs.rip.wrapping_sub(2);
        task.regs.rax = task.regs.orig_rax;
    } else {
        task.regs.rax = Errno::EINTR.to_return();
    }
    task.regs.orig_rax = u64::MAX;
}

/// Deliver the first deliverable pending signal, if any: end the task for
/// a fatal default action, or set up its handler's frame.
pub fn deliver(task: &mut Task, ctx: &mut dyn Context) -> Result<(), vmm::PlatformError> {
    deliver_one(task, ctx)?;
    settle_restart(task, None);
    Ok(())
}

fn deliver_one(task: &mut Task, ctx: &mut dyn Context) -> Result<(), vmm::PlatformError> {
    while let Some(mut p) = task.pending_signals.take_first(task.signals.mask) {
        if !timer_signal_still_wanted(task, &mut p.info) {
            continue;
        }
        let sig = p.info.signo;
        let action = task.signals.actions.get((sig - 1) as usize);
        match action.handler {
            SIG_IGN => continue,
            SIG_DFL => match default_action(sig) {
                DefaultAction::Terminate | DefaultAction::CoreDump => {
                    task.exit_status = Some(ExitStatus::Signaled(sig));
                    return Ok(());
                }
                DefaultAction::Stop => job_control::stop(task, sig),
                DefaultAction::Ignore | DefaultAction::Continue => continue,
            },
            _ => {
                settle_restart(task, Some(&action));
                let fpu = ctx.fpu_state()?;
                let trap = p.trap.unwrap_or_default();
                if let Err(e) = push_frame(task, &p.info, &action, trap, &fpu) {
                    // No room for the frame: Linux kills with SIGSEGV.
                    tracing::debug!("cannot deliver signal {sig}: {e}");
                    task.exit_status = Some(ExitStatus::Signaled(libc::SIGSEGV));
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A signal is being taken from the pending queue: if a POSIX timer sent
/// it, it carries that timer's overrun count from now on, or is dropped
/// if the timer has been deleted since (false).
pub fn timer_signal_still_wanted(task: &Task, info: &mut SigInfo) -> bool {
    if info.code != SI_TIMER {
        return true;
    }
    task.group
        .existing_posix_timers()
        .is_some_and(|timers| timers.taken(info))
}

/// Load the FPU image a `rt_sigreturn` recovered from its frame. A bare
/// FXSAVE area (a frame without the XSAVE markers) replaces only the x87
/// and SSE state. A malformed image kills the task with SIGSEGV, as a bad
/// frame does on Linux.
pub fn restore_fpu(
    task: &mut Task,
    ctx: &mut dyn Context,
    image: Vec<u8>,
) -> Result<(), vmm::PlatformError> {
    let full = if image.len() == FXSAVE_LEN {
        let mut current = ctx.fpu_state()?;
        current[..FXSAVE_LEN].copy_from_slice(&image);
        // XSTATE_BV bits 0-1: take x87 and SSE from the image.
        if let Some(bv) = current.get_mut(FXSAVE_LEN) {
            *bv |= 3;
        }
        current
    } else {
        image
    };
    if let Err(e) = ctx.set_fpu_state(&full) {
        tracing::debug!("rt_sigreturn with a bad FPU image: {e}");
        force(
            task,
            SigInfo::fault(libc::SIGSEGV, SI_KERNEL, 0),
            TrapInfo::default(),
        );
    }
    Ok(())
}
