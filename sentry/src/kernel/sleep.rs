//! Blocking in a system call the way Linux's interruptible sleeps do: the
//! wait ends early, with EINTR, when a signal the task would act on
//! arrives.

use std::time::Instant;

use std::os::fd::BorrowedFd;

use rustix::event::{poll, PollFd, PollFlags};
use rustix::time::Timespec;

use super::job_control;
use super::signal_delivery::send;
use super::Task;
use crate::errno::Errno;

/// Move signals posted from other threads into the task's pending set.
pub fn collect_posted(task: &mut Task) {
    for info in task.inbox.drain() {
        if job_control::wanted(task, &info) {
            send(task, info);
        }
    }
    // Signals for the whole process that this thread does not block.
    for info in task.group.take_shared(!task.signals.mask) {
        send(task, info);
    }
}

/// Whether a pending signal is not blocked (Linux's `signal_pending`).
pub fn signal_pending(task: &Task) -> bool {
    task.pending_signals.set() & !task.signals.mask != 0
}

/// Sleep until `deadline`; EINTR if a signal became deliverable first.
pub fn sleep_until(task: &mut Task, deadline: Instant) -> Result<(), Errno> {
    task.publish_mask(0);
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

/// Wait until host descriptor `fd` has `events`, for a blocking system
/// call: a signal ends the wait with ERESTARTSYS, so the call restarts or
/// fails with EINTR as the handler's SA_RESTART says.
pub fn wait_host_ready(
    task: &mut Task,
    fd: BorrowedFd<'_>,
    events: PollFlags,
) -> Result<(), Errno> {
    poll_host(task, &[(fd, events)], None)
        .map(drop)
        .map_err(|e| {
            if e == Errno::EINTR {
                Errno::ERESTARTSYS
            } else {
                e
            }
        })
}

/// Wait on host descriptors like `poll(2)`, interruptibly. Returns the
/// events seen on each of `fds` (all empty at `deadline`), or EINTR when a
/// signal became deliverable first.
pub fn poll_host(
    task: &mut Task,
    fds: &[(BorrowedFd<'_>, PollFlags)],
    deadline: Option<Instant>,
) -> Result<Vec<PollFlags>, Errno> {
    let inbox = task.inbox.clone();
    task.publish_mask(0);
    loop {
        collect_posted(task);
        if signal_pending(task) {
            return Err(Errno::EINTR);
        }
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        let mut set: Vec<PollFd<'_>> = fds
            .iter()
            .map(|(fd, ev)| PollFd::from_borrowed_fd(*fd, *ev))
            .collect();
        // The inbox's eventfd ends the wait when a signal is posted.
        if let Some(wake) = inbox.wake_fd() {
            set.push(PollFd::from_borrowed_fd(wake, PollFlags::IN));
        }
        match poll(&mut set, timeout.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let seen: Vec<PollFlags> = set[..fds.len()].iter().map(PollFd::revents).collect();
        if seen.iter().any(|r| !r.is_empty()) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(seen);
        }
    }
}

/// Wait until something is posted to the task (a signal, a child's exit)
/// or `deadline` passes, then take it in; EINTR if a signal became
/// deliverable. The caller re-checks its own condition afterwards, and
/// checks it before calling: posts are not consumed until this returns,
/// so a wake-up between the check and the wait is not lost.
pub fn wait_for_post(task: &mut Task, deadline: Instant) -> Result<(), Errno> {
    task.publish_mask(0);
    task.inbox.clone().wait_until(deadline);
    collect_posted(task);
    if signal_pending(task) {
        return Err(Errno::EINTR);
    }
    Ok(())
}
