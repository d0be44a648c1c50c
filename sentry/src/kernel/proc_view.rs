//! The kernel's answers to procfs: `ProcSource` for a task. The sandbox
//! runs one process today, so a task answers for itself and knows no
//! other pid; a process table will implement the same trait by finding
//! the task a pid names.

use std::sync::Arc;

use vmm::Access;

use crate::kernel::Task;
use crate::mm::VmaKind;
use crate::vfs::procfs::{FdEntry, ImageLayout, Mapping, NoProcs, ProcSource, ProcessInfo};
use crate::vfs::File;

/// `SIG_IGN` as a handler address.
const SIG_IGN: u64 = 1;

/// Most bytes of arguments or environment /proc shows (Linux reads the
/// area in pages; a sandbox's is rarely near this).
const MAX_AREA: u64 = 1 << 20;

impl Task {
    fn is(&self, pid: i32) -> bool {
        pid == self.tgid || pid == self.tid
    }

    /// The executable's identity for maps: (st_dev, inode).
    fn exe_ident(&self) -> (u64, u64) {
        self.fs
            .vfs()
            .stat(self.exe.as_bytes(), true, &NoProcs)
            .map_or((0, 0), |st| (st.dev, st.ino))
    }

    fn image_layout(&self) -> ImageLayout {
        let mut l = self.image;
        let mm = self.mm.lock();
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

    fn area(&self, (start, end): (u64, u64)) -> Vec<u8> {
        let len = end.saturating_sub(start).min(MAX_AREA) as usize;
        let mut buf = vec![0; len];
        let read = self.mm.lock().peek(start, &mut buf);
        match read {
            Ok(()) => buf,
            Err(_) => Vec::new(),
        }
    }
}

impl ProcSource for Task {
    fn caller(&self) -> (i32, i32) {
        (self.tgid, self.tid)
    }

    fn tgids(&self) -> Vec<i32> {
        vec![self.tgid]
    }

    fn process(&self, pid: i32) -> Option<ProcessInfo> {
        if !self.is(pid) {
            return None;
        }
        let c = &self.creds;
        let (mut ignored, mut caught) = (0u64, 0u64);
        for (i, a) in self.signals.actions.snapshot().iter().enumerate() {
            match a.handler {
                0 => {}
                SIG_IGN => ignored |= 1 << i,
                _ => caught |= 1 << i,
            }
        }
        Some(ProcessInfo {
            tgid: self.tgid,
            // The table follows re-parenting to init.
            ppid: self.procs.ppid(self.tgid),
            tids: vec![self.tid],
            comm: self.comm.clone(),
            state: b'R',
            uids: [c.uid, c.euid, c.euid, c.euid],
            gids: [c.gid, c.egid, c.egid, c.egid],
            umask: self.fs.umask(),
            exe: self.exe.as_bytes().to_vec(),
            cwd: self.fs.cwd().to_vec(),
            rlimits: self.rlimits,
            sig_pending: 0,
            sig_blocked: self.signals.mask,
            sig_ignored: ignored,
            sig_caught: caught,
            start_ticks: self.start_ticks,
            layout: self.image_layout(),
            rss_pages: self.mm.lock().resident() / vmm::PAGE_SIZE,
            no_new_privs: self.no_new_privs,
        })
    }

    fn maps(&self, pid: i32) -> Vec<Mapping> {
        if !self.is(pid) {
            return Vec::new();
        }
        let (dev, ino) = self.exe_ident();
        // The image was copied in from the file at its page offsets from
        // the first segment (true of the usual static layouts).
        let mm = self.mm.lock();
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
                    shared: false,
                    offset: 0,
                    dev: 0,
                    ino: 0,
                    name: Vec::new(),
                };
                match v.kind {
                    VmaKind::Image => {
                        (m.offset, m.dev, m.ino) = (start - base, dev, ino);
                        m.name = self.exe.as_bytes().to_vec();
                    }
                    VmaKind::Heap => m.name = b"[heap]".to_vec(),
                    VmaKind::Stack => m.name = b"[stack]".to_vec(),
                    VmaKind::Anon => {}
                }
                m
            })
            .collect()
    }

    fn fds(&self, pid: i32) -> Vec<FdEntry> {
        if !self.is(pid) {
            return Vec::new();
        }
        self.fds
            .fds()
            .filter_map(|fd| {
                let file = self.fds.get(fd).ok()?;
                let mut flags = file.status_flags().unwrap_or(0);
                if self.fds.cloexec(fd).unwrap_or(false) {
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
        if !self.is(pid) {
            return Vec::new();
        }
        self.area((self.image.arg_start, self.image.arg_end))
    }

    fn fd_file(&self, pid: i32, fd: i32) -> Option<Arc<dyn File>> {
        if !self.is(pid) {
            return None;
        }
        self.fds.get(fd).ok()
    }

    fn environ(&self, pid: i32) -> Vec<u8> {
        if !self.is(pid) {
            return Vec::new();
        }
        self.area((self.image.env_start, self.image.env_end))
    }
}
