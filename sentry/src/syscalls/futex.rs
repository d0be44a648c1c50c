//! futex for single-threaded processes: nobody else can wake a waiter
//! yet, so a wait ends by its timeout or a signal, and a wake finds no
//! one. The value checks and errors are Linux's, which is what glibc's
//! locks and one-time initialisation rely on. Threads bring the wait
//! queues.

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::sleep::sleep_until;
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[(libc::SYS_futex, sys_futex)];

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
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

fn sys_futex(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, _uaddr2, val3] = a;
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && val3 as u32 == 0 {
                return Err(Errno::EINVAL);
            }
            let current: u32 = task.mm.read_val(uaddr)?;
            if current != val as u32 {
                return Err(Errno::EAGAIN);
            }
            let deadline = match read_timeout(task, timeout)? {
                None => Instant::now() + Duration::from_secs(1 << 32),
                // FUTEX_WAIT's timeout is relative.
                Some(d) if cmd == FUTEX_WAIT => Instant::now() + d,
                // FUTEX_WAIT_BITSET's is an absolute time on its clock.
                Some(abs) => {
                    let clock = if op & FUTEX_CLOCK_REALTIME != 0 {
                        rustix::time::ClockId::Realtime
                    } else {
                        rustix::time::ClockId::Monotonic
                    };
                    let now = rustix::time::clock_gettime(clock);
                    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
                    Instant::now() + abs.saturating_sub(now)
                }
            };
            sleep_until(task, deadline).map_err(|_| Errno::ERESTARTSYS)?;
            Err(Errno::ETIMEDOUT)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if cmd == FUTEX_WAKE_BITSET && val3 as u32 == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(0)
        }
        FUTEX_REQUEUE | FUTEX_WAKE_OP => Ok(0),
        FUTEX_CMP_REQUEUE => {
            let current: u32 = task.mm.read_val(uaddr)?;
            if current != val3 as u32 {
                return Err(Errno::EAGAIN);
            }
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}
