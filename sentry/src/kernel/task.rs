//! A guest task: one thread of a guest process and everything the system
//! calls it makes can see.

use std::sync::Arc;

use vmm::{Platform, Regs};

use crate::kernel::inbox::SignalInbox;
use crate::kernel::itimer::RealTimer;
use crate::kernel::process_table::ProcessTable;
use crate::kernel::published::ThreadPublished;
use crate::kernel::rusage::Usage;
use crate::kernel::signal::SignalState;
use crate::kernel::signal_delivery::PendingSignals;
use crate::kernel::thread_group::ThreadGroup;
use crate::kernel::vfork::VforkRelease;
use crate::mm::SharedMm;
use crate::vfs::procfs::ImageLayout;
use crate::vfs::{FdTable, FsContext};

/// Clock ticks (100 Hz) since the host booted: the clock /proc/uptime and
/// the start times of /proc/PID/stat count in.
pub fn boot_ticks() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    t.tv_sec as u64 * 100 + t.tv_nsec as u64 / 10_000_000
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit`/`exit_group` with this code (low 8 bits).
    Exited(u8),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The status a shell would report: the code, or 128 + signal.
    pub fn shell_status(self) -> i32 {
        match self {
            ExitStatus::Exited(c) => c as i32,
            ExitStatus::Signaled(s) => 128 + s,
        }
    }
}

/// A task's user and group ids: real, effective, saved and file-system
/// (Linux's `struct cred`, without capabilities: an effective uid of 0
/// stands for CAP_SETUID, CAP_SETGID and the others).
#[derive(Clone, Copy, Debug)]
pub struct Credentials {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub suid: u32,
    pub sgid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
}

impl Credentials {
    /// Every id of a kind the same: a process as `exec` of a program
    /// without set-id bits leaves it, or as the sandbox starts.
    pub fn new(uid: u32, gid: u32) -> Self {
        Credentials {
            uid,
            euid: uid,
            gid,
            egid: gid,
            suid: uid,
            sgid: gid,
            fsuid: uid,
            fsgid: gid,
        }
    }
}

/// Soft/hard pair of one resource limit, as `prlimit64` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct RLimit {
    pub cur: u64,
    pub max: u64,
}

/// Number of resource limits Linux defines.
pub const RLIM_NLIMITS: usize = 16;

/// A thread's `rseq` registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rseq {
    pub addr: u64,
    pub len: u32,
    pub sig: u32,
}

pub struct Task {
    pub tid: i32,
    pub tgid: i32,
    pub regs: Regs,
    /// The process's memory, shared with its other threads.
    pub mm: SharedMm,
    pub fds: FdTable,
    pub fs: FsContext,
    pub signals: SignalState,
    pub pending_signals: PendingSignals,
    /// Signals posted by other host threads (timers).
    pub inbox: Arc<SignalInbox>,
    /// The sandbox's processes (shared by all tasks).
    pub procs: Arc<ProcessTable>,
    /// The platform, to make address spaces and contexts for new
    /// processes and programs; `None` in unit tests without one.
    pub platform: Option<Arc<dyn Platform>>,
    /// ITIMER_REAL, started on first use.
    pub real_timer: Option<RealTimer>,
    /// What the serving host thread had used when it began serving this
    /// task (host threads are reused).
    /// `None` until it begins running.
    pub usage_start: Option<Usage>,
    /// FPU image an `rt_sigreturn` recovered, loaded before the next switch.
    pub fpu_restore: Option<Vec<u8>>,
    pub creds: Credentials,
    /// Supplementary group IDs (`getgroups`).
    pub groups: Vec<u32>,
    pub rlimits: [RLimit; RLIM_NLIMITS],
    /// `set_tid_address`: cleared and futex-woken when the thread exits.
    pub clear_child_tid: u64,
    /// `set_robust_list`: head and length.
    pub robust_list: (u64, u64),
    /// `rseq` registration, if any.
    pub rseq: Option<Rseq>,
    /// The task's name (`prctl(PR_SET_NAME)`, /proc/PID/comm), at most 15 bytes.
    pub comm: Vec<u8>,
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    pub no_new_privs: bool,
    /// `personality(2)`'s execution domain and flags (kept, not acted on).
    pub personality: u32,
    /// `set_mempolicy`'s mode (with its flags) and node mask; the sandbox
    /// is one NUMA node, so it changes nothing.
    pub mempolicy: (i32, u64),
    /// `prctl(PR_SET_PDEATHSIG)`.
    pub pdeathsig: i32,
    /// Guest path of the running executable (for AT_EXECFN and /proc/self/exe).
    pub exe: String,
    /// Where the initial stack and its argument and environment strings
    /// lie (the code, data and break parts are read off the VMAs).
    pub image: ImageLayout,
    /// Clock ticks (100 Hz) after the host booted at which it started.
    pub start_ticks: u64,
    /// Set by `exit`/`exit_group` or a fatal signal.
    pub exit_status: Option<ExitStatus>,
    /// `exit` ended only this thread; the process's other threads go on.
    pub exit_thread_only: bool,
    /// The threads of this task's process.
    pub group: Arc<ThreadGroup>,
    /// What other host threads see of this one: `signals.mask` (to route
    /// signals for the process, published before guest code runs and
    /// before sleeps), whether it sleeps, its name.
    pub published: Arc<ThreadPublished>,
    /// Print each system call (`--strace`).
    pub strace: bool,
    /// A vfork child's hold on its parent: dropped when it lets go of the
    /// parent's memory (`execve` or exit), which lets the parent run on.
    pub vfork_release: Option<VforkRelease>,
}

impl Task {
    /// What this thread has used so far (`getrusage(RUSAGE_THREAD)`);
    /// only meaningful on the host thread that serves it.
    pub fn usage(&self) -> Usage {
        self.usage_start
            .map(|start| Usage::of_this_thread().since(start))
            .unwrap_or_default()
    }

    /// A fresh single-threaded process `tid` about to run `exe` at `regs`,
    /// with no resource limits.
    pub fn new(
        tid: i32,
        regs: Regs,
        mm: impl Into<SharedMm>,
        fds: FdTable,
        fs: FsContext,
        creds: Credentials,
        exe: &[u8],
    ) -> Self {
        let base = exe.rsplit(|&c| c == b'/').next().unwrap_or(exe);
        let inbox: Arc<SignalInbox> = Arc::default();
        let comm: Vec<u8> = base.iter().take(15).copied().collect();
        let published = ThreadPublished::new(0, &comm);
        Task {
            tid,
            tgid: tid,
            regs,
            mm: mm.into(),
            fds,
            fs,
            signals: SignalState::default(),
            pending_signals: PendingSignals::default(),
            group: ThreadGroup::new(tid, inbox.clone(), published.clone()),
            start_ticks: published.start_ticks,
            published,
            inbox,
            procs: ProcessTable::new(1),
            platform: None,
            real_timer: None,
            usage_start: None,
            fpu_restore: None,
            creds,
            groups: Vec::new(),
            rlimits: [RLimit {
                cur: u64::MAX,
                max: u64::MAX,
            }; RLIM_NLIMITS],
            clear_child_tid: 0,
            robust_list: (0, 0),
            rseq: None,
            comm,
            no_new_privs: false,
            personality: 0,
            mempolicy: (0, 0),
            pdeathsig: 0,
            exe: String::from_utf8_lossy(exe).into_owned(),
            image: ImageLayout::default(),
            exit_status: None,
            exit_thread_only: false,
            strace: false,
            vfork_release: None,
        }
    }

    /// Before a sleep: let the other threads see which signals this one
    /// blocks, and that it sleeps; `waiting_for` are signals it waits for
    /// although they are blocked (sigtimedwait).
    pub fn publish_mask(&self, waiting_for: u64) {
        self.published
            .set_blocked(self.signals.mask & !waiting_for, true);
    }

    /// Before running guest code: publish the mask, and that it runs.
    pub fn publish_running(&self) {
        self.published.set_blocked(self.signals.mask, false);
    }

    /// The descriptor table a clone with `flags` gets: this one with
    /// CLONE_FILES, else a copy.
    pub fn fds_for_clone(&self, flags: i32) -> FdTable {
        if flags & libc::CLONE_FILES != 0 {
            self.fds.share()
        } else {
            self.fds.duplicate()
        }
    }

    /// The working directory and umask a clone with `flags` gets: these
    /// with CLONE_FS, else a copy.
    pub fn fs_for_clone(&self, flags: i32) -> FsContext {
        if flags & libc::CLONE_FS != 0 {
            self.fs.share()
        } else {
            self.fs.duplicate()
        }
    }

    /// A new thread `tid` of this task's process, starting at `regs`, with
    /// `inbox`: it shares memory and signal actions, and the descriptor
    /// table and working directory if `flags` (clone's) say CLONE_FILES and
    /// CLONE_FS; it copies the mask and credentials, and starts with no
    /// alternate stack or pending signal.
    pub fn new_thread(
        &self,
        tid: i32,
        regs: Regs,
        inbox: Arc<SignalInbox>,
        published: Arc<ThreadPublished>,
        flags: i32,
    ) -> Task {
        let mut signals = SignalState::default();
        signals.actions = self.signals.actions.clone();
        signals.mask = self.signals.mask;
        Task {
            tid,
            tgid: self.tgid,
            regs,
            mm: self.mm.clone(),
            fds: self.fds_for_clone(flags),
            fs: self.fs_for_clone(flags),
            signals,
            pending_signals: PendingSignals::default(),
            inbox,
            procs: self.procs.clone(),
            platform: self.platform.clone(),
            real_timer: None,
            usage_start: None,
            fpu_restore: None,
            creds: self.creds,
            groups: self.groups.clone(),
            rlimits: self.rlimits,
            clear_child_tid: 0,
            robust_list: (0, 0),
            rseq: None,
            comm: self.comm.clone(),
            no_new_privs: self.no_new_privs,
            personality: self.personality,
            mempolicy: self.mempolicy,
            pdeathsig: 0,
            exe: self.exe.clone(),
            image: self.image,
            start_ticks: published.start_ticks,
            exit_status: None,
            exit_thread_only: false,
            group: self.group.clone(),
            published,
            strace: self.strace,
            vfork_release: None,
        }
    }
}
