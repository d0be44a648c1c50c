//! An epoll instance. A host epoll keeps the interest list: guest files
//! that are host streams (pipes, eventfds, terminals, other epolls) are
//! registered with their host descriptors and the guest's own
//! `epoll_data`, so level and edge triggering, EPOLLONESHOT, EPOLLEXCLUSIVE
//! and nesting behave as the host kernel's. Files the sentry holds in
//! memory cannot be polled (EPERM, as Linux answers for regular files).
//! The host drops a registration when the host descriptor closes, which
//! happens when the guest's last descriptor of the file does, as on Linux.
//! Known difference: two guest descriptors of one open file (after `dup`)
//! are one registration, where Linux keys them apart.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::epoll;

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::stat::GuestStat;

/// `struct epoll_event` on x86-64: packed, 12 bytes.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct GuestEpollEvent {
    pub events: u32,
    pub data: u64,
}

/// An `epoll_ctl` operation.
#[derive(Clone, Copy, Debug)]
pub enum CtlOp {
    Add(GuestEpollEvent),
    Mod(GuestEpollEvent),
    Del,
}

pub struct EpollFile {
    fd: OwnedFd,
}

impl EpollFile {
    pub fn new() -> Result<Self, Errno> {
        Ok(EpollFile {
            fd: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// `epoll_ctl` for the file whose host descriptor is `target`.
    pub fn ctl(&self, target: BorrowedFd<'_>, op: CtlOp) -> Result<(), Errno> {
        let flags = |e: GuestEpollEvent| epoll::EventFlags::from_bits_retain(e.events);
        let data = |e: GuestEpollEvent| epoll::EventData::new_u64(e.data);
        match op {
            CtlOp::Add(e) => epoll::add(&self.fd, target, data(e), flags(e))?,
            CtlOp::Mod(e) => epoll::modify(&self.fd, target, data(e), flags(e))?,
            CtlOp::Del => epoll::delete(&self.fd, target)?,
        }
        Ok(())
    }

    /// Up to `max` ready events, without waiting.
    pub fn ready_events(&self, max: usize) -> Result<Vec<GuestEpollEvent>, Errno> {
        let mut events = Vec::with_capacity(max);
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::io::retry_on_intr(|| {
            events.clear();
            epoll::wait(
                &self.fd,
                rustix::buffer::spare_capacity(&mut events),
                Some(&zero),
            )
        })?;
        Ok(events
            .iter()
            .map(|&e| {
                let (flags, data) = (e.flags, e.data);
                GuestEpollEvent {
                    events: flags.bits(),
                    data: data.u64(),
                }
            })
            .collect())
    }
}

impl File for EpollFile {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(GuestStat::from(&rustix::fs::fstat(&self.fd)?))
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(libc::O_RDWR as u32)
    }

    fn link_name(&self) -> Vec<u8> {
        b"anon_inode:[eventpoll]".to_vec()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::eventfd::EventFd;

    #[test]
    fn reports_a_ready_eventfd_with_the_guests_data() {
        let ep = EpollFile::new().unwrap();
        let ev = EventFd::new(0, false, true).unwrap();
        let target = ev.host_stream().unwrap();
        let e = GuestEpollEvent {
            events: libc::EPOLLIN as u32 | libc::EPOLLET as u32,
            data: 0xdead_beef_0000_0001,
        };
        ep.ctl(target, CtlOp::Add(e)).unwrap();
        assert_eq!(ep.ctl(target, CtlOp::Add(e)), Err(Errno::EEXIST));
        assert!(ep.ready_events(4).unwrap().is_empty());
        ev.write(&1u64.to_ne_bytes()).unwrap();
        let got = ep.ready_events(4).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!({ got[0].data }, 0xdead_beef_0000_0001);
        // Edge-triggered: reported once.
        assert!(ep.ready_events(4).unwrap().is_empty());
        ep.ctl(target, CtlOp::Del).unwrap();
        assert_eq!(ep.ctl(target, CtlOp::Del), Err(Errno::ENOENT));
    }
}
