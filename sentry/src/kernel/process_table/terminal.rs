//! The sandbox's controlling terminal as the process table sees it: which
//! session it controls, its foreground process group, and which processes
//! have it as their controlling terminal. The terminal itself is the
//! caller's (passed through to the host), but sandbox pids are virtual, so
//! its job-control state lives here, with Linux's rules
//! (`drivers/tty/tty_jobctrl.c`).

use super::{ProcessTable, Procs};
use crate::errno::Errno;
use crate::kernel::siginfo::{SigInfo, SI_KERNEL, SI_USER};

/// The terminal's job-control state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct TerminalState {
    /// The sandbox has a terminal at all (its stdin is the caller's tty).
    pub attached: bool,
    /// The session it controls.
    pub session: Option<i32>,
    /// Its foreground process group.
    pub pgrp: Option<i32>,
}

/// Where a process stands towards the terminal, for reads, writes and
/// changes of its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtyAccess {
    /// Not its controlling terminal, or it is in the foreground.
    Allowed,
    /// It is in background group `pgid` of its controlling terminal;
    /// `orphaned` if that group is orphaned.
    Background { pgid: i32, orphaned: bool },
}

impl ProcessTable {
    fn terminal(&self) -> std::sync::MutexGuard<'_, TerminalState> {
        self.terminal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sandbox's first process runs on the caller's terminal: its
    /// session controls it, with its group in the foreground.
    pub fn attach_terminal(&self, pid: i32) {
        let mut g = self.lock();
        let Some(p) = g.1.get_mut(&pid) else { return };
        p.ctty = true;
        *self.terminal() = TerminalState {
            attached: true,
            session: Some(p.sid),
            pgrp: Some(p.pgid),
        };
    }

    /// Whether the sandbox has a terminal.
    pub fn terminal_attached(&self) -> bool {
        self.terminal().attached
    }

    /// Whether process `pid` has the terminal as its controlling terminal.
    pub fn has_ctty(&self, pid: i32) -> bool {
        self.lock().1.get(&pid).is_some_and(|p| p.ctty)
    }

    /// The foreground group, for signals the terminal generates.
    pub fn foreground_pgrp(&self) -> Option<i32> {
        self.terminal().pgrp
    }

    /// `TIOCGPGRP` by `caller`: ENOTTY unless it is its controlling terminal.
    pub fn tty_pgrp(&self, caller: i32) -> Result<i32, Errno> {
        let g = self.lock();
        if !g.1.get(&caller).is_some_and(|p| p.ctty) {
            return Err(Errno::ENOTTY);
        }
        Ok(self.terminal().pgrp.unwrap_or(0))
    }

    /// `TIOCGSID` by `caller`.
    pub fn tty_sid(&self, caller: i32) -> Result<i32, Errno> {
        let g = self.lock();
        if !g.1.get(&caller).is_some_and(|p| p.ctty) {
            return Err(Errno::ENOTTY);
        }
        self.terminal().session.ok_or(Errno::ENOTTY)
    }

    /// `TIOCSPGRP` by `caller` (after the background check): make `pgrp`,
    /// a group (or process) of the caller's session, the foreground.
    pub fn set_tty_pgrp(&self, caller: i32, pgrp: i32) -> Result<(), Errno> {
        let g = self.lock();
        let me = g.1.get(&caller).ok_or(Errno::ESRCH)?;
        let mut t = self.terminal();
        if !me.ctty || t.session != Some(me.sid) {
            return Err(Errno::ENOTTY);
        }
        if pgrp < 0 {
            return Err(Errno::EINVAL);
        }
        // Linux finds the group's session through a member, else through
        // the process of that id.
        let sid =
            g.1.values()
                .find(|p| p.pgid == pgrp)
                .or_else(|| g.1.get(&pgrp))
                .map(|p| p.sid)
                .ok_or(Errno::ESRCH)?;
        if sid != me.sid {
            return Err(Errno::EPERM);
        }
        t.pgrp = Some(pgrp);
        Ok(())
    }

    /// `TIOCSCTTY` by `caller`: a session leader without a controlling
    /// terminal takes it (from another session only if `steal`).
    pub fn set_ctty(&self, caller: i32, steal: bool) -> Result<(), Errno> {
        let mut g = self.lock();
        let mut t = self.terminal();
        let me = g.1.get(&caller).ok_or(Errno::ESRCH)?;
        let (sid, pgid, leader) = (me.sid, me.pgid, me.sid == caller);
        if leader && t.session == Some(sid) {
            return Ok(());
        }
        if !leader || me.ctty || !t.attached {
            return Err(Errno::EPERM);
        }
        if let Some(old) = t.session {
            if !steal {
                return Err(Errno::EPERM);
            }
            for p in g.1.values_mut().filter(|p| p.sid == old) {
                p.ctty = false;
            }
        }
        if let Some(p) = g.1.get_mut(&caller) {
            p.ctty = true;
        }
        t.session = Some(sid);
        t.pgrp = Some(pgid);
        Ok(())
    }

    /// `TIOCNOTTY` by `caller`: it gives up its controlling terminal; a
    /// session leader detaches the whole session, and the foreground
    /// group gets SIGHUP and SIGCONT.
    pub fn drop_ctty(&self, caller: i32) -> Result<(), Errno> {
        let hangup = {
            let mut g = self.lock();
            let me = g.1.get(&caller).ok_or(Errno::ESRCH)?;
            if !me.ctty {
                return Err(Errno::ENOTTY);
            }
            if me.sid == caller {
                self.detach_session(&mut g, caller)
            } else {
                if let Some(p) = g.1.get_mut(&caller) {
                    p.ctty = false;
                }
                None
            }
        };
        if let Some(pgrp) = hangup {
            self.signal_group(pgrp, libc::SIGHUP);
            self.signal_group(pgrp, libc::SIGCONT);
        }
        Ok(())
    }

    /// Send `sig` from the kernel (the terminal) to every live member of
    /// group `pgid`, with a continue or kill taking effect at once.
    pub fn signal_group(&self, pgid: i32, sig: i32) {
        self.send_from_outside(
            super::KillScope::Group(pgid),
            SigInfo::fault(sig, SI_KERNEL, 0),
        );
    }

    /// Send `sig` from a process outside the sandbox (`kill` on the host:
    /// SI_USER, sender pid 0) to the live processes of `scope`.
    pub fn signal_from_host(&self, scope: super::KillScope, sig: i32) {
        self.send_from_outside(scope, SigInfo::from_sender(sig, SI_USER, 0, 0));
    }

    fn send_from_outside(&self, scope: super::KillScope, info: SigInfo) {
        let targets = self.kill_targets(0, scope);
        for target in targets.iter().filter(|t| t.inbox.is_some()) {
            self.send_to_process(target.pid, info);
        }
    }

    /// Process `pid`'s group takes the terminal's foreground back, as a
    /// host shell's `fg` does for the job it continues: only if `pid`'s
    /// session still controls the terminal.
    pub fn retake_foreground(&self, pid: i32) {
        let g = self.lock();
        let Some(p) = g.1.get(&pid).filter(|p| p.zombie.is_none() && p.ctty) else {
            return;
        };
        let mut t = self.terminal();
        if t.session == Some(p.sid) {
            t.pgrp = Some(p.pgid);
        }
    }

    /// Session leader `sid` has exited: its session loses the terminal
    /// and the foreground group gets SIGHUP, as for a pseudo-terminal.
    pub(super) fn leader_exit_hangup(&self, g: &mut Procs, sid: i32) {
        if let Some(pgrp) = self.detach_session(g, sid) {
            self.signal_group_locked(g, pgrp, libc::SIGHUP);
        }
    }

    /// Session `sid` loses the terminal, if it had it; returns the
    /// foreground group it had.
    fn detach_session(&self, g: &mut Procs, sid: i32) -> Option<i32> {
        let mut t = self.terminal();
        if t.session != Some(sid) {
            return None;
        }
        for p in g.1.values_mut().filter(|p| p.sid == sid) {
            p.ctty = false;
        }
        t.session = None;
        t.pgrp.take()
    }

    /// Post `sig` from the kernel to every live member of group `pgid`,
    /// with the table locked (no continue or kill: those change job state).
    fn signal_group_locked(&self, g: &Procs, pgid: i32, sig: i32) {
        for (&pid, p) in g.1.iter().filter(|(_, p)| p.pgid == pgid) {
            if p.zombie.is_none() {
                self.post_locked(pid, &p.inbox, SigInfo::fault(sig, SI_KERNEL, 0));
            }
        }
    }

    /// Where `caller` stands towards its controlling terminal.
    pub fn tty_access(&self, caller: i32) -> TtyAccess {
        let (pgid, sid) = {
            let g = self.lock();
            match g.1.get(&caller) {
                Some(p) if p.ctty => (p.pgid, p.sid),
                _ => return TtyAccess::Allowed,
            }
        };
        let t = *self.terminal();
        match t.pgrp {
            Some(fg) if fg != pgid && t.session == Some(sid) => TtyAccess::Background {
                pgid,
                orphaned: self.is_orphaned_pgrp(pgid),
            },
            _ => TtyAccess::Allowed,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn foreground_groups_follow_linux_rules() {
        let t = ProcessTable::new(16);
        let init = t.add(0, Arc::default(), 0).unwrap();
        assert_eq!(t.tty_pgrp(init), Err(Errno::ENOTTY), "no terminal yet");
        t.attach_terminal(init);
        let child = t.add(init, Arc::default(), 0).unwrap();
        assert!(t.has_ctty(child), "inherited at fork");
        assert_eq!(t.tty_pgrp(child), Ok(init));
        assert_eq!(t.tty_sid(child), Ok(init));
        t.setpgid(init, child, child).unwrap();
        assert_eq!(
            t.tty_access(child),
            TtyAccess::Background {
                pgid: child,
                orphaned: false
            }
        );
        assert_eq!(t.set_tty_pgrp(init, child), Ok(()));
        assert_eq!(t.tty_access(child), TtyAccess::Allowed);
        assert_eq!(t.set_tty_pgrp(init, -1), Err(Errno::EINVAL));
        assert_eq!(t.set_tty_pgrp(init, 999), Err(Errno::ESRCH));
        let other = t.add(init, Arc::default(), 0).unwrap();
        t.setsid(other).unwrap();
        assert!(!t.has_ctty(other), "setsid leaves the terminal");
        assert_eq!(t.tty_pgrp(other), Err(Errno::ENOTTY));
        assert_eq!(t.set_tty_pgrp(init, other), Err(Errno::EPERM));
        assert_eq!(t.set_tty_pgrp(other, other), Err(Errno::ENOTTY));
        assert_eq!(t.set_ctty(other, false), Err(Errno::EPERM), "taken");
        assert_eq!(t.set_ctty(child, false), Err(Errno::EPERM), "no leader");
        assert_eq!(t.drop_ctty(other), Err(Errno::ENOTTY));
        assert_eq!(t.set_ctty(other, true), Ok(()));
        assert!(!t.has_ctty(init) && t.has_ctty(other));
        assert_eq!(t.foreground_pgrp(), Some(other));
        assert_eq!(t.drop_ctty(other), Ok(()));
        assert_eq!(t.foreground_pgrp(), None);
    }
}
