//! Signal system calls that keep per-task signal state: rt_sigaction,
//! rt_sigprocmask, rt_sigpending, sigaltstack. Delivery comes later; the
//! rules for what may be installed are Linux's (`kernel/signal.rs`).

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::{MaskHow, SigAction, SigStack};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_rt_sigaction, sys_rt_sigaction),
    (libc::SYS_rt_sigprocmask, sys_rt_sigprocmask),
    (libc::SYS_rt_sigpending, sys_rt_sigpending),
    (libc::SYS_sigaltstack, sys_sigaltstack),
];

/// The only `sigsetsize` x86-64 Linux accepts: 64 signals, 8 bytes.
const SIGSET_SIZE: u64 = 8;

fn sys_rt_sigaction(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [sig, act, oldact, sigsetsize, ..] = a;
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new = match act {
        0 => None,
        p => Some(task.mm.read_val::<SigAction>(p)?),
    };
    let old = task.signals.set_action(sig as i32, new)?;
    if oldact != 0 {
        task.mm.write_val(oldact, &old)?;
    }
    Ok(0)
}

fn sys_rt_sigprocmask(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [how, set, oldset, sigsetsize, ..] = a;
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = if set != 0 {
        let new = task.mm.read_val::<u64>(set)?;
        // `how` matters only when there is a new set.
        let how = MaskHow::from_raw(how as i32)?;
        task.signals.change_mask(how, new)
    } else {
        task.signals.mask
    };
    if oldset != 0 {
        task.mm.write_val(oldset, &old)?;
    }
    Ok(0)
}

fn sys_rt_sigpending(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [set, sigsetsize, ..] = a;
    if sigsetsize > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    // Nothing is ever pending until signals can be sent.
    let pending = 0u64.to_ne_bytes();
    task.mm.copy_out(set, &pending[..sigsetsize as usize])?;
    Ok(0)
}

fn sys_sigaltstack(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [ss, old_ss, ..] = a;
    let new = match ss {
        0 => None,
        p => Some(task.mm.read_val::<SigStack>(p)?),
    };
    let old = task.signals.set_altstack(new, task.regs.rsp)?;
    if old_ss != 0 {
        task.mm.write_val(old_ss, &old)?;
    }
    Ok(0)
}
