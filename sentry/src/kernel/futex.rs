//! Futex wait queues, shared by every task of the sandbox.
//!
//! A futex is named by its memory manager and guest address. The value
//! check of a wait happens with the queues locked, and a waker takes the
//! same lock after the guest changed the value, so no wake-up between the
//! check and the sleep is lost. Waiters sleep on their own signal inbox, so
//! a signal ends the wait as on Linux.
//!
//! A futex is keyed by (memory manager, address), except a non-private one
//! in memory processes share (MAP_SHARED), which is keyed by its
//! memory-file offset so the processes meet on it (`key_for`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::inbox::SignalInbox;
use crate::errno::Errno;

/// Which futex: the memory manager's id and the guest address.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct FutexKey {
    pub mm: usize,
    pub addr: u64,
}

/// `key` for a futex known to be private (or not).
pub fn key_for(task: &super::Task, private: bool, addr: u64) -> FutexKey {
    if !private {
        if let Some(offset) = task.mm.lock().shared_offset(addr) {
            return FutexKey {
                mm: SHARED_FUTEX,
                addr: offset,
            };
        }
    }
    FutexKey {
        mm: task.mm.id(),
        addr,
    }
}

/// The `mm` of a futex key in shared memory (no memory manager's id is 0).
const SHARED_FUTEX: usize = 0;

/// One task sleeping in FUTEX_WAIT.
pub struct Waiter {
    woken: AtomicBool,
    bitset: u32,
    inbox: Arc<SignalInbox>,
}

impl Waiter {
    pub fn woken(&self) -> bool {
        self.woken.load(Ordering::Acquire)
    }
}

#[derive(Default)]
pub struct FutexTable {
    queues: Mutex<HashMap<FutexKey, VecDeque<Arc<Waiter>>>>,
}

impl FutexTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<FutexKey, VecDeque<Arc<Waiter>>>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue a waiter on `key` if `still_expected()` (the guest value
    /// check, done under the lock) holds; EAGAIN if it does not. The caller
    /// then sleeps until [`Waiter::woken`] and must call [`Self::cancel`]
    /// if it stops waiting for another reason.
    pub fn enqueue(
        &self,
        key: FutexKey,
        bitset: u32,
        inbox: Arc<SignalInbox>,
        still_expected: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<Arc<Waiter>, Errno> {
        let mut queues = self.lock();
        if !still_expected()? {
            return Err(Errno::EAGAIN);
        }
        let waiter = Arc::new(Waiter {
            woken: AtomicBool::new(false),
            bitset,
            inbox,
        });
        queues.entry(key).or_default().push_back(waiter.clone());
        Ok(waiter)
    }

    /// Take `waiter` off whatever queue holds it (after a timeout or a
    /// signal). Returns whether it had been woken meanwhile.
    pub fn cancel(&self, waiter: &Arc<Waiter>) -> bool {
        let mut queues = self.lock();
        if waiter.woken() {
            return true;
        }
        queues.retain(|_, q| {
            q.retain(|w| !Arc::ptr_eq(w, waiter));
            !q.is_empty()
        });
        false
    }

    /// Wake up to `n` waiters on `key` whose bitset meets `bitset`.
    pub fn wake(&self, key: FutexKey, n: usize, bitset: u32) -> usize {
        let mut queues = self.lock();
        let woken = take(&mut queues, key, n, bitset);
        drop(queues);
        let count = woken.len();
        woken.iter().for_each(|w| w.inbox.nudge());
        count
    }

    /// Wake up to `n_wake` waiters on `from` and move up to `n_move` more
    /// to `to`; `check()` (under the lock) may refuse with EAGAIN first.
    /// Returns how many were woken and how many moved.
    pub fn requeue(
        &self,
        from: FutexKey,
        to: FutexKey,
        n_wake: usize,
        n_move: usize,
        check: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<(usize, usize), Errno> {
        let mut queues = self.lock();
        if !check()? {
            return Err(Errno::EAGAIN);
        }
        let woken = take(&mut queues, from, n_wake, u32::MAX);
        let mut moved = Vec::new();
        if from != to {
            if let Some(q) = queues.get_mut(&from) {
                for _ in 0..n_move.min(q.len()) {
                    moved.extend(q.pop_front());
                }
                if q.is_empty() {
                    queues.remove(&from);
                }
            }
            queues.entry(to).or_default().extend(moved.iter().cloned());
        }
        drop(queues);
        woken.iter().for_each(|w| w.inbox.nudge());
        Ok((woken.len(), moved.len()))
    }

    /// Run `op` with the queues locked, then wake up to `n1` waiters on
    /// `k1` and, if `op` says so, up to `n2` on `k2` (FUTEX_WAKE_OP).
    pub fn wake_op(
        &self,
        k1: FutexKey,
        n1: usize,
        k2: FutexKey,
        n2: usize,
        op: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<usize, Errno> {
        let mut queues = self.lock();
        let wake_second = op()?;
        let mut woken = take(&mut queues, k1, n1, u32::MAX);
        if wake_second {
            woken.extend(take(&mut queues, k2, n2, u32::MAX));
        }
        drop(queues);
        woken.iter().for_each(|w| w.inbox.nudge());
        Ok(woken.len())
    }
}

/// Remove and mark woken up to `n` waiters on `key` matching `bitset`.
fn take(
    queues: &mut HashMap<FutexKey, VecDeque<Arc<Waiter>>>,
    key: FutexKey,
    n: usize,
    bitset: u32,
) -> Vec<Arc<Waiter>> {
    let Some(q) = queues.get_mut(&key) else {
        return Vec::new();
    };
    let mut woken = Vec::new();
    q.retain(|w| {
        if woken.len() < n && w.bitset & bitset != 0 {
            w.woken.store(true, Ordering::Release);
            woken.push(w.clone());
            false
        } else {
            true
        }
    });
    if q.is_empty() {
        queues.remove(&key);
    }
    woken
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    const A: FutexKey = FutexKey {
        mm: 1,
        addr: 0x1000,
    };
    const B: FutexKey = FutexKey {
        mm: 1,
        addr: 0x2000,
    };

    #[test]
    fn a_wait_is_refused_when_the_value_changed() {
        let t = FutexTable::default();
        let r = t.enqueue(A, u32::MAX, Arc::default(), || Ok(false));
        assert!(matches!(r, Err(Errno::EAGAIN)));
        assert_eq!(t.wake(A, 1, u32::MAX), 0);
    }

    #[test]
    fn wake_counts_bitsets_and_requeue() {
        let t = FutexTable::default();
        let w: Vec<_> = (0..4)
            .map(|i| {
                let bits = if i == 0 { 1 } else { 2 };
                t.enqueue(A, bits, Arc::default(), || Ok(true)).unwrap()
            })
            .collect();
        assert_eq!(t.wake(A, 10, 1), 1, "only the waiter with bit 0");
        assert!(w[0].woken() && !w[1].woken());
        assert_eq!(t.requeue(A, B, 1, 1, || Ok(true)).unwrap(), (1, 1));
        assert_eq!(t.wake(A, 10, u32::MAX), 1, "one left on A");
        assert_eq!(t.wake(B, 10, u32::MAX), 1, "one moved to B");
        assert!(w.iter().all(|w| w.woken()));
    }

    #[test]
    fn a_sleeper_on_another_thread_is_woken_and_cancel_reports_it() {
        let t = Arc::new(FutexTable::default());
        let inbox = Arc::new(SignalInbox::default());
        let w = t.enqueue(A, u32::MAX, inbox.clone(), || Ok(true)).unwrap();
        let waker = {
            let t = t.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                t.wake(A, 1, u32::MAX)
            })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !inbox.wait_until_or(deadline, || w.woken()) {}
        assert_eq!(waker.join().unwrap(), 1);
        assert!(t.cancel(&w));
        let lonely = t.enqueue(B, u32::MAX, Arc::default(), || Ok(true)).unwrap();
        assert!(!t.cancel(&lonely));
        assert_eq!(t.wake(B, 1, u32::MAX), 0, "a cancelled waiter is gone");
    }
}
