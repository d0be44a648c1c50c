//! Threads: `clone` with CLONE_VM|CLONE_THREAD starts a guest thread on a
//! host thread of its own, with its own platform context in the process's
//! shared address space; and what happens when a thread ends (its
//! `clear_child_tid` and robust futexes are released, the process ends
//! with its last thread).

use std::sync::Arc;

use vmm::Context;

use super::futex::FutexKey;
use super::inbox::SignalInbox;
use super::published::ThreadPublished;
use super::run::run;
use super::{ExitStatus, Task};
use crate::errno::Errno;

/// What `clone` asked of a new thread.
#[derive(Clone, Copy, Debug)]
pub struct ThreadOptions {
    pub flags: i32,
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

/// Start a new thread of `parent`'s process; returns its tid.
pub fn spawn_thread(parent: &mut Task, opts: ThreadOptions) -> Result<i32, Errno> {
    let flags = opts.flags;
    // Linux's rules (checked by `CloneRequest::parse` for clone): a thread
    // shares the signal actions, which need a shared address space.
    let needs = libc::CLONE_VM | libc::CLONE_SIGHAND;
    if flags & needs != needs {
        return Err(Errno::EINVAL);
    }
    let inbox = Arc::new(SignalInbox::default());
    let tid = parent.procs.add_thread(parent.tgid, inbox.clone())?;
    let fail = |parent: &Task, e: Errno| {
        parent.procs.remove_thread(tid);
        parent.group.remove(tid);
        Err(e)
    };
    let published = ThreadPublished::new(parent.signals.mask, &parent.comm);
    published.set_sched(parent.published.sched().for_child());
    if !parent.group.add(tid, inbox.clone(), published.clone()) {
        parent.procs.remove_thread(tid);
        return Err(Errno::EAGAIN);
    }
    let asp = parent.mm.lock().address_space();
    let seed = match asp.spawn_thread() {
        Ok(seed) => seed,
        Err(e) => {
            tracing::warn!("cannot start a thread: {e}");
            return fail(parent, Errno::EAGAIN);
        }
    };
    let mut regs = parent.regs;
    regs.rax = 0;
    regs.orig_rax = u64::MAX;
    if opts.stack != 0 {
        regs.rsp = opts.stack;
    }
    if flags & libc::CLONE_SETTLS != 0 {
        regs.fs_base = opts.tls;
    }
    let mut child = parent.new_thread(tid, regs, inbox, published, flags);
    if flags & libc::CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid = opts.child_tid;
    }
    // Both land in the shared memory before either thread runs on.
    if flags & libc::CLONE_PARENT_SETTID != 0 {
        if let Err(e) = parent.mm.write_val(opts.parent_tid, &tid) {
            return fail(parent, e);
        }
    }
    if flags & libc::CLONE_CHILD_SETTID != 0 {
        if let Err(e) = parent.mm.write_val(opts.child_tid, &tid) {
            return fail(parent, e);
        }
    }
    let spawned = super::host_thread::spawn(format!("rvisor-tid-{tid}"), move || {
        let mut child = child;
        match seed.into_context() {
            Ok(mut ctx) => {
                let status = run_thread(&mut child, ctx.as_mut());
                if let Some(status) = end_thread(&mut child, status) {
                    child.procs.exit(child.tgid, status);
                }
            }
            Err(e) => {
                tracing::error!("tid {tid}: cannot start the thread: {e}");
                end_thread(&mut child, ExitStatus::Signaled(libc::SIGKILL));
            }
        }
    });
    match spawned {
        Ok(_) => Ok(tid),
        Err(_) => fail(parent, Errno::EAGAIN),
    }
}

/// Run a task's guest thread until it ends; a platform failure kills it.
pub fn run_thread(task: &mut Task, ctx: &mut dyn Context) -> ExitStatus {
    match run(task, ctx) {
        Ok(status) => status,
        Err(e) => {
            tracing::error!("tid {}: {e}", task.tid);
            ExitStatus::Signaled(libc::SIGKILL)
        }
    }
}

/// The thread of `task` has ended with `status` (its context is still
/// alive). Ends the process too unless the thread left by `exit` with
/// others running. Returns the process's exit status if this thread must
/// report it (the first thread, once every thread is gone), else `None`.
pub fn end_thread(task: &mut Task, status: ExitStatus) -> Option<ExitStatus> {
    let group = task.group.clone();
    // Counted before the process can be reaped (the first thread reports
    // its end after every other thread has ended).
    group.add_thread_usage(task.usage(), task.mm.lock().resident() / 1024);
    if !task.exit_thread_only {
        group.exit(task.tid, status);
    }
    if task.tid != task.tgid {
        // Its locks go before it leaves the thread table, so a locker
        // never finds the owner gone with its robust futexes unmarked.
        release_owned_futexes(task, true);
        // Gone from /proc/PID/task before a joiner wakes (clear_child_tid).
        group.thread_ended(task.tid, status);
        task.procs.remove_thread(task.tid);
        release_child_tid(task);
        return None;
    }
    release_futexes(task, true);
    if task.exit_thread_only {
        // Linux keeps the first thread as a zombie until the last ends.
        group.leader_exited();
    }
    group.remove(task.tid);
    // The first thread reports the process's end, after all the others:
    // its host thread also keeps the platform's view of the process (on
    // ptrace, the stub dies with the thread that traces its first thread).
    if let Some((_, inbox)) = group.threads().first() {
        task.procs.set_inbox(task.tgid, inbox.clone());
    }
    if group.wait_gone_or_taken(task.tid) {
        return None;
    }
    let status = group
        .exit_status()
        .or_else(|| group.last_status())
        .unwrap_or(status);
    group.set_final(status);
    Some(status)
}

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Most robust-list entries followed (Linux's ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;

/// What Linux does for an exiting (`gone`) or exec'ing thread, while it
/// still has its old memory: both halves below.
pub(super) fn release_futexes(task: &mut Task, gone: bool) {
    release_owned_futexes(task, gone);
    release_child_tid(task);
}

/// The robust futexes the thread holds are marked owner-dead (waking a
/// waiter), and the PI futexes it owns with sleepers go to the first
/// sleeper of each, robust or not.
fn release_owned_futexes(task: &mut Task, gone: bool) {
    let (head, len) = task.robust_list;
    if head != 0 && len == 24 {
        release_robust_list(task, head);
    }
    task.procs.pi_futexes.owner_exited(task.tid as u32, gone);
}

/// `clear_child_tid` is cleared and whoever joins the thread woken.
fn release_child_tid(task: &mut Task) {
    let ctid = task.clear_child_tid;
    if ctid != 0 && task.mm.write_val(ctid, &0u32).is_ok() {
        let key = FutexKey {
            mm: task.mm.id(),
            addr: ctid,
        };
        task.procs.futexes.wake(key, 1, u32::MAX);
    }
}

/// Walk the guest's `robust_list_head` at `head` (next, futex_offset,
/// list_op_pending).
fn release_robust_list(task: &mut Task, head: u64) {
    let Ok([first, offset, pending]) = task.mm.read_val::<[u64; 3]>(head) else {
        return;
    };
    let mut entry = first;
    let mut seen = 0;
    while entry != head && entry != 0 && seen < ROBUST_LIST_LIMIT {
        let Ok(next) = task.mm.read_val::<u64>(entry & !1) else {
            break;
        };
        owner_died(task, (entry & !1).wrapping_add(offset), entry & 1 != 0);
        entry = next;
        seen += 1;
    }
    if pending != 0 {
        owner_died(task, (pending & !1).wrapping_add(offset), pending & 1 != 0);
    }
}

/// The futex at `addr` is held by the exiting thread: mark it owner-dead
/// and wake one waiter, as Linux's handle_futex_death does. A PI futex
/// (the entry's low bit) is marked atomically; its sleepers are the PI
/// hand-over's (`PiFutexes::owner_exited`).
fn owner_died(task: &mut Task, addr: u64, pi: bool) {
    if !addr.is_multiple_of(4) {
        return;
    }
    if pi {
        pi_owner_died(task, addr);
        return;
    }
    let Ok(val) = task.mm.read_val::<u32>(addr) else {
        return;
    };
    if val & FUTEX_TID_MASK != task.tid as u32 {
        return;
    }
    let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    if task.mm.write_val(addr, &new).is_ok() && val & FUTEX_WAITERS != 0 {
        let key = FutexKey {
            mm: task.mm.id(),
            addr,
        };
        task.procs.futexes.wake(key, 1, u32::MAX);
    }
}

fn pi_owner_died(task: &mut Task, addr: u64) {
    let tid = task.tid as u32;
    loop {
        let Ok(val) = task.mm.compare_exchange_u32(addr, u32::MAX, u32::MAX) else {
            return;
        };
        if val & FUTEX_TID_MASK != tid {
            return;
        }
        let new = (val & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        match task.mm.compare_exchange_u32(addr, val, new) {
            Ok(seen) if seen == val => return,
            Ok(_) => continue,
            Err(_) => return,
        }
    }
}
