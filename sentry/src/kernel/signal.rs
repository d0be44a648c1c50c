//! Per-task signal state. Delivery arrives with the process model; for now
//! the sentry records what the guest installs, with Linux's rules for what
//! may be installed, so it can report it back.

use bytemuck::{Pod, Zeroable};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::errno::Errno;

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

/// `SS_ONSTACK`: the thread is running on its alternate stack.
pub const SS_ONSTACK: i32 = 1;
/// `SS_DISABLE`: no alternate stack.
pub const SS_DISABLE: i32 = 2;
/// `SS_AUTODISARM`: disarm the alternate stack while a handler runs on it.
pub const SS_AUTODISARM: i32 = 1 << 31;
/// Smallest alternate stack `sigaltstack` accepts (x86 `MINSIGSTKSZ`).
pub const MINSIGSTKSZ: u64 = 2048;

/// The `sa_flags` bits x86-64 Linux keeps; the rest are cleared so a guest
/// can detect which flags the kernel understands (Linux ≥ 5.11).
pub const SA_KNOWN_FLAGS: u64 = (libc::SA_NOCLDSTOP
    | libc::SA_NOCLDWAIT
    | libc::SA_SIGINFO
    | libc::SA_ONSTACK
    | libc::SA_RESTART
    | libc::SA_NODEFER
    | libc::SA_RESETHAND) as u32 as u64
    | SA_RESTORER
    | SA_EXPOSE_TAGBITS;
/// `SA_RESTORER`: `restorer` points at the `rt_sigreturn` trampoline.
pub const SA_RESTORER: u64 = 0x0400_0000;
const SA_EXPOSE_TAGBITS: u64 = 0x800;

/// The mask bit of signal `sig` (1..=64).
pub const fn sig_bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// Signals that can be neither caught, ignored nor blocked.
pub const UNBLOCKABLE: u64 = sig_bit(libc::SIGKILL) | sig_bit(libc::SIGSTOP);

/// `how` for `rt_sigprocmask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskHow {
    Block,
    Unblock,
    SetMask,
}

impl MaskHow {
    pub fn from_raw(how: i32) -> Result<Self, Errno> {
        match how {
            libc::SIG_BLOCK => Ok(MaskHow::Block),
            libc::SIG_UNBLOCK => Ok(MaskHow::Unblock),
            libc::SIG_SETMASK => Ok(MaskHow::SetMask),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// The installed actions, indexed by signal number - 1: shared by the
/// threads of a process (CLONE_SIGHAND), copied at `fork`.
#[derive(Clone)]
pub struct SigActions(Arc<Mutex<[SigAction; NSIG]>>);

impl Default for SigActions {
    fn default() -> Self {
        SigActions(Arc::new(Mutex::new([SigAction::default(); NSIG])))
    }
}

impl SigActions {
    fn lock(&self) -> MutexGuard<'_, [SigAction; NSIG]> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The action at index `i` (signal `i + 1`).
    pub fn get(&self, i: usize) -> SigAction {
        self.lock()[i]
    }

    pub fn set(&self, i: usize, action: SigAction) {
        self.lock()[i] = action;
    }

    /// All actions, as they are now.
    pub fn snapshot(&self) -> [SigAction; NSIG] {
        *self.lock()
    }

    /// Change every action at once.
    pub fn update(&self, f: impl FnOnce(&mut [SigAction; NSIG])) {
        f(&mut self.lock());
    }

    /// A separate copy (for a child process).
    pub fn duplicate(&self) -> Self {
        SigActions(Arc::new(Mutex::new(self.snapshot())))
    }

    /// Make these actions the caller's own if another task shares them
    /// (`execve` after CLONE_SIGHAND).
    pub fn unshare(&mut self) {
        if Arc::strong_count(&self.0) > 1 {
            *self = self.duplicate();
        }
    }
}

pub struct SignalState {
    /// Installed actions, shared with the process's other threads.
    pub actions: SigActions,
    /// Blocked signals; bit N-1 is signal N.
    pub mask: u64,
    pub altstack: SigStack,
    /// The mask to restore after the next handler (set by rt_sigsuspend,
    /// which runs with a temporary mask).
    pub saved_mask: Option<u64>,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState {
            actions: SigActions::default(),
            mask: 0,
            altstack: SigStack {
                flags: SS_DISABLE,
                ..SigStack::default()
            },
            saved_mask: None,
        }
    }
}

/// Index into `actions` for signal `sig`, or EINVAL if out of 1..=64.
fn index(sig: i32) -> Result<usize, Errno> {
    usize::try_from(sig)
        .ok()
        .filter(|s| (1..=NSIG).contains(s))
        .map(|s| s - 1)
        .ok_or(Errno::EINVAL)
}

impl SignalState {
    /// The action installed for `sig`.
    pub fn action(&self, sig: i32) -> Result<SigAction, Errno> {
        Ok(self.actions.get(index(sig)?))
    }

    /// `rt_sigaction`: install `new` (if any) for `sig` and return the old
    /// action. SIGKILL and SIGSTOP may be queried but not changed.
    pub fn set_action(&mut self, sig: i32, new: Option<SigAction>) -> Result<SigAction, Errno> {
        let i = index(sig)?;
        let mut actions = self.actions.lock();
        let old = actions[i];
        if let Some(mut act) = new {
            if sig_bit(sig) & UNBLOCKABLE != 0 {
                return Err(Errno::EINVAL);
            }
            act.flags &= SA_KNOWN_FLAGS;
            act.mask &= !UNBLOCKABLE;
            actions[i] = act;
        }
        Ok(old)
    }

    /// `rt_sigprocmask`: change the blocked set and return the old one.
    /// SIGKILL and SIGSTOP are silently never blocked.
    pub fn change_mask(&mut self, how: MaskHow, set: u64) -> u64 {
        let old = self.mask;
        self.mask = match how {
            MaskHow::Block => old | set,
            MaskHow::Unblock => old & !set,
            MaskHow::SetMask => set,
        } & !UNBLOCKABLE;
        old
    }

    /// Whether stack pointer `sp` lies on the alternate signal stack.
    pub fn on_altstack(&self, sp: u64) -> bool {
        let st = &self.altstack;
        if st.flags & SS_AUTODISARM != 0 || st.size == 0 {
            return false;
        }
        sp > st.sp && sp - st.sp <= st.size
    }

    /// The alternate stack as `sigaltstack` reports it to a thread whose
    /// stack pointer is `sp`.
    pub fn altstack_report(&self, sp: u64) -> SigStack {
        let st = &self.altstack;
        let mode = if st.size == 0 {
            SS_DISABLE
        } else if self.on_altstack(sp) {
            SS_ONSTACK
        } else {
            0
        };
        SigStack {
            sp: st.sp,
            flags: mode | (st.flags & SS_AUTODISARM),
            _pad: 0,
            size: st.size,
        }
    }

    /// `sigaltstack`: install `new` for a thread whose stack pointer is
    /// `sp`. Returns the previous stack as reported before the change.
    pub fn set_altstack(&mut self, new: Option<SigStack>, sp: u64) -> Result<SigStack, Errno> {
        let old = self.altstack_report(sp);
        let Some(new) = new else {
            return Ok(old);
        };
        if self.on_altstack(sp) {
            return Err(Errno::EPERM);
        }
        let mode = new.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
            return Err(Errno::EINVAL);
        }
        self.altstack = if mode == SS_DISABLE {
            SigStack {
                flags: new.flags,
                ..SigStack::default()
            }
        } else {
            if new.size < MINSIGSTKSZ {
                return Err(Errno::ENOMEM);
            }
            SigStack {
                sp: new.sp,
                flags: new.flags,
                _pad: 0,
                size: new.size,
            }
        };
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_keep_linux_rules() {
        let mut s = SignalState::default();
        let act = SigAction {
            handler: 0x1000,
            flags: SA_RESTORER | libc::SA_SIGINFO as u64 | 1 << 40,
            restorer: 0x2000,
            mask: u64::MAX,
        };
        assert_eq!(
            s.set_action(libc::SIGINT, Some(act)),
            Ok(SigAction::default())
        );
        let got = s.action(libc::SIGINT).unwrap();
        assert_eq!(got.flags, SA_RESTORER | libc::SA_SIGINFO as u64);
        assert_eq!(got.mask, !UNBLOCKABLE);
        assert_eq!(s.set_action(libc::SIGKILL, Some(act)), Err(Errno::EINVAL));
        assert_eq!(s.set_action(libc::SIGSTOP, None), Ok(SigAction::default()));
        assert_eq!(s.set_action(0, None), Err(Errno::EINVAL));
        assert_eq!(s.set_action(65, None), Err(Errno::EINVAL));
        assert!(s.set_action(64, Some(act)).is_ok());
    }

    #[test]
    fn mask_never_blocks_kill_or_stop() {
        let mut s = SignalState::default();
        assert_eq!(s.change_mask(MaskHow::Block, u64::MAX), 0);
        assert_eq!(s.mask, !UNBLOCKABLE);
        s.change_mask(MaskHow::Unblock, sig_bit(libc::SIGINT));
        assert_eq!(s.mask & sig_bit(libc::SIGINT), 0);
        s.change_mask(MaskHow::SetMask, sig_bit(libc::SIGTERM));
        assert_eq!(s.mask, sig_bit(libc::SIGTERM));
        assert_eq!(MaskHow::from_raw(3), Err(Errno::EINVAL));
    }

    #[test]
    fn altstack_rules() {
        let mut s = SignalState::default();
        let sp = 0x7fff_0000;
        assert_eq!(s.altstack_report(sp).flags, SS_DISABLE);
        let small = SigStack {
            sp: 0x1000,
            flags: 0,
            _pad: 0,
            size: 1024,
        };
        assert_eq!(s.set_altstack(Some(small), sp), Err(Errno::ENOMEM));
        let bad = SigStack { flags: 4, ..small };
        assert_eq!(s.set_altstack(Some(bad), sp), Err(Errno::EINVAL));
        let good = SigStack {
            size: 8192,
            ..small
        };
        assert_eq!(s.set_altstack(Some(good), sp).unwrap().flags, SS_DISABLE);
        assert_eq!(s.altstack_report(sp), good);
        // Running on the alternate stack: reported, and it cannot change.
        assert_eq!(s.altstack_report(0x2000).flags, SS_ONSTACK);
        assert_eq!(s.set_altstack(Some(good), 0x2000), Err(Errno::EPERM));
        let off = SigStack {
            flags: SS_DISABLE,
            ..good
        };
        s.set_altstack(Some(off), sp).unwrap();
        assert_eq!(
            s.altstack_report(sp),
            SigStack {
                flags: SS_DISABLE,
                ..SigStack::default()
            }
        );
    }
}
