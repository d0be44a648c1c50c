//! timerfd: a timer read as a file. A host timerfd keeps it, as a host
//! eventfd keeps an eventfd (`vfs/eventfd.rs`): expirations, the 8-byte
//! read, absolute and cancel-on-set timers and readiness are the host
//! kernel's, and `poll`/`epoll` see it as a host stream. The host
//! descriptor is always non-blocking; a blocking guest read waits
//! interruptibly in the sentry.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::nonblock::GuestNonblock;
use crate::vfs::stat::GuestStat;

pub struct TimerFd {
    fd: OwnedFd,
    /// The guest's `O_NONBLOCK`.
    nonblock: GuestNonblock,
}

/// A timer setting as the guest passes it (`struct itimerspec`): interval
/// seconds and nanoseconds, then the value's.
pub type Setting = [i64; 4];

impl TimerFd {
    /// A disarmed timer on `clock` (EINVAL for a clock timerfds cannot
    /// use).
    pub fn new(clock: i32, nonblock: bool) -> Result<Self, Errno> {
        let clock = match clock {
            libc::CLOCK_REALTIME => TimerfdClockId::Realtime,
            libc::CLOCK_MONOTONIC => TimerfdClockId::Monotonic,
            libc::CLOCK_BOOTTIME => TimerfdClockId::Boottime,
            libc::CLOCK_REALTIME_ALARM => TimerfdClockId::RealtimeAlarm,
            libc::CLOCK_BOOTTIME_ALARM => TimerfdClockId::BoottimeAlarm,
            _ => return Err(Errno::EINVAL),
        };
        let fd =
            rustix::time::timerfd_create(clock, TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK)?;
        Ok(TimerFd {
            fd,
            nonblock: GuestNonblock::new(nonblock),
        })
    }

    /// `timerfd_settime`: returns the old setting.
    pub fn set(&self, flags: u32, new: Setting) -> Result<Setting, Errno> {
        let flags = TimerfdTimerFlags::from_bits(flags).ok_or(Errno::EINVAL)?;
        let spec = Itimerspec {
            it_interval: timespec(new[0], new[1]),
            it_value: timespec(new[2], new[3]),
        };
        let old = rustix::time::timerfd_settime(&self.fd, flags, &spec)?;
        Ok(setting(&old))
    }

    /// `timerfd_gettime`.
    pub fn get(&self) -> Result<Setting, Errno> {
        Ok(setting(&rustix::time::timerfd_gettime(&self.fd)?))
    }
}

fn timespec(sec: i64, nsec: i64) -> Timespec {
    Timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

fn setting(s: &Itimerspec) -> Setting {
    [
        s.it_interval.tv_sec,
        s.it_interval.tv_nsec,
        s.it_value.tv_sec,
        s.it_value.tv_nsec,
    ]
}

impl File for TimerFd {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(rustix::io::read(&self.fd, buf)?)
    }

    fn write(&self, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
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
        b"anon_inode:[timerfd]".to_vec()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_counts_and_disarms() {
        let t = TimerFd::new(libc::CLOCK_MONOTONIC, true).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(t.read(&mut buf), Err(Errno::EAGAIN), "disarmed");
        let old = t.set(0, [0, 1_000_000, 0, 1_000_000]).unwrap();
        assert_eq!(old, [0; 4]);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(t.read(&mut buf[..4]), Err(Errno::EINVAL));
        assert_eq!(t.read(&mut buf), Ok(8));
        assert!(u64::from_ne_bytes(buf) >= 1);
        assert_eq!(t.get().unwrap()[..2], [0, 1_000_000]);
        assert_eq!(t.set(0, [0, 0, 0, 2_000_000_000]), Err(Errno::EINVAL));
        assert_eq!(t.set(8, [0; 4]), Err(Errno::EINVAL));
        assert_eq!(t.write(&buf), Err(Errno::EINVAL));
        assert!(TimerFd::new(libc::CLOCK_PROCESS_CPUTIME_ID, false).is_err());
    }
}
