//! [`ThreadGroup`]: the threads of one guest process, and how they end
//! together.
//!
//! Each guest thread runs on its own host thread. `exit_group`, a fatal
//! signal or `execve` ends the other threads: the group records why and
//! posts SIGKILL to each of them, which interrupts guest code and any
//! system call they sleep in; each thread's run loop then sees
//! [`ThreadGroup::ending`] and stops.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use super::inbox::SignalInbox;
use super::posix_timers::PosixTimers;
use super::published::{ProcessFacts, ThreadPublished};
use super::rusage::Usage;
use super::siginfo::{SigInfo, SI_KERNEL};
use super::ExitStatus;

/// Why the group's threads are ending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// The process exits with this status.
    Exit(ExitStatus),
    /// Thread `keeper` is executing a new program; the others end.
    Exec { keeper: i32 },
}

/// A live thread as the group sees it.
#[derive(Clone)]
struct Member {
    inbox: Arc<SignalInbox>,
    /// What it publishes: the signals it blocks (it does before running
    /// guest code and before sleeping), its name, whether it sleeps.
    published: Arc<ThreadPublished>,
}

#[derive(Default)]
struct State {
    /// Live threads.
    threads: BTreeMap<i32, Member>,
    ending: Option<Ending>,
    /// The process's exit status once it has ended.
    final_status: Option<ExitStatus>,
    /// Signals for the whole process (several threads), waiting for a
    /// thread that does not block them (Linux's shared_pending).
    shared: Vec<SigInfo>,
    /// The process as /proc shows it; `None` until its first thread has
    /// its memory (a forked child makes it on its own host thread).
    facts: Option<ProcessFacts>,
    /// What the first thread published, kept after it ends: a zombie
    /// shows its name and start time.
    leader: Option<Arc<ThreadPublished>>,
    /// A thread is stopping the process (job control): the others park.
    stop_wanted: bool,
    /// How many threads are parked for a stop.
    parked: usize,
    /// The first thread left with `exit` while others run: it stays a
    /// zombie thread (in /proc) until the process ends.
    leader_zombie: bool,
    /// The status of the last thread to end after the first one did: the
    /// process ends with it, as on Linux.
    last_status: Option<ExitStatus>,
}

#[derive(Default)]
pub struct ThreadGroup {
    state: Mutex<State>,
    changed: Condvar,
    /// The process's POSIX timers, made with its first.
    posix_timers: OnceLock<PosixTimers>,
    /// What its ended threads used, and its reaped children (`getrusage`).
    usage: Mutex<GroupUsage>,
    /// The membarrier commands it registered for (MEMBARRIER_CMD_REGISTER_*).
    membarrier_registered: AtomicU32,
}

#[derive(Default, Clone, Copy)]
struct GroupUsage {
    ended_threads: Usage,
    children: Usage,
}

impl ThreadGroup {
    /// A group whose only thread is `tid`, which publishes its state in
    /// `published`.
    pub fn new(tid: i32, inbox: Arc<SignalInbox>, published: Arc<ThreadPublished>) -> Arc<Self> {
        let group = ThreadGroup::default();
        let mut s = group.lock();
        s.leader = Some(published.clone());
        s.threads.insert(tid, Member { inbox, published });
        drop(s);
        Arc::new(group)
    }

    /// Record a membarrier registration (bits of the commands it allows).
    pub fn register_membarrier(&self, commands: u32) {
        self.membarrier_registered
            .fetch_or(commands, Ordering::SeqCst);
    }

    /// The membarrier commands the process registered for.
    pub fn membarrier_registered(&self) -> u32 {
        self.membarrier_registered.load(Ordering::SeqCst)
    }

    /// A thread of the process ended having used `usage`, with the
    /// process's resident set at `rss_kb` then.
    pub fn add_thread_usage(&self, mut usage: Usage, rss_kb: u64) {
        usage.maxrss_kb = rss_kb;
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ended_threads += usage;
    }

    /// What the process's ended threads used.
    pub fn ended_threads_usage(&self) -> Usage {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ended_threads
    }

    /// What the process's reaped children used (RUSAGE_CHILDREN).
    pub fn children_usage(&self) -> Usage {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .children
    }

    /// All an ended process used, its reaped children included: what its
    /// parent adds to its own children's usage when reaping it.
    pub fn total_usage(&self) -> Usage {
        let u = *self.usage.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = u.ended_threads;
        total += u.children;
        total
    }

    /// A child that used `usage` (its total) has been reaped.
    pub fn add_child_usage(&self, usage: Usage) {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .children += usage;
    }

    /// The process's POSIX timers.
    pub fn posix_timers(self: &Arc<Self>) -> &PosixTimers {
        self.posix_timers
            .get_or_init(|| PosixTimers::new(Arc::downgrade(self)))
    }

    /// The process's POSIX timers if it has ever made one.
    pub fn existing_posix_timers(&self) -> Option<&PosixTimers> {
        self.posix_timers.get()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add thread `tid`; false if the group is already ending (the new
    /// thread must not start).
    pub fn add(&self, tid: i32, inbox: Arc<SignalInbox>, published: Arc<ThreadPublished>) -> bool {
        let mut s = self.lock();
        if s.ending.is_some() {
            return false;
        }
        s.threads.insert(tid, Member { inbox, published });
        true
    }

    /// What the live threads publish, by tid.
    pub fn published(&self) -> Vec<(i32, Arc<ThreadPublished>)> {
        self.lock()
            .threads
            .iter()
            .map(|(&tid, m)| (tid, m.published.clone()))
            .collect()
    }

    /// What the first thread published (the thread that exec'd, after an
    /// `execve`), whether or not it still runs.
    pub fn leader(&self) -> Option<Arc<ThreadPublished>> {
        self.lock().leader.clone()
    }

    /// The process is now as `facts` say.
    pub fn set_facts(&self, facts: ProcessFacts) {
        self.lock().facts = Some(facts);
        self.changed.notify_all();
    }

    /// The process as it last published itself, waiting for a new process
    /// to publish for the first time; `None` if it ended without.
    pub fn facts(&self) -> Option<ProcessFacts> {
        let mut s = self.lock();
        while s.facts.is_none() && !s.threads.is_empty() {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.facts.clone()
    }

    /// Which thread a signal for the whole process wakes (Linux's
    /// complete_signal): the first that does not block it, else the first.
    pub fn route(&self, sig: i32) -> Option<Arc<SignalInbox>> {
        route_in(&self.lock(), sig)
    }

    /// Post a signal for the whole process. With one thread it goes to that
    /// thread; with several it waits in the shared queue for whichever
    /// thread first does not block it (or waits for it), and the thread
    /// most likely to take it is woken.
    pub fn post_shared(&self, info: SigInfo) {
        let target = {
            let mut s = self.lock();
            if s.threads.len() > 1 {
                s.shared.push(info);
            }
            (route_in(&s, info.signo), s.threads.len() > 1)
        };
        match target {
            (Some(inbox), false) => inbox.post(info),
            // An empty post (signal 0) only makes the thread look.
            (Some(inbox), true) => inbox.post(SigInfo::fault(0, 0, 0)),
            (None, _) => {}
        }
    }

    /// Take the shared signals in `wanted` (those a thread does not block,
    /// or waits for).
    pub fn take_shared(&self, wanted: u64) -> Vec<SigInfo> {
        let mut s = self.lock();
        if s.shared.is_empty() {
            return Vec::new();
        }
        let (take, keep) = s
            .shared
            .drain(..)
            .partition(|i| (1..=64).contains(&i.signo) && wanted & (1 << (i.signo - 1)) != 0);
        s.shared = keep;
        take
    }

    /// The shared signals waiting, as a bit set.
    pub fn shared_set(&self) -> u64 {
        self.lock()
            .shared
            .iter()
            .filter(|i| (1..=64).contains(&i.signo))
            .fold(0, |m, i| m | 1 << (i.signo - 1))
    }

    /// Thread `tid` (not the first) has ended with `status`.
    pub fn thread_ended(&self, tid: i32, status: ExitStatus) {
        let mut s = self.lock();
        if s.leader_zombie {
            s.last_status = Some(status);
        }
        s.threads.remove(&tid);
        drop(s);
        self.changed.notify_all();
    }

    /// The first thread left with `exit` while others run on.
    pub fn leader_exited(&self) {
        let mut s = self.lock();
        s.leader_zombie = true;
        s.last_status = None;
    }

    /// Whether the first thread is a zombie while others run.
    pub fn leader_zombie(&self) -> bool {
        self.lock().leader_zombie
    }

    /// The status of the thread that ended last after the first one left.
    pub fn last_status(&self) -> Option<ExitStatus> {
        self.lock().last_status
    }

    /// Thread `tid` has ended.
    pub fn remove(&self, tid: i32) {
        self.lock().threads.remove(&tid);
        self.changed.notify_all();
    }

    /// How many threads are live.
    pub fn len(&self) -> usize {
        self.lock().threads.len()
    }

    /// Whether no thread is live.
    pub fn is_empty(&self) -> bool {
        self.lock().threads.is_empty()
    }

    /// The live threads' ids and inboxes.
    pub fn threads(&self) -> Vec<(i32, Arc<SignalInbox>)> {
        self.lock()
            .threads
            .iter()
            .map(|(&tid, m)| (tid, m.inbox.clone()))
            .collect()
    }

    /// End the process with `status` (`exit_group`, a fatal signal): every
    /// thread but `from` is told to stop. The first reason given wins.
    pub fn exit(&self, from: i32, status: ExitStatus) {
        self.end(from, Ending::Exit(status));
    }

    /// Thread `keeper` starts executing a new program: the others stop.
    /// Returns false if the group is already ending otherwise.
    pub fn begin_exec(&self, keeper: i32) -> bool {
        self.end(keeper, Ending::Exec { keeper })
            && self.lock().ending == Some(Ending::Exec { keeper })
    }

    fn end(&self, from: i32, why: Ending) -> bool {
        let others = {
            let mut s = self.lock();
            if s.ending.is_some() && s.ending != Some(why) {
                return false;
            }
            s.ending = Some(why);
            self.changed.notify_all();
            inboxes_but(&s, from)
        };
        for inbox in others {
            inbox.post(SigInfo::fault(libc::SIGKILL, SI_KERNEL, 0));
        }
        true
    }

    /// Whether thread `tid` must stop, and the status the process ends with
    /// (for a thread ended by another's `execve`, the status is unused).
    pub fn ending(&self, tid: i32) -> Option<ExitStatus> {
        match self.lock().ending? {
            Ending::Exit(status) => Some(status),
            Ending::Exec { keeper } if keeper != tid => Some(ExitStatus::Signaled(libc::SIGKILL)),
            Ending::Exec { .. } => None,
        }
    }

    /// The status the process exits with, if its end was decided.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        match self.lock().ending? {
            Ending::Exit(status) => Some(status),
            Ending::Exec { .. } => None,
        }
    }

    /// Whether another thread's `execve` took the process over.
    pub fn taken_over_by_exec(&self, tid: i32) -> bool {
        matches!(self.lock().ending, Some(Ending::Exec { keeper }) if keeper != tid)
    }

    /// Wait until `tid` is the only live thread (or none is).
    pub fn wait_alone(&self, tid: i32) {
        let mut s = self.lock();
        while s.threads.keys().any(|&t| t != tid) {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Thread `from` is stopping the process: every other thread is asked
    /// to park (an empty post interrupts its guest code or sleep).
    pub fn begin_stop(&self, from: i32) {
        let others = {
            let mut s = self.lock();
            s.stop_wanted = true;
            inboxes_but(&s, from)
        };
        for inbox in others {
            inbox.post(SigInfo::fault(0, 0, 0));
        }
    }

    /// Whether a stop asks the other threads to park.
    pub fn stop_wanted(&self) -> bool {
        self.lock().stop_wanted
    }

    /// Wait until every thread but `from` has parked (or `timeout`
    /// passed, or the process is ending): Linux reports a stop once the
    /// whole group has stopped.
    pub fn wait_parked(&self, from: i32, timeout: std::time::Duration) {
        let deadline = std::time::Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            let others = s.threads.keys().filter(|&&t| t != from).count();
            let now = std::time::Instant::now();
            if s.parked >= others || s.ending.is_some() || now >= deadline {
                return;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A thread parks for a stop, or leaves its parking.
    pub fn set_parked(&self, parked: bool) {
        let mut s = self.lock();
        if parked {
            s.parked += 1;
        } else {
            s.parked = s.parked.saturating_sub(1);
        }
        drop(s);
        self.changed.notify_all();
    }

    /// The stopping thread is done (continued or killed): the parked
    /// threads may go on once the process is no longer stopped.
    pub fn end_stop(&self) {
        let inboxes = {
            let mut s = self.lock();
            s.stop_wanted = false;
            s.threads
                .values()
                .map(|m| m.inbox.clone())
                .collect::<Vec<_>>()
        };
        for inbox in inboxes {
            inbox.nudge();
        }
    }

    /// Wait, as the first thread after its own end, until every other
    /// thread is gone (false) or another thread's `execve` took the process
    /// over (true).
    pub fn wait_gone_or_taken(&self, tid: i32) -> bool {
        let mut s = self.lock();
        loop {
            if matches!(s.ending, Some(Ending::Exec { keeper }) if keeper != tid) {
                return true;
            }
            if s.threads.is_empty() {
                return false;
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Record the process's exit status.
    pub fn set_final(&self, status: ExitStatus) {
        self.lock().final_status = Some(status);
        self.changed.notify_all();
    }

    /// Wait for the process's exit status (for a thread whose process was
    /// taken over by another thread's `execve`, which reports it later).
    pub fn wait_final(&self) -> ExitStatus {
        let mut s = self.lock();
        loop {
            if let Some(status) = s.final_status {
                return status;
            }
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// After an `execve` has taken over: the group is ordinary again, with
    /// `tid` (now the leader, numbered `tgid`) as its only thread.
    pub fn finish_exec(&self, tid: i32, tgid: i32) {
        let mut s = self.lock();
        if let Some(member) = s.threads.remove(&tid) {
            s.leader = Some(member.published.clone());
            s.threads.insert(tgid, member);
        }
        s.ending = None;
        // The exec'ing thread replaced the zombie leader (de_thread).
        s.leader_zombie = false;
        drop(s);
        self.changed.notify_all();
    }
}

/// The inboxes of every live thread but `tid`.
fn inboxes_but(s: &State, tid: i32) -> Vec<Arc<SignalInbox>> {
    s.threads
        .iter()
        .filter(|&(&t, _)| t != tid)
        .map(|(_, m)| m.inbox.clone())
        .collect()
}

fn route_in(s: &State, sig: i32) -> Option<Arc<SignalInbox>> {
    let bit = 1u64 << ((sig - 1) & 63);
    s.threads
        .values()
        .find(|m| m.published.blocked() & bit == 0)
        .or_else(|| s.threads.values().next())
        .map(|m| m.inbox.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_stops_the_other_threads_and_the_first_reason_wins() {
        let a = Arc::new(SignalInbox::default());
        let b = Arc::new(SignalInbox::default());
        let g = ThreadGroup::new(1, a.clone(), Arc::default());
        assert!(g.add(2, b.clone(), Arc::default()));
        assert_eq!(g.ending(2), None);
        g.exit(1, ExitStatus::Exited(3));
        g.exit(2, ExitStatus::Signaled(9));
        assert_eq!(g.ending(2), Some(ExitStatus::Exited(3)));
        assert_eq!(b.drain().len(), 1, "thread 2 was told to stop");
        assert!(a.drain().is_empty(), "the exiting thread was not");
        assert!(
            !g.add(3, Arc::default(), Arc::default()),
            "no thread starts in an ending group"
        );
        g.remove(2);
        g.wait_alone(1);
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn exec_keeps_one_thread_which_becomes_the_leader() {
        let g = ThreadGroup::new(10, Arc::default(), Arc::default());
        assert!(g.add(11, Arc::default(), Arc::default()));
        assert!(g.begin_exec(11));
        assert_eq!(g.ending(11), None);
        assert!(g.ending(10).is_some());
        assert!(g.taken_over_by_exec(10));
        g.remove(10);
        g.wait_alone(11);
        g.finish_exec(11, 10);
        assert_eq!(g.threads().iter().map(|t| t.0).collect::<Vec<_>>(), [10]);
        assert_eq!(g.ending(10), None);
    }

    #[test]
    fn process_signals_go_to_a_thread_that_does_not_block_them() {
        let (a, b) = (
            Arc::new(SignalInbox::default()),
            Arc::new(SignalInbox::default()),
        );
        let a_blocked = ThreadPublished::new(1 << (libc::SIGUSR1 - 1), b"a");
        let g = ThreadGroup::new(1, a.clone(), a_blocked.clone());
        assert!(g.add(2, b.clone(), Arc::default()));
        assert!(Arc::ptr_eq(&g.route(libc::SIGUSR1).unwrap(), &b));
        assert!(Arc::ptr_eq(&g.route(libc::SIGUSR2).unwrap(), &a));
        a_blocked.set_blocked(0, false);
        assert!(Arc::ptr_eq(&g.route(libc::SIGUSR1).unwrap(), &a));
    }

    #[test]
    fn shared_signals_wait_for_a_thread_that_takes_them() {
        let (a, b) = (
            Arc::new(SignalInbox::default()),
            Arc::new(SignalInbox::default()),
        );
        let g = ThreadGroup::new(1, a.clone(), ThreadPublished::new(u64::MAX, b"t"));
        g.post_shared(SigInfo::fault(libc::SIGUSR1, 0, 0));
        assert_eq!(a.drain().len(), 1, "one thread: straight to it");
        assert!(g.add(2, b.clone(), ThreadPublished::new(u64::MAX, b"t")));
        g.post_shared(SigInfo::fault(libc::SIGUSR1, 0, 0));
        assert_eq!(g.shared_set(), 1 << (libc::SIGUSR1 - 1));
        assert!(g.take_shared(1 << (libc::SIGUSR2 - 1)).is_empty());
        let got = g.take_shared(1 << (libc::SIGUSR1 - 1));
        assert_eq!(got.len(), 1);
        assert_eq!(g.shared_set(), 0);
    }

    #[test]
    fn a_stop_waits_until_the_other_threads_have_parked() {
        let (a, b) = (
            Arc::new(SignalInbox::default()),
            Arc::new(SignalInbox::default()),
        );
        let g = ThreadGroup::new(1, a.clone(), Arc::default());
        assert!(g.add(2, b.clone(), Arc::default()));
        g.begin_stop(1);
        assert!(g.stop_wanted());
        assert_eq!(b.drain().len(), 1, "thread 2 was interrupted");
        assert!(a.drain().is_empty(), "the stopping thread was not");
        let parker = {
            let g = g.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                g.set_parked(true);
            })
        };
        let start = std::time::Instant::now();
        g.wait_parked(1, std::time::Duration::from_secs(10));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        parker.join().unwrap();
        g.end_stop();
        assert!(!g.stop_wanted());
        g.set_parked(false);
    }
}
