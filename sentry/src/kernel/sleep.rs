//! Blocking in a system call the way Linux's interruptible sleeps do: the
//! wait ends early, with EINTR, when a signal the task would act on
//! arrives.

use std::time::Instant;

use super::signal_delivery::send;
use super::Task;
use crate::errno::Errno;

/// Move signals posted from other threads into the task's pending set.
pub fn collect_posted(task: &mut Task) {
    for info in task.inbox.drain() {
        send(task, info);
    }
}

/// Whether a pending signal is not blocked (Linux's `signal_pending`).
pub fn signal_pending(task: &Task) -> bool {
    task.pending_signals.set() & !task.signals.mask != 0
}

/// Sleep until `deadline`; EINTR if a signal became deliverable first.
pub fn sleep_until(task: &mut Task, deadline: Instant) -> Result<(), Errno> {
    loop {
        collect_posted(task);
        if signal_pending(task) {
            return Err(Errno::EINTR);
        }
        if Instant::now() >= deadline {
            return Ok(());
        }
        task.inbox.wait_until(deadline);
    }
}
