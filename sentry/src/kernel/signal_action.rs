//! Linux's default action for each signal (SIG_DFL).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_actions_follow_linux() {
        assert_eq!(default_action(libc::SIGPIPE), DefaultAction::Terminate);
        assert_eq!(default_action(libc::SIGSEGV), DefaultAction::CoreDump);
        assert_eq!(default_action(libc::SIGCHLD), DefaultAction::Ignore);
        assert_eq!(default_action(libc::SIGTSTP), DefaultAction::Stop);
        assert_eq!(default_action(libc::SIGCONT), DefaultAction::Continue);
        assert_eq!(
            default_action(40),
            DefaultAction::Terminate,
            "real-time signals"
        );
    }
}
