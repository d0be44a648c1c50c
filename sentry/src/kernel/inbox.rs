//! Signals that arrive from other host threads (timers now; other tasks
//! later). The task's own thread drains the inbox before every switch into
//! the guest; posting also interrupts a running guest and wakes a task
//! sleeping in a system call, so delivery is prompt on every platform.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

use rustix::event::{eventfd, EventfdFlags};

use vmm::Interrupter;

use super::siginfo::SigInfo;

/// Why a wait on the inbox ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Done,
    Posted,
    Timeout,
}

#[derive(Default)]
pub struct SignalInbox {
    queue: Mutex<Vec<SigInfo>>,
    arrived: Condvar,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    /// Readable while something is posted, so a task blocked in a host
    /// `poll` wakes too. Made on first use.
    wake_fd: OnceLock<Option<OwnedFd>>,
    /// Set by `nudge`: something the task may be waiting for changed (a
    /// futex wake, a child's exit seen by another thread of its process).
    nudged: AtomicBool,
}

impl SignalInbox {
    /// Set how to interrupt the task's running guest code.
    pub fn set_interrupter(&self, i: Arc<dyn Interrupter>) {
        *self.interrupter.lock().unwrap_or_else(|e| e.into_inner()) = Some(i);
    }

    /// An eventfd that becomes readable when something is posted; `None`
    /// if the host refused to make one.
    pub fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        self.wake_fd
            .get_or_init(|| eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok())
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// Queue `info` for the task and make it notice.
    pub fn post(&self, info: SigInfo) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push(info);
        // Signalled under the lock, so the eventfd is readable exactly
        // while the queue holds something: `drain` relies on it.
        if let Some(Some(fd)) = self.wake_fd.get() {
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
        drop(q);
        self.arrived.notify_all();
        if let Some(i) = self
            .interrupter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            i.interrupt();
        }
    }

    /// Wake the task if it sleeps in `wait_until` or `wait_until_or`,
    /// without posting a signal: it re-checks what it waits for. (The
    /// eventfd is left alone: it stays readable exactly while a signal is
    /// queued, and no wait on host descriptors waits for a nudge.)
    pub fn nudge(&self) {
        let _q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        self.nudged.store(true, Ordering::Release);
        self.arrived.notify_all();
    }

    /// Sleep until `done()` holds, a signal is posted, a nudge arrives or
    /// `deadline` passes; returns `done()`. `done` is checked with the
    /// inbox locked, so a waker that makes it true and then nudges is never
    /// missed.
    pub fn wait_until_or(&self, deadline: Instant, done: impl Fn() -> bool) -> bool {
        self.wait(deadline, done) == Wake::Done
    }

    /// Everything posted since the last call.
    pub fn drain(&self) -> Vec<SigInfo> {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.is_empty() {
            // The common case, before every switch into the guest: with
            // nothing posted the eventfd is clear, so no host call.
            return Vec::new();
        }
        if let Some(Some(fd)) = self.wake_fd.get() {
            let mut count = [0u8; 8];
            let _ = rustix::io::read(fd, &mut count);
        }
        std::mem::take(&mut *q)
    }

    /// Block until something is posted, the task is nudged or `deadline`
    /// passes. Returns whether either happened.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        self.wait(deadline, || false) == Wake::Posted
    }

    fn wait(&self, deadline: Instant, done: impl Fn() -> bool) -> Wake {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if done() {
                return Wake::Done;
            }
            if !q.is_empty() || self.nudged.swap(false, Ordering::AcqRel) {
                return Wake::Posted;
            }
            let now = Instant::now();
            if now >= deadline {
                return Wake::Timeout;
            }
            q = self
                .arrived
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_post_from_another_thread_ends_the_wait() {
        let inbox = Arc::new(SignalInbox::default());
        let poster = inbox.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            poster.post(SigInfo::fault(libc::SIGALRM, 0, 0));
        });
        let start = Instant::now();
        assert!(inbox.wait_until(start + Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(inbox.drain().len(), 1);
        assert!(!inbox.wait_until(Instant::now() + Duration::from_millis(10)));
        t.join().unwrap();
    }

    #[test]
    fn the_eventfd_is_readable_exactly_while_something_waits() {
        use rustix::event::{poll, PollFd, PollFlags};
        let inbox = SignalInbox::default();
        let readable = |inbox: &SignalInbox| {
            let fd = inbox.wake_fd().expect("an eventfd");
            let mut set = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
            poll(&mut set, Some(&rustix::time::Timespec::default())).unwrap() == 1
        };
        assert!(!readable(&inbox));
        assert!(inbox.drain().is_empty());
        inbox.post(SigInfo::fault(libc::SIGALRM, 0, 0));
        inbox.post(SigInfo::fault(libc::SIGCHLD, 0, 0));
        assert!(readable(&inbox));
        assert_eq!(inbox.drain().len(), 2);
        assert!(!readable(&inbox));
    }
}
