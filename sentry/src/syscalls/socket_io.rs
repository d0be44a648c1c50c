//! Moving data through sockets: sendto, recvfrom, sendmsg, recvmsg (read
//! and write go through `fs::io` like a pipe's). Each is tried on the
//! non-blocking host socket at once; only EAGAIN makes a blocking guest
//! wait, interruptibly, for the host descriptor.

use std::sync::Arc;

use rustix::event::PollFlags;

use super::socket::{as_socket, cred_of, socket_file, wait_ready, write_addr};
use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::siginfo::{SigInfo, SI_USER};
use crate::kernel::{signal_delivery, Task};
use crate::net::{UnixAddr, UnixSocket};
use crate::vfs::{File, MAX_IO};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_sendto, sys_sendto),
    (libc::SYS_recvfrom, sys_recvfrom),
    (libc::SYS_sendmsg, sys_sendmsg),
    (libc::SYS_recvmsg, sys_recvmsg),
];

/// Most iovecs one message takes (`UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;
/// The largest datagram the sentry copies in one piece; the host refuses
/// anything near it anyway (EMSGSIZE past its send buffer).
const MAX_DATAGRAM: usize = 8 << 20;

/// `struct msghdr` on x86-64.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct MsgHdr {
    name: u64,
    namelen: u32,
    _pad: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
    flags: i32,
    _pad2: u32,
}

/// Byte offsets of the fields recvmsg writes back.
const NAMELEN_AT: u64 = 8;
const CONTROLLEN_AT: u64 = 40;
const FLAGS_AT: u64 = 48;

/// `struct iovec`.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct IoVec {
    base: u64,
    len: u64,
}

fn read_iovecs(task: &mut Task, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EMSGSIZE);
    }
    let mut raw = vec![IoVec::default(); count as usize];
    task.mm.copy_in(addr, bytemuck::cast_slice_mut(&mut raw))?;
    raw.iter()
        .map(|v| {
            if v.len > i64::MAX as u64 {
                Err(Errno::EINVAL)
            } else {
                Ok((v.base, v.len))
            }
        })
        .collect()
}

/// Copy `len` bytes starting `skip` bytes into the guest's `segments`.
fn gather(
    task: &mut Task,
    segments: &[(u64, u64)],
    skip: usize,
    len: usize,
) -> Result<Vec<u8>, Errno> {
    let mut out = vec![0u8; len];
    let (mut at, mut skip) = (0usize, skip as u64);
    for &(base, seg) in segments {
        if at == len {
            break;
        }
        if skip >= seg {
            skip -= seg;
            continue;
        }
        let n = ((seg - skip) as usize).min(len - at);
        task.mm.copy_in(base + skip, &mut out[at..at + n])?;
        at += n;
        skip = 0;
    }
    Ok(out)
}

/// Copy `data` out to the guest's `segments`, in order.
fn scatter(task: &mut Task, segments: &[(u64, u64)], data: &[u8]) -> Result<(), Errno> {
    let mut at = 0;
    for &(base, seg) in segments {
        if at == data.len() {
            break;
        }
        let n = (seg as usize).min(data.len() - at);
        task.mm.copy_out(base, &data[at..at + n])?;
        at += n;
    }
    Ok(())
}

fn raise_sigpipe(task: &mut Task) {
    let info = SigInfo::from_sender(libc::SIGPIPE, SI_USER, task.tgid, task.creds.uid);
    signal_delivery::send(task, info);
}

/// Send the guest's `segments` as one message (a datagram or a record) or
/// a run of stream bytes. A blocking stream send goes on until all is
/// in; a signal then ends it with the count sent so far.
fn send(task: &mut Task, file: &Arc<dyn File>, segments: &[(u64, u64)], flags: u32) -> SysResult {
    let sock = as_socket(file)?;
    let nonblock = sock.nonblocking() || flags & libc::MSG_DONTWAIT as u32 != 0;
    let total: u64 = segments.iter().map(|s| s.1).sum();
    let stream = sock.kind() == libc::SOCK_STREAM;
    let chunk = if stream { MAX_IO } else { MAX_DATAGRAM };
    if !stream && total > chunk as u64 {
        return Err(Errno::EMSGSIZE);
    }
    let total = total as usize;
    let mut done = 0usize;
    loop {
        let n = (total - done).min(chunk);
        let buf = match gather(task, segments, done, n) {
            Ok(b) => b,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done as u64),
        };
        let mut off = 0;
        loop {
            match sock.send(&buf[off..], flags) {
                Ok(k) => off += k,
                Err(Errno::EAGAIN) if !nonblock => {
                    let fd = sock.host_fd()?;
                    if let Err(e) = wait_ready(task, fd, PollFlags::OUT) {
                        return partial(done + off, e);
                    }
                }
                Err(e) => {
                    if e == Errno::EPIPE && flags & libc::MSG_NOSIGNAL as u32 == 0 {
                        raise_sigpipe(task);
                    }
                    return partial(done + off, e);
                }
            }
            if off == buf.len() || (nonblock && off > 0) {
                break;
            }
        }
        done += off;
        if done == total || off < n {
            return Ok(done as u64);
        }
    }
}

/// What a transfer cut short by `e` returns: the count so far, if any.
fn partial(done: usize, e: Errno) -> SysResult {
    if done > 0 {
        Ok(done as u64)
    } else {
        Err(e)
    }
}

/// Receive into the guest's `segments`: the count returned (a datagram's
/// full length with MSG_TRUNC) and the MSG_ flags for recvmsg.
fn recv(
    task: &mut Task,
    sock: &UnixSocket,
    segments: &[(u64, u64)],
    flags: u32,
) -> Result<(usize, i32), Errno> {
    let nonblock = sock.nonblocking() || flags & libc::MSG_DONTWAIT as u32 != 0;
    let total: u64 = segments.iter().map(|s| s.1).sum();
    let mut buf = vec![0u8; total.min(MAX_IO as u64) as usize];
    let stream = sock.kind() == libc::SOCK_STREAM;
    let waitall =
        stream && flags & (libc::MSG_WAITALL | libc::MSG_PEEK) as u32 == libc::MSG_WAITALL as u32;
    let mut got = 0usize;
    let mut result = (0, 0);
    loop {
        match sock.recv(&mut buf[got..], flags) {
            Ok((n, cut)) if !stream => {
                got = n.min(buf.len());
                result = (n, if cut { libc::MSG_TRUNC } else { 0 });
                break;
            }
            Ok((n, _)) => {
                got += n;
                result = (got, 0);
                if n == 0 || !waitall || got == buf.len() {
                    break;
                }
            }
            Err(Errno::EAGAIN) if !nonblock => {
                let fd = sock.host_fd()?;
                if let Err(e) = wait_ready(task, fd, PollFlags::IN) {
                    if got == 0 {
                        return Err(e);
                    }
                    break;
                }
            }
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
    }
    scatter(task, segments, &buf[..got])?;
    Ok(result)
}

/// The name a receiver sees its data come from: the peer's, if it has one.
fn source_name(sock: &UnixSocket) -> Vec<u8> {
    match sock.peer_name() {
        Some(name) => UnixAddr::encode(Some(&name)),
        None => Vec::new(),
    }
}

/// A destination address on a connected socket: Linux refuses it on a
/// stream (EISCONN); the sentry has no unconnected datagrams yet.
fn check_destination(sock: &UnixSocket, addr: u64, len: u64) -> Result<(), Errno> {
    if addr == 0 || len == 0 {
        return Ok(());
    }
    if sock.kind() == libc::SOCK_DGRAM {
        return Err(Errno::EOPNOTSUPP);
    }
    if sock.is_connected() {
        Err(Errno::EISCONN)
    } else {
        Err(Errno::EOPNOTSUPP)
    }
}

fn sys_sendto(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    check_destination(as_socket(&file)?, a[4], a[5])?;
    send(task, &file, &[(a[1], a[2])], a[3] as u32)
}

fn sys_recvfrom(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    let (n, _) = recv(task, sock, &[(a[1], a[2])], a[3] as u32)?;
    write_addr(task, a[4], a[5], &source_name(sock))?;
    Ok(n as u64)
}

fn sys_sendmsg(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let hdr = task.mm.read_val::<MsgHdr>(a[1])?;
    check_destination(as_socket(&file)?, hdr.name, u64::from(hdr.namelen))?;
    if hdr.controllen > 0 {
        check_control(task, &hdr)?;
    }
    let segments = read_iovecs(task, hdr.iov, hdr.iovlen)?;
    send(task, &file, &segments, a[2] as u32)
}

/// Control messages: SCM_CREDENTIALS (checked against the sender, as
/// Linux does for unprivileged callers) passes; SCM_RIGHTS is not done
/// yet and fails rather than losing the descriptors silently.
fn check_control(task: &mut Task, hdr: &MsgHdr) -> Result<(), Errno> {
    let len = usize::try_from(hdr.controllen).map_err(|_| Errno::ENOBUFS)?;
    if len > 64 << 10 {
        return Err(Errno::ENOBUFS);
    }
    let mut raw = vec![0u8; len];
    task.mm.copy_in(hdr.control, &mut raw)?;
    let mut at = 0;
    while at + 16 <= raw.len() {
        let cmsg_len = u64::from_ne_bytes(raw[at..at + 8].try_into().unwrap_or_default()) as usize;
        let level = i32::from_ne_bytes(raw[at + 8..at + 12].try_into().unwrap_or_default());
        let ty = i32::from_ne_bytes(raw[at + 12..at + 16].try_into().unwrap_or_default());
        if cmsg_len < 16 || at + cmsg_len > raw.len() || level != libc::SOL_SOCKET {
            return Err(Errno::EINVAL);
        }
        match ty {
            libc::SCM_CREDENTIALS => {
                let me = cred_of(task);
                let c = &raw[at + 16..at + cmsg_len];
                if c.len() < 12
                    || i32::from_ne_bytes(c[..4].try_into().unwrap_or_default()) != me.pid
                {
                    return Err(Errno::EPERM);
                }
            }
            libc::SCM_RIGHTS => return Err(Errno::EOPNOTSUPP),
            _ => return Err(Errno::EINVAL),
        }
        at += (cmsg_len + 7) & !7;
    }
    Ok(())
}

fn sys_recvmsg(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    let hdr = task.mm.read_val::<MsgHdr>(a[1])?;
    let segments = read_iovecs(task, hdr.iov, hdr.iovlen)?;
    let (n, msg_flags) = recv(task, sock, &segments, a[2] as u32)?;
    let name = source_name(sock);
    if hdr.name != 0 {
        let fit = (hdr.namelen as usize).min(name.len());
        task.mm.copy_out(hdr.name, &name[..fit])?;
    }
    let namelen = if hdr.name != 0 { name.len() as u32 } else { 0 };
    task.mm.write_val(a[1] + NAMELEN_AT, &namelen)?;
    task.mm.write_val(a[1] + CONTROLLEN_AT, &0u64)?;
    task.mm.write_val(a[1] + FLAGS_AT, &msg_flags)?;
    Ok(n as u64)
}
