//! What pidfds need of the process table: a process's exit notice (a host
//! eventfd, readable once it has exited, so poll and epoll on a pidfd are
//! host polls) and, from a notice, the process it names while that
//! process is still in the table. A pid reused after the process is
//! reaped has another notice, so a pidfd never reaches it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use rustix::event::{eventfd, EventfdFlags};

use super::ProcessTable;
use crate::errno::Errno;

/// Readable (POLLIN) once its process has exited; never reset.
pub struct ExitNotice {
    fd: OwnedFd,
}

impl ExitNotice {
    fn new() -> Result<Self, Errno> {
        Ok(ExitNotice {
            fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
        })
    }

    pub(super) fn signal(&self) {
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// The host descriptor to poll.
    pub fn host_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The process a notice names: its pid, and whether it has exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoticeTarget {
    pub pid: i32,
    pub exited: bool,
}

impl ProcessTable {
    /// The exit notice of process `pid` (made now if it has none; already
    /// signalled for a zombie). ESRCH if there is no such process.
    pub fn exit_notice(&self, pid: i32) -> Result<Arc<ExitNotice>, Errno> {
        let mut g = self.lock();
        let p = g.1.get_mut(&pid).ok_or(Errno::ESRCH)?;
        if let Some(n) = &p.exit_notice {
            return Ok(n.clone());
        }
        let notice = Arc::new(ExitNotice::new()?);
        if p.zombie.is_some() {
            notice.signal();
        }
        p.exit_notice = Some(notice.clone());
        Ok(notice)
    }

    /// The process `notice` was made for, if it is still in the table
    /// (alive or a zombie) under `pid`.
    pub fn notice_target(&self, pid: i32, notice: &Arc<ExitNotice>) -> Option<NoticeTarget> {
        let g = self.lock();
        let p = g.1.get(&pid)?;
        let same = p
            .exit_notice
            .as_ref()
            .is_some_and(|n| Arc::ptr_eq(n, notice));
        same.then_some(NoticeTarget {
            pid,
            exited: p.zombie.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::ExitStatus;

    #[test]
    fn a_notice_is_readable_after_exit_and_outlives_the_pid() {
        let t = ProcessTable::new(8);
        let init = t.add(0, Arc::default(), 0).unwrap();
        let child = t.add(init, Arc::default(), 0).unwrap();
        let n = t.exit_notice(child).unwrap();
        assert!(Arc::ptr_eq(&n, &t.exit_notice(child).unwrap()));
        let mut buf = [0u8; 8];
        assert_eq!(
            rustix::io::read(&n.fd, &mut buf),
            Err(rustix::io::Errno::AGAIN)
        );
        assert_eq!(
            t.notice_target(child, &n),
            Some(NoticeTarget {
                pid: child,
                exited: false
            })
        );
        t.exit(child, ExitStatus::Exited(0));
        assert!(t.notice_target(child, &n).unwrap().exited);
        let mut poll = [rustix::event::PollFd::new(
            &n.fd,
            rustix::event::PollFlags::IN,
        )];
        assert_eq!(rustix::event::poll(&mut poll, None), Ok(1));
        t.reap(init, child).unwrap();
        assert_eq!(t.notice_target(child, &n), None);
        assert_eq!(t.exit_notice(child).err(), Some(Errno::ESRCH));
    }
}
