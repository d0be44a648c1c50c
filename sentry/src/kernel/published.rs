//! What a task publishes for other host threads, which cannot look into
//! its `Task` (each is owned by its own host thread): per thread, the
//! signals it blocks (for routing process signals), whether it sleeps and
//! its name; per process, what /proc shows of it (`ProcessFacts`), kept
//! in its `ThreadGroup` and republished whenever one of them changes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::signal::SigActions;
use super::task::{boot_ticks, Credentials, RLimit, Task, RLIM_NLIMITS};
use crate::mm::WeakMm;
use crate::vfs::fdtable::WeakFdTable;
use crate::vfs::procfs::ImageLayout;
use crate::vfs::FsContext;

/// A thread's scheduling attributes. The sandbox does not schedule by
/// them (its threads are host threads the host schedules); they are kept
/// so that the calls that set and read them agree, as on Linux.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedAttrs {
    /// -20 (most favoured) to 19.
    pub nice: i32,
    /// SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH or SCHED_IDLE.
    pub policy: i32,
    /// 1-99 for SCHED_FIFO and SCHED_RR, else 0.
    pub rt_priority: i32,
    /// SCHED_RESET_ON_FORK: children start with the default policy.
    pub reset_on_fork: bool,
    /// `sched_setaffinity`'s mask (bytes of a cpu_set_t); `None`: every
    /// CPU the host gives the sandbox.
    pub affinity: Option<Vec<u8>>,
}

impl SchedAttrs {
    /// What a new thread or process starts with (Linux's sched_fork).
    pub fn for_child(&self) -> Self {
        let mut child = self.clone();
        if self.reset_on_fork {
            if matches!(self.policy, libc::SCHED_FIFO | libc::SCHED_RR) {
                child.policy = libc::SCHED_OTHER;
                child.rt_priority = 0;
            }
            child.nice = child.nice.max(0);
            child.reset_on_fork = false;
        }
        child
    }
}

/// One thread's published state.
#[derive(Default)]
pub struct ThreadPublished {
    blocked: AtomicU64,
    sleeping: AtomicBool,
    comm: Mutex<Vec<u8>>,
    sched: Mutex<SchedAttrs>,
    /// Clock ticks (100 Hz) after the host booted at which it started.
    pub start_ticks: u64,
}

impl ThreadPublished {
    pub fn new(blocked: u64, comm: &[u8]) -> Arc<Self> {
        Arc::new(ThreadPublished {
            blocked: AtomicU64::new(blocked),
            sleeping: AtomicBool::new(false),
            comm: Mutex::new(comm.to_vec()),
            sched: Mutex::default(),
            start_ticks: boot_ticks(),
        })
    }

    /// The signals the thread blocks, as it last published them.
    pub fn blocked(&self) -> u64 {
        self.blocked.load(Ordering::Acquire)
    }

    /// The thread blocks `mask` and is about to sleep (or to run guest
    /// code, if not `sleeping`).
    pub fn set_blocked(&self, mask: u64, sleeping: bool) {
        self.blocked.store(mask, Ordering::Release);
        self.sleeping.store(sleeping, Ordering::Release);
    }

    /// Whether the thread waits in an interruptible sleep (/proc's `S`).
    pub fn sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Acquire)
    }

    pub fn comm(&self) -> Vec<u8> {
        self.comm.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn sched(&self) -> SchedAttrs {
        self.sched.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_sched(&self, attrs: SchedAttrs) {
        *self.sched.lock().unwrap_or_else(|e| e.into_inner()) = attrs;
    }

    pub fn set_comm(&self, comm: &[u8]) {
        *self.comm.lock().unwrap_or_else(|e| e.into_inner()) = comm.to_vec();
    }
}

/// What /proc shows of a process beyond the process table's ids. Memory
/// and descriptors are held weakly: publishing must not keep an address
/// space or an open file (a pipe's write end) alive.
pub struct ProcessFacts {
    pub exe: Vec<u8>,
    pub image: ImageLayout,
    pub creds: Credentials,
    pub rlimits: [RLimit; RLIM_NLIMITS],
    pub no_new_privs: bool,
    pub fs: FsContext,
    pub actions: SigActions,
    pub mm: WeakMm,
    pub fds: WeakFdTable,
}

impl Clone for ProcessFacts {
    fn clone(&self) -> Self {
        ProcessFacts {
            exe: self.exe.clone(),
            image: self.image,
            creds: self.creds,
            rlimits: self.rlimits,
            no_new_privs: self.no_new_privs,
            fs: self.fs.share(),
            actions: self.actions.clone(),
            mm: self.mm.clone(),
            fds: self.fds.clone(),
        }
    }
}

impl Task {
    /// This task's process as /proc shows it.
    pub fn facts(&self) -> ProcessFacts {
        ProcessFacts {
            exe: self.exe.as_bytes().to_vec(),
            image: self.image,
            creds: self.creds,
            rlimits: self.rlimits,
            no_new_privs: self.no_new_privs,
            fs: self.fs.share(),
            actions: self.signals.actions.clone(),
            mm: self.mm.downgrade(),
            fds: self.fds.downgrade(),
        }
    }

    /// Let other tasks' /proc see this process as it is now: after it
    /// starts, and after a change to what `facts` holds.
    pub fn publish_facts(&self) {
        self.group.set_facts(self.facts());
    }

    /// Rename the thread (`prctl(PR_SET_NAME)`, `execve`).
    pub fn set_comm(&mut self, comm: Vec<u8>) {
        self.published.set_comm(&comm);
        self.comm = comm;
    }
}
