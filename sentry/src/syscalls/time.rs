//! Clocks and sleeps: clock_gettime, clock_getres, clock_settime,
//! gettimeofday, settimeofday, time, times, nanosleep, clock_nanosleep.
//!
//! Wall and monotonic clocks are the host's. CPU-time clocks report the
//! sentry's own CPU time for now: on platforms where guest code runs in
//! another host process (ptrace) that misses the guest's user time, which a
//! later per-task accounting will add. Sleeps block the serving host thread;
//! nothing interrupts them yet, so `rem` is never written.

use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use rustix::time::{ClockId, DynamicClockId, Timespec};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::itimer::RealTimer;
use crate::kernel::sleep::sleep_until;
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
    (libc::SYS_alarm, sys_alarm),
    (libc::SYS_setitimer, sys_setitimer),
    (libc::SYS_getitimer, sys_getitimer),
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

    pub(super) fn from_duration(d: Duration) -> Self {
        GuestTimespec {
            sec: d.as_secs() as i64,
            nsec: i64::from(d.subsec_nanos()),
        }
    }

    /// `timespec64_valid`: non-negative seconds, nanoseconds below 10⁹.
    pub(super) fn to_duration(self) -> Result<Duration, Errno> {
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

/// The time on host clock `id` (a clock `clock_gettime` takes by number).
pub(super) fn clock_now(id: i32) -> Result<GuestTimespec, Errno> {
    now(Clock::Host(id))
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
    sleep_relative(task, req, a[1])
}

/// Sleep for `d`; when a signal interrupts, report the time left at `rem`
/// (if not NULL) and fail with EINTR.
fn sleep_relative(task: &mut Task, d: Duration, rem: u64) -> SysResult {
    let deadline = Instant::now() + d;
    match sleep_until(task, deadline) {
        Ok(()) => Ok(0),
        Err(e) => {
            if rem != 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                let left = GuestTimespec {
                    sec: left.as_secs() as i64,
                    nsec: i64::from(left.subsec_nanos()),
                };
                task.mm.write_val(rem, &left)?;
            }
            // EINTR once a handler runs; restarted (with the full time,
            // where Linux uses what is left) if none does.
            Err(if e == Errno::EINTR {
                Errno::ERESTART_RESTARTBLOCK
            } else {
                e
            })
        }
    }
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
        return sleep_relative(task, d, a[3]);
    }
    // Absolute: sleep until the clock reaches `t`, re-checking because the
    // realtime clock may be stepped while we sleep.
    loop {
        let left = t.as_nanos() - now(c)?.as_nanos();
        if left <= 0 {
            return Ok(0);
        }
        let left = u64::try_from(left).unwrap_or(u64::MAX);
        // An absolute sleep reports no remaining time when interrupted.
        sleep_until(task, Instant::now() + Duration::from_nanos(left))
            .map_err(|_| Errno::ERESTARTNOHAND)?;
    }
}

/// `struct timeval` as the guest lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
struct GuestTimeval {
    sec: i64,
    usec: i64,
}

impl GuestTimeval {
    fn to_duration(self) -> Result<Duration, Errno> {
        if self.sec < 0 || !(0..1_000_000).contains(&self.usec) {
            return Err(Errno::EINVAL);
        }
        Ok(Duration::new(self.sec as u64, self.usec as u32 * 1000))
    }

    fn from_duration(d: Duration) -> Self {
        GuestTimeval {
            sec: d.as_secs() as i64,
            usec: i64::from(d.subsec_micros()),
        }
    }
}

/// `struct itimerval`: the interval, then the time to the next expiry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
struct GuestItimerval {
    interval: GuestTimeval,
    value: GuestTimeval,
}

const ITIMER_REAL: u64 = 0;
const ITIMER_VIRTUAL: u64 = 1;
const ITIMER_PROF: u64 = 2;

/// The real timer, or EINVAL for the CPU-time timers rvisor cannot run yet
/// (it does not account the guest's CPU time).
fn check_which(which: u64) -> Result<(), Errno> {
    match which {
        ITIMER_REAL => Ok(()),
        ITIMER_VIRTUAL | ITIMER_PROF => {
            tracing::warn!("ITIMER_VIRTUAL/ITIMER_PROF are not supported");
            Err(Errno::EINVAL)
        }
        _ => Err(Errno::EINVAL),
    }
}

fn real_timer(task: &mut Task) -> &RealTimer {
    let inbox = task.inbox.clone();
    task.real_timer.get_or_insert_with(|| RealTimer::new(inbox))
}

fn itimerval(value: Duration, interval: Duration) -> GuestItimerval {
    GuestItimerval {
        interval: GuestTimeval::from_duration(interval),
        value: GuestTimeval::from_duration(value),
    }
}

fn sys_getitimer(task: &mut Task, a: [u64; 6]) -> SysResult {
    check_which(a[0])?;
    let (value, interval) = task
        .real_timer
        .as_ref()
        .map(RealTimer::get)
        .unwrap_or_default();
    task.mm.write_val(a[1], &itimerval(value, interval))?;
    Ok(0)
}

fn sys_setitimer(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [which, new, old, ..] = a;
    check_which(which)?;
    // A NULL new value disarms, as Linux still accepts.
    let new = match new {
        0 => GuestItimerval::default(),
        p => task.mm.read_val::<GuestItimerval>(p)?,
    };
    let (value, interval) = (new.value.to_duration()?, new.interval.to_duration()?);
    let (old_value, old_interval) = real_timer(task).set(value, interval);
    if old != 0 {
        task.mm
            .write_val(old, &itimerval(old_value, old_interval))?;
    }
    Ok(0)
}

fn sys_alarm(task: &mut Task, a: [u64; 6]) -> SysResult {
    let secs = a[0] as u32;
    let (left, _) = real_timer(task).set(Duration::from_secs(u64::from(secs)), Duration::ZERO);
    // Whole seconds left, rounded to nearest, and never 0 for an armed alarm.
    let mut s = left.as_secs() + u64::from(left.subsec_micros() >= 500_000);
    if s == 0 && !left.is_zero() {
        s = 1;
    }
    Ok(s)
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
