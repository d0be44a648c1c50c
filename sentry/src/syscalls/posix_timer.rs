//! POSIX timers: timer_create, timer_settime, timer_gettime,
//! timer_getoverrun, timer_delete. The timers themselves are in
//! `kernel/posix_timers.rs`; this file reads and checks the guest's
//! structures as Linux does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytemuck::{Pod, Zeroable};

use super::time::{clock_now, GuestTimespec};
use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::posix_timers::{Notify, Setting, TimerSpec};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_timer_create, sys_timer_create),
    (libc::SYS_timer_settime, sys_timer_settime),
    (libc::SYS_timer_gettime, sys_timer_gettime),
    (libc::SYS_timer_getoverrun, sys_timer_getoverrun),
    (libc::SYS_timer_delete, sys_timer_delete),
];

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
const TIMER_ABSTIME: u64 = 1;
/// The highest signal number.
const SIGRTMAX: i32 = 64;

/// `struct sigevent`: 64 bytes, of which the kernel reads the value, the
/// signal, how to notify and (for SIGEV_THREAD_ID) the thread.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GuestSigevent {
    value: u64,
    signo: i32,
    notify: i32,
    tid: i32,
    _rest: [i32; 11],
}

/// `struct itimerspec`: the interval, then the first expiry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
struct GuestItimerspec {
    interval: GuestTimespec,
    value: GuestTimespec,
}

impl GuestItimerspec {
    fn from_setting(s: Setting) -> Self {
        GuestItimerspec {
            interval: GuestTimespec::from_duration(s.interval),
            value: GuestTimespec::from_duration(s.left),
        }
    }
}

/// The clocks a timer can run on. Clocks Linux has no timers for give
/// EOPNOTSUPP; CPU-time clocks would need the guest's CPU time, which
/// rvisor does not account yet.
fn timer_clock(clock: i32) -> Result<i32, Errno> {
    match clock {
        libc::CLOCK_REALTIME
        | libc::CLOCK_MONOTONIC
        | libc::CLOCK_BOOTTIME
        | libc::CLOCK_TAI
        | libc::CLOCK_REALTIME_ALARM
        | libc::CLOCK_BOOTTIME_ALARM => Ok(clock),
        libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => {
            Err(Errno::EOPNOTSUPP)
        }
        libc::CLOCK_PROCESS_CPUTIME_ID | libc::CLOCK_THREAD_CPUTIME_ID => cpu_timers_unsupported(),
        // Dynamic CPU clocks of a process or thread (type 3 is not one).
        c if c < 0 && c & 3 != 3 => cpu_timers_unsupported(),
        _ => Err(Errno::EINVAL),
    }
}

fn cpu_timers_unsupported() -> Result<i32, Errno> {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!("timer_create on a CPU-time clock is not supported");
    }
    Err(Errno::EINVAL)
}

/// What an expiry does, checked as Linux's good_sigevent does.
fn notify_of(task: &Task, ev: &GuestSigevent) -> Result<Notify, Errno> {
    let signal_ok = (1..=SIGRTMAX).contains(&ev.signo);
    match ev.notify {
        SIGEV_NONE => Ok(Notify::Nothing),
        SIGEV_SIGNAL | SIGEV_THREAD if signal_ok => Ok(Notify::Process { signo: ev.signo }),
        SIGEV_THREAD_ID if signal_ok && task.group.threads().iter().any(|&(t, _)| t == ev.tid) => {
            Ok(Notify::Thread {
                signo: ev.signo,
                tid: ev.tid,
            })
        }
        _ => Err(Errno::EINVAL),
    }
}

fn sys_timer_create(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [clock, sevp, idp, ..] = a;
    let clock = timer_clock(clock as i32)?;
    let (spec, default_value) = match sevp {
        // No sigevent: SIGALRM to the process, with the timer's id as value.
        0 => (
            TimerSpec {
                notify: Notify::Process {
                    signo: libc::SIGALRM,
                },
                value: 0,
                clock,
            },
            true,
        ),
        p => {
            let ev: GuestSigevent = task.mm.read_val(p)?;
            let notify = notify_of(task, &ev)?;
            let spec = TimerSpec {
                notify,
                value: ev.value,
                clock,
            };
            (spec, false)
        }
    };
    let timers = task.group.posix_timers();
    let id = timers.create(spec)?;
    if default_value {
        timers.set_value(id, id as u32 as u64);
    }
    if let Err(e) = task.mm.write_val(idp, &id) {
        let _ = timers.delete(id);
        return Err(e);
    }
    Ok(0)
}

fn sys_timer_settime(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [id, flags, new, old, ..] = a;
    let id = id as i32;
    if new == 0 {
        return Err(Errno::EINVAL);
    }
    let new: GuestItimerspec = task.mm.read_val(new)?;
    let interval = new.interval.to_duration()?;
    let mut value = new.value.to_duration()?;
    let timers = task.group.posix_timers();
    let clock = timers.clock(id)?;
    if flags & TIMER_ABSTIME != 0 && !value.is_zero() {
        // An absolute time already past fires at once.
        let now = clock_now(clock)?.to_duration()?;
        value = value.saturating_sub(now).max(Duration::from_nanos(1));
    }
    let previous = timers.set(id, value, interval)?;
    if old != 0 {
        task.mm
            .write_val(old, &GuestItimerspec::from_setting(previous))?;
    }
    Ok(0)
}

fn sys_timer_gettime(task: &mut Task, a: [u64; 6]) -> SysResult {
    let setting = task.group.posix_timers().get(a[0] as i32)?;
    task.mm
        .write_val(a[1], &GuestItimerspec::from_setting(setting))?;
    Ok(0)
}

fn sys_timer_getoverrun(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.group.posix_timers().overrun(a[0] as i32)
}

fn sys_timer_delete(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.group.posix_timers().delete(a[0] as i32).map(|()| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_linux_sizes() {
        assert_eq!(std::mem::size_of::<GuestSigevent>(), 64);
        assert_eq!(std::mem::offset_of!(GuestSigevent, tid), 16);
        assert_eq!(std::mem::size_of::<GuestItimerspec>(), 32);
    }

    #[test]
    fn clocks_without_timers_are_told_apart_from_unknown_ones() {
        assert_eq!(
            timer_clock(libc::CLOCK_MONOTONIC),
            Ok(libc::CLOCK_MONOTONIC)
        );
        assert_eq!(
            timer_clock(libc::CLOCK_MONOTONIC_RAW),
            Err(Errno::EOPNOTSUPP)
        );
        assert_eq!(timer_clock(100), Err(Errno::EINVAL));
        assert_eq!(timer_clock(-1), Err(Errno::EINVAL));
    }
}
