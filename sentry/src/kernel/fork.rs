//! `fork`, `vfork` and `clone` without shared memory: a child process on a
//! host thread of its own, with the parent's memory shared copy-on-write
//! and a copy of its files, working directory and signal dispositions.

use std::sync::Arc;

use vmm::{Platform, Regs};

use super::inbox::SignalInbox;
use super::published::ThreadPublished;
use super::signal::SignalState;
use super::thread::{end_thread, run_thread};
use super::thread_group::ThreadGroup;
use super::{ExitStatus, Task};
use crate::errno::Errno;
use crate::mm::{ForkedMemory, MemoryManager};

/// What the child copies from its parent, moved to the child's thread.
struct ChildStart {
    pid: i32,
    regs: Regs,
    memory: ForkedMemory,
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
    strace: bool,
    clear_child_tid: u64,
}

impl ChildTemplate {
    fn from_parent(
        parent: &Task,
        pid: i32,
        inbox: Arc<SignalInbox>,
        platform: Arc<dyn Platform>,
    ) -> Self {
        let published = ThreadPublished::new(parent.signals.mask, &parent.comm);
        ChildTemplate {
            group: ThreadGroup::new(pid, inbox.clone(), published.clone()),
            published,
            pid,
            fds: parent.fds.duplicate(),
            fs: parent.fs.duplicate(),
            signals: parent.signals.for_child(),
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
            strace: parent.strace,
            clear_child_tid: 0,
        }
    }

    fn with_memory(self, mm: MemoryManager, regs: Regs) -> Task {
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
        t.strace = self.strace;
        t.clear_child_tid = self.clear_child_tid;
        t
    }
}

/// What `clone` asks of the new child beyond a copy of the parent.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneOptions {
    /// Stack pointer for the child (0: the parent's).
    pub stack: u64,
    /// `CLONE_SETTLS`: the child's FS base.
    pub tls: Option<u64>,
    /// `CLONE_CHILD_SETTID`: where to store the child's tid in its memory.
    pub child_settid: Option<u64>,
    /// `CLONE_CHILD_CLEARTID`.
    pub child_cleartid: Option<u64>,
}

/// Start a child process of `parent`; returns its pid.
pub fn fork(parent: &mut Task, opts: CloneOptions) -> Result<i32, Errno> {
    let platform = parent.platform.clone().ok_or(Errno::ENOSYS)?;
    let memory = {
        let mut mm = parent.mm.lock();
        let memory = mm.fork_share()?;
        // The stack and the thread's TLS block (libc writes the child's
        // tid there) are written on both sides right away.
        mm.fork_unshare_hot(parent.regs.rsp)?;
        mm.fork_unshare_hot(parent.regs.fs_base)?;
        memory
    };
    let inbox = Arc::new(SignalInbox::default());
    let pid = parent
        .procs
        .add(parent.tgid, inbox.clone(), parent.creds.uid)?;

    let mut regs = parent.regs;
    regs.rax = 0;
    if opts.stack != 0 {
        regs.rsp = opts.stack;
    }
    if let Some(tls) = opts.tls {
        regs.fs_base = tls;
    }
    // Everything but memory is copied now, on the parent's thread; the
    // child's thread makes its own address space (a ptrace stub is traced
    // by the thread that creates it).
    let mut template = ChildTemplate::from_parent(parent, pid, inbox, platform.clone());
    template.clear_child_tid = opts.child_cleartid.unwrap_or(0);
    parent.procs.set_group(pid, template.group.clone());
    let group = template.group.clone();
    let start = ChildStart {
        pid,
        regs,
        memory,
        platform,
        template,
    };
    let procs = parent.procs.clone();
    let settid = opts.child_settid;
    let spawned = super::host_thread::spawn(format!("rvisor-pid-{pid}"), move || {
        let procs = start.template.procs.clone();
        if let Some(status) = run_child(start, settid) {
            procs.exit(pid, status);
        }
    });
    if spawned.is_err() {
        group.remove(pid);
        procs.exit(pid, ExitStatus::Signaled(libc::SIGKILL));
        let _ = procs.reap(parent.tgid, pid);
        return Err(Errno::EAGAIN);
    }
    Ok(pid)
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
        let asp = platform.new_address_space().map_err(|e| e.to_string())?;
        let mm = MemoryManager::from_fork(memory, asp).map_err(|e| e.to_string())?;
        let ctx = platform.new_context().map_err(|e| e.to_string())?;
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
