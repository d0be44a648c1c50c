//! The sandbox's file tree (`Vfs`): the mounts, and path resolution over
//! them.
//!
//! Paths are resolved here, one component at a time, never by the host:
//! `..` pops the walk's stack of directories (so it stops at `/` and steps
//! back out of a mount), and a symbolic link's target is walked from the
//! directory holding it (or from `/`), whether it came from the host tree
//! or the guest made it. Nothing but names below `--root` ever reaches the
//! host, so no link can lead out of the root. Forty links make ELOOP.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::errno::Errno;
use crate::vfs::hostfs::HostFs;
use crate::vfs::inode::{Body, Entry, Inode, Meta};
use crate::vfs::lower;
use crate::vfs::mount::{FsKind, Mounts};
use crate::vfs::path::{has_trailing_slash, split_last};
use crate::vfs::procfs::{self, ProcSource};

/// Most symbolic links one lookup follows (Linux's MAXSYMLINKS).
const MAX_LINKS: u32 = 40;
/// Longest file name (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// The sandbox's file tree, shared by all its tasks.
pub struct Vfs {
    pub(crate) host: HostFs,
    root: Arc<Inode>,
    mounts: Mutex<Mounts>,
}

/// Where a walk ended: the directories from `/` down, and their names.
#[derive(Clone)]
pub struct Walk {
    nodes: Vec<Arc<Inode>>,
    names: Vec<Vec<u8>>,
}

impl Walk {
    pub fn node(&self) -> &Arc<Inode> {
        self.nodes.last().expect("a walk always holds the root")
    }

    /// Whether `node` is this walk's end or one of the directories above.
    pub fn passes(&self, node: &Arc<Inode>) -> bool {
        self.nodes.iter().any(|n| Arc::ptr_eq(n, node))
    }

    /// The canonical guest path of the end.
    pub fn path(&self) -> Vec<u8> {
        if self.names.is_empty() {
            return b"/".to_vec();
        }
        let mut out = Vec::new();
        for n in &self.names {
            out.push(b'/');
            out.extend_from_slice(n);
        }
        out
    }

    fn push(&mut self, name: Vec<u8>, node: Arc<Inode>) {
        self.names.push(name);
        self.nodes.push(node);
    }

    fn pop(&mut self) {
        if self.nodes.len() > 1 {
            self.nodes.pop();
            self.names.pop();
        }
    }

    fn back_to_root(&mut self) {
        self.nodes.truncate(1);
        self.names.clear();
    }
}

impl Vfs {
    /// The overlay over host directory `root`, tmpfs on /tmp (unless the
    /// host's /tmp has files) and devfs on /dev (their mount points made in
    /// memory where the host has none).
    pub fn new(root: &Path) -> Result<Arc<Self>, Errno> {
        let host = HostFs::new(root)?;
        let dev = FsKind::Overlay.dev();
        let top = rustix::fs::fstat(host.lookup(b"/", true)?)?;
        let root = Inode::new_dir(dev, Meta::from_host(&top), Some(b"/".to_vec()));
        let vfs = Arc::new(Vfs {
            host,
            root,
            mounts: Mutex::new(Mounts::default()),
        });
        // A fresh tmpfs hides whatever the host keeps in /tmp, so it is
        // mounted only where that hides nothing (as gVisor does): where the
        // host's /tmp has files, they stay visible through the overlay,
        // whose writes never reach the host either.
        if vfs
            .host
            .list_dir(b"/tmp")
            .map_or(true, |entries| entries.is_empty())
        {
            let tmp_meta = Meta::new(libc::S_IFDIR | 0o1777, 0, 0);
            let tmpfs = Inode::new_dir(FsKind::Tmpfs.dev(), tmp_meta, None);
            vfs.mount_at(b"tmp", tmpfs)?;
        }
        vfs.mount_at(b"dev", crate::vfs::devfs::new())?;
        // The host's /proc (which would describe the sentry) stays hidden.
        vfs.mount_at(b"proc", procfs::new_root())?;
        Ok(vfs)
    }

    /// Mount `fs_root` on `/name`, making the directory if need be.
    fn mount_at(&self, name: &[u8], fs_root: Arc<Inode>) -> Result<(), Errno> {
        let point = match self.child(&self.root, name, &procfs::NoProcs) {
            Ok(n) if n.is_dir() => n,
            // Not a directory on the host: the mount hides it.
            Ok(_) | Err(Errno::ENOENT) => {
                let meta = Meta::new(libc::S_IFDIR | 0o755, 0, 0);
                let n = Inode::new_dir(self.root.dev, meta, None);
                let mut d = self.root.dir_mut()?;
                d.entries.insert(name.to_vec(), Entry::Node(n.clone()));
                n
            }
            Err(e) => return Err(e),
        };
        self.mounts().mount(&point, fs_root);
        Ok(())
    }

    fn mounts(&self) -> MutexGuard<'_, Mounts> {
        self.mounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_mount_root(&self, node: &Arc<Inode>) -> bool {
        Arc::ptr_eq(node, &self.root) || self.mounts().is_mount_root(node)
    }

    pub fn root_walk(&self) -> Walk {
        Walk {
            nodes: vec![self.root.clone()],
            names: Vec::new(),
        }
    }

    /// Entry `name` of directory `dir`, with mounts crossed: from memory,
    /// else from the lower layer (then remembered, so its inode, and any
    /// later change to it, stays). ENOENT if none or whited out. Below
    /// /proc, `procs` says what there is.
    pub fn child(
        &self,
        dir: &Arc<Inode>,
        name: &[u8],
        procs: &dyn ProcSource,
    ) -> Result<Arc<Inode>, Errno> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if let Body::Proc(node) = &dir.body {
            return procfs::lookup(*node, name, procs);
        }
        let lower = {
            let d = dir.dir()?;
            match d.entries.get(name) {
                Some(Entry::Node(n)) => return Ok(self.mounts().cross(n.clone())),
                Some(Entry::Whiteout) => return Err(Errno::ENOENT),
                None => d.lower.clone().ok_or(Errno::ENOENT)?,
            }
        };
        let node = lower::lookup(&self.host, dir.dev, &lower, name)?.ok_or(Errno::ENOENT)?;
        let mut d = dir.dir_mut()?;
        // Someone may have got there first: theirs stands.
        let entry = d.entries.entry(name.to_vec()).or_insert(Entry::Node(node));
        match entry {
            Entry::Node(n) => Ok(self.mounts().cross(n.clone())),
            Entry::Whiteout => Err(Errno::ENOENT),
        }
    }

    /// Resolve absolute guest path `path`, following a final symbolic link
    /// if `follow` (or the path ends in a slash). `procs` answers for
    /// /proc on behalf of the caller.
    pub fn resolve(
        &self,
        path: &[u8],
        follow: bool,
        procs: &dyn ProcSource,
    ) -> Result<Walk, Errno> {
        let mut links = 0;
        self.walk(self.root_walk(), path, follow, &mut links, procs)
    }

    /// Walk `path` from `start` (from `/` if `path` is absolute), counting
    /// followed links in `links`.
    pub fn walk(
        &self,
        mut w: Walk,
        path: &[u8],
        follow: bool,
        links: &mut u32,
        procs: &dyn ProcSource,
    ) -> Result<Walk, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path[0] == b'/' {
            w.back_to_root();
        }
        let trailing = has_trailing_slash(path);
        let follow = follow || trailing;
        let mut comps: VecDeque<Vec<u8>> = components(path).collect();
        while let Some(c) = comps.pop_front() {
            if !w.node().is_dir() {
                return Err(Errno::ENOTDIR);
            }
            match &c[..] {
                b"." => continue,
                b".." => {
                    w.pop();
                    continue;
                }
                _ => {}
            }
            let child = self.child(w.node(), &c, procs)?;
            if let Some(target) = child.symlink_target() {
                if !comps.is_empty() || follow {
                    if let Some(opened) = procfs::fd_link::follow(w.node(), &c, procs) {
                        w.push(c, opened);
                        continue;
                    }
                    *links += 1;
                    if *links > MAX_LINKS {
                        return Err(Errno::ELOOP);
                    }
                    if target.is_empty() {
                        return Err(Errno::ENOENT);
                    }
                    if target[0] == b'/' {
                        w.back_to_root();
                    }
                    let mut next: VecDeque<Vec<u8>> = components(target).collect();
                    next.extend(comps);
                    comps = next;
                    continue;
                }
            }
            w.push(c, child);
        }
        if trailing && !w.node().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(w)
    }

    /// The directory that would hold `path`'s last component, and that
    /// component (`.` for `/`).
    pub fn resolve_parent(
        &self,
        path: &[u8],
        procs: &dyn ProcSource,
    ) -> Result<(Walk, Vec<u8>), Errno> {
        let (parent, name) = split_last(path);
        let w = self.resolve(parent, true, procs)?;
        if !w.node().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok((w, name.to_vec()))
    }

    /// The names in directory `dir`: its own, then the lower layer's that
    /// it neither shadows nor whited out; as (inode, `DT_*`, name).
    pub fn list(
        &self,
        dir: &Arc<Inode>,
        procs: &dyn ProcSource,
    ) -> Result<Vec<(u64, u8, Vec<u8>)>, Errno> {
        if let Body::Proc(node) = &dir.body {
            return procfs::list(*node, procs);
        }
        let (mut out, lower) = {
            let d = dir.dir()?;
            let mounts = self.mounts();
            let mine: Vec<_> = d
                .entries
                .iter()
                .filter_map(|(name, e)| match e {
                    Entry::Node(n) => {
                        let n = mounts.cross(n.clone());
                        Some((n.ino, dtype(n.kind()), name.clone()))
                    }
                    Entry::Whiteout => None,
                })
                .collect();
            (mine, d.lower.clone())
        };
        if let Some(lower) = lower {
            let d = dir.dir()?;
            for (ino, kind, name) in self.host.list_dir(&lower)? {
                if !d.entries.contains_key(&name) {
                    out.push((ino, kind, name));
                }
            }
        }
        Ok(out)
    }
}

/// The non-empty components of `path`.
fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|&c| c == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
}

/// `d_type` for `S_IFMT` bits.
pub fn dtype(kind: u32) -> u8 {
    (kind >> 12) as u8
}
