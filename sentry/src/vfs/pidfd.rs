//! A pidfd: a file naming one process of the sandbox. It stays attached
//! to that process (not to its pid, which may be reused once it is
//! reaped) and polls readable once the process has exited, through the
//! process's exit notice, a host eventfd.

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use crate::errno::Errno;
use crate::kernel::process_table::{ExitNotice, NoticeTarget, ProcessTable};
use crate::vfs::file::File;
use crate::vfs::nonblock::GuestNonblock;
use crate::vfs::stat::GuestStat;

pub struct PidFd {
    pid: i32,
    notice: Arc<ExitNotice>,
    /// The guest's `O_NONBLOCK` (PIDFD_NONBLOCK: waitid does not wait).
    nonblock: GuestNonblock,
}

impl PidFd {
    pub fn new(pid: i32, notice: Arc<ExitNotice>, nonblock: bool) -> Self {
        PidFd {
            pid,
            notice,
            nonblock: GuestNonblock::new(nonblock),
        }
    }

    /// The process, if it is still in the table (alive or a zombie).
    pub fn target(&self, procs: &ProcessTable) -> Option<NoticeTarget> {
        procs.notice_target(self.pid, &self.notice)
    }

    /// The pid it was opened for (even once that process is gone).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn nonblocking(&self) -> bool {
        self.nonblock.get()
    }
}

impl File for PidFd {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        Some(self.notice.host_fd())
    }

    /// Reads and writes fail at once: nothing to wait for first.
    fn refuses_io(&self) -> Option<Errno> {
        Some(Errno::EINVAL)
    }

    fn read(&self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(GuestStat::from(&rustix::fs::fstat(self.notice.host_fd())?))
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.nonblock.status_flags())
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        self.nonblock.set_from(flags);
        Ok(())
    }

    fn link_name(&self) -> Vec<u8> {
        b"anon_inode:[pidfd]".to_vec()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}
