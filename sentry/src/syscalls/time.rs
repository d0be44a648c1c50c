//! Clocks and sleeps: clock_gettime, clock_getres, clock_settime,
//! gettimeofday, settimeofday, time, times, nanosleep, clock_nanosleep.
//!
//! Wall and monotonic clocks are the host's. CPU-time clocks report the
//! sentry's own CPU time for now: on platforms where guest code runs in
//! another host process (ptrace) that misses the guest's user time, which a
//! later per-task accounting will add. Sleeps block the serving host thread;
//! nothing interrupts them yet, so `rem` is never written.

use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use rustix::time::{ClockId, DynamicClockId, Timespec};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_clock_gettime, sys_clock_gettime),
    (libc::SYS_clock_getres, sys_clock_getres),
    (libc::SYS_clock_settime, sys_clock_settime),
    (libc::SYS_gettimeofday, sys_gettimeofday),
    (libc::SYS_settimeofday, sys_settimeofday),
    (libc::SYS_time, sys_time),
    (libc::SYS_times, sys_times),
    (libc::SYS_nanosleep, sys_nanosleep),
    (libc::SYS_clock_nanosleep, sys_clock_nanosleep),
];

const NSEC_PER_SEC: i64 = 1_000_000_000;
/// `USER_HZ`: the unit of `times`.
const CLK_TCK: i64 = 100;

/// `struct timespec` as the guest lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct GuestTimespec {
    pub sec: i64,
    pub nsec: i64,
}

impl GuestTimespec {
    fn from_host(t: Timespec) -> Self {
        GuestTimespec {
            sec: t.tv_sec,
            nsec: t.tv_nsec,
        }
    }

    /// `timespec64_valid`: non-negative seconds, nanoseconds below 10⁹.
    fn to_duration(self) -> Result<Duration, Errno> {
        if self.sec < 0 || !(0..NSEC_PER_SEC).contains(&self.nsec) {
            return Err(Errno::EINVAL);
        }
        Ok(Duration::new(self.sec as u64, self.nsec as u32))
    }

    fn as_nanos(self) -> i128 {
        i128::from(self.sec) * i128::from(NSEC_PER_SEC) + i128::from(self.nsec)
    }
}

/// `struct timeval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Timeval {
    sec: i64,
    usec: i64,
}

/// A clock the guest can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Clock {
    /// A host clock read as it is.
    Host(i32),
    /// CPU time of the calling process.
    ProcessCpu,
    /// CPU time of the calling thread.
    ThreadCpu,
}

/// The dynamic-clock encoding of CPU clocks (`clock_getcpuclockid`,
/// `pthread_getcpuclockid`): `(~pid << 3) | type`, bit 2 for a thread.
const CPUCLOCK_PERTHREAD: i32 = 4;
const CPUCLOCK_TYPE_MASK: i32 = 3;
/// Type 3 is no CPU clock (it marks file-descriptor clocks).
const CPUCLOCK_MAX: i32 = 3;

fn clock(task: &Task, id: u64) -> Result<Clock, Errno> {
    let id = id as i32;
    match id {
        libc::CLOCK_PROCESS_CPUTIME_ID => Ok(Clock::ProcessCpu),
        libc::CLOCK_THREAD_CPUTIME_ID => Ok(Clock::ThreadCpu),
        libc::CLOCK_REALTIME
        | libc::CLOCK_MONOTONIC
        | libc::CLOCK_MONOTONIC_RAW
        | libc::CLOCK_REALTIME_COARSE
        | libc::CLOCK_MONOTONIC_COARSE
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_REALTIME_ALARM
        | libc::CLOCK_BOOTTIME_ALARM
        | libc::CLOCK_TAI => Ok(Clock::Host(id)),
        // A CPU clock of a process or thread by id; only the caller exists.
        _ if id < 0 && id & CPUCLOCK_TYPE_MASK != CPUCLOCK_MAX => {
            let pid = !(id >> 3);
            let thread = id & CPUCLOCK_PERTHREAD != 0;
            let me = if thread { task.tid } else { task.tgid };
            if pid != 0 && pid != me {
                return Err(Errno::EINVAL);
            }
            Ok(if thread {
                Clock::ThreadCpu
            } else {
                Clock::ProcessCpu
            })
        }
        _ => Err(Errno::EINVAL),
    }
}

fn host_clock_id(id: i32) -> DynamicClockId<'static> {
    match id {
        libc::CLOCK_MONOTONIC => DynamicClockId::Known(ClockId::Monotonic),
        libc::CLOCK_MONOTONIC_RAW => DynamicClockId::Known(ClockId::MonotonicRaw),
        libc::CLOCK_REALTIME_COARSE => DynamicClockId::Known(ClockId::RealtimeCoarse),
        libc::CLOCK_MONOTONIC_COARSE => DynamicClockId::Known(ClockId::MonotonicCoarse),
        libc::CLOCK_BOOTTIME | libc::CLOCK_BOOTTIME_ALARM => DynamicClockId::Boottime,
        libc::CLOCK_TAI => DynamicClockId::Tai,
        _ => DynamicClockId::Known(ClockId::Realtime),
    }
}

fn now(c: Clock) -> Result<GuestTimespec, Errno> {
    let t = match c {
        Clock::Host(id) => rustix::time::clock_gettime_dynamic(host_clock_id(id))?,
        Clock::ProcessCpu => rustix::time::clock_gettime(ClockId::ProcessCPUTime),
        Clock::ThreadCpu => rustix::time::clock_gettime(ClockId::ThreadCPUTime),
    };
    Ok(GuestTimespec::from_host(t))
}

fn realtime() -> GuestTimespec {
    GuestTimespec::from_host(rustix::time::clock_gettime(ClockId::Realtime))
}

fn sys_clock_gettime(task: &mut Task, a: [u64; 6]) -> SysResult {
    let t = now(clock(task, a[0])?)?;
    task.mm.write_val(a[1], &t)?;
    Ok(0)
}

fn sys_clock_getres(task: &mut Task, a: [u64; 6]) -> SysResult {
    let res = match clock(task, a[0])? {
        Clock::Host(id) => match id {
            libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => {
                GuestTimespec::from_host(rustix::time::clock_getres(ClockId::MonotonicCoarse))
            }
            _ => GuestTimespec { sec: 0, nsec: 1 },
        },
        Clock::ProcessCpu | Clock::ThreadCpu => GuestTimespec { sec: 0, nsec: 1 },
    };
    if a[1] != 0 {
        task.mm.write_val(a[1], &res)?;
    }
    Ok(0)
}

fn sys_clock_settime(task: &mut Task, a: [u64; 6]) -> SysResult {
    clock(task, a[0])?;
    // The sandbox shares the host's clocks and may not set them.
    Err(Errno::EPERM)
}

fn sys_settimeofday(_: &mut Task, _: [u64; 6]) -> SysResult {
    Err(Errno::EPERM)
}

fn sys_gettimeofday(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [tv, tz, ..] = a;
    if tv != 0 {
        let t = realtime();
        let val = Timeval {
            sec: t.sec,
            usec: t.nsec / 1000,
        };
        task.mm.write_val(tv, &val)?;
    }
    if tz != 0 {
        // `struct timezone`: UTC, no DST, as Linux's `sys_tz` usually is.
        task.mm.write_val(tz, &[0i32, 0i32])?;
    }
    Ok(0)
}

fn sys_time(task: &mut Task, a: [u64; 6]) -> SysResult {
    let sec = realtime().sec;
    if a[0] != 0 {
        task.mm.write_val(a[0], &sec)?;
    }
    Ok(sec as u64)
}

fn sys_times(task: &mut Task, a: [u64; 6]) -> SysResult {
    let ticks = |t: GuestTimespec| t.as_nanos() as i64 / (NSEC_PER_SEC / CLK_TCK);
    if a[0] != 0 {
        // utime, stime, cutime, cstime. No children yet.
        let tms = [ticks(now(Clock::ProcessCpu)?), 0, 0, 0];
        task.mm.write_val(a[0], &tms)?;
    }
    Ok(ticks(now(Clock::Host(libc::CLOCK_BOOTTIME))?) as u64)
}

fn sys_nanosleep(task: &mut Task, a: [u64; 6]) -> SysResult {
    let req = task.mm.read_val::<GuestTimespec>(a[0])?.to_duration()?;
    std::thread::sleep(req);
    Ok(0)
}

const TIMER_ABSTIME: u64 = 1;

fn sys_clock_nanosleep(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [id, flags, req, ..] = a;
    let c = match clock(task, id)? {
        // Clocks Linux cannot sleep on.
        Clock::ThreadCpu if id as i32 == libc::CLOCK_THREAD_CPUTIME_ID => {
            return Err(Errno::EOPNOTSUPP)
        }
        Clock::Host(
            libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE,
        ) => return Err(Errno::EOPNOTSUPP),
        // Sleeping on one's own CPU clock cannot end: Linux refuses it for
        // the calling thread, and the lone thread of a process would sleep
        // forever. Refuse both until there are other threads to wait for.
        Clock::ThreadCpu | Clock::ProcessCpu => return Err(Errno::EINVAL),
        c => c,
    };
    let t = task.mm.read_val::<GuestTimespec>(req)?;
    let d = t.to_duration()?;
    if flags & TIMER_ABSTIME == 0 {
        std::thread::sleep(d);
        return Ok(0);
    }
    // Absolute: sleep until the clock reaches `t`, re-checking because the
    // realtime clock may be stepped while we sleep.
    loop {
        let left = t.as_nanos() - now(c)?.as_nanos();
        if left <= 0 {
            return Ok(0);
        }
        let left = u64::try_from(left).unwrap_or(u64::MAX);
        std::thread::sleep(Duration::from_nanos(left));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_validation() {
        let ok = GuestTimespec {
            sec: 1,
            nsec: 999_999_999,
        };
        assert_eq!(ok.to_duration(), Ok(Duration::new(1, 999_999_999)));
        for bad in [(-1, 0), (0, -1), (0, NSEC_PER_SEC)] {
            let t = GuestTimespec {
                sec: bad.0,
                nsec: bad.1,
            };
            assert_eq!(t.to_duration(), Err(Errno::EINVAL), "{bad:?}");
        }
    }

    #[test]
    fn host_clocks_read() {
        for id in [
            libc::CLOCK_REALTIME,
            libc::CLOCK_MONOTONIC,
            libc::CLOCK_MONOTONIC_RAW,
            libc::CLOCK_REALTIME_COARSE,
            libc::CLOCK_MONOTONIC_COARSE,
            libc::CLOCK_BOOTTIME,
            libc::CLOCK_TAI,
        ] {
            let t = now(Clock::Host(id)).unwrap();
            assert!(t.sec > 0 && (0..NSEC_PER_SEC).contains(&t.nsec), "{id}");
        }
        assert!(now(Clock::ProcessCpu).unwrap().as_nanos() > 0);
    }
}
