//! New processes: `fork`, `vfork` and `clone` without CLONE_THREAD. The
//! child runs on a host thread of its own, with the parent's memory shared
//! copy-on-write, or (CLONE_VM) the parent's memory manager itself, run as
//! another thread of the parent's address space on the platform. Files,
//! working directory and signal actions are copied, or shared with
//! CLONE_FILES, CLONE_FS and CLONE_SIGHAND. With CLONE_VFORK the calling
//! thread waits until the child execs or exits.

use std::sync::Arc;

use vmm::{Platform, Regs, ThreadSeed};

use super::inbox::SignalInbox;
use super::published::ThreadPublished;
use super::signal::SignalState;
use super::thread::{end_thread, run_thread};
use super::thread_group::ThreadGroup;
use super::vfork::{vfork_pair, VforkRelease};
use super::{ExitStatus, Task};
use crate::errno::Errno;
use crate::mm::{ForkedMemory, MemoryManager, SharedMm};

/// The child's memory, moved to the child's thread.
enum ChildMemory {
    /// A copy-on-write copy of the parent's: the child's thread makes its
    /// own address space (a ptrace stub is traced by the thread that
    /// creates it) and context.
    Forked(ForkedMemory),
    /// CLONE_VM: the parent's memory manager, and a context in the making
    /// in the parent's address space (as a thread's).
    Shared(SharedMm, Box<dyn ThreadSeed>),
}

/// What the child copies from its parent, moved to the child's thread.
struct ChildStart {
    pid: i32,
    regs: Regs,
    memory: ChildMemory,
    platform: Arc<dyn Platform>,
    template: ChildTemplate,
}

/// A child task's state before it has memory: copied from the parent.
struct ChildTemplate {
    pid: i32,
    fds: crate::vfs::FdTable,
    fs: crate::vfs::FsContext,
    signals: SignalState,
    inbox: Arc<SignalInbox>,
    /// The child's threads, made (and entered in the process table) on the
    /// parent's thread so that the child is in /proc once `fork` returns.
    group: Arc<ThreadGroup>,
    published: Arc<ThreadPublished>,
    procs: Arc<super::process_table::ProcessTable>,
    platform: Arc<dyn Platform>,
    creds: super::Credentials,
    groups: Vec<u32>,
    rlimits: [super::task::RLimit; super::task::RLIM_NLIMITS],
    comm: Vec<u8>,
    exe: String,
    image: crate::vfs::procfs::ImageLayout,
    no_new_privs: bool,
    personality: u32,
    mempolicy: (i32, u64),
    strace: bool,
    clear_child_tid: u64,
    vfork_release: Option<VforkRelease>,
}

impl ChildTemplate {
    /// The child's state from `parent`'s: shared where clone's `flags`
    /// say CLONE_FILES, CLONE_FS or CLONE_SIGHAND, else copied.
    fn from_parent(
        parent: &Task,
        pid: i32,
        inbox: Arc<SignalInbox>,
        platform: Arc<dyn Platform>,
        flags: i32,
    ) -> Self {
        let published = ThreadPublished::new(parent.signals.mask, &parent.comm);
        published.set_sched(parent.published.sched().for_child());
        let mut signals = parent.signals.for_child();
        if flags & libc::CLONE_SIGHAND != 0 {
            signals.actions = parent.signals.actions.clone();
        }
        ChildTemplate {
            group: ThreadGroup::new(pid, inbox.clone(), published.clone()),
            published,
            pid,
            fds: parent.fds_for_clone(flags),
            fs: parent.fs_for_clone(flags),
            signals,
            inbox,
            procs: parent.procs.clone(),
            platform,
            creds: parent.creds,
            groups: parent.groups.clone(),
            rlimits: parent.rlimits,
            comm: parent.comm.clone(),
            exe: parent.exe.clone(),
            image: parent.image,
            no_new_privs: parent.no_new_privs,
            personality: parent.personality,
            mempolicy: parent.mempolicy,
            strace: parent.strace,
            clear_child_tid: 0,
            vfork_release: None,
        }
    }

    fn with_memory(self, mm: SharedMm, regs: Regs) -> Task {
        let mut t = Task::new(
            self.pid,
            regs,
            mm,
            self.fds,
            self.fs,
            self.creds,
            self.exe.as_bytes(),
        );
        t.signals = self.signals;
        t.group = self.group;
        t.start_ticks = self.published.start_ticks;
        t.published = self.published;
        t.inbox = self.inbox;
        t.procs = self.procs;
        t.platform = Some(self.platform);
        t.groups = self.groups;
        t.rlimits = self.rlimits;
        t.comm = self.comm;
        t.image = self.image;
        t.no_new_privs = self.no_new_privs;
        t.personality = self.personality;
        t.mempolicy = self.mempolicy;
        t.strace = self.strace;
        t.clear_child_tid = self.clear_child_tid;
        t.vfork_release = self.vfork_release;
        t
    }
}

/// What `clone` asks of the new child beyond a copy of the parent.
#[derive(Clone, Copy, Debug)]
pub struct CloneOptions {
    /// clone's flags without the exit signal; CLONE_VM, CLONE_FILES,
    /// CLONE_FS, CLONE_SIGHAND and CLONE_VFORK matter here.
    pub flags: i32,
    /// The signal the child's exit sends this process (0: none).
    pub exit_signal: i32,
    /// Stack pointer for the child (0: the parent's).
    pub stack: u64,
    /// `CLONE_SETTLS`: the child's FS base.
    pub tls: Option<u64>,
    /// `CLONE_PARENT_SETTID`: where to store the child's pid in the
    /// parent's memory.
    pub parent_settid: Option<u64>,
    /// `CLONE_CHILD_SETTID`: where to store the child's tid in its memory.
    pub child_settid: Option<u64>,
    /// `CLONE_CHILD_CLEARTID`.
    pub child_cleartid: Option<u64>,
}

impl Default for CloneOptions {
    /// `fork()`.
    fn default() -> Self {
        CloneOptions {
            flags: 0,
            exit_signal: libc::SIGCHLD,
            stack: 0,
            tls: None,
            parent_settid: None,
            child_settid: None,
            child_cleartid: None,
        }
    }
}

impl CloneOptions {
    /// `vfork()`: CLONE_VM | CLONE_VFORK | SIGCHLD.
    pub fn vfork() -> Self {
        CloneOptions {
            flags: libc::CLONE_VM | libc::CLONE_VFORK,
            ..CloneOptions::default()
        }
    }
}

/// Start a child process of `parent`; returns its pid (with CLONE_VFORK,
/// once the child has exec'd or exited, or a fatal signal came).
pub fn fork(parent: &mut Task, opts: CloneOptions) -> Result<i32, Errno> {
    let platform = parent.platform.clone().ok_or(Errno::ENOSYS)?;
    let inbox = Arc::new(SignalInbox::default());
    let pid = parent
        .procs
        .add(parent.tgid, inbox.clone(), parent.creds.uid)?;
    parent.procs.set_exit_signal(pid, opts.exit_signal);
    let memory = match child_memory(parent, opts.flags) {
        Ok(memory) => memory,
        Err(e) => {
            parent.procs.remove_unstarted(pid);
            return Err(e);
        }
    };

    let mut regs = parent.regs;
    regs.rax = 0;
    if opts.stack != 0 {
        regs.rsp = opts.stack;
    }
    if let Some(tls) = opts.tls {
        regs.fs_base = tls;
    }
    // Everything but memory is copied now, on the parent's thread.
    let mut template = ChildTemplate::from_parent(parent, pid, inbox, platform.clone(), opts.flags);
    template.clear_child_tid = opts.child_cleartid.unwrap_or(0);
    let vfork = (opts.flags & libc::CLONE_VFORK != 0).then(|| {
        let (wait, release) = vfork_pair(parent.inbox.clone());
        template.vfork_release = Some(release);
        wait
    });
    parent.procs.set_group(pid, template.group.clone());
    // In the parent's memory only (after the copy), before the child runs.
    if let Some(addr) = opts.parent_settid {
        if let Err(e) = parent.mm.write_val(addr, &pid) {
            parent.procs.remove_unstarted(pid);
            return Err(e);
        }
    }
    let start = ChildStart {
        pid,
        regs,
        memory,
        platform,
        template,
    };
    let settid = opts.child_settid;
    let spawned = super::host_thread::spawn(format!("rvisor-pid-{pid}"), move || {
        let procs = start.template.procs.clone();
        if let Some(status) = run_child(start, settid) {
            procs.exit(pid, status);
        }
    });
    if spawned.is_err() {
        parent.procs.remove_unstarted(pid);
        return Err(Errno::EAGAIN);
    }
    if let Some(wait) = vfork {
        wait.wait(parent);
    }
    Ok(pid)
}

/// The child's memory: the parent's shared (CLONE_VM in `flags`), or a
/// copy-on-write copy of it.
fn child_memory(parent: &Task, flags: i32) -> Result<ChildMemory, Errno> {
    if flags & libc::CLONE_VM != 0 {
        let asp = parent.mm.lock().address_space();
        let seed = asp.spawn_thread().map_err(|e| {
            tracing::warn!("cannot start a process sharing memory: {e}");
            Errno::EAGAIN
        })?;
        return Ok(ChildMemory::Shared(parent.mm.clone(), seed));
    }
    // The stack and the thread's TLS block (libc writes the child's tid
    // there) are written on both sides right away: the child gets its own
    // copy of them now.
    let memory = parent
        .mm
        .lock()
        .fork_share(&[parent.regs.rsp, parent.regs.fs_base])?;
    Ok(ChildMemory::Forked(memory))
}

/// Run the child's first thread; the process's exit status when this
/// thread reports it (see `thread::end_thread`).
fn run_child(start: ChildStart, settid: Option<u64>) -> Option<ExitStatus> {
    let ChildStart {
        pid,
        regs,
        memory,
        platform,
        template,
    } = start;
    let group = template.group.clone();
    let setup = || -> Result<(Task, Box<dyn vmm::Context>), String> {
        let (mm, ctx) = match memory {
            ChildMemory::Forked(memory) => {
                let asp = platform.new_address_space().map_err(|e| e.to_string())?;
                let mm = MemoryManager::from_fork(memory, asp).map_err(|e| e.to_string())?;
                let ctx = platform.new_context().map_err(|e| e.to_string())?;
                (SharedMm::new(mm), ctx)
            }
            ChildMemory::Shared(mm, seed) => (mm, seed.into_context().map_err(|e| e.to_string())?),
        };
        let task = template.with_memory(mm, regs);
        task.publish_facts();
        if let Some(addr) = settid {
            let _ = task.mm.write_val(addr, &pid);
        }
        Ok((task, ctx))
    };
    match setup() {
        Ok((mut task, mut ctx)) => {
            let status = run_thread(&mut task, ctx.as_mut());
            end_thread(&mut task, status)
        }
        Err(e) => {
            tracing::error!("pid {pid}: cannot start the child: {e}");
            // Nobody waits for it to publish any more.
            group.remove(pid);
            Some(ExitStatus::Signaled(libc::SIGKILL))
        }
    }
}

impl SignalState {
    /// A child's signal state: the parent's dispositions, mask and
    /// alternate stack, nothing pending.
    pub fn for_child(&self) -> SignalState {
        SignalState {
            actions: self.actions.duplicate(),
            mask: self.mask,
            altstack: self.altstack,
            saved_mask: None,
        }
    }
}
