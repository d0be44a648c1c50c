//! What happens to a signal sent to a task that cannot yet run handlers:
//! Linux's default actions, and the decision for a signal raised by the
//! sentry itself (SIGPIPE from a write to a broken pipe).

use super::signal::{sig_bit, SignalState};

/// What Linux does with a signal whose action is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate and dump core (the exit status is the same to a shell).
    CoreDump,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => DefaultAction::Ignore,
        libc::SIGCONT => DefaultAction::Continue,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => DefaultAction::Stop,
        libc::SIGQUIT
        | libc::SIGILL
        | libc::SIGTRAP
        | libc::SIGABRT
        | libc::SIGBUS
        | libc::SIGFPE
        | libc::SIGSEGV
        | libc::SIGXCPU
        | libc::SIGXFSZ
        | libc::SIGSYS => DefaultAction::CoreDump,
        _ => DefaultAction::Terminate,
    }
}

const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

/// Whether `sig`, raised synchronously by the sentry, ends the process.
/// Handlers cannot run yet, so a caught or blocked signal is dropped: the
/// system call's error (EPIPE) is then all the guest sees, as it would be
/// after a handler returned.
pub fn is_fatal(state: &SignalState, sig: i32) -> bool {
    let Ok(action) = state.action(sig) else {
        return false;
    };
    if state.mask & sig_bit(sig) != 0 || action.handler == SIG_IGN {
        return false;
    }
    if action.handler != SIG_DFL {
        tracing::warn!("signal {sig} has a handler, which rvisor cannot run yet; dropping it");
        return false;
    }
    matches!(
        default_action(sig),
        DefaultAction::Terminate | DefaultAction::CoreDump
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::signal::SigAction;

    #[test]
    fn sigpipe_kills_unless_ignored_or_blocked() {
        let mut s = SignalState::default();
        assert!(is_fatal(&s, libc::SIGPIPE));
        s.mask = sig_bit(libc::SIGPIPE);
        assert!(!is_fatal(&s, libc::SIGPIPE));
        s.mask = 0;
        s.set_action(
            libc::SIGPIPE,
            Some(SigAction {
                handler: SIG_IGN,
                ..SigAction::default()
            }),
        )
        .unwrap();
        assert!(!is_fatal(&s, libc::SIGPIPE));
        assert!(!is_fatal(&s, libc::SIGCHLD), "ignored by default");
    }
}
