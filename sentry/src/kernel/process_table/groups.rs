//! Process groups and sessions with Linux's rules (`kernel/sys.c`):
//! `setpgid`, `setsid`, their getters, who a `kill` to a group reaches,
//! and whether a group is orphaned (which makes terminal stop signals
//! harmless to it).

use std::sync::Arc;

use super::{ProcessTable, INIT_PID};
use crate::errno::Errno;
use crate::kernel::inbox::SignalInbox;

/// Whom `kill(pid, ...)` addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillScope {
    /// One process (`pid > 0`).
    Pid(i32),
    /// A process group (`0`: the caller's, `-pgid`).
    Group(i32),
    /// Every process but init and the caller (`-1`).
    All,
}

/// A process a signal goes to; `inbox` is `None` for a zombie, which
/// accepts signals and ignores them.
pub struct KillTarget {
    pub pid: i32,
    pub inbox: Option<Arc<SignalInbox>>,
}

impl ProcessTable {
    /// The process group of `pid` (zombies included); ESRCH if none.
    pub fn pgid(&self, pid: i32) -> Result<i32, Errno> {
        self.lock().1.get(&pid).map(|p| p.pgid).ok_or(Errno::ESRCH)
    }

    /// The session of `pid`; ESRCH if none.
    pub fn sid(&self, pid: i32) -> Result<i32, Errno> {
        self.lock().1.get(&pid).map(|p| p.sid).ok_or(Errno::ESRCH)
    }

    /// `setpgid(pid, pgid)` by `caller`, both already defaulted (0 means
    /// the caller, resp. `pid`), in Linux's order of checks.
    pub fn setpgid(&self, caller: i32, pid: i32, pgid: i32) -> Result<(), Errno> {
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let mut g = self.lock();
        let me = g.1.get(&caller).ok_or(Errno::ESRCH)?;
        let my_sid = me.sid;
        let p = g.1.get(&pid).ok_or(Errno::ESRCH)?;
        if p.ppid == caller && pid != caller {
            if p.sid != my_sid {
                return Err(Errno::EPERM);
            }
            if p.execed {
                return Err(Errno::EACCES);
            }
        } else if pid != caller {
            return Err(Errno::ESRCH);
        }
        // A session leader cannot leave its group.
        if p.sid == pid {
            return Err(Errno::EPERM);
        }
        if pgid != pid && !g.1.values().any(|q| q.pgid == pgid && q.sid == my_sid) {
            return Err(Errno::EPERM);
        }
        if let Some(p) = g.1.get_mut(&pid) {
            p.pgid = pgid;
        }
        Ok(())
    }

    /// `setsid()`: `caller` leads a new session and group named after it;
    /// EPERM if a group of that id exists already (it leads one).
    pub fn setsid(&self, caller: i32) -> Result<i32, Errno> {
        let mut g = self.lock();
        if g.1.values().any(|p| p.pgid == caller) {
            return Err(Errno::EPERM);
        }
        let p = g.1.get_mut(&caller).ok_or(Errno::ESRCH)?;
        p.pgid = caller;
        p.sid = caller;
        p.ctty = false;
        Ok(caller)
    }

    /// `pid` ran `execve`: from now on its parent may not move it to
    /// another group.
    pub fn mark_execed(&self, pid: i32) {
        if let Some(p) = self.lock().1.get_mut(&pid) {
            p.execed = true;
        }
    }

    /// The processes `kill` reaches from `caller` through `scope`.
    pub fn kill_targets(&self, caller: i32, scope: KillScope) -> Vec<KillTarget> {
        let g = self.lock();
        g.1.iter()
            .filter(|&(&pid, p)| match scope {
                KillScope::Pid(want) => pid == want,
                KillScope::Group(pgid) => p.pgid == pgid,
                KillScope::All => pid != INIT_PID && pid != caller,
            })
            .map(|(&pid, p)| KillTarget {
                pid,
                inbox: p.zombie.is_none().then(|| p.inbox.clone()),
            })
            .collect()
    }

    /// Whether process group `pgid` is orphaned: no live member has a
    /// live parent in another group of the same session. The first
    /// process's parent is outside the sandbox; it counts as such a parent
    /// (as a shell is for the job it runs), so its group is not orphaned,
    /// unless `set_outside_parent` says otherwise.
    pub fn is_orphaned_pgrp(&self, pgid: i32) -> bool {
        let mut first_is_member = false;
        {
            let g = self.lock();
            let members =
                g.1.values()
                    .filter(|p| p.pgid == pgid && p.zombie.is_none());
            for m in members {
                match g.1.get(&m.ppid).filter(|p| p.zombie.is_none()) {
                    Some(parent) if parent.pgid != pgid && parent.sid == m.sid => return false,
                    None if m.ppid == 0 && m.sid == INIT_PID => first_is_member = true,
                    _ => {}
                }
            }
        }
        // Asked with the table unlocked: it may look at the host.
        !(first_is_member && self.outside_parent.get().is_none_or(|f| f()))
    }

    /// Decide with `f` whether the first process's parent outside the
    /// sandbox counts as a parent in another group of its session (on a
    /// terminal: whether rvisor's host process group is not orphaned).
    /// Only the first call has an effect.
    pub fn set_outside_parent(&self, f: fn() -> bool) {
        let _ = self.outside_parent.set(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (Arc<ProcessTable>, i32, i32) {
        let t = ProcessTable::new(16);
        let init = t.add(0, Arc::default(), 0).unwrap();
        let child = t.add(init, Arc::default(), 0).unwrap();
        (t, init, child)
    }

    #[test]
    fn children_inherit_the_group_and_may_be_moved_until_they_exec() {
        let (t, init, child) = table();
        assert_eq!((t.pgid(init), t.sid(init)), (Ok(init), Ok(init)));
        assert_eq!((t.pgid(child), t.sid(child)), (Ok(init), Ok(init)));
        assert_eq!(t.setpgid(init, child, child), Ok(()));
        assert_eq!(t.pgid(child), Ok(child));
        assert_eq!(t.setpgid(init, child, init), Ok(()));
        t.mark_execed(child);
        assert_eq!(t.setpgid(init, child, child), Err(Errno::EACCES));
        // Session leaders stay; strangers are ESRCH; unknown groups EPERM.
        assert_eq!(t.setpgid(init, init, init), Err(Errno::EPERM));
        assert_eq!(t.setpgid(child, init, child), Err(Errno::ESRCH));
        assert_eq!(t.setpgid(child, child, 99), Err(Errno::EPERM));
        assert_eq!(t.setpgid(child, child, -1), Err(Errno::EINVAL));
        assert_eq!(t.pgid(99), Err(Errno::ESRCH));
    }

    #[test]
    fn setsid_needs_a_process_that_leads_no_group() {
        let (t, init, child) = table();
        assert_eq!(t.setsid(init), Err(Errno::EPERM));
        assert_eq!(t.setsid(child), Ok(child));
        assert_eq!((t.pgid(child), t.sid(child)), (Ok(child), Ok(child)));
        // Another session: the parent may no longer move it.
        assert_eq!(t.setpgid(init, child, init), Err(Errno::EPERM));
        assert_eq!(t.setsid(child), Err(Errno::EPERM));
    }

    #[test]
    fn kill_scopes_and_orphaned_groups() {
        let (t, init, child) = table();
        let grandchild = t.add(child, Arc::default(), 0).unwrap();
        let pids = |s| {
            t.kill_targets(child, s)
                .iter()
                .map(|k| k.pid)
                .collect::<Vec<_>>()
        };
        assert_eq!(pids(KillScope::Group(init)), [init, child, grandchild]);
        assert_eq!(pids(KillScope::All), [grandchild]);
        assert!(!t.is_orphaned_pgrp(init));
        t.setpgid(child, grandchild, grandchild).unwrap();
        assert_eq!(pids(KillScope::Group(grandchild)), [grandchild]);
        assert!(
            !t.is_orphaned_pgrp(grandchild),
            "its parent is in the session"
        );
        let leader = t.add(init, Arc::default(), 0).unwrap();
        t.setsid(leader).unwrap();
        assert!(
            t.is_orphaned_pgrp(leader),
            "its parent is in another session"
        );
    }
}
