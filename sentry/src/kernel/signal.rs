//! Per-task signal state. Delivery arrives with the process model; for now
//! the sentry records what the guest installs so it can report it back.

use bytemuck::{Pod, Zeroable};

/// Number of signals (1..=64).
pub const NSIG: usize = 64;

/// `struct sigaction` as the x86-64 kernel ABI (`rt_sigaction`) lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `stack_t` for `sigaltstack`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct SigStack {
    pub sp: u64,
    pub flags: i32,
    pub _pad: i32,
    pub size: u64,
}

/// `SS_DISABLE`: no alternate stack.
pub const SS_DISABLE: i32 = 2;

pub struct SignalState {
    /// Installed actions, indexed by signal number - 1.
    pub actions: [SigAction; NSIG],
    /// Blocked signals; bit N-1 is signal N.
    pub mask: u64,
    pub altstack: SigStack,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: [SigAction::default(); NSIG],
            mask: 0,
            altstack: SigStack {
                flags: SS_DISABLE,
                ..SigStack::default()
            },
        }
    }
}
