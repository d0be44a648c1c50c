//! What `wait4` and `waitid` find: a child that exited, stopped or
//! continued, chosen by pid, process group or any, in pid order.

use super::{Proc, ProcessTable};
use crate::errno::Errno;
use crate::kernel::rusage::Usage;
use crate::kernel::ExitStatus;

/// Which children a wait looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitSelector {
    Any,
    Pid(i32),
    Pgid(i32),
}

/// Which children a wait looks at by how they tell their exit: Linux
/// calls a child whose exit signal is not SIGCHLD a "clone" child.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WaitKind {
    /// Children that send SIGCHLD (no option).
    #[default]
    Normal,
    /// The others (`__WCLONE`).
    Clone,
    /// Both (`__WALL`).
    All,
}

impl WaitKind {
    /// From wait4/waitid's options: `__WALL` wins over `__WCLONE`.
    pub fn from_options(options: i32) -> WaitKind {
        if options & libc::__WALL != 0 {
            WaitKind::All
        } else if options & libc::__WCLONE != 0 {
            WaitKind::Clone
        } else {
            WaitKind::Normal
        }
    }

    fn matches(self, exit_signal: i32) -> bool {
        match self {
            WaitKind::All => true,
            WaitKind::Normal => exit_signal == libc::SIGCHLD,
            WaitKind::Clone => exit_signal != libc::SIGCHLD,
        }
    }
}

/// Which changes a wait reports, and whether it consumes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitFlags {
    pub exited: bool,
    pub stopped: bool,
    pub continued: bool,
    /// `WNOWAIT`: report but leave the child waitable.
    pub nowait: bool,
    pub kind: WaitKind,
}

impl WaitFlags {
    pub const EXITED: WaitFlags = WaitFlags {
        exited: true,
        stopped: false,
        continued: false,
        nowait: false,
        kind: WaitKind::All,
    };
}

/// The change a wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEvent {
    Exited(ExitStatus),
    /// Stopped by this signal.
    Stopped(i32),
    Continued,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitResult {
    pub pid: i32,
    pub uid: u32,
    pub event: WaitEvent,
    /// What a reaped child used, its own reaped children included.
    pub usage: Usage,
}

impl WaitSelector {
    fn matches(self, pid: i32, p: &Proc) -> bool {
        match self {
            WaitSelector::Any => true,
            WaitSelector::Pid(want) => pid == want,
            WaitSelector::Pgid(pgid) => p.pgid == pgid,
        }
    }
}

/// What `p` has to report under `flags`, if anything.
fn event_of(p: &Proc, flags: WaitFlags) -> Option<WaitEvent> {
    if let Some(s) = p.zombie {
        return flags.exited.then_some(WaitEvent::Exited(s));
    }
    match p.job.report? {
        WaitEvent::Stopped(sig) if flags.stopped => Some(WaitEvent::Stopped(sig)),
        WaitEvent::Continued if flags.continued => Some(WaitEvent::Continued),
        _ => None,
    }
}

impl ProcessTable {
    /// Find a child of `parent` chosen by `sel` with something `flags`
    /// asks for, and consume it (a reaped zombie is gone) unless
    /// `flags.nowait`. `Ok(None)` if matching children exist but none has
    /// anything to report; ECHILD if there are none.
    pub fn wait(
        &self,
        parent: i32,
        sel: WaitSelector,
        flags: WaitFlags,
    ) -> Result<Option<WaitResult>, Errno> {
        let mut g = self.lock();
        let mut any = false;
        let mut found = None;
        for (&pid, p) in g.1.iter().filter(|(_, p)| p.ppid == parent) {
            // A zombie counts only for a wait that takes exits: asked only
            // for stops, Linux answers ECHILD when all it has are zombies.
            if !sel.matches(pid, p)
                || !flags.kind.matches(p.exit_signal)
                || (p.zombie.is_some() && !flags.exited)
            {
                continue;
            }
            any = true;
            if let Some(event) = event_of(p, flags) {
                found = Some(WaitResult {
                    pid,
                    uid: p.uid,
                    event,
                    usage: Usage::default(),
                });
                break;
            }
        }
        let Some(mut r) = found else {
            return if any { Ok(None) } else { Err(Errno::ECHILD) };
        };
        if let WaitEvent::Exited(_) = r.event {
            // Released before `forget`, which takes it again.
            let groups = self.groups();
            r.usage = groups
                .get(&r.pid)
                .map(|child| child.total_usage())
                .unwrap_or_default();
            if !flags.nowait {
                if let Some(me) = groups.get(&parent) {
                    me.add_child_usage(r.usage);
                }
            }
            drop(groups);
        }
        if !flags.nowait {
            match r.event {
                WaitEvent::Exited(_) => self.forget(&mut g, r.pid),
                _ => {
                    if let Some(p) = g.1.get_mut(&r.pid) {
                        p.job.report = None;
                    }
                }
            }
        }
        Ok(Some(r))
    }
}
