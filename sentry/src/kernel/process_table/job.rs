//! Job-control stops as the process table records them: whether a
//! process is stopped, what its parent's `wait` may still learn about it,
//! and the SIGCHLD (CLD_STOPPED, CLD_CONTINUED) that tells the parent.
//! The stopped task's own thread does the waiting (`kernel::job_control`).

use super::{ProcessTable, Procs, WaitEvent, CLD_CONTINUED, CLD_STOPPED};
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
        self.notify_parent(&g, pid, info);
        true
    }

    /// Process `pid` continues (SIGCONT arrived). Returns whether it was
    /// stopped. Both the sender (`send_to_process`) and the stopped task
    /// call this, so the parent sees the change as soon as `kill` returns.
    pub fn cont(&self, pid: i32) -> bool {
        self.cont_locked(&mut self.lock(), pid)
    }

    fn cont_locked(&self, g: &mut Procs, pid: i32) -> bool {
        let Some(p) = g.1.get_mut(&pid).filter(|p| p.job.stopped) else {
            return false;
        };
        p.job = JobState {
            stopped: false,
            report: Some(WaitEvent::Continued),
        };
        let mut info = SigInfo::from_sender(libc::SIGCHLD, CLD_CONTINUED, pid, p.uid);
        info.fields[1] = libc::SIGCONT as u64;
        let inbox = p.inbox.clone();
        self.notify_parent(g, pid, info);
        // Every thread of the process waits out the stop: wake them all.
        self.nudge_threads(pid, &inbox);
        true
    }

    /// SIGKILL ends a stop without a report: the exit follows.
    pub fn end_stop_for_kill(&self, pid: i32) {
        self.end_stop_for_kill_locked(&mut self.lock(), pid);
    }

    fn end_stop_for_kill_locked(&self, g: &mut Procs, pid: i32) {
        if let Some(p) = g.1.get_mut(&pid) {
            p.job = JobState::default();
            let inbox = p.inbox.clone();
            self.nudge_threads(pid, &inbox);
        }
    }

    /// Post `info` for live process `pid` as `kill` does (Linux's
    /// `prepare_signal`): SIGCONT ends a stop and SIGKILL any stop at
    /// once, so a `waitpid(WCONTINUED | WNOHANG)` right after `kill` sees
    /// the change. The table stays locked from the change to the post, so
    /// a continued process finds its SIGCONT already posted when it runs
    /// again and a handler runs before anything else, as on Linux (the
    /// sender might otherwise be held up in between: a host stop of all
    /// of rvisor). Returns whether the process is alive.
    pub fn send_to_process(&self, pid: i32, info: SigInfo) -> bool {
        let mut g = self.lock();
        match info.signo {
            libc::SIGCONT => {
                self.cont_locked(&mut g, pid);
            }
            libc::SIGKILL => self.end_stop_for_kill_locked(&mut g, pid),
            _ => {}
        }
        match g.1.get(&pid).filter(|p| p.zombie.is_none()) {
            Some(p) => {
                let inbox = p.inbox.clone();
                self.post_locked(pid, &inbox, info);
                true
            }
            None => false,
        }
    }

    pub fn is_stopped(&self, pid: i32) -> bool {
        self.lock().1.get(&pid).is_some_and(|p| p.job.stopped)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{WaitFlags, WaitSelector};
    use super::*;
    use crate::errno::Errno;

    #[test]
    fn stops_and_continues_are_reported_once_and_tell_the_parent() {
        let t = ProcessTable::new(8);
        let parent_inbox = Arc::new(crate::kernel::inbox::SignalInbox::default());
        let init = t.add(0, parent_inbox.clone(), 0).unwrap();
        let child = t.add(init, Arc::default(), 0).unwrap();
        let stops = WaitFlags {
            stopped: true,
            continued: true,
            ..WaitFlags::default()
        };
        assert!(t.stop(child, libc::SIGTSTP));
        assert!(!t.stop(child, libc::SIGSTOP), "already stopped");
        let posted = parent_inbox.drain();
        assert_eq!(posted.len(), 1);
        assert_eq!((posted[0].code, posted[0].fields[1]), (CLD_STOPPED, 20));
        let sel = WaitSelector::Pid(child);
        let got = t.wait(init, sel, stops).unwrap().unwrap();
        assert_eq!(got.event, WaitEvent::Stopped(libc::SIGTSTP));
        assert_eq!(t.wait(init, sel, stops), Ok(None));
        assert!(t.cont(child));
        assert!(!t.cont(child));
        assert_eq!(parent_inbox.drain()[0].code, CLD_CONTINUED);
        let nowait = WaitFlags {
            nowait: true,
            ..stops
        };
        assert_eq!(
            t.wait(init, sel, nowait).unwrap().unwrap().event,
            WaitEvent::Continued
        );
        assert!(t.wait(init, sel, stops).unwrap().is_some());
        // An exited child is invisible to a wait for stops only.
        t.exit(child, crate::kernel::ExitStatus::Exited(0));
        assert_eq!(t.wait(init, sel, stops), Err(Errno::ECHILD));
    }
}
