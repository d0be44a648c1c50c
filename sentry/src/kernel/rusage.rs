//! Resource usage (`getrusage`, `wait4`'s rusage): what each guest
//! thread's host thread has used while serving it, summed per process as
//! its threads end, and per parent as it reaps its children (their own
//! usage and that of the children they reaped), as Linux sums them.
//!
//! On KVM a guest thread's code runs on its host thread (as guest time),
//! so its CPU time is all here; on ptrace the guest's user-mode time is
//! the stub process's and is not counted.

use std::ops::AddAssign;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};

/// What one thread, process or set of children has used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub utime: Duration,
    pub stime: Duration,
    /// Largest resident set, in KiB.
    pub maxrss_kb: u64,
    pub minflt: u64,
    pub majflt: u64,
    pub nvcsw: u64,
    pub nivcsw: u64,
}

impl Usage {
    /// What the calling host thread has used since it started.
    pub fn of_this_thread() -> Self {
        let r = crate::host::thread_rusage();
        let time = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec.max(0) as u64)
                + Duration::from_micros(t.tv_usec.clamp(0, 999_999) as u64)
        };
        let count = |n: libc::c_long| n.max(0) as u64;
        Usage {
            utime: time(r.ru_utime),
            stime: time(r.ru_stime),
            maxrss_kb: 0,
            minflt: count(r.ru_minflt),
            majflt: count(r.ru_majflt),
            nvcsw: count(r.ru_nvcsw),
            nivcsw: count(r.ru_nivcsw),
        }
    }

    /// The usage since `start` was taken (host threads serve one task
    /// after another).
    pub fn since(self, start: Usage) -> Usage {
        Usage {
            utime: self.utime.saturating_sub(start.utime),
            stime: self.stime.saturating_sub(start.stime),
            maxrss_kb: self.maxrss_kb,
            minflt: self.minflt.saturating_sub(start.minflt),
            majflt: self.majflt.saturating_sub(start.majflt),
            nvcsw: self.nvcsw.saturating_sub(start.nvcsw),
            nivcsw: self.nivcsw.saturating_sub(start.nivcsw),
        }
    }

    pub fn to_guest(self) -> GuestRusage {
        let tv = |d: Duration| GuestTimeval {
            sec: d.as_secs() as i64,
            usec: i64::from(d.subsec_micros()),
        };
        let mut longs = [0i64; 14];
        longs[0] = self.maxrss_kb as i64;
        longs[4] = self.minflt as i64;
        longs[5] = self.majflt as i64;
        longs[12] = self.nvcsw as i64;
        longs[13] = self.nivcsw as i64;
        GuestRusage {
            utime: tv(self.utime),
            stime: tv(self.stime),
            longs,
        }
    }
}

/// Times and counts add up; the resident set is the largest of them.
impl AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.utime += o.utime;
        self.stime += o.stime;
        self.maxrss_kb = self.maxrss_kb.max(o.maxrss_kb);
        self.minflt += o.minflt;
        self.majflt += o.majflt;
        self.nvcsw += o.nvcsw;
        self.nivcsw += o.nivcsw;
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GuestTimeval {
    sec: i64,
    usec: i64,
}

/// `struct rusage`: two timevals, then fourteen longs from `ru_maxrss`
/// to `ru_nivcsw`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct GuestRusage {
    utime: GuestTimeval,
    stime: GuestTimeval,
    longs: [i64; 14],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_layout_is_linuxs() {
        assert_eq!(std::mem::size_of::<GuestRusage>(), 144);
        assert_eq!(
            std::mem::size_of::<GuestRusage>(),
            std::mem::size_of::<libc::rusage>()
        );
        let u = Usage {
            utime: Duration::from_millis(1500),
            maxrss_kb: 7,
            nivcsw: 3,
            ..Usage::default()
        };
        let g = u.to_guest();
        assert_eq!((g.utime.sec, g.utime.usec), (1, 500_000));
        assert_eq!((g.longs[0], g.longs[13]), (7, 3));
    }

    #[test]
    fn sums_add_times_and_keep_the_largest_resident_set() {
        let mut a = Usage {
            utime: Duration::from_millis(1),
            maxrss_kb: 10,
            minflt: 2,
            ..Usage::default()
        };
        a += Usage {
            utime: Duration::from_millis(2),
            maxrss_kb: 4,
            minflt: 3,
            ..Usage::default()
        };
        assert_eq!(a.utime, Duration::from_millis(3));
        assert_eq!((a.maxrss_kb, a.minflt), (10, 5));
    }

    #[test]
    fn a_threads_usage_grows_and_since_subtracts() {
        let start = Usage::of_this_thread();
        // Spin (not sleep) for a while: CPU time must pass.
        let until = std::time::Instant::now() + Duration::from_millis(20);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let used = Usage::of_this_thread().since(start);
        assert!(used.utime + used.stime > Duration::ZERO);
    }
}
