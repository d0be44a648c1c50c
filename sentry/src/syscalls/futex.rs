//! futex: WAIT/WAKE (with bitsets), REQUEUE, CMP_REQUEUE and WAKE_OP over
//! the sandbox's wait queues (`kernel::futex`), and LOCK_PI, LOCK_PI2,
//! TRYLOCK_PI, UNLOCK_PI, WAIT_REQUEUE_PI and CMP_REQUEUE_PI
//! (`kernel::futex_pi`), with Linux's checks and errors.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::futex::FutexKey;
use crate::kernel::futex_pi::{Locked, PiWaiter, PiWord, WaitEnd, Woken};
use crate::kernel::process_table::ProcessTable;
use crate::kernel::sleep::{collect_posted, signal_pending};
use crate::kernel::Task;
use crate::mm::SharedMm;

pub(super) const TABLE: &[(i64, Handler)] = &[(libc::SYS_futex, sys_futex)];

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_LOCK_PI: u64 = 6;
const FUTEX_UNLOCK_PI: u64 = 7;
const FUTEX_TRYLOCK_PI: u64 = 8;
const FUTEX_LOCK_PI2: u64 = 13;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
const FUTEX_CMP_REQUEUE_PI: u64 = 12;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

fn read_timeout(task: &mut Task, addr: u64) -> Result<Option<Duration>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let t: Timespec = task.mm.read_val(addr)?;
    if t.sec < 0 || !(0..1_000_000_000).contains(&t.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(t.sec as u64, t.nsec as u32)))
}

/// The futex at `addr`: in shared memory (and not FUTEX_PRIVATE_FLAG) it
/// is named by its memory-file page, so processes sharing the pages meet
/// on it; otherwise by this memory manager and the address.
fn key(task: &Task, op: u64, addr: u64) -> FutexKey {
    crate::kernel::futex::key_for(task, op & FUTEX_PRIVATE_FLAG != 0, addr)
}

/// A count argument (`val`, `val2`): Linux treats negative ones as 0 or
/// refuses them.
fn count(v: u64) -> Result<usize, Errno> {
    let v = v as i32;
    if v < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(v as usize)
}

fn sys_futex(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, uaddr2, val3] = a;
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0
        && cmd != FUTEX_WAIT_BITSET
        && cmd != FUTEX_WAIT
        && cmd != FUTEX_WAIT_REQUEUE_PI
        && cmd != FUTEX_LOCK_PI2
    {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT_BITSET {
                val3 as u32
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let deadline = match read_timeout(task, timeout)? {
                None => None,
                // FUTEX_WAIT's timeout is relative.
                Some(d) if cmd == FUTEX_WAIT => Some(Instant::now() + d),
                // FUTEX_WAIT_BITSET's is an absolute time on its clock.
                Some(abs) => Some(absolute_deadline(abs, op & FUTEX_CLOCK_REALTIME != 0)),
            };
            let key = key(task, op, uaddr);
            futex_wait(task, key, uaddr, val as u32, bitset, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE_BITSET {
                val3 as u32
            } else {
                u32::MAX
            };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let n = task
                .procs
                .futexes
                .wake(key(task, op, uaddr), count(val)?, bitset);
            Ok(n as u64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL);
            }
            // val2 (the most to move) travels in the timeout argument.
            let (n_wake, n_move) = (count(val)?, count(timeout)?);
            let mm = task.mm.clone();
            let (woken, moved) = task.procs.futexes.requeue(
                key(task, op, uaddr),
                key(task, op, uaddr2),
                n_wake,
                n_move,
                || {
                    if cmd == FUTEX_REQUEUE {
                        return Ok(true);
                    }
                    Ok(mm.read_val::<u32>(uaddr)? == val3 as u32)
                },
            )?;
            // CMP_REQUEUE counts the moved waiters too.
            Ok(if cmd == FUTEX_CMP_REQUEUE {
                woken + moved
            } else {
                woken
            } as u64)
        }
        FUTEX_WAKE_OP => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL);
            }
            let (n1, n2) = (count(val)?, count(timeout)?);
            let mm = task.mm.clone();
            let n = task.procs.futexes.wake_op(
                key(task, op, uaddr),
                n1,
                key(task, op, uaddr2),
                n2,
                || wake_op_update(&mm, uaddr2, val3 as u32),
            )?;
            Ok(n as u64)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            // LOCK_PI's timeout is absolute on CLOCK_REALTIME; LOCK_PI2's
            // on CLOCK_MONOTONIC unless FUTEX_CLOCK_REALTIME says otherwise.
            let realtime = cmd == FUTEX_LOCK_PI || op & FUTEX_CLOCK_REALTIME != 0;
            let deadline = match cmd {
                FUTEX_TRYLOCK_PI => None,
                _ => read_timeout(task, timeout)?.map(|abs| absolute_deadline(abs, realtime)),
            };
            let key = key(task, op, uaddr);
            futex_lock_pi(task, key, uaddr, deadline, cmd == FUTEX_TRYLOCK_PI)
        }
        FUTEX_UNLOCK_PI => {
            let key = key(task, op, uaddr);
            task.procs
                .pi_futexes
                .unlock_pi(key, task.tid as u32, &guest_word(task, uaddr))
                .map(|()| 0)
        }
        FUTEX_WAIT_REQUEUE_PI => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL);
            }
            let realtime = op & FUTEX_CLOCK_REALTIME != 0;
            let deadline = read_timeout(task, timeout)?.map(|abs| absolute_deadline(abs, realtime));
            let (first, pi) = (key(task, op, uaddr), key(task, op, uaddr2));
            let mm = task.mm.clone();
            let waiter = task.procs.pi_futexes.wait_requeue_pi(
                first,
                pi,
                task.tid as u32,
                &task.inbox,
                || Ok(mm.read_val::<u32>(uaddr)? == val as u32),
            )?;
            futex_wait_requeue_pi(task, waiter, uaddr2, deadline)
        }
        FUTEX_CMP_REQUEUE_PI => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL);
            }
            // Only the first waiter can be given the lock at once.
            if val as i32 != 1 {
                return Err(Errno::EINVAL);
            }
            let n_move = count(timeout)?;
            let (first, pi) = (key(task, op, uaddr), key(task, op, uaddr2));
            let mm = task.mm.clone();
            let n = task.procs.pi_futexes.cmp_requeue_pi(
                first,
                pi,
                n_move,
                &guest_word(task, uaddr2),
                || Ok(mm.read_val::<u32>(uaddr)? == val3 as u32),
            )?;
            Ok(n as u64)
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// When absolute time `abs` on CLOCK_REALTIME (or CLOCK_MONOTONIC) comes.
fn absolute_deadline(abs: Duration, realtime: bool) -> Instant {
    let clock = if realtime {
        rustix::time::ClockId::Realtime
    } else {
        rustix::time::ClockId::Monotonic
    };
    let now = rustix::time::clock_gettime(clock);
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    Instant::now() + abs.saturating_sub(now)
}

/// A PI futex word in guest memory, for `kernel::futex_pi`.
struct GuestWord<'a> {
    mm: &'a SharedMm,
    addr: u64,
    procs: &'a ProcessTable,
}

impl PiWord for GuestWord<'_> {
    fn cas(&self, old: u32, new: u32) -> Result<u32, Errno> {
        self.mm.compare_exchange_u32(self.addr, old, new)
    }

    fn listed(&self, tid: u32) -> bool {
        self.procs.thread_inbox(None, tid as i32).is_some()
    }
}

fn guest_word(task: &Task, addr: u64) -> GuestWord<'_> {
    GuestWord {
        mm: &task.mm,
        addr,
        procs: &task.procs,
    }
}

/// FUTEX_LOCK_PI: take the lock or sleep until it is handed over, the
/// deadline passes (ETIMEDOUT) or a signal comes: the call then restarts
/// after any handler, SA_RESTART or not (ERESTARTNOINTR), as Linux's does.
/// TRYLOCK_PI never sleeps.
fn futex_lock_pi(
    task: &mut Task,
    key: FutexKey,
    uaddr: u64,
    deadline: Option<Instant>,
    try_only: bool,
) -> SysResult {
    let inbox = task.inbox.clone();
    let procs = task.procs.clone();
    let pi = &procs.pi_futexes;
    let locked = pi.lock_pi(
        key,
        task.tid as u32,
        &inbox,
        &guest_word(task, uaddr),
        try_only,
    )?;
    let waiter = match locked {
        Locked::Acquired => return Ok(0),
        Locked::Queued(w) => w,
    };
    let woken = sleep_until_woken(
        task,
        deadline,
        || waiter.woken(),
        |_, timed_out| {
            pi.cancel(&waiter).ok_or(if timed_out {
                Errno::ETIMEDOUT
            } else {
                Errno::ERESTARTNOINTR
            })
        },
    )?;
    match woken {
        Woken::TakeOver => pi.take_over(&waiter, &guest_word(task, uaddr)).map(|()| 0),
        _ => Ok(0),
    }
}

/// FUTEX_WAIT_REQUEUE_PI's sleep: until the requeue has made the caller
/// the owner of the PI futex at `uaddr2`, the deadline (ETIMEDOUT) or a
/// signal: before the requeue the call restarts after any handler, after
/// it Linux returns EAGAIN rather than take the lock again from the start.
fn futex_wait_requeue_pi(
    task: &mut Task,
    waiter: Arc<PiWaiter>,
    uaddr2: u64,
    deadline: Option<Instant>,
) -> SysResult {
    let procs = task.procs.clone();
    let pi = &procs.pi_futexes;
    let woken = sleep_until_woken(
        task,
        deadline,
        || waiter.woken(),
        |_, timed_out| match pi.cancel_wait(&waiter) {
            WaitEnd::Owned(how) => Ok(how),
            _ if timed_out => Err(Errno::ETIMEDOUT),
            WaitEnd::OnFirst => Err(Errno::ERESTARTNOINTR),
            WaitEnd::Requeued => Err(Errno::EAGAIN),
        },
    )?;
    match woken {
        Woken::TakeOver => pi.take_over(&waiter, &guest_word(task, uaddr2)).map(|()| 0),
        _ => Ok(0),
    }
}

/// FUTEX_WAIT: sleep while `*uaddr == expected` until woken, a signal or
/// the deadline.
fn futex_wait(
    task: &mut Task,
    key: FutexKey,
    uaddr: u64,
    expected: u32,
    bitset: u32,
    deadline: Option<Instant>,
) -> SysResult {
    let mm = task.mm.clone();
    let waiter = task
        .procs
        .futexes
        .enqueue(key, bitset, task.inbox.clone(), || {
            Ok(mm.read_val::<u32>(uaddr)? == expected)
        })?;
    sleep_until_woken(
        task,
        deadline,
        || waiter.woken().then_some(()),
        |task, timed_out| {
            if task.procs.futexes.cancel(&waiter) {
                return Ok(());
            }
            // Linux restarts an interrupted wait after a handler with
            // SA_RESTART only when it has no timeout.
            Err(if timed_out {
                Errno::ETIMEDOUT
            } else if deadline.is_none() {
                Errno::ERESTARTSYS
            } else {
                Errno::EINTR
            })
        },
    )
    .map(|()| 0)
}

/// A futex sleep: until `woken()` says how the wait ended, or a signal
/// or the deadline comes, when `interrupted(task, timed_out)` decides (a
/// wake may have come in meanwhile, which the waiter's cancel reports).
fn sleep_until_woken<T>(
    task: &mut Task,
    deadline: Option<Instant>,
    woken: impl Fn() -> Option<T>,
    interrupted: impl FnOnce(&mut Task, bool) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let far = Instant::now() + Duration::from_secs(1 << 32);
    let inbox = task.inbox.clone();
    task.publish_mask(0);
    loop {
        if inbox.wait_until_or(deadline.unwrap_or(far), || woken().is_some()) {
            if let Some(how) = woken() {
                return Ok(how);
            }
        }
        collect_posted(task);
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if signal_pending(task) || timed_out {
            return interrupted(task, timed_out);
        }
    }
}

const FUTEX_OP_SET: u32 = 0;
const FUTEX_OP_ADD: u32 = 1;
const FUTEX_OP_OR: u32 = 2;
const FUTEX_OP_ANDN: u32 = 3;
const FUTEX_OP_XOR: u32 = 4;
const FUTEX_OP_OPARG_SHIFT: u32 = 8;

/// FUTEX_WAKE_OP's update of `*uaddr2` and its comparison of the old value,
/// encoded in `encoded` as Linux defines. Guest threads running at the same
/// moment are not held off (the sentry writes the memory directly).
fn wake_op_update(mm: &crate::mm::SharedMm, uaddr2: u64, encoded: u32) -> Result<bool, Errno> {
    let op = (encoded >> 28) & 0xf;
    let cmp = (encoded >> 24) & 0xf;
    let mut oparg = (encoded >> 12) & 0xfff;
    let cmparg = encoded & 0xfff;
    // Sign-extend the 12-bit fields as Linux does.
    let sext = |v: u32| ((v << 20) as i32 >> 20) as u32;
    if op & FUTEX_OP_OPARG_SHIFT != 0 {
        oparg = 1u32.checked_shl(sext(oparg)).unwrap_or(0);
    } else {
        oparg = sext(oparg);
    }
    let mut g = mm.lock();
    let old: u32 = g.read_val(uaddr2)?;
    let new = match op & 7 {
        FUTEX_OP_SET => oparg,
        FUTEX_OP_ADD => old.wrapping_add(oparg),
        FUTEX_OP_OR => old | oparg,
        FUTEX_OP_ANDN => old & !oparg,
        FUTEX_OP_XOR => old ^ oparg,
        _ => return Err(Errno::ENOSYS),
    };
    g.write_val(uaddr2, &new)?;
    drop(g);
    let (old, arg) = (old as i32, sext(cmparg) as i32);
    Ok(match cmp {
        0 => old == arg,
        1 => old != arg,
        2 => old < arg,
        3 => old <= arg,
        4 => old > arg,
        5 => old >= arg,
        _ => return Err(Errno::ENOSYS),
    })
}
