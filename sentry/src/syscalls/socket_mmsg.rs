//! sendmmsg and recvmmsg: sendmsg and recvmsg over an array of `struct
//! mmsghdr`. After the first message a failure ends the call with the
//! count so far, as on Linux. recvmmsg's timeout is not honoured (Linux
//! checks it only between messages anyway): MSG_WAITFORONE is the way
//! to stop waiting after the first.

use super::socket::socket_file;
use super::socket_io::{recv_msg, send_msg};
use super::Handler;
use crate::errno::SysResult;
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_sendmmsg, sys_sendmmsg),
    (libc::SYS_recvmmsg, sys_recvmmsg),
];

/// `sizeof(struct mmsghdr)`: a `struct msghdr` and the `msg_len` after it.
const MMSGHDR: u64 = 64;
const MSG_LEN_AT: u64 = 56;
/// Linux's `UIO_MAXIOV` caps `vlen`.
const MAX_VLEN: u64 = 1024;
const MSG_WAITFORONE: u32 = 0x10000;

fn each(
    task: &mut Task,
    a: [u64; 6],
    mut one: impl FnMut(&mut Task, u64, usize) -> SysResult,
) -> SysResult {
    let (vec, vlen) = (a[1], u64::from(a[2] as u32).min(MAX_VLEN));
    let mut done = 0;
    while done < vlen {
        let msg = vec + MMSGHDR * done;
        match one(task, msg, done as usize) {
            Ok(n) => task.mm.write_val(msg + MSG_LEN_AT, &(n as u32))?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        done += 1;
    }
    Ok(done)
}

fn sys_sendmmsg(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let flags = a[3] as u32;
    each(task, a, |task, msg, _| send_msg(task, &file, msg, flags))
}

fn sys_recvmmsg(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = socket_file(task, a[0])?;
    let flags = a[3] as u32;
    if flags & MSG_WAITFORONE != 0 && flags & libc::MSG_DONTWAIT as u32 == 0 {
        return each(task, a, |task, msg, i| {
            let f = flags & !MSG_WAITFORONE;
            let f = if i > 0 {
                f | libc::MSG_DONTWAIT as u32
            } else {
                f
            };
            recv_msg(task, &file, msg, f)
        });
    }
    each(task, a, |task, msg, _| recv_msg(task, &file, msg, flags))
}
