//! Making, naming and connecting sockets: socket, socketpair, bind, listen,
//! connect, accept, accept4, getsockname, getpeername, shutdown. Only
//! AF_UNIX exists (`net`); other families are EAFNOSUPPORT, as on a
//! kernel built without them: the sandbox has no network.

use std::sync::Arc;

use rustix::event::PollFlags;

use super::fs::{at_path, creator};
use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::sleep::sleep_until;
use crate::kernel::Task;
use crate::net::{names, PeerCred, UnixAddr, UnixSocket};
use crate::vfs::File;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_socket, sys_socket),
    (libc::SYS_socketpair, sys_socketpair),
    (libc::SYS_bind, sys_bind),
    (libc::SYS_listen, sys_listen),
    (libc::SYS_connect, sys_connect),
    (libc::SYS_accept, sys_accept),
    (libc::SYS_accept4, sys_accept4),
    (libc::SYS_getsockname, sys_getsockname),
    (libc::SYS_getpeername, sys_getpeername),
    (libc::SYS_shutdown, sys_shutdown),
];

/// Linux's `SOCK_MAX`: socket types at or past it are EINVAL.
const SOCK_MAX: i32 = 11;
/// `sizeof(struct sockaddr_storage)`: the longest address a call copies in.
const SOCKADDR_STORAGE_LEN: u64 = 128;
const TYPE_FLAGS: i32 = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// The file `fd` refers to, which must be a socket (ENOTSOCK).
pub(super) fn socket_file(task: &Task, fd: u64) -> Result<Arc<dyn File>, Errno> {
    let file = task.fds.get(fd as i32)?;
    as_socket(&file)?;
    Ok(file)
}

pub(super) fn as_socket(file: &Arc<dyn File>) -> Result<&UnixSocket, Errno> {
    file.as_any()
        .and_then(|a| a.downcast_ref::<UnixSocket>())
        .ok_or(Errno::ENOTSOCK)
}

/// Who the calling process is, for its peers' SO_PEERCRED.
pub(super) fn cred_of(task: &Task) -> PeerCred {
    PeerCred {
        pid: task.tgid,
        uid: task.creds.euid,
        gid: task.creds.egid,
    }
}

/// Wait for a socket's host descriptor, restartably.
pub(super) fn wait_ready(
    task: &mut Task,
    fd: std::os::fd::BorrowedFd<'_>,
    events: PollFlags,
) -> Result<(), Errno> {
    crate::kernel::sleep::wait_host_ready(task, fd, events)
}

/// Check socket(2)'s domain, type and protocol as Linux does, in its
/// order; returns the AF_UNIX type and the SOCK_* flags.
fn socket_args(domain: u64, ty: u64, protocol: u64) -> Result<(i32, i32), Errno> {
    let (domain, ty, protocol) = (domain as i32, ty as i32, protocol as i32);
    let flags = ty & !0xf;
    if flags & !TYPE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = ty & 0xf;
    if domain != libc::AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    if kind >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    if protocol != 0 && protocol != libc::AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let kind = match kind {
        libc::SOCK_STREAM | libc::SOCK_DGRAM | libc::SOCK_SEQPACKET => kind,
        // Linux's AF_UNIX takes SOCK_RAW as SOCK_DGRAM.
        libc::SOCK_RAW => libc::SOCK_DGRAM,
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    Ok((kind, flags))
}

fn install(task: &mut Task, file: Arc<dyn File>, flags: i32) -> Result<i32, Errno> {
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    task.fds
        .install(file, flags & libc::SOCK_CLOEXEC != 0, 0, limit)
}

fn sys_socket(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (kind, flags) = socket_args(a[0], a[1], a[2])?;
    let sock = UnixSocket::unconnected(kind, flags & libc::SOCK_NONBLOCK != 0);
    Ok(install(task, Arc::new(sock), flags)? as u64)
}

fn sys_socketpair(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (kind, flags) = socket_args(a[0], a[1], a[2])?;
    let nonblock = flags & libc::SOCK_NONBLOCK != 0;
    let (x, y) = UnixSocket::pair(kind, nonblock, cred_of(task))?;
    let fx = install(task, Arc::new(x), flags)?;
    let fy = match install(task, Arc::new(y), flags) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = task.fds.remove(fx);
            return Err(e);
        }
    };
    if let Err(e) = task.mm.write_val(a[3], &[fx, fy]) {
        let _ = task.fds.remove(fx);
        let _ = task.fds.remove(fy);
        return Err(e);
    }
    Ok(0)
}

/// A guest `sockaddr_un` argument.
fn read_addr(task: &mut Task, ptr: u64, len: u64) -> Result<UnixAddr, Errno> {
    let len = u64::from(len as u32);
    if len > SOCKADDR_STORAGE_LEN {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; len as usize];
    task.mm.copy_in(ptr, &mut raw)?;
    UnixAddr::parse(&raw)
}

/// Give the guest an address the way Linux's `move_addr_to_user` does:
/// as much as fits in `*len_ptr`, and the full length in `*len_ptr`.
pub(super) fn write_addr(task: &mut Task, ptr: u64, len_ptr: u64, bytes: &[u8]) -> SysResult {
    if ptr == 0 {
        return Ok(0);
    }
    let room = task.mm.read_val::<i32>(len_ptr)?;
    if room < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (room as usize).min(bytes.len());
    task.mm.copy_out(ptr, &bytes[..n])?;
    task.mm.write_val(len_ptr, &(bytes.len() as u32))?;
    Ok(0)
}

fn sys_bind(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    let addr = read_addr(task, a[1], a[2])?;
    if sock.name().is_some() {
        // Linux tries to make a path's inode first: a taken path is
        // EADDRINUSE even for a socket that already has a name.
        if let UnixAddr::Path(path) = &addr {
            let full = at_path(task, libc::AT_FDCWD, path)?;
            if task.fs.vfs().stat(&full, false, &*task).is_ok() {
                return Err(Errno::EADDRINUSE);
            }
        }
        return Err(Errno::EINVAL);
    }
    match &addr {
        UnixAddr::Abstract(name) => {
            names::bind_abstract(name, &file)?;
            sock.set_name(addr, None)?;
        }
        UnixAddr::Path(path) => {
            let full = at_path(task, libc::AT_FDCWD, path)?;
            let who = creator(task);
            let ino = task.fs.vfs().bind_socket(&full, who, &*task)?;
            names::bind_inode(ino, &file);
            sock.set_name(addr, Some(ino))?;
        }
    }
    Ok(0)
}

fn sys_listen(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    as_socket(&file)?.listen(a[1] as i32, cred_of(task))?;
    Ok(0)
}

/// The socket `addr` names: an abstract name's, or the one bound to a
/// path's socket inode. ENOENT and friends come from the path walk;
/// ECONNREFUSED when nothing is bound there.
fn find_target(task: &mut Task, addr: &UnixAddr) -> Result<Arc<dyn File>, Errno> {
    match addr {
        UnixAddr::Abstract(name) => names::find_abstract(name).ok_or(Errno::ECONNREFUSED),
        UnixAddr::Path(path) => {
            let full = at_path(task, libc::AT_FDCWD, path)?;
            let st = task.fs.vfs().stat(&full, true, &*task)?;
            if st.file_type() != libc::S_IFSOCK {
                return Err(Errno::ECONNREFUSED);
            }
            names::find_inode(st.ino).ok_or(Errno::ECONNREFUSED)
        }
    }
}

fn sys_connect(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    let addr = read_addr(task, a[1], a[2])?;
    let target = find_target(task, &addr)?;
    let target = as_socket(&target).map_err(|_| Errno::ECONNREFUSED)?;
    loop {
        match sock.connect_to(target, cred_of(task)) {
            // A full backlog: Linux's blocking connect waits for room.
            Err(Errno::EAGAIN) if !sock.nonblocking() => {
                let soon = std::time::Instant::now() + std::time::Duration::from_millis(2);
                sleep_until(task, soon).map_err(|_| Errno::ERESTARTSYS)?;
            }
            r => return r.map(|()| 0),
        }
    }
}

fn sys_accept(task: &mut Task, a: [u64; 6]) -> SysResult {
    accept(task, a[0], a[1], a[2], 0)
}

fn sys_accept4(task: &mut Task, a: [u64; 6]) -> SysResult {
    accept(task, a[0], a[1], a[2], a[3] as i32)
}

fn accept(task: &mut Task, fd: u64, addr: u64, len_ptr: u64, flags: i32) -> SysResult {
    if flags & !TYPE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let file = socket_file(task, fd)?;
    let sock = as_socket(&file)?;
    if sock.kind() == libc::SOCK_DGRAM {
        return Err(Errno::EOPNOTSUPP);
    }
    let listener = sock.listener().ok_or(Errno::EINVAL)?;
    let conn = loop {
        if let Some(c) = listener.pop() {
            break c;
        }
        if sock.nonblocking() {
            return Err(Errno::EAGAIN);
        }
        wait_ready(task, listener.ready_fd(), PollFlags::IN)?;
    };
    conn.set_status_flags(if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK as u32
    } else {
        0
    })?;
    let peer = UnixAddr::encode(conn.peer_name().as_ref());
    let newfd = install(task, conn, flags)?;
    if let Err(e) = write_addr(task, addr, len_ptr, &peer) {
        let _ = task.fds.remove(newfd);
        return Err(e);
    }
    Ok(newfd as u64)
}

fn sys_getsockname(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let name = UnixAddr::encode(as_socket(&file)?.name().as_ref());
    write_addr(task, a[1], a[2], &name)
}

fn sys_getpeername(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    if !sock.is_connected() {
        return Err(Errno::ENOTCONN);
    }
    let name = UnixAddr::encode(sock.peer_name().as_ref());
    write_addr(task, a[1], a[2], &name)
}

fn sys_shutdown(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    as_socket(&file)?.shutdown(a[1] as i32)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_arguments_fail_as_on_linux() {
        let stream = libc::SOCK_STREAM as u64;
        let unix = libc::AF_UNIX as u64;
        assert_eq!(socket_args(unix, stream, 0), Ok((libc::SOCK_STREAM, 0)));
        let cloexec = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64;
        assert_eq!(
            socket_args(unix, cloexec, 0),
            Ok((libc::SOCK_STREAM, libc::SOCK_CLOEXEC))
        );
        assert_eq!(
            socket_args(libc::AF_INET as u64, stream, 0),
            Err(Errno::EAFNOSUPPORT)
        );
        assert_eq!(socket_args(unix, stream | 0x100, 0), Err(Errno::EINVAL));
        assert_eq!(socket_args(unix, 12, 0), Err(Errno::EINVAL));
        assert_eq!(socket_args(unix, 4, 0), Err(Errno::ESOCKTNOSUPPORT));
        assert_eq!(socket_args(unix, stream, 6), Err(Errno::EPROTONOSUPPORT));
        assert_eq!(socket_args(unix, 3, 0), Ok((libc::SOCK_DGRAM, 0)));
    }
}
