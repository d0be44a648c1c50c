//! The kernel's answers to procfs: `ProcSource` for a task. A pid is
//! looked up in the process table (ids, job state, the thread group); what
//! a process runs and holds comes from the facts its threads publish
//! (`kernel::published`), never from another thread's `Task`. The caller's
//! own process is read fresh from the caller, and its own thread from
//! itself.

use std::sync::Arc;

use vmm::Access;

use crate::kernel::process_table::ProcEntry;
use crate::kernel::published::{ProcessFacts, ThreadPublished};
use crate::kernel::Task;
use crate::mm::{SharedMm, VmaKind};
use crate::vfs::procfs::{FdEntry, ImageLayout, Mapping, NoProcs, ProcSource, ProcessInfo};
use crate::vfs::File;

/// `SIG_IGN` as a handler address.
const SIG_IGN: u64 = 1;

/// Most bytes of arguments or environment /proc shows (Linux reads the
/// area in pages; a sandbox's is rarely near this).
const MAX_AREA: u64 = 1 << 20;

/// A process or thread as /proc sees it.
struct Target {
    entry: ProcEntry,
    /// The first thread's published state, even once it has ended.
    leader: Option<Arc<ThreadPublished>>,
    facts: ProcessFacts,
    /// Live threads and a zombie first thread, the leader first.
    threads: Vec<(i32, Arc<ThreadPublished>)>,
    /// The first thread has exited while others run.
    leader_zombie: bool,
}

impl Task {
    /// What /proc shows of `pid`, if it names a process or thread.
    fn target(&self, pid: i32) -> Option<Target> {
        let entry = self.procs.entry(pid)?;
        let group = entry.group.clone()?;
        let facts = if entry.tgid == self.tgid {
            self.facts()
        } else {
            group.facts()?
        };
        let mut threads = group.published();
        let leader = group.leader();
        let leader_zombie = group.leader_zombie();
        if leader_zombie && !threads.iter().any(|(tid, _)| *tid == entry.tgid) {
            if let Some(p) = &leader {
                threads.push((entry.tgid, p.clone()));
            }
        }
        threads.sort_by_key(|(tid, _)| (*tid != entry.tgid, *tid));
        Some(Target {
            entry,
            leader,
            facts,
            threads,
            leader_zombie,
        })
    }

    /// The thread `pid` shows: (comm, blocked signals, state, start), from
    /// this task itself when it is the one asked about.
    fn thread_state(&self, t: &Target, pid: i32) -> (Vec<u8>, u64, u8, u64) {
        if pid == self.tid || (pid == self.tgid && self.tid == self.tgid) {
            return (self.comm.clone(), self.signals.mask, b'R', self.start_ticks);
        }
        let leader_zombie = t.leader_zombie && pid == t.entry.tgid;
        let state = |p: &ThreadPublished| match () {
            _ if t.entry.zombie || leader_zombie => b'Z',
            _ if t.entry.stopped => b'T',
            _ if p.sleeping() => b'S',
            _ => b'R',
        };
        // A process whose first thread has ended shows another, a zombie
        // its first.
        let thread = t.threads.iter().find(|(tid, _)| *tid == pid);
        let live = thread.or(t.threads.first()).map(|(_, p)| p);
        match live.or(t.leader.as_ref()) {
            Some(p) => (p.comm(), p.blocked(), state(p), p.start_ticks),
            None => (Vec::new(), 0, b'Z', 0),
        }
    }
}

/// The executable's identity for maps: (st_dev, inode).
fn exe_ident(f: &ProcessFacts) -> (u64, u64) {
    f.fs.vfs()
        .stat(&f.exe, true, &NoProcs)
        .map_or((0, 0), |st| (st.dev, st.ino))
}

/// The image layout with its code, data and break read off the VMAs.
fn image_layout(image: ImageLayout, mm: &SharedMm) -> ImageLayout {
    let mut l = image;
    let mm = mm.lock();
    let image = || mm.vmas().filter(|(_, v)| v.kind == VmaKind::Image);
    if let Some((s, v)) = image().find(|(_, v)| v.perms.contains(Access::EXEC)) {
        (l.start_code, l.end_code) = (s, v.end);
    }
    if let Some((s, v)) = image()
        .filter(|(_, v)| v.perms.contains(Access::WRITE))
        .last()
    {
        (l.start_data, l.end_data) = (s, v.end);
    }
    l.start_brk = mm.brk_start();
    l.brk = mm.brk();
    l
}

/// Bytes `start..end` of a process's memory, empty if it has none left.
fn area(f: &ProcessFacts, (start, end): (u64, u64)) -> Vec<u8> {
    let Some(mm) = f.mm.upgrade() else {
        return Vec::new();
    };
    let len = end.saturating_sub(start).min(MAX_AREA) as usize;
    let mut buf = vec![0; len];
    let read = mm.lock().peek(start, &mut buf);
    match read {
        Ok(()) => buf,
        Err(_) => Vec::new(),
    }
}

impl ProcSource for Task {
    fn caller(&self) -> (i32, i32) {
        (self.tgid, self.tid)
    }

    fn may_open_tty(&self) -> bool {
        !self.procs.terminal_attached() || self.procs.has_ctty(self.tgid)
    }

    fn tgids(&self) -> Vec<i32> {
        self.procs.all_pids()
    }

    fn process(&self, pid: i32) -> Option<ProcessInfo> {
        let t = self.target(pid)?;
        let (comm, blocked, state, start_ticks) = self.thread_state(&t, pid);
        let f = &t.facts;
        let c = &f.creds;
        let (mut ignored, mut caught) = (0u64, 0u64);
        for (i, a) in f.actions.snapshot().iter().enumerate() {
            match a.handler {
                0 => {}
                SIG_IGN => ignored |= 1 << i,
                _ => caught |= 1 << i,
            }
        }
        let mm = f.mm.upgrade();
        let mut tids: Vec<i32> = t.threads.iter().map(|(tid, _)| *tid).collect();
        if tids.is_empty() {
            // A zombie is its one exited thread until it is reaped.
            tids.push(t.entry.tgid);
        }
        Some(ProcessInfo {
            tgid: t.entry.tgid,
            ppid: t.entry.ppid,
            pgid: t.entry.pgid,
            sid: t.entry.sid,
            tids,
            comm,
            state,
            uids: [c.uid, c.euid, c.suid, c.fsuid],
            gids: [c.gid, c.egid, c.sgid, c.fsgid],
            umask: f.fs.umask(),
            exe: f.exe.clone(),
            cwd: f.fs.cwd(),
            rlimits: f.rlimits,
            sig_pending: 0,
            sig_blocked: blocked,
            sig_ignored: ignored,
            sig_caught: caught,
            start_ticks,
            layout: mm
                .as_ref()
                .map_or_else(ImageLayout::default, |mm| image_layout(f.image, mm)),
            rss_pages: mm.map_or(0, |mm| mm.lock().resident() / vmm::PAGE_SIZE),
            no_new_privs: f.no_new_privs,
        })
    }

    fn maps(&self, pid: i32) -> Vec<Mapping> {
        let Some(f) = self.target(pid).map(|t| t.facts) else {
            return Vec::new();
        };
        let Some(mm) = f.mm.upgrade() else {
            return Vec::new();
        };
        let (dev, ino) = exe_ident(&f);
        // The image was copied in from the file at its page offsets from
        // the first segment (true of the usual static layouts).
        let mm = mm.lock();
        let base = mm
            .vmas()
            .find(|(_, v)| v.kind == VmaKind::Image)
            .map_or(0, |(s, _)| s);
        mm.vmas()
            .map(|(start, v)| {
                let mut m = Mapping {
                    start,
                    end: v.end,
                    read: v.perms.contains(Access::READ),
                    write: v.perms.contains(Access::WRITE),
                    exec: v.perms.contains(Access::EXEC),
                    shared: v.is_shared(),
                    offset: 0,
                    dev: 0,
                    ino: 0,
                    name: Vec::new(),
                };
                match v.kind {
                    VmaKind::Image => {
                        (m.offset, m.dev, m.ino) = (start - base, dev, ino);
                        m.name = f.exe.clone();
                    }
                    VmaKind::Heap => m.name = b"[heap]".to_vec(),
                    VmaKind::Stack => m.name = b"[stack]".to_vec(),
                    VmaKind::Anon => {}
                    VmaKind::Shared => {
                        m.shared = true;
                        m.name = b"/dev/zero (deleted)".to_vec();
                    }
                }
                m
            })
            .collect()
    }

    fn fds(&self, pid: i32) -> Vec<FdEntry> {
        let Some(fds) = self.target(pid).and_then(|t| t.facts.fds.upgrade()) else {
            return Vec::new();
        };
        fds.fds()
            .filter_map(|fd| {
                let file = fds.get(fd).ok()?;
                let mut flags = file.status_flags().unwrap_or(0);
                if fds.cloexec(fd).unwrap_or(false) {
                    flags |= libc::O_CLOEXEC as u32;
                }
                Some(FdEntry {
                    fd,
                    target: file.link_name(),
                    flags,
                    pos: file.seek(0, libc::SEEK_CUR).unwrap_or(0),
                })
            })
            .collect()
    }

    fn cmdline(&self, pid: i32) -> Vec<u8> {
        self.target(pid).map_or_else(Vec::new, |t| {
            area(&t.facts, (t.facts.image.arg_start, t.facts.image.arg_end))
        })
    }

    fn fd_file(&self, pid: i32, fd: i32) -> Option<Arc<dyn File>> {
        self.target(pid)?.facts.fds.upgrade()?.get(fd).ok()
    }

    fn environ(&self, pid: i32) -> Vec<u8> {
        self.target(pid).map_or_else(Vec::new, |t| {
            area(&t.facts, (t.facts.image.env_start, t.facts.image.env_end))
        })
    }
}
