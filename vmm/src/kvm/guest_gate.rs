//! [`GuestGate`]: keeps every vCPU out of guest mode while the machine
//! replaces its memslot.
//!
//! Dropping all of KVM's shadow pages means deleting and re-adding the
//! memslot (see `Machine::sync_shadow`). A vCPU in guest mode at that
//! moment can touch guest-physical memory that has no memslot, which KVM
//! turns into a triple fault (`KVM_EXIT_SHUTDOWN`) on a shadow-paging host.
//! So each `KVM_RUN` passes the gate, and the thread that replaces the
//! memslot closes it, kicks the vCPUs inside out and waits for them.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::kick::KickState;

#[derive(Default)]
struct State {
    /// vCPUs between `enter` and `leave` (in or about to be in KVM_RUN).
    in_guest: usize,
    /// A thread waits for them all to leave; no one enters meanwhile.
    closed: bool,
}

#[derive(Default)]
pub(super) struct GuestGate {
    state: Mutex<State>,
    changed: Condvar,
    /// Every context's kick state, to get vCPUs out of KVM_RUN.
    kicks: Mutex<Vec<Weak<KickState>>>,
}

/// How often vCPUs still inside are kicked again (one may have entered
/// KVM_RUN just after a kick).
const KICK_INTERVAL: Duration = Duration::from_millis(1);

impl GuestGate {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new context's kick state, so `with_all_out` can kick its vCPU.
    pub(super) fn register(&self, kick: &Arc<KickState>) {
        let mut kicks = self.kicks.lock().unwrap_or_else(|e| e.into_inner());
        kicks.retain(|k| k.strong_count() > 0);
        kicks.push(Arc::downgrade(kick));
    }

    /// Before KVM_RUN: waits while the gate is closed.
    pub(super) fn enter(&self) {
        let mut s = self.lock();
        while s.closed {
            s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.in_guest += 1;
    }

    /// After KVM_RUN has returned.
    pub(super) fn leave(&self) {
        let mut s = self.lock();
        s.in_guest -= 1;
        if s.in_guest == 0 && s.closed {
            self.changed.notify_all();
        }
    }

    /// Runs `f` while no vCPU is in guest mode, kicking out those that
    /// are. If another thread is already doing so, waits for it to finish
    /// and returns `None` without running `f` (its work covers ours).
    pub(super) fn with_all_out<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let mut s = self.lock();
        if s.closed {
            while s.closed {
                s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            return None;
        }
        s.closed = true;
        while s.in_guest > 0 {
            drop(s);
            self.kick_all();
            s = self.lock();
            if s.in_guest == 0 {
                break;
            }
            s = self
                .changed
                .wait_timeout(s, KICK_INTERVAL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(s);
        let result = f();
        self.lock().closed = false;
        self.changed.notify_all();
        Some(result)
    }

    fn kick_all(&self) {
        let kicks: Vec<Arc<KickState>> = self
            .kicks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for k in kicks {
            k.kick();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn the_closer_waits_for_every_vcpu_inside_and_keeps_others_out() {
        let gate = Arc::new(GuestGate::default());
        gate.enter();
        let ran = Arc::new(AtomicBool::new(false));
        let closer = {
            let (gate, ran) = (gate.clone(), ran.clone());
            std::thread::spawn(move || gate.with_all_out(|| ran.store(true, Ordering::SeqCst)))
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!ran.load(Ordering::SeqCst), "ran with a vCPU inside");
        gate.leave();
        assert_eq!(closer.join().unwrap(), Some(()));
        assert!(ran.load(Ordering::SeqCst));
        // Open again.
        gate.enter();
        gate.leave();
    }

    #[test]
    fn a_second_closer_waits_for_the_first_and_skips_its_work() {
        let gate = Arc::new(GuestGate::default());
        gate.enter();
        let first = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.with_all_out(|| 1))
        };
        std::thread::sleep(Duration::from_millis(10));
        let second = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.with_all_out(|| 2))
        };
        std::thread::sleep(Duration::from_millis(10));
        gate.leave();
        assert_eq!(first.join().unwrap(), Some(1));
        assert_eq!(second.join().unwrap(), None);
    }
}
