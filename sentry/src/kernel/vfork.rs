//! vfork: the calling thread waits until its child lets go of the memory
//! they share, by `execve` or by exiting (Linux's vfork_done completion,
//! completed when the child releases its mm).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::inbox::SignalInbox;
use super::signal::sig_bit;
use super::sleep::collect_posted;
use super::Task;

/// The parent's side: whether the child has let go yet.
pub struct VforkWait {
    done: Arc<AtomicBool>,
}

/// The child's side, held by its task: dropping it (at `execve`, or with
/// the task when it exits, whatever the path) releases the parent.
pub struct VforkRelease {
    done: Arc<AtomicBool>,
    /// The inbox of the parent's waiting thread, nudged to look again.
    parent: Arc<SignalInbox>,
}

/// A wait for a child started by the thread whose inbox is `parent`.
pub fn vfork_pair(parent: Arc<SignalInbox>) -> (VforkWait, VforkRelease) {
    let done = Arc::new(AtomicBool::new(false));
    (
        VforkWait { done: done.clone() },
        VforkRelease { done, parent },
    )
}

impl VforkWait {
    fn done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Block `task` until the child lets go. As Linux's vfork waits, only a
    /// fatal signal ends the wait early (the child runs on); other signals
    /// stay pending and are delivered once the wait is over.
    pub fn wait(self, task: &mut Task) {
        let far = Instant::now() + Duration::from_secs(1 << 32);
        task.publish_mask(0);
        loop {
            if self.done() {
                return;
            }
            collect_posted(task);
            let killed = task.pending_signals.set() & sig_bit(libc::SIGKILL) != 0;
            if killed || task.group.ending(task.tid).is_some() {
                return;
            }
            // `done` is checked under the inbox's lock, and the release
            // nudges after setting it: no wake-up is lost.
            task.inbox.wait_until_or(far, || self.done());
        }
    }
}

impl Drop for VforkRelease {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        self.parent.nudge();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_release_wakes_the_parent() {
        let inbox = Arc::new(SignalInbox::default());
        let (wait, release) = vfork_pair(inbox.clone());
        assert!(!wait.done());
        let child = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(release);
        });
        let start = Instant::now();
        let far = start + Duration::from_secs(10);
        while !inbox.wait_until_or(far, || wait.done()) {}
        assert!(wait.done());
        assert!(start.elapsed() < Duration::from_secs(5));
        child.join().unwrap();
    }
}
