//! The PI lock protocol against a word in plain memory.

use super::*;
use std::sync::atomic::AtomicU32;

struct Word {
    v: AtomicU32,
    listed: Vec<u32>,
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
    fn listed(&self, tid: u32) -> bool {
        self.listed.contains(&tid)
    }
}

impl Word {
    fn get(&self) -> u32 {
        self.v.load(Ordering::SeqCst)
    }
    fn set(&self, v: u32) {
        self.v.store(v, Ordering::SeqCst)
    }
}

const KEY: FutexKey = FutexKey {
    mm: 1,
    addr: 0x1000,
};

fn word(v: u32) -> Word {
    Word {
        v: AtomicU32::new(v),
        listed: vec![5, 6, 7, 8],
    }
}

fn inbox() -> Arc<SignalInbox> {
    Arc::new(SignalInbox::default())
}

fn queue(t: &PiFutexes, tid: u32, w: &Word) -> Arc<PiWaiter> {
    match t.lock_pi(KEY, tid, &inbox(), w, false) {
        Ok(Locked::Queued(q)) => q,
        Ok(Locked::Acquired) => panic!("{tid} took the lock"),
        Err(e) => panic!("{tid}: {e:?}"),
    }
}

/// No queue left behind.
fn idle(t: &PiFutexes) -> bool {
    let st = t.lock();
    st.pi.is_empty() && st.waits.is_empty()
}

fn acquired(r: Result<Locked, Errno>) -> bool {
    matches!(r, Ok(Locked::Acquired))
}

fn failed(r: Result<Locked, Errno>) -> Option<Errno> {
    r.err()
}

#[test]
fn a_free_word_is_taken_and_keeps_the_owner_died_mark() {
    let t = PiFutexes::default();
    let w = word(0);
    assert!(acquired(t.lock_pi(KEY, 5, &inbox(), &w, false)));
    assert_eq!(w.get(), 5, "no FUTEX_WAITERS without sleepers");
    let w = word(FUTEX_OWNER_DIED);
    assert!(acquired(t.lock_pi(KEY, 5, &inbox(), &w, true)));
    assert_eq!(w.get(), 5 | FUTEX_OWNER_DIED);
}

#[test]
fn contended_lock_queues_and_unlock_hands_over_in_order() {
    let t = PiFutexes::default();
    let w = word(5);
    let six = queue(&t, 6, &w);
    assert_eq!(w.get(), 5 | FUTEX_WAITERS);
    let seven = queue(&t, 7, &w);
    assert_eq!(t.unlock_pi(KEY, 6, &w), Err(Errno::EPERM));
    t.unlock_pi(KEY, 5, &w).unwrap();
    assert_eq!(six.woken(), Some(Woken::Granted));
    assert_eq!(seven.woken(), None);
    assert_eq!(w.get(), 6 | FUTEX_WAITERS);
    t.unlock_pi(KEY, 6, &w).unwrap();
    assert_eq!(seven.woken(), Some(Woken::Granted));
    // The last hand-over keeps FUTEX_WAITERS: the unlock comes back here
    // and finds nobody.
    assert_eq!(w.get(), 7 | FUTEX_WAITERS);
    t.unlock_pi(KEY, 7, &w).unwrap();
    assert_eq!(w.get(), 0);
    assert!(idle(&t), "no queue left behind");
}

#[test]
fn own_lock_dead_owner_and_trylock_errors() {
    let t = PiFutexes::default();
    let i = inbox();
    assert_eq!(
        failed(t.lock_pi(KEY, 5, &i, &word(5), false)),
        Some(Errno::EDEADLK)
    );
    assert_eq!(
        failed(t.lock_pi(KEY, 5, &i, &word(5 | FUTEX_WAITERS), true)),
        Some(Errno::EDEADLK)
    );
    // A failed attempt leaves the word marked contended, as Linux's does.
    let dead = word(99);
    assert_eq!(
        failed(t.lock_pi(KEY, 5, &i, &dead, false)),
        Some(Errno::ESRCH)
    );
    assert_eq!(dead.get(), 99 | FUTEX_WAITERS);
    let held = word(6);
    assert_eq!(
        failed(t.lock_pi(KEY, 5, &i, &held, true)),
        Some(Errno::EAGAIN)
    );
    assert_eq!(held.get(), 6 | FUTEX_WAITERS);
    assert!(idle(&t), "a trylock never queues");
    assert_eq!(t.unlock_pi(KEY, 5, &word(0)), Err(Errno::EPERM));
}

#[test]
fn uncontended_unlock_frees_and_reports_a_changed_word() {
    let t = PiFutexes::default();
    let w = word(5 | FUTEX_OWNER_DIED);
    t.unlock_pi(KEY, 5, &w).unwrap();
    assert_eq!(w.get(), 0, "the owner-died mark goes with the unlock");

    struct Racy(Word);
    impl PiWord for Racy {
        fn cas(&self, old: u32, new: u32) -> Result<u32, Errno> {
            // Another thread sets FUTEX_WAITERS between load and swap.
            if old != u32::MAX {
                self.0.set(old | FUTEX_WAITERS);
            }
            self.0.cas(old, new)
        }
        fn listed(&self, tid: u32) -> bool {
            self.0.listed(tid)
        }
    }
    assert_eq!(t.unlock_pi(KEY, 5, &Racy(word(5))), Err(Errno::EAGAIN));
}

#[test]
fn a_word_changed_behind_the_queue_is_refused() {
    let t = PiFutexes::default();
    let w = word(5);
    let _six = queue(&t, 6, &w);
    w.set(8 | FUTEX_WAITERS);
    assert_eq!(
        failed(t.lock_pi(KEY, 7, &inbox(), &w, false)),
        Some(Errno::EINVAL)
    );
    w.set(FUTEX_WAITERS);
    assert_eq!(
        failed(t.lock_pi(KEY, 7, &inbox(), &w, false)),
        Some(Errno::EINVAL)
    );
}

#[test]
fn an_exiting_owner_hands_over_to_the_first_sleeper() {
    let t = PiFutexes::default();
    let w = word(5);
    let six = queue(&t, 6, &w);
    let seven = queue(&t, 7, &w);
    t.owner_exited(5, true);
    assert_eq!(six.woken(), Some(Woken::TakeOver));
    assert_eq!(seven.woken(), None);
    // Until thread 6 has written its id, newcomers queue behind it.
    let eight = queue(&t, 8, &w);
    t.take_over(&six, &w).unwrap();
    assert_eq!(
        w.get(),
        6 | FUTEX_WAITERS | FUTEX_OWNER_DIED,
        "marked even though not robust, as Linux"
    );
    t.unlock_pi(KEY, 6, &w).unwrap();
    assert_eq!(seven.woken(), Some(Woken::Granted));
    t.unlock_pi(KEY, 7, &w).unwrap();
    assert_eq!(eight.woken(), Some(Woken::Granted));
    t.unlock_pi(KEY, 8, &w).unwrap();
    assert_eq!(w.get(), 0);
    // Thread 5 is gone for later lockers even if still listed.
    let stale = word(5);
    assert_eq!(
        failed(t.lock_pi(KEY, 6, &inbox(), &stale, false)),
        Some(Errno::ESRCH)
    );
    t.forget(5);
    let _q = queue(&t, 6, &word(5));
}

#[test]
fn a_robust_owner_death_keeps_the_mark_for_the_sleeper() {
    let t = PiFutexes::default();
    let w = word(5);
    let six = queue(&t, 6, &w);
    // The robust list walk marks the word, then the exit hands it over.
    w.set(FUTEX_WAITERS | FUTEX_OWNER_DIED);
    let seven = queue(&t, 7, &w);
    t.owner_exited(5, true);
    assert_eq!(six.woken(), Some(Woken::TakeOver));
    t.take_over(&six, &w).unwrap();
    assert_eq!(w.get(), 6 | FUTEX_WAITERS | FUTEX_OWNER_DIED);
    t.unlock_pi(KEY, 6, &w).unwrap();
    assert_eq!(seven.woken(), Some(Woken::Granted));
    assert_eq!(w.get(), 7 | FUTEX_WAITERS);
}

#[test]
fn cancel_leaves_the_queue_or_reports_the_lock_it_got() {
    let t = PiFutexes::default();
    let w = word(5);
    let six = queue(&t, 6, &w);
    assert_eq!(t.cancel(&six), None);
    assert!(idle(&t));
    // The owner's unlock then finds no one: the word is freed.
    t.unlock_pi(KEY, 5, &w).unwrap();
    assert_eq!(w.get(), 0);

    let w = word(5);
    let six = queue(&t, 6, &w);
    t.unlock_pi(KEY, 5, &w).unwrap();
    assert_eq!(t.cancel(&six), Some(Woken::Granted), "handed over first");

    let w = word(5);
    let six = queue(&t, 6, &w);
    t.owner_exited(5, false);
    assert_eq!(t.cancel(&six), Some(Woken::TakeOver));
    t.take_over(&six, &w).unwrap();
    assert_eq!(w.get(), 6 | FUTEX_WAITERS | FUTEX_OWNER_DIED);
    assert!(idle(&t));
    // An exec is no exit: thread 5 still owns what it takes later.
    assert!(t.alive(5, &w));
}

const COND: FutexKey = FutexKey {
    mm: 1,
    addr: 0x2000,
};

fn wait_on_cond(t: &PiFutexes, tid: u32) -> Arc<PiWaiter> {
    t.wait_requeue_pi(COND, KEY, tid, &inbox(), || Ok(true))
        .unwrap()
}

#[test]
fn requeue_gives_a_free_lock_to_the_first_waiter_and_queues_the_rest() {
    let t = PiFutexes::default();
    assert_eq!(
        t.wait_requeue_pi(COND, COND, 6, &inbox(), || Ok(true))
            .err(),
        Some(Errno::EINVAL)
    );
    assert_eq!(
        t.wait_requeue_pi(COND, KEY, 6, &inbox(), || Ok(false))
            .err(),
        Some(Errno::EAGAIN)
    );
    let w = word(0);
    assert_eq!(t.cmp_requeue_pi(COND, KEY, 5, &w, || Ok(true)), Ok(0));
    assert_eq!(w.get(), 0, "nobody waiting: the lock is left alone");
    let six = wait_on_cond(&t, 6);
    let seven = wait_on_cond(&t, 7);
    let eight = wait_on_cond(&t, 8);
    assert_eq!(
        t.cmp_requeue_pi(COND, KEY, 5, &w, || Ok(false)),
        Err(Errno::EAGAIN)
    );
    // One more than asked may go: the first is given the lock, one moves.
    assert_eq!(t.cmp_requeue_pi(COND, KEY, 1, &w, || Ok(true)), Ok(2));
    assert_eq!(six.woken(), Some(Woken::Granted));
    assert_eq!(w.get(), 6 | FUTEX_WAITERS);
    assert_eq!(t.cancel_wait(&eight), WaitEnd::OnFirst);
    t.unlock_pi(KEY, 6, &w).unwrap();
    assert_eq!(seven.woken(), Some(Woken::Granted));
    t.unlock_pi(KEY, 7, &w).unwrap();
    assert_eq!(w.get(), 0);
    assert!(idle(&t));
}

#[test]
fn requeue_behind_a_held_lock_and_its_errors() {
    let t = PiFutexes::default();
    let w = word(5);
    let six = wait_on_cond(&t, 6);
    let seven = wait_on_cond(&t, 7);
    assert_eq!(t.cmp_requeue_pi(COND, KEY, 0, &w, || Ok(true)), Ok(1));
    assert_eq!(w.get(), 5 | FUTEX_WAITERS);
    assert_eq!(t.cancel_wait(&six), WaitEnd::Requeued);
    assert_eq!(t.cmp_requeue_pi(COND, KEY, 9, &w, || Ok(true)), Ok(1));
    t.unlock_pi(KEY, 5, &w).unwrap();
    assert_eq!(seven.woken(), Some(Woken::Granted));
    assert_eq!(t.cancel_wait(&seven), WaitEnd::Owned(Woken::Granted));

    // The waiter already owns the target, or its owner is dead.
    let w = word(6);
    let _six = wait_on_cond(&t, 6);
    assert_eq!(
        t.cmp_requeue_pi(COND, KEY, 1, &w, || Ok(true)),
        Err(Errno::EDEADLK)
    );
    w.set(99);
    assert_eq!(
        t.cmp_requeue_pi(COND, KEY, 1, &w, || Ok(true)),
        Err(Errno::ESRCH)
    );
    // A waiter for another PI futex.
    let other = FutexKey {
        mm: 1,
        addr: 0x3000,
    };
    assert_eq!(
        t.cmp_requeue_pi(COND, other, 1, &word(0), || Ok(true)),
        Err(Errno::EINVAL)
    );
}
