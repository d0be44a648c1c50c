//! The sandbox's processes: pids, parents, process groups and sessions
//! (`groups`), job-control stops (`job`), exit statuses waiting to be
//! reaped (`wait`), and the inbox through which each is signalled. Shared
//! by every task's host thread.

mod groups;
mod job;
mod wait;

pub use groups::{KillScope, KillTarget};
pub use wait::{WaitEvent, WaitFlags, WaitResult, WaitSelector};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::inbox::SignalInbox;
use super::siginfo::SigInfo;
use super::ExitStatus;
use crate::errno::Errno;

/// The first process of the sandbox; orphans are re-parented to it.
pub const INIT_PID: i32 = 1;

struct Proc {
    ppid: i32,
    inbox: Arc<SignalInbox>,
    uid: u32,
    /// Set when the process has exited and is waiting for `wait4`.
    zombie: Option<ExitStatus>,
    pgid: i32,
    sid: i32,
    /// It called `execve` (a parent may no longer `setpgid` it).
    execed: bool,
    /// Job-control state: stopped or not, and what `wait` may report.
    job: job::JobState,
}

/// The next pid to try, and every process by pid.
type Procs = (i32, BTreeMap<i32, Proc>);

pub struct ProcessTable {
    procs: Mutex<Procs>,
    max_processes: usize,
}

/// si_code values of SIGCHLD.
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;

impl ProcessTable {
    pub fn new(max_processes: usize) -> Arc<Self> {
        Arc::new(ProcessTable {
            procs: Mutex::new((INIT_PID, BTreeMap::new())),
            max_processes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a process with parent `ppid` (0 for the first); returns its pid,
    /// or EAGAIN past the sandbox's process limit. It joins its parent's
    /// process group and session; the first process leads its own.
    pub fn add(&self, ppid: i32, inbox: Arc<SignalInbox>, uid: u32) -> Result<i32, Errno> {
        let mut g = self.lock();
        if g.1.len() >= self.max_processes {
            return Err(Errno::EAGAIN);
        }
        let mut pid = g.0;
        // A pid still naming a group or session is not reused (Linux's
        // pids stay allocated while any of their uses lives).
        while g.1.contains_key(&pid) || g.1.values().any(|p| p.pgid == pid || p.sid == pid) {
            pid = if pid >= (1 << 22) {
                INIT_PID + 1
            } else {
                pid + 1
            };
        }
        g.0 = pid + 1;
        let (pgid, sid) = g.1.get(&ppid).map_or((pid, pid), |p| (p.pgid, p.sid));
        g.1.insert(
            pid,
            Proc {
                ppid,
                inbox,
                uid,
                zombie: None,
                pgid,
                sid,
                execed: false,
                job: job::JobState::default(),
            },
        );
        Ok(pid)
    }

    pub fn ppid(&self, pid: i32) -> i32 {
        self.lock().1.get(&pid).map_or(0, |p| p.ppid)
    }

    /// The inbox of live process `pid`.
    pub fn inbox(&self, pid: i32) -> Option<Arc<SignalInbox>> {
        self.lock()
            .1
            .get(&pid)
            .filter(|p| p.zombie.is_none())
            .map(|p| p.inbox.clone())
    }

    /// Every live pid.
    pub fn pids(&self) -> Vec<i32> {
        self.lock()
            .1
            .iter()
            .filter(|(_, p)| p.zombie.is_none())
            .map(|(&pid, _)| pid)
            .collect()
    }

    /// Process `pid` exited: keep its status for its parent, hand its
    /// children to init, and tell the parent with SIGCHLD.
    pub fn exit(&self, pid: i32, status: ExitStatus) {
        let mut g = self.lock();
        let Some(p) = g.1.get_mut(&pid) else { return };
        p.zombie = Some(status);
        p.job = job::JobState::default();
        let (ppid, uid) = (p.ppid, p.uid);
        let mut orphan_zombies = false;
        for child in g.1.values_mut().filter(|c| c.ppid == pid) {
            child.ppid = INIT_PID;
            orphan_zombies |= child.zombie.is_some();
        }
        let (code, value) = match status {
            ExitStatus::Exited(c) => (CLD_EXITED, i64::from(c)),
            ExitStatus::Signaled(s) => (CLD_KILLED, i64::from(s)),
        };
        let mut info = SigInfo::from_sender(libc::SIGCHLD, code, pid, uid);
        info.fields[1] = value as u64;
        // Posted under the lock: a parent that reaps the zombie has had
        // its SIGCHLD posted already, as on Linux.
        match g.1.get(&ppid).filter(|p| p.zombie.is_none()) {
            Some(parent) => parent.inbox.post(info),
            // No parent left to reap it.
            None => {
                g.1.remove(&pid);
            }
        }
        if orphan_zombies {
            if let Some(init) = g.1.get(&INIT_PID) {
                init.inbox.post(info);
            }
        }
    }

    /// Reap an exited child of `parent` matching `want` (-1: any, else
    /// that pid), as `wait4` without options does. `Ok(None)` if matching
    /// children exist but none has exited; ECHILD if there are none.
    pub fn reap(&self, parent: i32, want: i32) -> Result<Option<(i32, ExitStatus)>, Errno> {
        let sel = if want > 0 {
            WaitSelector::Pid(want)
        } else {
            WaitSelector::Any
        };
        Ok(self
            .wait(parent, sel, WaitFlags::EXITED)?
            .and_then(|r| match r.event {
                WaitEvent::Exited(s) => Some((r.pid, s)),
                _ => None,
            }))
    }

    /// Post SIGCHLD `info` to the parent of `pid`, if it has a live one.
    fn notify_parent(g: &Procs, pid: i32, info: SigInfo) {
        let Some(ppid) = g.1.get(&pid).map(|p| p.ppid) else {
            return;
        };
        if let Some(p) = g.1.get(&ppid).filter(|p| p.zombie.is_none()) {
            p.inbox.post(info);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_reaped_once_and_orphans_go_to_init() {
        let t = ProcessTable::new(8);
        let init = t.add(0, Arc::default(), 0).unwrap();
        assert_eq!(init, INIT_PID);
        let a = t.add(init, Arc::default(), 0).unwrap();
        let b = t.add(a, Arc::default(), 0).unwrap();
        assert_eq!(t.reap(init, -1), Ok(None));
        t.exit(a, ExitStatus::Exited(3));
        assert_eq!(t.ppid(b), INIT_PID);
        assert_eq!(t.reap(init, a), Ok(Some((a, ExitStatus::Exited(3)))));
        assert_eq!(t.reap(init, a), Err(Errno::ECHILD));
        t.exit(b, ExitStatus::Signaled(9));
        assert_eq!(t.reap(init, -1), Ok(Some((b, ExitStatus::Signaled(9)))));
        assert_eq!(t.reap(init, -1), Err(Errno::ECHILD));
    }

    #[test]
    fn the_process_limit_is_enforced() {
        let t = ProcessTable::new(2);
        t.add(0, Arc::default(), 0).unwrap();
        t.add(1, Arc::default(), 0).unwrap();
        assert_eq!(t.add(1, Arc::default(), 0), Err(Errno::EAGAIN));
    }
}
