//! The sandbox's processes: pids, parents, exit statuses waiting to be
//! reaped, and the inbox through which each is signalled. Shared by every
//! task's host thread.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::futex::FutexTable;
use super::inbox::SignalInbox;
use super::siginfo::SigInfo;
use super::thread_group::ThreadGroup;
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
}

pub struct ProcessTable {
    procs: Mutex<(i32, BTreeMap<i32, Proc>)>,
    /// Threads other than each process's first: tid -> (tgid, inbox). Their
    /// ids come from the same space as pids. Locked after `procs`.
    threads: Mutex<BTreeMap<i32, (i32, Arc<SignalInbox>)>>,
    max_processes: usize,
    /// Futex wait queues of every task in the sandbox.
    pub futexes: FutexTable,
    /// Each live process's threads, to route signals for the process.
    groups: Mutex<BTreeMap<i32, Arc<ThreadGroup>>>,
}

/// si_code values of SIGCHLD.
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;

impl ProcessTable {
    pub fn new(max_processes: usize) -> Arc<Self> {
        Arc::new(ProcessTable {
            procs: Mutex::new((INIT_PID, BTreeMap::new())),
            threads: Mutex::default(),
            max_processes,
            futexes: FutexTable::default(),
            groups: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (i32, BTreeMap<i32, Proc>)> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, (i32, Arc<SignalInbox>)>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free id for a new process or thread, or EAGAIN past the sandbox's
    /// limit (which counts threads, as RLIMIT_NPROC does).
    fn next_id(&self, g: &mut (i32, BTreeMap<i32, Proc>)) -> Result<i32, Errno> {
        let threads = self.threads();
        if g.1.len() + threads.len() >= self.max_processes {
            return Err(Errno::EAGAIN);
        }
        let mut pid = g.0;
        while g.1.contains_key(&pid) || threads.contains_key(&pid) {
            pid = if pid >= (1 << 22) {
                INIT_PID + 1
            } else {
                pid + 1
            };
        }
        g.0 = pid + 1;
        Ok(pid)
    }

    /// Add a thread to process `tgid`; returns its tid.
    pub fn add_thread(&self, tgid: i32, inbox: Arc<SignalInbox>) -> Result<i32, Errno> {
        let mut g = self.lock();
        let tid = self.next_id(&mut g)?;
        self.threads().insert(tid, (tgid, inbox));
        Ok(tid)
    }

    /// Thread `tid` (not a process's first) has ended.
    pub fn remove_thread(&self, tid: i32) {
        self.threads().remove(&tid);
    }

    /// The inbox of live thread `tid` of process `tgid` (any process if
    /// `tgid` is `None`): a process's first thread has the process's id.
    pub fn thread_inbox(&self, tgid: Option<i32>, tid: i32) -> Option<Arc<SignalInbox>> {
        if tgid.is_none_or(|t| t == tid) {
            if let Some(inbox) = self.inbox(tid) {
                return Some(inbox);
            }
        }
        self.threads()
            .get(&tid)
            .filter(|(g, _)| tgid.is_none_or(|t| t == *g))
            .map(|(_, inbox)| inbox.clone())
    }

    /// Process `pid`'s threads are `group`.
    pub fn set_group(&self, pid: i32, group: Arc<ThreadGroup>) {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid, group);
    }

    /// Post a signal for the whole of live process `pid`: to a thread that
    /// does not block it, if it has several. Whether the process exists.
    pub fn post_to_process(&self, pid: i32, info: SigInfo) -> bool {
        let group = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pid)
            .cloned();
        let Some(inbox) = self.inbox(pid) else {
            return false;
        };
        match group {
            Some(group) => group.post_shared(info),
            None => inbox.post(info),
        }
        true
    }

    /// Signals for process `pid` go to `inbox` from now on (its first
    /// thread ended while others go on).
    pub fn set_inbox(&self, pid: i32, inbox: Arc<SignalInbox>) {
        if let Some(p) = self.lock().1.get_mut(&pid) {
            p.inbox = inbox;
        }
    }

    /// Wake every thread of process `pid`, so that any of them waiting for
    /// a child looks again.
    fn nudge_threads(&self, pid: i32) {
        if let Some(inbox) = self.inbox(pid) {
            inbox.nudge();
        }
        for (_, inbox) in self.threads().values().filter(|(g, _)| *g == pid) {
            inbox.nudge();
        }
    }

    /// Add a process with parent `ppid` (0 for the first); returns its pid,
    /// or EAGAIN past the sandbox's process limit.
    pub fn add(&self, ppid: i32, inbox: Arc<SignalInbox>, uid: u32) -> Result<i32, Errno> {
        let mut g = self.lock();
        let pid = self.next_id(&mut g)?;
        g.1.insert(
            pid,
            Proc {
                ppid,
                inbox,
                uid,
                zombie: None,
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
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
        let mut g = self.lock();
        let Some(p) = g.1.get_mut(&pid) else { return };
        p.zombie = Some(status);
        let (ppid, uid) = (p.ppid, p.uid);
        let mut orphan_zombies = false;
        for child in g.1.values_mut().filter(|c| c.ppid == pid) {
            child.ppid = INIT_PID;
            orphan_zombies |= child.zombie.is_some();
        }
        let parent =
            g.1.get(&ppid)
                .filter(|p| p.zombie.is_none())
                .map(|p| p.inbox.clone());
        let init = orphan_zombies
            .then(|| g.1.get(&INIT_PID).map(|p| p.inbox.clone()))
            .flatten();
        drop(g);
        let (code, value) = match status {
            ExitStatus::Exited(c) => (CLD_EXITED, i64::from(c)),
            ExitStatus::Signaled(s) => (CLD_KILLED, i64::from(s)),
        };
        let mut info = SigInfo::from_sender(libc::SIGCHLD, code, pid, uid);
        info.fields[1] = value as u64;
        match parent {
            Some(_) => {
                self.post_to_process(ppid, info);
                self.nudge_threads(ppid);
            }
            // No parent left to reap it.
            None => {
                self.lock().1.remove(&pid);
            }
        }
        if let Some(init) = init {
            init.post(info);
        }
    }

    /// For `wait4`: reap a child of `parent` matching `want` (-1 or 0: any,
    /// else that pid). `Ok(None)` if matching children exist but none has
    /// exited; ECHILD if there are none.
    pub fn reap(&self, parent: i32, want: i32) -> Result<Option<(i32, ExitStatus)>, Errno> {
        let mut g = self.lock();
        let matches = |pid: i32, p: &Proc| p.ppid == parent && (want <= 0 || want == pid);
        let mut any = false;
        let mut found = None;
        for (&pid, p) in g.1.iter() {
            if matches(pid, p) {
                any = true;
                if let Some(s) = p.zombie {
                    found = Some((pid, s));
                    break;
                }
            }
        }
        if let Some((pid, _)) = found {
            g.1.remove(&pid);
        }
        match (found, any) {
            (Some(f), _) => Ok(Some(f)),
            (None, true) => Ok(None),
            (None, false) => Err(Errno::ECHILD),
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
