//! The sandbox's processes: pids, parents, process groups and sessions
//! (`groups`), job-control stops (`job`), exit statuses waiting to be
//! reaped (`wait`), and the inbox through which each is signalled. Shared
//! by every task's host thread.

mod groups;
mod pidfd;

pub use pidfd::{ExitNotice, NoticeTarget};
mod job;
mod terminal;
mod view;
mod wait;

pub use groups::{KillScope, KillTarget};
pub use terminal::TtyAccess;
pub use view::ProcEntry;
pub use wait::{WaitEvent, WaitFlags, WaitKind, WaitResult, WaitSelector};

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
    pgid: i32,
    sid: i32,
    /// It called `execve` (a parent may no longer `setpgid` it).
    execed: bool,
    /// Job-control state: stopped or not, and what `wait` may report.
    job: job::JobState,
    /// The signal its exit sends the parent (clone's low byte; 0: none).
    /// A child with another than SIGCHLD is a "clone" child for `wait`.
    exit_signal: i32,
    /// The sandbox's terminal is its controlling terminal.
    ctty: bool,
    /// Made with the first pidfd for it; signalled when it exits.
    exit_notice: Option<Arc<ExitNotice>>,
}

/// The next pid to try, and every process by pid.
type Procs = (i32, BTreeMap<i32, Proc>);

pub struct ProcessTable {
    procs: Mutex<Procs>,
    /// Threads other than each process's first: tid -> (tgid, inbox). Their
    /// ids come from the same space as pids. Locked after `procs`.
    threads: Mutex<BTreeMap<i32, (i32, Arc<SignalInbox>)>>,
    max_processes: usize,
    /// Futex wait queues of every task in the sandbox.
    pub futexes: FutexTable,
    /// Sleepers on priority-inheritance futexes.
    pub pi_futexes: crate::kernel::futex_pi::PiFutexes,
    /// Each process's threads, to route signals for the process and for
    /// /proc (which shows zombies too, until they are reaped). Locked
    /// after `procs`.
    groups: Mutex<BTreeMap<i32, Arc<ThreadGroup>>>,
    /// The controlling terminal's job-control state. Locked after `procs`.
    terminal: Mutex<terminal::TerminalState>,
    /// Whether the first process's parent, outside the sandbox, counts as
    /// a parent in another group of its session (for orphaned groups);
    /// unset: it always does.
    outside_parent: std::sync::OnceLock<fn() -> bool>,
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
            threads: Mutex::default(),
            max_processes,
            futexes: FutexTable::default(),
            pi_futexes: Default::default(),
            groups: Mutex::default(),
            terminal: Mutex::default(),
            outside_parent: std::sync::OnceLock::new(),
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
        let pid = self.next_id(&mut g)?;
        let (pgid, sid, ctty) =
            g.1.get(&ppid)
                .map_or((pid, pid, false), |p| (p.pgid, p.sid, p.ctty));
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
                exit_signal: libc::SIGCHLD,
                ctty,
                exit_notice: None,
            },
        );
        Ok(pid)
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, (i32, Arc<SignalInbox>)>> {
        self.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, Arc<ThreadGroup>>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free id for a new process or thread, or EAGAIN past the sandbox's
    /// limit (which counts threads, as RLIMIT_NPROC does). A pid still
    /// naming a group or session is not reused (Linux's pids stay allocated
    /// while any of their uses lives).
    fn next_id(&self, g: &mut Procs) -> Result<i32, Errno> {
        let threads = self.threads();
        if g.1.len() + threads.len() >= self.max_processes {
            return Err(Errno::EAGAIN);
        }
        let mut pid = g.0;
        while g.1.contains_key(&pid)
            || threads.contains_key(&pid)
            || g.1.values().any(|p| p.pgid == pid || p.sid == pid)
        {
            pid = if pid >= (1 << 22) {
                INIT_PID + 1
            } else {
                pid + 1
            };
        }
        g.0 = pid + 1;
        // An exited PI futex owner's id names a live thread again.
        self.pi_futexes.forget(pid as u32);
        Ok(pid)
    }

    /// Add a thread to process `tgid`; returns its tid.
    pub fn add_thread(&self, tgid: i32, inbox: Arc<SignalInbox>) -> Result<i32, Errno> {
        let mut g = self.lock();
        let tid = self.next_id(&mut g)?;
        self.threads().insert(tid, (tgid, inbox));
        Ok(tid)
    }

    /// Process `pid` tells its parent of its exit with `sig` (0: not at
    /// all) rather than SIGCHLD.
    pub fn set_exit_signal(&self, pid: i32, sig: i32) {
        if let Some(p) = self.lock().1.get_mut(&pid) {
            p.exit_signal = sig;
        }
    }

    /// Process `pid`, which never ran, is gone without a trace: no zombie,
    /// no signal to its parent.
    pub fn remove_unstarted(&self, pid: i32) {
        let mut g = self.lock();
        self.forget(&mut g, pid);
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
        self.groups().insert(pid, group);
    }

    /// Post a signal for the whole of live process `pid`: with several
    /// threads, to the first that takes it. Whether the process exists.
    pub fn post_to_process(&self, pid: i32, info: SigInfo) -> bool {
        let g = self.lock();
        match g.1.get(&pid).filter(|p| p.zombie.is_none()) {
            Some(p) => {
                self.post_locked(pid, &p.inbox, info);
                true
            }
            None => false,
        }
    }

    /// Post `info` for process `pid` whose inbox is `inbox`, with the
    /// process table locked.
    fn post_locked(&self, pid: i32, inbox: &Arc<SignalInbox>, info: SigInfo) {
        match self.groups().get(&pid) {
            Some(group) => group.post_shared(info),
            None => inbox.post(info),
        }
    }

    /// Signals for process `pid` go to `inbox` from now on (its first
    /// thread ended while others go on).
    pub fn set_inbox(&self, pid: i32, inbox: Arc<SignalInbox>) {
        if let Some(p) = self.lock().1.get_mut(&pid) {
            p.inbox = inbox;
        }
    }

    /// Wake every thread of process `pid`, whose inbox is `inbox`, so that
    /// any of them waiting for a child looks again.
    pub(super) fn nudge_threads(&self, pid: i32, inbox: &SignalInbox) {
        inbox.nudge();
        for (_, inbox) in self.threads().values().filter(|(g, _)| *g == pid) {
            inbox.nudge();
        }
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
        if let Some(notice) = &p.exit_notice {
            notice.signal();
        }
        let (ppid, uid, exit_signal, leader) = (p.ppid, p.uid, p.exit_signal, p.sid == pid);
        if leader {
            self.leader_exit_hangup(&mut g, pid);
        }
        let mut orphan_zombies = false;
        for child in g.1.values_mut().filter(|c| c.ppid == pid) {
            child.ppid = INIT_PID;
            // As Linux's reparent_leader: init hears of it with SIGCHLD.
            child.exit_signal = libc::SIGCHLD;
            orphan_zombies |= child.zombie.is_some();
        }
        let (code, value) = match status {
            ExitStatus::Exited(c) => (CLD_EXITED, i64::from(c)),
            ExitStatus::Signaled(s) => (CLD_KILLED, i64::from(s)),
        };
        let mut info = SigInfo::from_sender(exit_signal, code, pid, uid);
        info.fields[1] = value as u64;
        // Posted under the lock: a parent that reaps the zombie has had
        // its SIGCHLD posted already, as on Linux.
        match g.1.get(&ppid).filter(|p| p.zombie.is_none()) {
            Some(parent) => {
                if exit_signal != 0 {
                    self.post_locked(ppid, &parent.inbox, info);
                }
                self.nudge_threads(ppid, &parent.inbox);
            }
            // No parent left to reap it.
            None => self.forget(&mut g, pid),
        }
        if orphan_zombies {
            if let Some(init) = g.1.get(&INIT_PID) {
                info.signo = libc::SIGCHLD;
                init.inbox.post(info);
            }
        }
    }

    /// Process `pid` is gone for good (reaped).
    fn forget(&self, g: &mut Procs, pid: i32) {
        g.1.remove(&pid);
        self.groups().remove(&pid);
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
    fn notify_parent(&self, g: &Procs, pid: i32, info: SigInfo) {
        let Some(ppid) = g.1.get(&pid).map(|p| p.ppid) else {
            return;
        };
        if let Some(p) = g.1.get(&ppid).filter(|p| p.zombie.is_none()) {
            self.post_locked(ppid, &p.inbox, info);
            self.nudge_threads(ppid, &p.inbox);
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
    fn a_child_with_another_exit_signal_is_a_clone_child() {
        let t = ProcessTable::new(8);
        let parent_inbox = Arc::new(SignalInbox::default());
        let init = t.add(0, parent_inbox.clone(), 0).unwrap();
        let quiet = t.add(init, Arc::default(), 0).unwrap();
        t.set_exit_signal(quiet, 0);
        let usr1 = t.add(init, Arc::default(), 0).unwrap();
        t.set_exit_signal(usr1, libc::SIGUSR1);
        t.exit(quiet, ExitStatus::Exited(1));
        assert!(parent_inbox.drain().is_empty(), "exit signal 0 sends none");
        t.exit(usr1, ExitStatus::Exited(2));
        assert_eq!(parent_inbox.drain()[0].signo, libc::SIGUSR1);
        let plain = WaitFlags {
            kind: WaitKind::Normal,
            ..WaitFlags::EXITED
        };
        assert_eq!(t.wait(init, WaitSelector::Any, plain), Err(Errno::ECHILD));
        let clones = WaitFlags {
            kind: WaitKind::Clone,
            ..plain
        };
        let got = t.wait(init, WaitSelector::Pid(usr1), clones).unwrap();
        assert_eq!(got.map(|r| r.pid), Some(usr1));
        // A process that never ran leaves no zombie and sends no signal.
        let never = t.add(init, Arc::default(), 0).unwrap();
        t.remove_unstarted(never);
        assert!(parent_inbox.drain().is_empty());
        assert_eq!(t.ppid(never), 0);
    }

    #[test]
    fn orphans_tell_init_with_sigchld() {
        let t = ProcessTable::new(8);
        let init_inbox = Arc::new(SignalInbox::default());
        let init = t.add(0, init_inbox.clone(), 0).unwrap();
        let a = t.add(init, Arc::default(), 0).unwrap();
        let b = t.add(a, Arc::default(), 0).unwrap();
        t.set_exit_signal(b, 0);
        t.exit(a, ExitStatus::Exited(0));
        init_inbox.drain();
        t.exit(b, ExitStatus::Exited(0));
        assert_eq!(init_inbox.drain()[0].signo, libc::SIGCHLD);
        let plain = WaitFlags {
            kind: WaitKind::Normal,
            ..WaitFlags::EXITED
        };
        assert!(t.wait(init, WaitSelector::Pid(b), plain).unwrap().is_some());
    }

    #[test]
    fn the_process_limit_is_enforced() {
        let t = ProcessTable::new(2);
        t.add(0, Arc::default(), 0).unwrap();
        t.add(1, Arc::default(), 0).unwrap();
        assert_eq!(t.add(1, Arc::default(), 0), Err(Errno::EAGAIN));
    }
}
