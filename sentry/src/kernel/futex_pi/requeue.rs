//! FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI: a condition variable
//! whose waiters wake owning a PI mutex. A waiter sleeps on a plain futex
//! naming the PI futex it wants; the requeue takes the PI futex for the
//! first waiter if it is free, and moves the others to its sleepers, where
//! the owner's unlock (or exit) reaches them as it does LOCK_PI's.
//!
//! Unlike Linux, a plain FUTEX_WAKE of the first futex does not see these
//! waiters (Linux refuses it with EINVAL); nothing correct does that.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    new_waiter, remove_sleeper, PiFutexes, PiQueue, PiWaiter, PiWord, Woken, FUTEX_OWNER_DIED,
    FUTEX_TID_MASK, FUTEX_WAITERS,
};
use crate::errno::Errno;
use crate::kernel::futex::FutexKey;
use crate::kernel::inbox::SignalInbox;
use std::sync::atomic::Ordering;

/// Where a FUTEX_WAIT_REQUEUE_PI waiter stood when it stopped waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// It owns the PI futex.
    Owned(Woken),
    /// Still on the plain futex: Linux restarts the call after a signal.
    OnFirst,
    /// Already moved to the PI futex: after a signal Linux returns EAGAIN.
    Requeued,
}

impl PiFutexes {
    /// FUTEX_WAIT_REQUEUE_PI by `tid`: wait on `first` (if `still_expected()`,
    /// checked with the queues locked; else EAGAIN) to be requeued to PI
    /// futex `pi`.
    pub fn wait_requeue_pi(
        &self,
        first: FutexKey,
        pi: FutexKey,
        tid: u32,
        inbox: &Arc<SignalInbox>,
        still_expected: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<Arc<PiWaiter>, Errno> {
        if first == pi {
            return Err(Errno::EINVAL);
        }
        let mut st = self.lock();
        if !still_expected()? {
            return Err(Errno::EAGAIN);
        }
        let w = new_waiter(pi, tid, inbox);
        w.on_first.store(true, Ordering::Relaxed);
        st.waits.entry(first).or_default().push_back(w.clone());
        Ok(w)
    }

    /// FUTEX_CMP_REQUEUE_PI: if `still_expected()` (else EAGAIN), give PI
    /// futex `pi` (its word `word`) to the first waiter on `first` if it is
    /// free, and move up to `n_move` more (the first included when the
    /// lock is held) to its sleepers. Returns how many were woken or moved.
    pub fn cmp_requeue_pi(
        &self,
        first: FutexKey,
        pi: FutexKey,
        n_move: usize,
        word: &dyn PiWord,
        still_expected: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<usize, Errno> {
        if first == pi {
            return Err(Errno::EINVAL);
        }
        let mut st = self.lock();
        if !still_expected()? {
            return Err(Errno::EAGAIN);
        }
        let Some(waiting) = st.waits.get(&first).filter(|q| !q.is_empty()) else {
            return Ok(0);
        };
        // Waiters for another PI futex: Linux refuses the lot.
        if waiting.iter().any(|w| w.key != pi) {
            return Err(Errno::EINVAL);
        }
        let top = waiting[0].clone();
        let mut done = 0;
        let mut limit = n_move.saturating_add(1);
        if !st.pi.contains_key(&pi) {
            // Try to take the PI futex for the first waiter, as its own
            // LOCK_PI would; like Linux, mark it contended, since the
            // others may follow.
            loop {
                let v = word.load()?;
                let owner = v & FUTEX_TID_MASK;
                if owner == top.tid {
                    return Err(Errno::EDEADLK);
                }
                if owner == 0 {
                    let new = top.tid | (v & FUTEX_OWNER_DIED) | FUTEX_WAITERS;
                    if word.cas(v, new)? != v {
                        continue;
                    }
                    take_first(&mut st.waits, first);
                    top.on_first.store(false, Ordering::Relaxed);
                    top.wake(Woken::Granted);
                    done = 1;
                    limit -= 1;
                    st.pi.insert(
                        pi,
                        PiQueue {
                            owner: Some(top.tid),
                            sleepers: VecDeque::new(),
                        },
                    );
                    break;
                }
                if v & FUTEX_WAITERS == 0 && word.cas(v, v | FUTEX_WAITERS)? != v {
                    continue;
                }
                if !self.alive(owner, word) {
                    return Err(Errno::ESRCH);
                }
                st.pi.insert(
                    pi,
                    PiQueue {
                        owner: Some(owner),
                        sleepers: VecDeque::new(),
                    },
                );
                break;
            }
        } else {
            // Sleepers already wait on it: the word must say contended.
            let v = word.load()?;
            if v & FUTEX_WAITERS == 0 && word.cas(v, v | FUTEX_WAITERS)? != v {
                return Err(Errno::EAGAIN);
            }
        }
        while limit > 0 {
            let Some(w) = take_first(&mut st.waits, first) else {
                break;
            };
            w.on_first.store(false, Ordering::Relaxed);
            if let Some(q) = st.pi.get_mut(&pi) {
                q.sleepers.push_back(w);
            }
            done += 1;
            limit -= 1;
        }
        // A queue made for a first waiter that got the lock, with nobody
        // behind it, is not needed.
        if st.pi.get(&pi).is_some_and(|q| q.sleepers.is_empty()) {
            st.pi.remove(&pi);
        }
        Ok(done)
    }

    /// Stop a FUTEX_WAIT_REQUEUE_PI wait (a timeout or a signal).
    pub fn cancel_wait(&self, waiter: &Arc<PiWaiter>) -> WaitEnd {
        let mut st = self.lock();
        if let Some(how) = waiter.woken() {
            return WaitEnd::Owned(how);
        }
        if waiter.on_first.load(Ordering::Relaxed) {
            st.waits.retain(|_, q| {
                q.retain(|w| !Arc::ptr_eq(w, waiter));
                !q.is_empty()
            });
            return WaitEnd::OnFirst;
        }
        remove_sleeper(&mut st.pi, waiter);
        WaitEnd::Requeued
    }
}

fn take_first(
    waits: &mut std::collections::HashMap<FutexKey, VecDeque<Arc<PiWaiter>>>,
    key: FutexKey,
) -> Option<Arc<PiWaiter>> {
    let q = waits.get_mut(&key)?;
    let w = q.pop_front();
    if q.is_empty() {
        waits.remove(&key);
    }
    w
}
