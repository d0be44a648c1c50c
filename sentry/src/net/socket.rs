//! An AF_UNIX socket as a guest file: unconnected, listening (a backlog
//! in the sentry) or connected (one end of a host socketpair). It becomes
//! listening or connected once and stays so, which is why the state is a
//! `OnceLock`: readers borrow the host descriptor without a lock.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use std::mem::MaybeUninit;

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, Shutdown, SocketFlags, SocketType,
};

use super::addr::UnixAddr;
use super::listener::Listener;
use super::names;
use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::stat::GuestStat;

/// `struct ucred`: who is at the other end, in sandbox terms (the guest
/// pid the sentry gave the process, not a host pid).
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Default for PeerCred {
    /// What Linux reports without a peer: pid 0, uid and gid -1.
    fn default() -> Self {
        PeerCred {
            pid: 0,
            uid: u32::MAX,
            gid: u32::MAX,
        }
    }
}

pub enum Endpoint {
    Connected(OwnedFd),
    Listening(Listener),
}

pub struct UnixSocket {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    kind: i32,
    /// Its number in sockfs: `socket:[ino]`, `st_ino`.
    ino: u64,
    /// The guest's O_NONBLOCK; the host descriptor never blocks.
    nonblock: AtomicBool,
    endpoint: OnceLock<Endpoint>,
    info: Mutex<Info>,
}

#[derive(Default)]
struct Info {
    name: Option<UnixAddr>,
    /// The inode of a path name, which keys `names`.
    name_ino: Option<u64>,
    peer_name: Option<UnixAddr>,
    peer_cred: Option<PeerCred>,
    /// SOL_SOCKET options the guest set that the sentry only remembers.
    opts: std::collections::BTreeMap<i32, i32>,
}

/// `st_dev` of sockets (Linux's sockfs is an unnamed device too).
const SOCKFS_DEV: u64 = 8;

impl UnixSocket {
    /// A new socket of `kind` from `socket(2)`.
    pub fn unconnected(kind: i32, nonblock: bool) -> Self {
        UnixSocket {
            kind,
            ino: crate::vfs::inode::next_ino(),
            nonblock: AtomicBool::new(nonblock),
            endpoint: OnceLock::new(),
            info: Mutex::new(Info::default()),
        }
    }

    fn connected(kind: i32, fd: OwnedFd, nonblock: bool, peer_cred: PeerCred) -> Self {
        let s = UnixSocket::unconnected(kind, nonblock);
        let _ = s.endpoint.set(Endpoint::Connected(fd));
        s.info().peer_cred = Some(peer_cred);
        s
    }

    /// A host socketpair of `kind`, non-blocking on the host.
    fn host_pair(kind: i32) -> Result<(OwnedFd, OwnedFd), Errno> {
        let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
        let ty = SocketType::from_raw(kind as u32);
        Ok(rustix::net::socketpair(
            AddressFamily::UNIX,
            ty,
            flags,
            None,
        )?)
    }

    /// `socketpair(2)`: two connected sockets, each the other's peer,
    /// both made by the process `cred` names.
    pub fn pair(kind: i32, nonblock: bool, cred: PeerCred) -> Result<(Self, Self), Errno> {
        let (a, b) = Self::host_pair(kind)?;
        Ok((
            UnixSocket::connected(kind, a, nonblock, cred),
            UnixSocket::connected(kind, b, nonblock, cred),
        ))
    }

    pub fn kind(&self) -> i32 {
        self.kind
    }

    fn info(&self) -> MutexGuard<'_, Info> {
        self.info.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host end of a connected socket; ENOTCONN otherwise.
    pub fn host_fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        match self.endpoint.get() {
            Some(Endpoint::Connected(fd)) => Ok(fd.as_fd()),
            _ => Err(Errno::ENOTCONN),
        }
    }

    pub fn listener(&self) -> Option<&Listener> {
        match self.endpoint.get() {
            Some(Endpoint::Listening(l)) => Some(l),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.endpoint.get(), Some(Endpoint::Connected(_)))
    }

    pub fn nonblocking(&self) -> bool {
        self.nonblock.load(Ordering::Relaxed)
    }

    pub fn name(&self) -> Option<UnixAddr> {
        self.info().name.clone()
    }

    pub fn peer_name(&self) -> Option<UnixAddr> {
        self.info().peer_name.clone()
    }

    /// SO_PEERCRED: the peer recorded at connect or socketpair time.
    pub fn peer_cred(&self) -> PeerCred {
        self.info().peer_cred.unwrap_or_default()
    }

    /// A remembered SOL_SOCKET option; 0 if never set.
    pub fn opt(&self, opt: i32) -> i32 {
        self.info().opts.get(&opt).copied().unwrap_or(0)
    }

    pub fn set_opt(&self, opt: i32, value: i32) {
        self.info().opts.insert(opt, value);
    }

    /// Record the name bind gave; EINVAL if it already has one.
    pub fn set_name(&self, name: UnixAddr, ino: Option<u64>) -> Result<(), Errno> {
        let mut i = self.info();
        if i.name.is_some() {
            return Err(Errno::EINVAL);
        }
        i.name = Some(name);
        i.name_ino = ino;
        Ok(())
    }

    /// `listen(2)`: EINVAL unless bound and unconnected, EOPNOTSUPP for
    /// datagram sockets; again on a listener changes its backlog.
    pub fn listen(&self, backlog: i32, cred: PeerCred) -> Result<(), Errno> {
        if self.kind == libc::SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.info().name.is_none() {
            return Err(Errno::EINVAL);
        }
        match self.endpoint.get() {
            Some(Endpoint::Listening(l)) => {
                l.set_backlog(backlog);
                Ok(())
            }
            Some(Endpoint::Connected(_)) => Err(Errno::EINVAL),
            None => {
                let l = Listener::new(backlog, cred)?;
                // Another thread's listen may have won; either is fine.
                let _ = self.endpoint.set(Endpoint::Listening(l));
                Ok(())
            }
        }
    }

    /// `connect(2)` to `target`, found by name: a new host socketpair whose
    /// one end waits in the target's backlog. ECONNREFUSED when it does not
    /// listen, EPROTOTYPE for another socket type, EAGAIN when its backlog
    /// is full (the caller decides whether to wait).
    pub fn connect_to(&self, target: &UnixSocket, cred: PeerCred) -> Result<(), Errno> {
        match self.endpoint.get() {
            Some(Endpoint::Connected(_)) => return Err(Errno::EISCONN),
            Some(Endpoint::Listening(_)) => return Err(Errno::EINVAL),
            None => {}
        }
        if target.kind != self.kind {
            return Err(Errno::EPROTOTYPE);
        }
        let listener = target.listener().ok_or(Errno::ECONNREFUSED)?;
        let (mine, theirs) = Self::host_pair(self.kind)?;
        let server = UnixSocket::connected(self.kind, theirs, false, cred);
        {
            let mut s = server.info();
            s.name = target.name();
            s.peer_name = self.name();
        }
        listener.push(Arc::new(server))?;
        if self.endpoint.set(Endpoint::Connected(mine)).is_err() {
            return Err(Errno::EISCONN);
        }
        let mut i = self.info();
        i.peer_name = target.name();
        i.peer_cred = Some(listener.cred);
        Ok(())
    }

    /// `shutdown(2)`, passed to the host socketpair: the peer sees it too.
    /// Linux accepts it on an unconnected socket and does nothing.
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        let how = match how {
            libc::SHUT_RD => Shutdown::Read,
            libc::SHUT_WR => Shutdown::Write,
            libc::SHUT_RDWR => Shutdown::Both,
            _ => return Err(Errno::EINVAL),
        };
        match self.host_fd() {
            Ok(fd) => Ok(rustix::net::shutdown(fd, how)?),
            Err(_) => Ok(()),
        }
    }

    /// The host end to receive from: reading an unconnected or listening
    /// socket is EINVAL on Linux (sending is ENOTCONN).
    fn recv_fd(&self) -> Result<BorrowedFd<'_>, Errno> {
        self.host_fd().map_err(|_| Errno::EINVAL)
    }

    /// One non-blocking host send; SIGPIPE is the caller's to raise.
    pub fn send(&self, buf: &[u8], flags: u32) -> Result<usize, Errno> {
        self.send_with(buf, flags, None)
    }

    /// A send whose bytes carry `token`, the host stand-in for passed
    /// files (`net::rights`), as a host SCM_RIGHTS message.
    pub fn send_with(
        &self,
        buf: &[u8],
        flags: u32,
        token: Option<BorrowedFd<'_>>,
    ) -> Result<usize, Errno> {
        let kept = SendFlags::from_bits_retain(flags & libc::MSG_EOR as u32);
        let flags = kept | SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
        let fd = self.host_fd()?;
        let Some(token) = token else {
            return Ok(rustix::net::send(fd, buf, flags)?);
        };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let tokens = [token];
        control.push(SendAncillaryMessage::ScmRights(&tokens));
        let iov = [std::io::IoSlice::new(buf)];
        Ok(rustix::net::sendmsg(fd, &iov, &mut control, flags)?)
    }

    /// One non-blocking host receive: the bytes (the whole message's
    /// length with MSG_TRUNC, as Linux returns), whether a datagram was
    /// cut, and the rights tokens that came with the bytes.
    pub fn recv(&self, buf: &mut [u8], flags: u32) -> Result<Received, Errno> {
        let kept = (libc::MSG_PEEK | libc::MSG_TRUNC) as u32;
        let flags = RecvFlags::from_bits_retain(flags & kept) | RecvFlags::DONTWAIT;
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(TOKENS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let r = rustix::net::recvmsg(self.recv_fd()?, &mut iov, &mut control, flags)?;
        let mut tokens = Vec::new();
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = msg {
                tokens.extend(fds);
            }
        }
        Ok(Received {
            len: r.bytes,
            truncated: r.flags.contains(rustix::net::ReturnFlags::TRUNC),
            tokens,
        })
    }
}

/// Room for rights tokens in one host receive: a stream read stops at
/// bytes that carry rights, so one is usual.
const TOKENS: usize = 8;

/// What one host receive brought.
pub struct Received {
    pub len: usize,
    pub truncated: bool,
    pub tokens: Vec<OwnedFd>,
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let i = self.info();
        let abs = match &i.name {
            Some(UnixAddr::Abstract(n)) => Some(n.clone()),
            _ => None,
        };
        let ino = i.name_ino;
        drop(i);
        names::release(abs.as_deref(), ino);
        // Closing the host socket drops any rights queued on it unread.
        let endpoint = self.endpoint.take();
        let had_one = endpoint.is_some();
        drop(endpoint);
        if had_one {
            super::rights::sweep_unreceived();
        }
    }
}

impl File for UnixSocket {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        match self.endpoint.get()? {
            Endpoint::Connected(fd) => Some(fd.as_fd()),
            Endpoint::Listening(l) => Some(l.ready_fd()),
        }
    }

    fn host_never_blocks(&self) -> bool {
        self.is_connected()
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(rustix::io::read(self.recv_fd()?, buf)?)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        if self.listener().is_some() {
            return Err(Errno::ENOTCONN);
        }
        // Host SIGPIPE stays off; dispatch raises the guest's.
        self.send(buf, 0)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(GuestStat {
            dev: SOCKFS_DEV,
            ino: self.ino,
            nlink: 1,
            mode: libc::S_IFSOCK | 0o777,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn ioctl_get(&self, cmd: u32) -> Result<(Vec<u8>, u64), Errno> {
        if u64::from(cmd) != libc::FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = rustix::io::ioctl_fionread(self.host_fd()?)?;
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        Ok((n.to_ne_bytes().to_vec(), 0))
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        let nb = if self.nonblocking() {
            libc::O_NONBLOCK as u32
        } else {
            0
        };
        Ok(libc::O_RDWR as u32 | nb)
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        let nb = flags & libc::O_NONBLOCK as u32 != 0;
        self.nonblock.store(nb, Ordering::Relaxed);
        Ok(())
    }

    fn link_name(&self) -> Vec<u8> {
        format!("socket:[{}]", self.ino).into_bytes()
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
#[path = "socket_tests.rs"]
mod tests;
