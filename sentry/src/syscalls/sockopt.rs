//! getsockopt and setsockopt for AF_UNIX sockets (SOL_SOCKET only, as
//! Linux's AF_UNIX has no options of its own level). Buffer sizes of a
//! connected socket are its host socket's; flags the sentry does not act
//! on (SO_REUSEADDR, SO_PASSCRED, SO_KEEPALIVE...) are remembered so a
//! program reads back what it set.

use super::socket::{as_socket, socket_file};
use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::net::UnixSocket;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_getsockopt, sys_getsockopt),
    (libc::SYS_setsockopt, sys_setsockopt),
];

/// Linux's default socket buffer size (`net.core.wmem_default`).
const DEFAULT_BUFFER: i32 = 212_992;

/// Integer options that are only remembered.
const REMEMBERED: &[i32] = &[
    libc::SO_REUSEADDR,
    libc::SO_REUSEPORT,
    libc::SO_KEEPALIVE,
    libc::SO_BROADCAST,
    libc::SO_PASSCRED,
    libc::SO_PASSSEC,
    libc::SO_DEBUG,
    libc::SO_DONTROUTE,
    libc::SO_OOBINLINE,
    libc::SO_PRIORITY,
    libc::SO_RCVLOWAT,
];

/// Of `REMEMBERED`, the ones that hold a value rather than a yes or no.
const VALUED: &[i32] = &[libc::SO_PRIORITY, libc::SO_RCVLOWAT];

fn buffer_size(sock: &UnixSocket, opt: i32) -> Result<i32, Errno> {
    let Ok(fd) = sock.host_fd() else {
        let set = sock.opt(opt);
        return Ok(if set == 0 { DEFAULT_BUFFER } else { set });
    };
    let n = if opt == libc::SO_SNDBUF {
        rustix::net::sockopt::socket_send_buffer_size(fd)?
    } else {
        rustix::net::sockopt::socket_recv_buffer_size(fd)?
    };
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// The value of `opt` as the bytes Linux would copy out.
fn option_bytes(sock: &UnixSocket, opt: i32) -> Result<Vec<u8>, Errno> {
    let int = |v: i32| Ok(v.to_ne_bytes().to_vec());
    match opt {
        libc::SO_TYPE => int(sock.kind()),
        libc::SO_DOMAIN => int(libc::AF_UNIX),
        libc::SO_PROTOCOL => int(0),
        libc::SO_ERROR => int(0),
        libc::SO_ACCEPTCONN => int(i32::from(sock.listener().is_some())),
        libc::SO_PEERCRED => Ok(bytemuck::bytes_of(&sock.peer_cred()).to_vec()),
        libc::SO_SNDBUF | libc::SO_RCVBUF => int(buffer_size(sock, opt)?),
        libc::SO_LINGER => Ok(vec![0; 8]),
        libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => Ok(vec![0; 16]),
        libc::SO_RCVLOWAT => int(sock.opt(opt).max(1)),
        o if REMEMBERED.contains(&o) => int(sock.opt(o)),
        _ => Err(Errno::ENOPROTOOPT),
    }
}

fn sys_getsockopt(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    let (level, opt, val, len_ptr) = (a[1] as i32, a[2] as i32, a[3], a[4]);
    let len = task.mm.read_val::<i32>(len_ptr)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    let bytes = option_bytes(sock, opt)?;
    let n = (len as usize).min(bytes.len());
    task.mm.copy_out(val, &bytes[..n])?;
    task.mm.write_val(len_ptr, &(n as u32))?;
    Ok(0)
}

fn sys_setsockopt(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let sock = as_socket(&file)?;
    let (level, opt, val, len) = (a[1] as i32, a[2] as i32, a[3], a[4] as u32);
    if level != libc::SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    if matches!(opt, libc::SO_LINGER | libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) {
        // Accepted and not acted on: the sentry's sockets linger as
        // Linux's AF_UNIX ones do (not at all) and have no timeouts yet.
        let mut raw = vec![0u8; (len as usize).min(16)];
        task.mm.copy_in(val, &mut raw)?;
        return Ok(0);
    }
    if len < 4 {
        return Err(Errno::EINVAL);
    }
    let value = task.mm.read_val::<i32>(val)?;
    match opt {
        libc::SO_SNDBUF | libc::SO_RCVBUF => match sock.host_fd() {
            Ok(fd) => {
                let v = usize::try_from(value.max(0)).unwrap_or(0);
                if opt == libc::SO_SNDBUF {
                    rustix::net::sockopt::set_socket_send_buffer_size(fd, v)?;
                } else {
                    rustix::net::sockopt::set_socket_recv_buffer_size(fd, v)?;
                }
            }
            // Linux doubles the value for its bookkeeping.
            Err(_) => sock.set_opt(opt, value.max(1152).saturating_mul(2)),
        },
        o if VALUED.contains(&o) => sock.set_opt(o, value),
        o if REMEMBERED.contains(&o) => sock.set_opt(o, i32::from(value != 0)),
        _ => return Err(Errno::ENOPROTOOPT),
    }
    Ok(0)
}
