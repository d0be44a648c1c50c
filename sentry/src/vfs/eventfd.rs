//! eventfd: a 64-bit counter that `write` adds to and `read` takes (all
//! of it, or one in semaphore mode). A host eventfd keeps the counter,
//! so overflow, the 8-byte rules, semaphore mode and readiness are the
//! host kernel's, and `poll`/`epoll` see it as a host stream. The host
//! descriptor is always non-blocking: a blocking guest read waits
//! interruptibly in the sentry (`syscalls::fs::io`), never in the host.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::EventfdFlags;

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::nonblock::GuestNonblock;
use crate::vfs::stat::GuestStat;

pub struct EventFd {
    fd: OwnedFd,
    /// The guest's `O_NONBLOCK`.
    nonblock: GuestNonblock,
}

/// `EFD_SEMAPHORE`.
pub const EFD_SEMAPHORE: u32 = 1;

impl EventFd {
    /// A counter starting at `initval`; `semaphore` for EFD_SEMAPHORE.
    pub fn new(initval: u32, semaphore: bool, nonblock: bool) -> Result<Self, Errno> {
        let mut flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        if semaphore {
            flags |= EventfdFlags::SEMAPHORE;
        }
        Ok(EventFd {
            fd: rustix::event::eventfd(initval, flags)?,
            nonblock: GuestNonblock::new(nonblock),
        })
    }
}

impl File for EventFd {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(rustix::io::read(&self.fd, buf)?)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        Ok(rustix::io::write(&self.fd, buf)?)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(GuestStat::from(&rustix::fs::fstat(&self.fd)?))
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.nonblock.status_flags())
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        self.nonblock.set_from(flags);
        Ok(())
    }

    fn link_name(&self) -> Vec<u8> {
        b"anon_inode:[eventfd]".to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_linux() {
        let e = EventFd::new(3, false, true).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(e.read(&mut buf[..4]), Err(Errno::EINVAL));
        assert_eq!(e.read(&mut buf), Ok(8));
        assert_eq!(u64::from_ne_bytes(buf), 3);
        assert_eq!(e.read(&mut buf), Err(Errno::EAGAIN));
        assert_eq!(e.write(&u64::MAX.to_ne_bytes()), Err(Errno::EINVAL));
        assert_eq!(e.write(&(u64::MAX - 1).to_ne_bytes()), Ok(8));
        assert_eq!(e.write(&1u64.to_ne_bytes()), Err(Errno::EAGAIN));
        assert_ne!(e.status_flags().unwrap() & libc::O_NONBLOCK as u32, 0);
    }

    #[test]
    fn semaphore_mode_takes_one_at_a_time() {
        let e = EventFd::new(2, true, false).unwrap();
        let mut buf = [0u8; 8];
        for _ in 0..2 {
            assert_eq!(e.read(&mut buf), Ok(8));
            assert_eq!(u64::from_ne_bytes(buf), 1);
        }
        assert_eq!(e.read(&mut buf), Err(Errno::EAGAIN));
    }
}
