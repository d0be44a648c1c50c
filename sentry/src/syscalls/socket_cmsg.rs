//! Control messages of sendmsg and recvmsg: SCM_RIGHTS (through
//! `net::rights`) and SCM_CREDENTIALS, in Linux's `struct cmsghdr` layout.

use std::sync::Arc;

use super::socket::cred_of;
use crate::errno::Errno;
use crate::kernel::Task;
use crate::net::{rights, PeerCred};
use crate::vfs::File;

/// `struct cmsghdr`'s size, and the alignment of what follows it.
const CMSG_HDR: usize = 16;

fn cmsg_align(n: usize) -> usize {
    (n + 7) & !7
}

/// The control messages of a sendmsg: the files of SCM_RIGHTS (EBADF for
/// a descriptor not open, EINVAL past `rights::MAX_FDS`);
/// SCM_CREDENTIALS passes when it names the sender, as Linux checks for
/// an unprivileged caller.
pub(super) fn read_control(
    task: &mut Task,
    control: u64,
    controllen: u64,
) -> Result<Vec<Arc<dyn File>>, Errno> {
    let len = usize::try_from(controllen).map_err(|_| Errno::ENOBUFS)?;
    if len > 64 << 10 {
        return Err(Errno::ENOBUFS);
    }
    let mut raw = vec![0u8; len];
    task.mm.copy_in(control, &mut raw)?;
    let word = |at: usize| i32::from_ne_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    let mut files = Vec::new();
    let mut at = 0;
    while at + CMSG_HDR <= raw.len() {
        let cmsg_len = u64::from_ne_bytes(raw[at..at + 8].try_into().unwrap_or_default()) as usize;
        let (level, ty) = (word(at + 8), word(at + 12));
        if cmsg_len < CMSG_HDR || cmsg_len > raw.len() - at {
            return Err(Errno::EINVAL);
        }
        if level != libc::SOL_SOCKET {
            at += cmsg_align(cmsg_len);
            continue;
        }
        let body = at + CMSG_HDR..at + cmsg_len;
        match ty {
            libc::SCM_RIGHTS => {
                let n = body.len() / 4;
                if files.len() + n > rights::MAX_FDS {
                    return Err(Errno::EINVAL);
                }
                for i in 0..n {
                    files.push(task.fds.get(word(body.start + 4 * i))?);
                }
            }
            libc::SCM_CREDENTIALS => {
                if body.len() < 12 || word(body.start) != cred_of(task).pid {
                    return Err(Errno::EPERM);
                }
            }
            _ => return Err(Errno::EINVAL),
        }
        at += cmsg_align(cmsg_len);
    }
    Ok(files)
}

/// With SO_PASSCRED: an SCM_CREDENTIALS message naming the peer (as the
/// sentry recorded it: Linux names the process that sent each message,
/// which differs only when another process shares the peer's socket).
/// Returns the control length used and MSG_CTRUNC if it did not fit.
pub(super) fn give_creds(
    task: &mut Task,
    control: u64,
    room: usize,
    cred: PeerCred,
) -> Result<(usize, i32), Errno> {
    let cmsg_len = CMSG_HDR + std::mem::size_of::<PeerCred>();
    if control == 0 || room < cmsg_len {
        return Ok((0, libc::MSG_CTRUNC));
    }
    let mut msg = Vec::with_capacity(cmsg_len);
    msg.extend_from_slice(&(cmsg_len as u64).to_ne_bytes());
    msg.extend_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
    msg.extend_from_slice(&libc::SCM_CREDENTIALS.to_ne_bytes());
    msg.extend_from_slice(bytemuck::bytes_of(&cred));
    task.mm.copy_out(control, &msg)?;
    Ok((cmsg_align(cmsg_len).min(room), 0))
}

/// Install received files and write their SCM_RIGHTS message into the
/// guest's control buffer (`room` bytes): as many as fit, MSG_CTRUNC if
/// not all did. Returns the control length used and the flags to add.
pub(super) fn give_rights(
    task: &mut Task,
    control: u64,
    room: usize,
    files: Vec<Arc<dyn File>>,
    cloexec: bool,
) -> Result<(usize, i32), Errno> {
    if files.is_empty() {
        return Ok((0, 0));
    }
    let fit = if control == 0 || room < CMSG_HDR {
        0
    } else {
        ((room - CMSG_HDR) / 4).min(files.len())
    };
    let mut fds = Vec::with_capacity(fit);
    let limit = task.rlimits[libc::RLIMIT_NOFILE as usize].cur;
    let total = files.len();
    for f in files.into_iter().take(fit) {
        match task.fds.install(f, cloexec, 0, limit) {
            Ok(fd) => fds.push(fd),
            Err(_) => break,
        }
    }
    let ctrunc = if fds.len() < total {
        libc::MSG_CTRUNC
    } else {
        0
    };
    if fds.is_empty() {
        return Ok((0, ctrunc));
    }
    let cmsg_len = CMSG_HDR + 4 * fds.len();
    let mut msg = Vec::with_capacity(cmsg_len);
    msg.extend_from_slice(&(cmsg_len as u64).to_ne_bytes());
    msg.extend_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
    msg.extend_from_slice(&libc::SCM_RIGHTS.to_ne_bytes());
    for fd in &fds {
        msg.extend_from_slice(&fd.to_ne_bytes());
    }
    if let Err(e) = task.mm.copy_out(control, &msg) {
        for fd in fds {
            let _ = task.fds.remove(fd);
        }
        return Err(e);
    }
    Ok((cmsg_align(cmsg_len).min(room), ctrunc))
}
