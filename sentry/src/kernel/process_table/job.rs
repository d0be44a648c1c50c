//! Job-control stops as the process table records them: whether a
//! process is stopped, what its parent's `wait` may still learn about it,
//! and the SIGCHLD (CLD_STOPPED, CLD_CONTINUED) that tells the parent.
//! The stopped task's own thread does the waiting (`kernel::job_control`).

use super::{ProcessTable, WaitEvent, CLD_CONTINUED, CLD_STOPPED};
use crate::kernel::siginfo::SigInfo;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct JobState {
    pub stopped: bool,
    /// The last stop or continue, until a `wait` consumes it.
    pub report: Option<WaitEvent>,
}

impl ProcessTable {
    /// Process `pid` stops for signal `sig`. Returns false if it was
    /// already stopped (nothing new to report).
    pub fn stop(&self, pid: i32, sig: i32) -> bool {
        let mut g = self.lock();
        let Some(p) = g.1.get_mut(&pid).filter(|p| p.zombie.is_none()) else {
            return false;
        };
        if p.job.stopped {
            return false;
        }
        p.job = JobState {
            stopped: true,
            report: Some(WaitEvent::Stopped(sig)),
        };
        let mut info = SigInfo::from_sender(libc::SIGCHLD, CLD_STOPPED, pid, p.uid);
        info.fields[1] = sig as u64;
        Self::notify_parent(&g, pid, info);
        true
    }

    /// Process `pid` continues (SIGCONT arrived). Returns whether it was
    /// stopped. Both the sender and the stopped task call this, so the
    /// parent sees the change as soon as `kill` returns.
    pub fn cont(&self, pid: i32) -> bool {
        let mut g = self.lock();
        let Some(p) = g.1.get_mut(&pid).filter(|p| p.job.stopped) else {
            return false;
        };
        p.job = JobState {
            stopped: false,
            report: Some(WaitEvent::Continued),
        };
        let mut info = SigInfo::from_sender(libc::SIGCHLD, CLD_CONTINUED, pid, p.uid);
        info.fields[1] = libc::SIGCONT as u64;
        Self::notify_parent(&g, pid, info);
        true
    }

    /// SIGKILL ends a stop without a report: the exit follows.
    pub fn end_stop_for_kill(&self, pid: i32) {
        if let Some(p) = self.lock().1.get_mut(&pid) {
            p.job = JobState::default();
        }
    }

    pub fn is_stopped(&self, pid: i32) -> bool {
        self.lock().1.get(&pid).is_some_and(|p| p.job.stopped)
    }
}
