//! Priority-inheritance futexes: the lock protocol of FUTEX_LOCK_PI,
//! FUTEX_TRYLOCK_PI and FUTEX_UNLOCK_PI.
//!
//! The futex word holds the owner's thread id, FUTEX_WAITERS when someone
//! sleeps on it (so the owner's unlock must come to the kernel) and
//! FUTEX_OWNER_DIED after a robust owner exited. User space takes a free
//! lock and releases an uncontended one by itself; the sentry sees only the
//! contended cases. An unlock with sleepers hands the lock straight to the
//! first of them by writing its id, as Linux does. The "priority
//! inheritance" itself (boosting the owner's scheduling priority) means
//! nothing to the sandbox's scheduler and is not done.
//!
//! The word is changed only by compare-and-swap on guest memory, with the
//! sleepers' queues locked, because guest threads change it concurrently.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::futex::FutexKey;
use super::inbox::SignalInbox;
use crate::errno::Errno;

pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// One task sleeping in FUTEX_LOCK_PI.
pub struct PiWaiter {
    key: FutexKey,
    tid: u32,
    /// Woken: by a hand-over (`granted`) or to try again (the owner died).
    woken: AtomicBool,
    granted: AtomicBool,
    inbox: Arc<SignalInbox>,
}

impl PiWaiter {
    pub fn woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }

    /// The lock was handed to this waiter: the word already names it.
    pub fn granted(&self) -> bool {
        self.granted.load(Ordering::Acquire)
    }

    fn wake(&self, granted: bool) {
        self.granted.store(granted, Ordering::Release);
        self.woken.store(true, Ordering::Release);
        self.inbox.nudge();
    }
}

/// How the PI operations reach the futex word and the thread table.
pub trait PiWord {
    /// Compare-and-swap the word: returns what it held.
    fn cas(&self, old: u32, new: u32) -> Result<u32, Errno>;
    /// Whether thread `tid` is alive.
    fn alive(&self, tid: u32) -> bool;

    fn load(&self) -> Result<u32, Errno> {
        // A swap that can only fail reads the word atomically.
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

#[derive(Default)]
pub struct PiFutexes {
    queues: Mutex<HashMap<FutexKey, VecDeque<Arc<PiWaiter>>>>,
}

impl PiFutexes {
    fn lock(&self) -> MutexGuard<'_, HashMap<FutexKey, VecDeque<Arc<PiWaiter>>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
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
        let mut queues = self.lock();
        let queued = queues.get(&key).is_some_and(|q| !q.is_empty());
        loop {
            let v = word.load()?;
            let owner = v & FUTEX_TID_MASK;
            if owner == 0 {
                // Free (perhaps after its owner died, which stays marked
                // for the new owner to see).
                let waiters = if queued { FUTEX_WAITERS } else { 0 };
                let new = tid | (v & FUTEX_OWNER_DIED) | waiters;
                if word.cas(v, new)? == v {
                    return Ok(Locked::Acquired);
                }
                continue;
            }
            if owner == tid {
                return Err(Errno::EDEADLK);
            }
            if !word.alive(owner) {
                return Err(Errno::ESRCH);
            }
            if try_only {
                return Err(Errno::EAGAIN);
            }
            if v & FUTEX_WAITERS == 0 && word.cas(v, v | FUTEX_WAITERS)? != v {
                continue;
            }
            let waiter = Arc::new(PiWaiter {
                key,
                tid,
                woken: AtomicBool::new(false),
                granted: AtomicBool::new(false),
                inbox: inbox.clone(),
            });
            queues.entry(key).or_default().push_back(waiter.clone());
            return Ok(Locked::Queued(waiter));
        }
    }

    /// FUTEX_UNLOCK_PI by thread `tid`: hand the lock to the first
    /// sleeper, or free it. EPERM if `tid` does not own it.
    pub fn unlock_pi(&self, key: FutexKey, tid: u32, word: &dyn PiWord) -> Result<(), Errno> {
        let mut queues = self.lock();
        loop {
            let v = word.load()?;
            if v & FUTEX_TID_MASK != tid {
                return Err(Errno::EPERM);
            }
            let next = queues.get(&key).and_then(|q| q.front().cloned());
            // The new owner's unlock must come here too while others may
            // still sleep, so the hand-over keeps FUTEX_WAITERS, as Linux.
            let new = next.as_ref().map_or(0, |w| w.tid | FUTEX_WAITERS);
            if word.cas(v, new)? != v {
                continue;
            }
            if let Some(w) = next {
                pop(&mut queues, key);
                w.wake(true);
            }
            return Ok(());
        }
    }

    /// The robust owner of the word died: it was marked OWNER_DIED with
    /// no owner; the first sleeper wakes to take it over (and sees the
    /// mark, which glibc turns into EOWNERDEAD).
    pub fn owner_died(&self, key: FutexKey) {
        let mut queues = self.lock();
        if let Some(w) = queues.get(&key).and_then(|q| q.front().cloned()) {
            pop(&mut queues, key);
            w.wake(false);
        }
    }

    /// Take `waiter` off its queue (a timeout or a signal). Returns whether
    /// the lock was handed to it meanwhile: then the caller owns it.
    pub fn cancel(&self, waiter: &Arc<PiWaiter>) -> bool {
        let mut queues = self.lock();
        if waiter.woken() {
            if !waiter.granted() {
                // Woken to take over from a dead owner, but leaving: the
                // next sleeper must try instead.
                if let Some(w) = queues.get(&waiter.key).and_then(|q| q.front().cloned()) {
                    pop(&mut queues, waiter.key);
                    w.wake(false);
                }
            }
            return waiter.granted();
        }
        queues.retain(|_, q| {
            q.retain(|w| !Arc::ptr_eq(w, waiter));
            !q.is_empty()
        });
        false
    }
}

fn pop(queues: &mut HashMap<FutexKey, VecDeque<Arc<PiWaiter>>>, key: FutexKey) {
    if let Some(q) = queues.get_mut(&key) {
        q.pop_front();
        if q.is_empty() {
            queues.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct Word {
        v: AtomicU32,
        alive: Vec<u32>,
    }

    impl PiWord for Word {
        fn cas(&self, old: u32, new: u32) -> Result<u32, Errno> {
            Ok(
                match self
                    .v
                    .compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
                {
                    Ok(v) | Err(v) => v,
                },
            )
        }
        fn alive(&self, tid: u32) -> bool {
            self.alive.contains(&tid)
        }
    }

    const KEY: FutexKey = FutexKey {
        mm: 1,
        addr: 0x1000,
    };

    fn word(v: u32) -> Word {
        Word {
            v: AtomicU32::new(v),
            alive: vec![5, 6, 7],
        }
    }

    #[test]
    fn contended_lock_queues_and_unlock_hands_over() {
        let t = PiFutexes::default();
        let inbox = Arc::new(SignalInbox::default());
        let w = word(5);
        // Thread 6 finds it held by 5: queued, the word marked contended.
        let Ok(Locked::Queued(six)) = t.lock_pi(KEY, 6, &inbox, &w, false) else {
            panic!("thread 6 should queue");
        };
        assert_eq!(w.v.load(Ordering::SeqCst), 5 | FUTEX_WAITERS);
        let Ok(Locked::Queued(seven)) = t.lock_pi(KEY, 7, &inbox, &w, false) else {
            panic!("thread 7 should queue");
        };
        assert!(matches!(t.unlock_pi(KEY, 6, &w), Err(Errno::EPERM)));
        t.unlock_pi(KEY, 5, &w).unwrap();
        assert!(six.woken() && six.granted(), "handed to the first sleeper");
        assert_eq!(w.v.load(Ordering::SeqCst), 6 | FUTEX_WAITERS);
        t.unlock_pi(KEY, 6, &w).unwrap();
        assert!(seven.granted());
        t.unlock_pi(KEY, 7, &w).unwrap();
        assert_eq!(w.v.load(Ordering::SeqCst), 0, "free with no one left");
    }

    #[test]
    fn own_lock_dead_owner_and_trylock() {
        let t = PiFutexes::default();
        let inbox = Arc::new(SignalInbox::default());
        assert!(matches!(
            t.lock_pi(KEY, 5, &inbox, &word(5), false),
            Err(Errno::EDEADLK)
        ));
        assert!(matches!(
            t.lock_pi(KEY, 5, &inbox, &word(99), false),
            Err(Errno::ESRCH)
        ));
        assert!(matches!(
            t.lock_pi(KEY, 5, &inbox, &word(6), true),
            Err(Errno::EAGAIN)
        ));
        let free = word(0);
        assert!(matches!(
            t.lock_pi(KEY, 5, &inbox, &free, true),
            Ok(Locked::Acquired)
        ));
        assert_eq!(free.v.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_sleeper_takes_over_from_a_dead_owner_and_cancel_reports_a_hand_over() {
        let t = PiFutexes::default();
        let inbox = Arc::new(SignalInbox::default());
        let w = word(5);
        let Ok(Locked::Queued(six)) = t.lock_pi(KEY, 6, &inbox, &w, false) else {
            panic!("queued");
        };
        // The robust owner's exit marks the word and wakes the sleeper,
        // which tries again and gets the lock with the mark kept.
        w.v.store(FUTEX_OWNER_DIED | FUTEX_WAITERS, Ordering::SeqCst);
        t.owner_died(KEY);
        assert!(six.woken() && !six.granted());
        assert!(matches!(
            t.lock_pi(KEY, 6, &inbox, &w, false),
            Ok(Locked::Acquired)
        ));
        assert_eq!(w.v.load(Ordering::SeqCst), 6 | FUTEX_OWNER_DIED);

        let Ok(Locked::Queued(seven)) = t.lock_pi(KEY, 7, &inbox, &w, false) else {
            panic!("queued");
        };
        t.unlock_pi(KEY, 6, &w).unwrap();
        assert!(t.cancel(&seven), "handed over before the cancel: owned");
    }
}
