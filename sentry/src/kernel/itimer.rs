//! ITIMER_REAL (`setitimer`, `alarm`): a host thread that posts SIGALRM to
//! the task's inbox when the timer expires, and re-arms it with the
//! interval.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::inbox::SignalInbox;
use super::siginfo::{SigInfo, SI_KERNEL};

#[derive(Clone, Copy, Default)]
struct Setting {
    /// When the timer next fires; `None` when disarmed.
    next: Option<Instant>,
    interval: Duration,
}

struct Shared {
    setting: Mutex<(Setting, bool /* shut down */)>,
    changed: Condvar,
}

/// The real-time interval timer of one process.
pub struct RealTimer {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RealTimer {
    pub fn new(inbox: Arc<SignalInbox>) -> Self {
        let shared = Arc::new(Shared {
            setting: Mutex::new((Setting::default(), false)),
            changed: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("rvisor-itimer".into())
            .spawn(move || run(&s, &inbox))
            .ok();
        RealTimer { shared, thread }
    }

    /// The time left and the interval, as `getitimer` reports them.
    pub fn get(&self) -> (Duration, Duration) {
        let (s, _) = *self
            .shared
            .setting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let left = s
            .next
            .map(|n| n.saturating_duration_since(Instant::now()))
            .unwrap_or_default();
        // An armed timer never reports zero left (Linux rounds up to 1 µs).
        let left = if s.next.is_some() && left.is_zero() {
            Duration::from_micros(1)
        } else {
            left
        };
        (left, s.interval)
    }

    /// Arm (or, with a zero `value`, disarm) the timer; returns the old
    /// setting as `get` would.
    pub fn set(&self, value: Duration, interval: Duration) -> (Duration, Duration) {
        let old = self.get();
        let mut g = self
            .shared
            .setting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        g.0 = Setting {
            next: (!value.is_zero()).then(|| Instant::now() + value),
            interval,
        };
        self.shared.changed.notify_all();
        old
    }
}

fn run(shared: &Shared, inbox: &SignalInbox) {
    let mut g = shared.setting.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if g.1 {
            return;
        }
        match g.0.next {
            None => g = shared.changed.wait(g).unwrap_or_else(|e| e.into_inner()),
            Some(when) => {
                let now = Instant::now();
                if now < when {
                    g = shared
                        .changed
                        .wait_timeout(g, when - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    continue;
                }
                let interval = g.0.interval;
                g.0.next = (!interval.is_zero()).then(|| when + interval);
                inbox.post(SigInfo::fault(libc::SIGALRM, SI_KERNEL, 0));
            }
        }
    }
}

impl Drop for RealTimer {
    fn drop(&mut self) {
        self.shared
            .setting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1 = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_and_rearms() {
        let inbox = Arc::new(SignalInbox::default());
        let t = RealTimer::new(inbox.clone());
        t.set(Duration::from_millis(10), Duration::from_millis(10));
        assert!(inbox.wait_until(Instant::now() + Duration::from_secs(5)));
        let first = inbox.drain();
        assert_eq!(first[0].signo, libc::SIGALRM);
        assert!(
            inbox.wait_until(Instant::now() + Duration::from_secs(5)),
            "interval re-arms"
        );
        let (left, interval) = t.set(Duration::ZERO, Duration::ZERO);
        assert_eq!(interval, Duration::from_millis(10));
        assert!(left <= Duration::from_millis(10));
        assert_eq!(t.get(), (Duration::ZERO, Duration::ZERO));
    }
}
