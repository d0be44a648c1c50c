//! POSIX per-process timers (`timer_create` and friends).
//!
//! A process's timers share one host thread, started with its first
//! timer, that sleeps until the earliest expiry and posts the timer's
//! signal to the process (or to one of its threads). As on Linux, a timer
//! has at most one signal in flight: expiries while it waits to be taken
//! are counted as overruns, which the taker reads in `si_overrun` and
//! `timer_getoverrun` reports afterwards. A signal that is dropped instead
//! (ignored, or a standard signal already pending) lets the next expiry
//! post again. The timers end with `execve` and with the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytemuck::Zeroable;

use super::siginfo::SigInfo;
use super::thread_group::ThreadGroup;
use crate::errno::Errno;

/// `si_code` of a signal from a POSIX timer.
pub const SI_TIMER: i32 = -2;
/// Linux's limit on the timers of one process is RLIMIT_SIGPENDING; a
/// fixed bound serves the same purpose here.
const MAX_TIMERS: usize = 4096;
/// `DELAYTIMER_MAX`: overrun counts stop there.
const DELAYTIMER_MAX: u64 = i32::MAX as u64;
/// Settings further out than this (tens of thousands of years) are taken
/// as this, so that no deadline overflows the clock.
const FOREVER: Duration = Duration::from_secs(1 << 40);

/// `base + d`, for any `d` the guest can ask for.
fn after(base: Instant, d: Duration) -> Instant {
    base + d.min(FOREVER)
}

/// What an expiry does (`sigev_notify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: nothing; the timer is only read with `timer_gettime`.
    Nothing,
    /// SIGEV_SIGNAL (and SIGEV_THREAD, which the kernel treats alike):
    /// `signo` to the process.
    Process { signo: i32 },
    /// SIGEV_THREAD_ID: `signo` to thread `tid` of the process.
    Thread { signo: i32, tid: i32 },
}

/// How a timer was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerSpec {
    pub notify: Notify,
    /// `sigev_value`, handed back in `si_value`.
    pub value: u64,
    /// The clock an absolute setting is read on (the timers themselves
    /// all count on the host's monotonic clock).
    pub clock: i32,
}

struct Timer {
    spec: TimerSpec,
    /// The next expiry; `None` while disarmed.
    next: Option<Instant>,
    interval: Duration,
    /// Expiries since the signal in flight was posted.
    overrun: u64,
    /// The overrun count the last taken signal carried.
    overrun_last: u64,
    /// A signal of this timer waits to be taken.
    in_flight: bool,
    /// Tells this timer's signals from those of a deleted timer that had
    /// the same id.
    generation: u32,
}

#[derive(Default)]
struct State {
    timers: BTreeMap<i32, Timer>,
    next_id: i32,
    next_generation: u32,
    shut_down: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    group: Weak<ThreadGroup>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The POSIX timers of one process.
pub struct PosixTimers {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A timer's setting as `timer_gettime` reports it: time to the next
/// expiry (zero when disarmed) and the interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    pub left: Duration,
    pub interval: Duration,
}

impl PosixTimers {
    pub fn new(group: Weak<ThreadGroup>) -> Self {
        PosixTimers {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                group,
            }),
            thread: Mutex::new(None),
        }
    }

    /// `timer_create`: a disarmed timer with the next free id (ids count
    /// up, as Linux's, so a deleted timer's id is not at once reused).
    pub fn create(&self, spec: TimerSpec) -> Result<i32, Errno> {
        self.start_thread()?;
        let mut s = self.shared.lock();
        if s.timers.len() >= MAX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        let mut id = s.next_id;
        while s.timers.contains_key(&id) {
            id = id.checked_add(1).unwrap_or(0);
        }
        s.next_id = id.checked_add(1).unwrap_or(0);
        // Generation 0 marks a signal the guest queued itself.
        s.next_generation = s.next_generation.checked_add(1).unwrap_or(1);
        let generation = s.next_generation;
        s.timers.insert(
            id,
            Timer {
                spec,
                next: None,
                interval: Duration::ZERO,
                overrun: 0,
                overrun_last: 0,
                in_flight: false,
                generation,
            },
        );
        Ok(id)
    }

    /// `timer_delete`. A signal of the timer still waiting is dropped
    /// when it is taken.
    pub fn delete(&self, id: i32) -> Result<(), Errno> {
        self.shared
            .lock()
            .timers
            .remove(&id)
            .map(|_| ())
            .ok_or(Errno::EINVAL)
    }

    /// `timer_delete` of every timer (`execve`, process exit).
    pub fn clear(&self) {
        self.shared.lock().timers.clear();
        self.shared.changed.notify_all();
    }

    /// Set the value a timer's signals carry (`timer_create` without a
    /// sigevent makes it the timer's id).
    pub fn set_value(&self, id: i32, value: u64) {
        if let Some(t) = self.shared.lock().timers.get_mut(&id) {
            t.spec.value = value;
        }
    }

    /// The clock timer `id` was made on.
    pub fn clock(&self, id: i32) -> Result<i32, Errno> {
        let s = self.shared.lock();
        Ok(s.timers.get(&id).ok_or(Errno::EINVAL)?.spec.clock)
    }

    /// `timer_gettime`.
    pub fn get(&self, id: i32) -> Result<Setting, Errno> {
        let s = self.shared.lock();
        let t = s.timers.get(&id).ok_or(Errno::EINVAL)?;
        Ok(setting_of(t, Instant::now()))
    }

    /// `timer_settime`: arm the timer to expire in `value` (disarm with
    /// zero) and then every `interval`; returns the old setting.
    pub fn set(&self, id: i32, value: Duration, interval: Duration) -> Result<Setting, Errno> {
        let now = Instant::now();
        let mut s = self.shared.lock();
        let t = s.timers.get_mut(&id).ok_or(Errno::EINVAL)?;
        let old = setting_of(t, now);
        t.next = (!value.is_zero()).then(|| after(now, value));
        t.interval = interval;
        t.overrun = 0;
        drop(s);
        self.shared.changed.notify_all();
        Ok(old)
    }

    /// `timer_getoverrun`.
    pub fn overrun(&self, id: i32) -> Result<u64, Errno> {
        let s = self.shared.lock();
        Ok(s.timers.get(&id).ok_or(Errno::EINVAL)?.overrun_last)
    }

    /// A signal of a timer is being taken (delivered to a handler or
    /// returned by sigtimedwait): fill in its overrun count and let the
    /// timer post again. False if the timer has been deleted since: the
    /// signal is dropped, as Linux takes it back at `timer_delete`.
    pub fn taken(&self, info: &mut SigInfo) -> bool {
        let (id, generation) = timer_of(info);
        if generation == 0 {
            return true;
        }
        clear_private(info);
        let mut s = self.shared.lock();
        let Some(t) = s.timers.get_mut(&id).filter(|t| t.generation == generation) else {
            return false;
        };
        t.in_flight = false;
        t.overrun_last = t.overrun.min(DELAYTIMER_MAX);
        t.overrun = 0;
        info.fields[0] = u64::from(id as u32) | (t.overrun_last << 32);
        true
    }

    /// A signal of a timer was dropped before anyone took it (ignored, or
    /// already pending): the next expiry posts again.
    pub fn dropped(&self, info: &SigInfo) {
        let (id, generation) = timer_of(info);
        let mut s = self.shared.lock();
        if let Some(t) = s.timers.get_mut(&id).filter(|t| t.generation == generation) {
            t.in_flight = false;
            t.overrun = 0;
        }
    }

    fn start_thread(&self) -> Result<(), Errno> {
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        if thread.is_some() {
            return Ok(());
        }
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("rvisor-timers".into())
            .spawn(move || run(&shared))
            .map_err(|_| Errno::EAGAIN)?;
        *thread = Some(handle);
        Ok(())
    }
}

fn setting_of(t: &Timer, now: Instant) -> Setting {
    let left = t.next.map_or(Duration::ZERO, |n| {
        // An armed timer never reads as zero left (Linux reports 1 ns).
        n.saturating_duration_since(now)
            .max(Duration::from_nanos(1))
    });
    Setting {
        left,
        interval: t.interval,
    }
}

/// A siginfo the guest queues itself (`rt_sigqueueinfo`) may claim to
/// come from a timer; it must not pass for one of the sentry's.
pub fn forget_origin(info: &mut SigInfo) {
    if info.code == SI_TIMER {
        clear_private(info);
    }
}

/// The timer id and generation a timer's signal carries. The generation
/// rides in `si_sys_private`'s place, which the guest never sees (it is
/// cleared before the signal is handed out).
fn timer_of(info: &SigInfo) -> (i32, u32) {
    (info.fields[0] as u32 as i32, info.fields[2] as u32)
}

fn clear_private(info: &mut SigInfo) {
    info.fields[2] = 0;
}

/// A timer's signal: `si_timerid`, `si_overrun` (filled in when taken),
/// `si_value`.
fn timer_signal(signo: i32, id: i32, t: &Timer) -> SigInfo {
    let mut info = SigInfo::zeroed();
    info.signo = signo;
    info.code = SI_TIMER;
    info.fields[0] = u64::from(id as u32);
    info.fields[1] = t.spec.value;
    info.fields[2] = u64::from(t.generation);
    info
}

/// The timer thread: sleep until the earliest expiry, post what is due.
fn run(shared: &Shared) {
    let mut s = shared.lock();
    loop {
        if s.shut_down {
            return;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        for (&id, t) in s.timers.iter_mut() {
            let Some(next) = t.next.filter(|&n| n <= now) else {
                continue;
            };
            // Expiries missed while the thread was late count as overruns.
            let missed = if t.interval.is_zero() {
                t.next = None;
                0
            } else {
                let interval = t.interval.min(FOREVER);
                let behind = now.duration_since(next).as_nanos() / interval.as_nanos();
                let behind = u64::try_from(behind).unwrap_or(u64::MAX);
                // The first expiry after now: `next` plus whole intervals.
                let skip = interval.as_nanos() * (u128::from(behind) + 1);
                let skip = Duration::from_nanos(u64::try_from(skip).unwrap_or(u64::MAX));
                t.next = Some(after(next, skip));
                behind
            };
            let signo = match t.spec.notify {
                Notify::Nothing => {
                    t.overrun = t.overrun.saturating_add(missed + 1);
                    continue;
                }
                Notify::Process { signo } | Notify::Thread { signo, .. } => signo,
            };
            if t.in_flight {
                t.overrun = t.overrun.saturating_add(missed + 1);
                continue;
            }
            t.in_flight = true;
            t.overrun = missed;
            due.push((timer_signal(signo, id, t), t.spec.notify));
        }
        if !due.is_empty() {
            // Posted without the timers' lock: posting takes the group's.
            drop(s);
            post(shared, due);
            s = shared.lock();
            continue;
        }
        let earliest = s.timers.values().filter_map(|t| t.next).min();
        s = match earliest {
            None => shared.changed.wait(s).unwrap_or_else(|e| e.into_inner()),
            Some(when) => {
                shared
                    .changed
                    .wait_timeout(s, when.saturating_duration_since(Instant::now()))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}

fn post(shared: &Shared, due: Vec<(SigInfo, Notify)>) {
    let Some(group) = shared.group.upgrade() else {
        return;
    };
    if group.is_empty() {
        // The process has ended: its timers with it.
        shared.lock().timers.clear();
        return;
    }
    for (info, notify) in due {
        match notify {
            Notify::Thread { tid, .. } => {
                let inbox = group.threads().into_iter().find(|&(t, _)| t == tid);
                match inbox {
                    Some((_, inbox)) => inbox.post(info),
                    // The thread has ended: Linux sends to the process.
                    None => group.post_shared(info),
                }
            }
            _ => group.post_shared(info),
        }
    }
}

impl Drop for PosixTimers {
    fn drop(&mut self) {
        self.shared.lock().shut_down = true;
        self.shared.changed.notify_all();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        // The timer thread itself may hold the group's last reference
        // while posting; it cannot wait for itself, it just ends.
        if let Some(h) = handle.filter(|h| h.thread().id() != std::thread::current().id()) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::inbox::SignalInbox;
    use crate::kernel::published::ThreadPublished;

    fn group() -> (Arc<ThreadGroup>, Arc<SignalInbox>) {
        let inbox = Arc::new(SignalInbox::default());
        let g = ThreadGroup::new(1, inbox.clone(), Arc::new(ThreadPublished::default()));
        (g, inbox)
    }

    fn take_one(inbox: &SignalInbox) -> SigInfo {
        assert!(inbox.wait_until(Instant::now() + Duration::from_secs(5)));
        let got = inbox.drain();
        assert_eq!(got.len(), 1, "{got:?}");
        got[0]
    }

    #[test]
    fn ids_count_up_and_unknown_ids_are_einval() {
        let (g, _) = group();
        let timers = PosixTimers::new(Arc::downgrade(&g));
        let spec = TimerSpec {
            notify: Notify::Nothing,
            value: 0,
            clock: libc::CLOCK_MONOTONIC,
        };
        assert_eq!(timers.create(spec), Ok(0));
        assert_eq!(timers.create(spec), Ok(1));
        timers.delete(0).unwrap();
        assert_eq!(timers.create(spec), Ok(2));
        assert_eq!(timers.delete(7), Err(Errno::EINVAL));
        assert_eq!(timers.get(7), Err(Errno::EINVAL));
        assert_eq!(timers.overrun(7), Err(Errno::EINVAL));
    }

    #[test]
    fn an_expiry_posts_the_signal_with_id_and_value_and_overruns_wait_for_the_taker() {
        let (g, inbox) = group();
        let timers = PosixTimers::new(Arc::downgrade(&g));
        let id = timers
            .create(TimerSpec {
                notify: Notify::Process {
                    signo: libc::SIGUSR1,
                },
                value: 0xabc,
                clock: libc::CLOCK_MONOTONIC,
            })
            .unwrap();
        timers
            .set(id, Duration::from_millis(5), Duration::from_millis(5))
            .unwrap();
        let mut info = take_one(&inbox);
        assert_eq!((info.signo, info.code), (libc::SIGUSR1, SI_TIMER));
        assert_eq!(info.fields[1], 0xabc);
        // Not taken yet: further expiries are overruns, not signals.
        std::thread::sleep(Duration::from_millis(40));
        assert!(inbox.drain().is_empty());
        assert!(timers.taken(&mut info));
        assert_eq!(info.fields[2], 0, "the generation is not shown");
        let overrun = info.fields[0] >> 32;
        assert!(overrun >= 3, "overrun {overrun}");
        assert_eq!(timers.overrun(id), Ok(overrun));
        // Taken: the next expiry posts again.
        take_one(&inbox);
        let old = timers.set(id, Duration::ZERO, Duration::ZERO).unwrap();
        assert_eq!(old.interval, Duration::from_millis(5));
        assert_eq!(timers.get(id), Ok(Setting::default()));
    }

    #[test]
    fn a_deleted_timers_signal_is_dropped_when_taken() {
        let (g, inbox) = group();
        let timers = PosixTimers::new(Arc::downgrade(&g));
        let spec = TimerSpec {
            notify: Notify::Process {
                signo: libc::SIGUSR2,
            },
            value: 0,
            clock: libc::CLOCK_MONOTONIC,
        };
        let id = timers.create(spec).unwrap();
        timers
            .set(id, Duration::from_millis(1), Duration::ZERO)
            .unwrap();
        let mut info = take_one(&inbox);
        timers.delete(id).unwrap();
        assert!(!timers.taken(&mut info));
        // One the guest queued itself with SI_TIMER is delivered as it is.
        let mut forged = info;
        forget_origin(&mut forged);
        assert!(timers.taken(&mut forged));
        assert_eq!(forged.fields[0], info.fields[0]);
    }

    #[test]
    fn a_dropped_signal_lets_the_next_expiry_post() {
        let (g, inbox) = group();
        let timers = PosixTimers::new(Arc::downgrade(&g));
        let id = timers
            .create(TimerSpec {
                notify: Notify::Process {
                    signo: libc::SIGALRM,
                },
                value: 0,
                clock: libc::CLOCK_MONOTONIC,
            })
            .unwrap();
        timers
            .set(id, Duration::from_millis(2), Duration::from_millis(2))
            .unwrap();
        let info = take_one(&inbox);
        timers.dropped(&info);
        take_one(&inbox);
        let left = timers.get(id).unwrap().left;
        assert!(left > Duration::ZERO && left <= Duration::from_millis(2));
    }
}
