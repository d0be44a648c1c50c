//! Signals that arrive from other host threads (timers now; other tasks
//! later). The task's own thread drains the inbox before every switch into
//! the guest; posting also interrupts a running guest and wakes a task
//! sleeping in a system call, so delivery is prompt on every platform.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use vmm::Interrupter;

use super::siginfo::SigInfo;

#[derive(Default)]
pub struct SignalInbox {
    queue: Mutex<Vec<SigInfo>>,
    arrived: Condvar,
    interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
}

impl SignalInbox {
    /// Set how to interrupt the task's running guest code.
    pub fn set_interrupter(&self, i: Arc<dyn Interrupter>) {
        *self.interrupter.lock().unwrap_or_else(|e| e.into_inner()) = Some(i);
    }

    /// Queue `info` for the task and make it notice.
    pub fn post(&self, info: SigInfo) {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(info);
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

    /// Everything posted since the last call.
    pub fn drain(&self) -> Vec<SigInfo> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Block until something is posted or `deadline` passes. Returns
    /// whether something was posted.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !q.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
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
}
