//! rt_sigtimedwait: take a pending signal from a set synchronously instead
//! of running its handler (sigwait, sigwaitinfo, sigtimedwait).

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::UNBLOCKABLE;
use crate::kernel::signal_delivery::{send, timer_signal_still_wanted};
use crate::kernel::sleep::{collect_posted, signal_pending};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[(libc::SYS_rt_sigtimedwait, sys_rt_sigtimedwait)];

/// The only `sigsetsize` x86-64 Linux accepts.
const SIGSET_SIZE: u64 = 8;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

fn sys_rt_sigtimedwait(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [set, info, timeout, sigsetsize, ..] = a;
    if sigsetsize != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    // SIGKILL and SIGSTOP cannot be waited for.
    let set = task.mm.read_val::<u64>(set)? & !UNBLOCKABLE;
    let deadline = match timeout {
        0 => None,
        p => {
            let t: Timespec = task.mm.read_val(p)?;
            if t.sec < 0 || !(0..1_000_000_000).contains(&t.nsec) {
                return Err(Errno::EINVAL);
            }
            Some(Instant::now() + Duration::new(t.sec as u64, t.nsec as u32))
        }
    };
    let far = Instant::now() + Duration::from_secs(1 << 32);
    // While waiting, signals for the process in `set` may be routed here
    // even though this thread blocks them.
    task.publish_mask(set);
    let result = loop {
        collect_posted(task);
        for info in task.group.take_shared(set) {
            send(task, info);
        }
        if let Some(mut got) = task.pending_signals.take_in(set) {
            if !timer_signal_still_wanted(task, &mut got) {
                continue;
            }
            if info != 0 {
                task.mm.write_val(info, &got)?;
            }
            break Ok(got.signo as u64);
        }
        // Another unblocked signal ends the wait so its handler can run.
        if signal_pending(task) {
            break Err(Errno::EINTR);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Err(Errno::EAGAIN);
        }
        task.inbox.clone().wait_until(deadline.unwrap_or(far));
    };
    task.publish_mask(0);
    result
}
