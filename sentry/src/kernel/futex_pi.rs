//! Priority-inheritance futexes: the lock protocol of FUTEX_LOCK_PI,
//! FUTEX_TRYLOCK_PI and FUTEX_UNLOCK_PI, and what an owner's exit does.
//!
//! The futex word holds the owner's thread id, FUTEX_WAITERS when someone
//! sleeps on it (so the owner's unlock must come to the kernel) and
//! FUTEX_OWNER_DIED after a robust owner exited. User space takes a free
//! lock and releases an uncontended one by itself; the sentry sees only the
//! contended cases. While sleepers are queued the sentry also knows the
//! owner (Linux's pi_state), so a word user space changed behind its back
//! is refused (EINVAL), and an owner's exit hands the lock to the first
//! sleeper even when the futex was not robust, as Linux does.
//!
//! The "priority inheritance" itself (boosting the owner's scheduling
//! priority while higher-priority threads wait) means nothing to the
//! sandbox's scheduler, which has no priorities, and is not done: sleepers
//! are served first come, first served.
//!
//! The word is changed only by compare-and-swap on guest memory, with the
//! sleepers' queues locked, because guest threads change it concurrently.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::futex::FutexKey;
use super::inbox::SignalInbox;
use crate::errno::Errno;

pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

const SLEEPING: u8 = 0;
const GRANTED: u8 = 1;
const TAKE_OVER: u8 = 2;

/// How a sleeper in FUTEX_LOCK_PI came to own the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// Handed over by the owner's unlock: the word already names it.
    Granted,
    /// Its owner exited: the sleeper owns it and must write its own id
    /// into the word (`PiFutexes::take_over`), in its own memory.
    TakeOver,
}

/// One task sleeping in FUTEX_LOCK_PI (or FUTEX_WAIT_REQUEUE_PI).
pub struct PiWaiter {
    /// The PI futex it waits to own.
    key: FutexKey,
    tid: u32,
    state: AtomicU8,
    inbox: Arc<SignalInbox>,
    /// FUTEX_WAIT_REQUEUE_PI: still waiting on this plain futex, not yet
    /// moved to the PI futex's sleepers (changed with the queues locked).
    on_first: AtomicBool,
}

impl PiWaiter {
    /// Whether (and how) the lock became this waiter's.
    pub fn woken(&self) -> Option<Woken> {
        match self.state.load(Ordering::Acquire) {
            GRANTED => Some(Woken::Granted),
            TAKE_OVER => Some(Woken::TakeOver),
            _ => None,
        }
    }

    fn wake(&self, how: Woken) {
        let state = match how {
            Woken::Granted => GRANTED,
            Woken::TakeOver => TAKE_OVER,
        };
        self.state.store(state, Ordering::Release);
        self.inbox.nudge();
    }
}

/// How the PI operations reach the futex word and the thread table.
pub trait PiWord {
    /// Compare-and-swap the word: returns what it held.
    fn cas(&self, old: u32, new: u32) -> Result<u32, Errno>;
    /// Whether thread `tid` is in the sandbox's thread table.
    fn listed(&self, tid: u32) -> bool;

    fn load(&self) -> Result<u32, Errno> {
        // A swap that can only fail reads the word atomically (and, as
        // Linux's, needs it writable).
        self.cas(u32::MAX, u32::MAX)
    }
}

/// What a lock attempt came to.
pub enum Locked {
    /// The caller owns the lock now.
    Acquired,
    /// The caller is queued; it sleeps until the waiter is woken.
    Queued(Arc<PiWaiter>),
}

/// The sleepers on one contended PI futex.
struct PiQueue {
    /// The owner, as the sentry knows it; `None` from an owner's exit until
    /// the sleeper it woke has taken the lock over.
    owner: Option<u32>,
    sleepers: VecDeque<Arc<PiWaiter>>,
}

/// The PI sleepers, and the FUTEX_WAIT_REQUEUE_PI waiters by the plain
/// futex they wait on (`requeue.rs`).
#[derive(Default)]
struct State {
    pi: HashMap<FutexKey, PiQueue>,
    waits: HashMap<FutexKey, VecDeque<Arc<PiWaiter>>>,
}

#[derive(Default)]
pub struct PiFutexes {
    queues: Mutex<State>,
    /// Threads that have let their PI futexes go on exit but may still be
    /// listed (a first thread that left with others running): they count
    /// as dead owners. A leaf lock, taken under `queues` or the process
    /// table's lock and never the other way round.
    exited: Mutex<HashSet<u32>>,
}

impl PiFutexes {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn exited(&self) -> MutexGuard<'_, HashSet<u32>> {
        self.exited.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive(&self, tid: u32, word: &dyn PiWord) -> bool {
        word.listed(tid) && !self.exited().contains(&tid)
    }

    /// Id `tid` names a new thread or process: it is alive again.
    pub fn forget(&self, tid: u32) {
        self.exited().remove(&tid);
    }

    /// FUTEX_LOCK_PI (or TRYLOCK_PI, which never queues: EAGAIN) by thread
    /// `tid`: take a free lock, else mark the word contended and queue.
    pub fn lock_pi(
        &self,
        key: FutexKey,
        tid: u32,
        inbox: &Arc<SignalInbox>,
        word: &dyn PiWord,
        try_only: bool,
    ) -> Result<Locked, Errno> {
        let mut st = self.lock();
        loop {
            let v = word.load()?;
            let owner = v & FUTEX_TID_MASK;
            if owner == tid {
                return Err(Errno::EDEADLK);
            }
            if let Some(q) = st.pi.get(&key) {
                // Contended: the word must name the owner the sentry knows,
                // unless a dead owner's hand-over is under way.
                let consistent = match q.owner {
                    None => true,
                    Some(_) if owner == 0 => v & FUTEX_OWNER_DIED != 0,
                    Some(o) => o == owner,
                };
                if !consistent {
                    tracing::debug!(?key, v, "PI futex word changed behind the sentry");
                    return Err(Errno::EINVAL);
                }
                if try_only {
                    return Err(Errno::EAGAIN);
                }
                if v & FUTEX_WAITERS == 0 && word.cas(v, v | FUTEX_WAITERS)? != v {
                    continue;
                }
                let w = new_waiter(key, tid, inbox);
                if let Some(q) = st.pi.get_mut(&key) {
                    q.sleepers.push_back(w.clone());
                }
                return Ok(Locked::Queued(w));
            }
            if owner == 0 {
                // Free (perhaps after its robust owner died: the mark stays
                // for the new owner to see).
                if word.cas(v, tid | (v & FUTEX_OWNER_DIED))? != v {
                    continue;
                }
                return Ok(Locked::Acquired);
            }
            // Linux marks the word contended before it looks at the owner,
            // so a failed attempt leaves FUTEX_WAITERS set; so does this.
            if v & FUTEX_WAITERS == 0 && word.cas(v, v | FUTEX_WAITERS)? != v {
                continue;
            }
            if !self.alive(owner, word) {
                return Err(Errno::ESRCH);
            }
            if try_only {
                return Err(Errno::EAGAIN);
            }
            let w = new_waiter(key, tid, inbox);
            st.pi.insert(
                key,
                PiQueue {
                    owner: Some(owner),
                    sleepers: VecDeque::from([w.clone()]),
                },
            );
            return Ok(Locked::Queued(w));
        }
    }

    /// FUTEX_UNLOCK_PI by thread `tid`: hand the lock to the first
    /// sleeper, or free it. EPERM if `tid` does not own it; EAGAIN if the
    /// word changed under an uncontended unlock (user space retries).
    pub fn unlock_pi(&self, key: FutexKey, tid: u32, word: &dyn PiWord) -> Result<(), Errno> {
        let mut st = self.lock();
        loop {
            let v = word.load()?;
            if v & FUTEX_TID_MASK != tid {
                return Err(Errno::EPERM);
            }
            let next = st
                .pi
                .get(&key)
                .and_then(|q| q.sleepers.front())
                .map(|w| w.tid);
            let Some(next) = next else {
                return if word.cas(v, 0)? == v {
                    Ok(())
                } else {
                    Err(Errno::EAGAIN)
                };
            };
            // The new owner's unlock must come here too while others may
            // still sleep, so the hand-over keeps FUTEX_WAITERS (and drops
            // FUTEX_OWNER_DIED), as Linux's.
            if word.cas(v, next | FUTEX_WAITERS)? != v {
                continue;
            }
            if let Some(w) = pop_first(&mut st.pi, key, Some(next)) {
                w.wake(Woken::Granted);
            }
            return Ok(());
        }
    }

    /// Thread `tid` exits (`gone`) or execs: every PI futex it owns with
    /// sleepers goes to the first of them, which takes it over. A robust
    /// one was marked FUTEX_OWNER_DIED before (and the mark stays). After
    /// an exit, `tid` counts as dead for later lockers (ESRCH).
    pub fn owner_exited(&self, tid: u32, gone: bool) {
        let mut st = self.lock();
        if gone {
            self.exited().insert(tid);
        }
        let owned: Vec<FutexKey> = st
            .pi
            .iter()
            .filter(|(_, q)| q.owner == Some(tid))
            .map(|(k, _)| *k)
            .collect();
        for key in owned {
            if let Some(w) = pop_first(&mut st.pi, key, None) {
                w.wake(Woken::TakeOver);
            }
        }
    }

    /// `waiter`, woken with `Woken::TakeOver`, owns the lock: write its id
    /// into the word, with FUTEX_WAITERS so its unlock comes here and
    /// FUTEX_OWNER_DIED because its owner died, robust or not, as Linux's
    /// owner fix-up does.
    pub fn take_over(&self, waiter: &PiWaiter, word: &dyn PiWord) -> Result<(), Errno> {
        let mut st = self.lock();
        if let Some(q) = st.pi.get_mut(&waiter.key) {
            q.owner = Some(waiter.tid);
            if q.sleepers.is_empty() {
                st.pi.remove(&waiter.key);
            }
        }
        let mut v = word.load()?;
        loop {
            let new = waiter.tid | FUTEX_WAITERS | FUTEX_OWNER_DIED;
            match word.cas(v, new)? {
                seen if seen == v => return Ok(()),
                seen => v = seen,
            }
        }
    }

    /// Take `waiter` off its queue (a timeout or a signal). If the lock
    /// became its meanwhile, says how: the caller owns it then.
    pub fn cancel(&self, waiter: &Arc<PiWaiter>) -> Option<Woken> {
        let mut st = self.lock();
        if let Some(how) = waiter.woken() {
            return Some(how);
        }
        remove_sleeper(&mut st.pi, waiter);
        None
    }
}

/// Take `waiter` off its PI futex's sleepers. A pending hand-over keeps
/// the queue: it marks the lock as contended until the new owner has
/// taken it.
fn remove_sleeper(pi: &mut HashMap<FutexKey, PiQueue>, waiter: &Arc<PiWaiter>) {
    if let Some(q) = pi.get_mut(&waiter.key) {
        q.sleepers.retain(|w| !Arc::ptr_eq(w, waiter));
        if q.sleepers.is_empty() && q.owner.is_some() {
            pi.remove(&waiter.key);
        }
    }
}

fn new_waiter(key: FutexKey, tid: u32, inbox: &Arc<SignalInbox>) -> Arc<PiWaiter> {
    Arc::new(PiWaiter {
        key,
        tid,
        state: AtomicU8::new(SLEEPING),
        inbox: inbox.clone(),
        on_first: AtomicBool::new(false),
    })
}

/// Take the first sleeper off `key`'s queue and record the lock's new
/// owner (`None`: to be taken over). A queue left empty goes, unless a
/// take-over is pending.
fn pop_first(
    queues: &mut HashMap<FutexKey, PiQueue>,
    key: FutexKey,
    owner: Option<u32>,
) -> Option<Arc<PiWaiter>> {
    let q = queues.get_mut(&key)?;
    let first = q.sleepers.pop_front();
    q.owner = owner;
    if q.sleepers.is_empty() && (owner.is_some() || first.is_none()) {
        queues.remove(&key);
    }
    first
}

mod requeue;
pub use requeue::WaitEnd;
#[cfg(test)]
mod tests;
