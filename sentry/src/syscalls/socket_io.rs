//! Moving data through sockets: sendto, recvfrom, sendmsg, recvmsg (read
//! and write go through `fs::io` like a pipe's; control messages are
//! `socket_cmsg`'s, the multi-message calls `socket_mmsg`'s). Each is tried on the
//! non-blocking host socket at once; only EAGAIN makes a blocking guest
//! wait, interruptibly, for the host descriptor.

use std::os::fd::AsFd;
use std::sync::Arc;

use rustix::event::PollFlags;

use super::socket::{as_socket, socket_file, wait_ready, write_addr};
use super::socket_cmsg::{give_creds, give_rights, read_control};
use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::siginfo::{SigInfo, SI_USER};
use crate::kernel::{signal_delivery, Task};
use crate::net::{rights, UnixAddr, UnixSocket};
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

/// `struct msghdr` on x86-64 (`struct mmsghdr` starts with one).
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
fn send(
    task: &mut Task,
    file: &Arc<dyn File>,
    segments: &[(u64, u64)],
    flags: u32,
    passed: Vec<Arc<dyn File>>,
) -> SysResult {
    let sock = as_socket(file)?;
    // The rights go with the first bytes the host takes.
    let mut token = match passed.is_empty() {
        true => None,
        false => Some(rights::attach(passed)?),
    };
    let r = send_bytes(task, sock, segments, flags, &mut token);
    if let Some(t) = token {
        rights::forget(&t);
    }
    r
}

fn send_bytes(
    task: &mut Task,
    sock: &UnixSocket,
    segments: &[(u64, u64)],
    flags: u32,
    token: &mut Option<std::os::fd::OwnedFd>,
) -> SysResult {
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
            let sent = sock.send_with(&buf[off..], flags, token.as_ref().map(|t| t.as_fd()));
            match sent {
                Ok(k) => {
                    off += k;
                    *token = None;
                }
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

/// What a receive gives the guest: the count returned (a datagram's full
/// length with MSG_TRUNC), MSG_ flags for recvmsg, and passed files.
struct Got {
    len: usize,
    flags: i32,
    files: Vec<Arc<dyn File>>,
}

/// Receive into the guest's `segments`.
fn recv(
    task: &mut Task,
    sock: &UnixSocket,
    segments: &[(u64, u64)],
    flags: u32,
) -> Result<Got, Errno> {
    let nonblock = sock.nonblocking() || flags & libc::MSG_DONTWAIT as u32 != 0;
    let peek = flags & libc::MSG_PEEK as u32 != 0;
    let total: u64 = segments.iter().map(|s| s.1).sum();
    let mut buf = vec![0u8; total.min(MAX_IO as u64) as usize];
    let stream = sock.kind() == libc::SOCK_STREAM;
    let waitall = stream && !peek && flags & libc::MSG_WAITALL as u32 != 0;
    let mut got = 0usize;
    let mut out = Got {
        len: 0,
        flags: 0,
        files: Vec::new(),
    };
    loop {
        match sock.recv(&mut buf[got..], flags) {
            Ok(r) => {
                for t in &r.tokens {
                    out.files.extend(rights::take(t, peek));
                }
                if !stream {
                    got = r.len.min(buf.len());
                    out.len = r.len;
                    out.flags = if r.truncated { libc::MSG_TRUNC } else { 0 };
                    break;
                }
                got += r.len;
                out.len = got;
                // Bytes that carried rights end the read, as on Linux.
                if r.len == 0 || !waitall || got == buf.len() || !r.tokens.is_empty() {
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
    Ok(out)
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
    send(task, &file, &[(a[1], a[2])], a[3] as u32, Vec::new())
}

fn sys_recvfrom(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    // Files passed to a receiver without room for them are closed.
    let got = recv(task, sock, &[(a[1], a[2])], a[3] as u32)?;
    write_addr(task, a[4], a[5], &source_name(sock))?;
    Ok(got.len as u64)
}

fn sys_sendmsg(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    send_msg(task, &file, a[1], a[2] as u32)
}

/// sendmsg of the `struct msghdr` at `msg`.
pub(super) fn send_msg(task: &mut Task, file: &Arc<dyn File>, msg: u64, flags: u32) -> SysResult {
    let hdr = task.mm.read_val::<MsgHdr>(msg)?;
    check_destination(as_socket(file)?, hdr.name, u64::from(hdr.namelen))?;
    let passed = if hdr.controllen > 0 {
        read_control(task, hdr.control, hdr.controllen)?
    } else {
        Vec::new()
    };
    let segments = read_iovecs(task, hdr.iov, hdr.iovlen)?;
    send(task, file, &segments, flags, passed)
}

fn sys_recvmsg(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    recv_msg(task, &file, a[1], a[2] as u32)
}

/// recvmsg into the `struct msghdr` at `msg`.
pub(super) fn recv_msg(task: &mut Task, file: &Arc<dyn File>, msg: u64, flags: u32) -> SysResult {
    let sock = as_socket(file)?;
    let hdr = task.mm.read_val::<MsgHdr>(msg)?;
    let segments = read_iovecs(task, hdr.iov, hdr.iovlen)?;
    let got = recv(task, sock, &segments, flags)?;
    let room = usize::try_from(hdr.controllen).unwrap_or(usize::MAX);
    let cloexec = flags & libc::MSG_CMSG_CLOEXEC as u32 != 0;
    let (mut controllen, mut ctrunc) = (0, 0);
    if sock.opt(libc::SO_PASSCRED) != 0 {
        (controllen, ctrunc) = give_creds(task, hdr.control, room, sock.peer_cred())?;
    }
    let at = hdr.control + controllen as u64;
    let (used, cut) = give_rights(task, at, room - controllen, got.files, cloexec)?;
    controllen += used;
    ctrunc |= cut;
    let name = source_name(sock);
    if hdr.name != 0 {
        let fit = (hdr.namelen as usize).min(name.len());
        task.mm.copy_out(hdr.name, &name[..fit])?;
    }
    let namelen = if hdr.name != 0 { name.len() as u32 } else { 0 };
    task.mm.write_val(msg + NAMELEN_AT, &namelen)?;
    task.mm
        .write_val(msg + CONTROLLEN_AT, &(controllen as u64))?;
    task.mm.write_val(msg + FLAGS_AT, &(got.flags | ctrunc))?;
    Ok(got.len as u64)
}
