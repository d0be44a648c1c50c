//! A listening socket's backlog: connections made by `connect` and not
//! yet accepted. A host eventfd in semaphore mode counts them, so the
//! listener is readable for poll/select/epoll exactly while the queue is
//! not empty, and a blocked `accept` waits on it interruptibly.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use rustix::event::EventfdFlags;

use super::socket::{PeerCred, UnixSocket};
use crate::errno::Errno;

/// Linux's default `net.core.somaxconn`: the largest backlog `listen` takes.
const SOMAXCONN: usize = 4096;

pub struct Listener {
    queue: Mutex<Backlog>,
    /// Readable while `queue` holds a connection (one count each).
    ready: OwnedFd,
    /// Who called `listen`: what a connecting socket's SO_PEERCRED reads.
    pub cred: PeerCred,
}

struct Backlog {
    pending: VecDeque<Arc<UnixSocket>>,
    max: usize,
}

impl Listener {
    pub fn new(backlog: i32, cred: PeerCred) -> Result<Self, Errno> {
        let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK | EventfdFlags::SEMAPHORE;
        Ok(Listener {
            queue: Mutex::new(Backlog {
                pending: VecDeque::new(),
                max: clamp(backlog),
            }),
            ready: rustix::event::eventfd(0, flags)?,
            cred,
        })
    }

    /// A second `listen` changes the backlog, as on Linux.
    pub fn set_backlog(&self, backlog: i32) {
        self.lock().max = clamp(backlog);
    }

    /// The descriptor poll and epoll watch.
    pub fn ready_fd(&self) -> BorrowedFd<'_> {
        self.ready.as_fd()
    }

    /// Queue a new connection's server end; EAGAIN when the backlog is
    /// full (Linux lets it hold one more than asked for).
    pub fn push(&self, server_end: Arc<UnixSocket>) -> Result<(), Errno> {
        let mut q = self.lock();
        if q.pending.len() > q.max {
            return Err(Errno::EAGAIN);
        }
        rustix::io::write(&self.ready, &1u64.to_ne_bytes())?;
        q.pending.push_back(server_end);
        Ok(())
    }

    /// The oldest connection, if any.
    pub fn pop(&self) -> Option<Arc<UnixSocket>> {
        let mut q = self.lock();
        let s = q.pending.pop_front()?;
        let mut one = [0u8; 8];
        let _ = rustix::io::read(&self.ready, &mut one);
        Some(s)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Backlog> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn clamp(backlog: i32) -> usize {
    usize::try_from(backlog).unwrap_or(0).min(SOMAXCONN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::event::{poll, PollFd, PollFlags};

    fn readable(l: &Listener) -> bool {
        let mut set = [PollFd::from_borrowed_fd(l.ready_fd(), PollFlags::IN)];
        poll(&mut set, Some(&rustix::time::Timespec::default())).unwrap();
        set[0].revents().contains(PollFlags::IN)
    }

    #[test]
    fn backlog_holds_one_more_than_asked_and_is_readable_while_full() {
        let l = Listener::new(1, PeerCred::default()).unwrap();
        assert!(!readable(&l));
        for _ in 0..2 {
            l.push(Arc::new(UnixSocket::unconnected(libc::SOCK_STREAM, false)))
                .unwrap();
        }
        let extra = Arc::new(UnixSocket::unconnected(libc::SOCK_STREAM, false));
        assert_eq!(l.push(extra).err(), Some(Errno::EAGAIN));
        assert!(readable(&l));
        assert!(l.pop().is_some());
        assert!(readable(&l));
        assert!(l.pop().is_some());
        assert!(l.pop().is_none());
        assert!(!readable(&l));
    }
}
