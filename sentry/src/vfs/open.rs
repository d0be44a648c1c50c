//! `open` on the sandbox's tree, and the calls that only look: stat,
//! access, readlink, chdir's check, reading an executable.

use std::sync::Arc;

use crate::errno::Errno;
use crate::vfs::file::{statx_from_stat, File};
use crate::vfs::hostfs::{check_open_flags, O_TMPFILE_BIT};
use crate::vfs::inode::{next_ino, Body, Data, Entry, Inode, Meta};
use crate::vfs::node_file::{copy_up, NodeFile};
use crate::vfs::path::{has_trailing_slash, join};
use crate::vfs::procfs::{self, ProcFile, ProcSource};
use crate::vfs::stat::{GuestStat, GuestStatx};
use crate::vfs::tree::Vfs;
use crate::vfs::{access, devfs, HostFile};

/// Who is creating a file, and with what umask.
#[derive(Clone, Copy, Debug)]
pub struct Creator {
    pub uid: u32,
    pub gid: u32,
    pub umask: u32,
}

impl Creator {
    /// The metadata of a new file of type `kind` with requested `mode`.
    pub fn meta(&self, kind: u32, mode: u32) -> Meta {
        Meta::new(kind | (mode & 0o7777 & !self.umask), self.uid, self.gid)
    }
}

/// Whether open(2) `flags` ask for write access.
fn writes(flags: i32) -> bool {
    flags & libc::O_ACCMODE != libc::O_RDONLY
}

impl Vfs {
    /// `open(path, flags, mode)`; `O_CLOEXEC` is the caller's business.
    pub fn open(
        self: &Arc<Self>,
        path: &[u8],
        flags: i32,
        mode: u32,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<Arc<dyn File>, Errno> {
        check_open_flags(flags)?;
        if flags & libc::O_PATH != 0 {
            let follow = flags & libc::O_NOFOLLOW == 0;
            let w = self.resolve(path, follow, procs)?;
            if flags & libc::O_DIRECTORY != 0 && !w.node().is_dir() {
                return Err(Errno::ENOTDIR);
            }
            let f = NodeFile::new(self.clone(), w.node().clone(), w.path(), libc::O_PATH)?;
            return Ok(Arc::new(f));
        }
        if flags & O_TMPFILE_BIT != 0 {
            return self.open_tmpfile(path, flags, mode, who, procs);
        }
        let creat = flags & libc::O_CREAT != 0;
        let excl = creat && flags & libc::O_EXCL != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !excl;
        let mut path = path.to_vec();
        let mut links = 0u32;
        let (node, canonical) = loop {
            let (parent, name) = self.resolve_parent(&path, procs)?;
            if matches!(&name[..], b"." | b"..") {
                let w = self.resolve(&path, true, procs)?;
                if creat {
                    return Err(Errno::EISDIR);
                }
                break (w.node().clone(), w.path());
            }
            match self.child(parent.node(), &name, procs) {
                Ok(_) if excl => return Err(Errno::EEXIST),
                Ok(n) => match n.symlink_target() {
                    Some(_) if !follow => return Err(Errno::ELOOP),
                    Some(target) => {
                        if let Some(opened) = procfs::fd_link::follow(parent.node(), &name, procs) {
                            break (opened, Vec::new());
                        }
                        // Follow it by name, so that a dangling link makes
                        // its target (as Linux's O_CREAT does).
                        links += 1;
                        if links > 40 {
                            return Err(Errno::ELOOP);
                        }
                        let mut next = join(&parent.path(), target);
                        if has_trailing_slash(&path) {
                            next.push(b'/');
                        }
                        path = next;
                        continue;
                    }
                    None => {
                        if has_trailing_slash(&path) && !n.is_dir() {
                            return Err(Errno::ENOTDIR);
                        }
                        let mut p = parent.path();
                        if p != b"/" {
                            p.push(b'/');
                        }
                        p.extend_from_slice(&name);
                        break (n, p);
                    }
                },
                Err(Errno::ENOENT) if creat => {
                    if has_trailing_slash(&path) {
                        return Err(Errno::EISDIR);
                    }
                    let dir = parent.node();
                    if matches!(dir.body, Body::Proc(_)) {
                        // procfs takes no new names; Linux reports the
                        // name as missing.
                        return Err(Errno::ENOENT);
                    }
                    access::check(dir, libc::W_OK as u32 | libc::X_OK as u32, who.uid, who.gid)?;
                    let node = new_file(dir, who.meta(libc::S_IFREG, mode));
                    let mut d = dir.dir_mut()?;
                    if matches!(d.entries.get(&name), Some(Entry::Node(_))) {
                        return Err(Errno::EEXIST);
                    }
                    d.entries.insert(name.clone(), Entry::Node(node.clone()));
                    drop(d);
                    dir.touch_modified();
                    let mut p = parent.path();
                    if p != b"/" {
                        p.push(b'/');
                    }
                    p.extend_from_slice(&name);
                    let f = NodeFile::new(self.clone(), node, p, flags)?;
                    return Ok(Arc::new(f));
                }
                Err(e) => return Err(e),
            }
        };
        self.open_node(node, canonical, flags, who, procs)
    }

    /// Open an inode the lookup found.
    fn open_node(
        self: &Arc<Self>,
        node: Arc<Inode>,
        path: Vec<u8>,
        flags: i32,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<Arc<dyn File>, Errno> {
        let is_dir = node.is_dir();
        if flags & libc::O_DIRECTORY != 0 && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if is_dir && (writes(flags) || flags & libc::O_CREAT != 0) {
            return Err(Errno::EISDIR);
        }
        match &node.body {
            Body::Proc(p) if is_dir => {
                // The listing is taken now, on behalf of the caller.
                let listing = self.list(&node, procs)?;
                let f = NodeFile::new(self.clone(), node, path, flags)?;
                return Ok(Arc::new(f.with_listing(listing)));
            }
            Body::Proc(p) => {
                if writes(flags) {
                    access::check(&node, libc::W_OK as u32, who.uid, who.gid)?;
                }
                let text = procfs::contents(*p, procs)?;
                return Ok(Arc::new(ProcFile::new(node, path, text, flags)));
            }
            Body::Host(host_path) => {
                // A host FIFO, socket or device: read-only passthrough.
                return Ok(Arc::new(self.host.open(host_path, flags)?));
            }
            Body::Opened(file) => return file.reopen(flags),
            Body::Fifo(fifo) => {
                let want = match flags & libc::O_ACCMODE {
                    libc::O_RDONLY => libc::R_OK,
                    libc::O_WRONLY => libc::W_OK,
                    _ => libc::R_OK | libc::W_OK,
                };
                access::check(&node, want as u32, who.uid, who.gid)?;
                return Ok(Arc::new(fifo.open(node.clone(), path, flags)?));
            }
            Body::Socket if flags & libc::O_PATH == 0 => return Err(Errno::ENXIO),
            Body::Device(crate::vfs::inode::Device::Tty) => {
                // Linux's /dev/tty is the caller's controlling terminal.
                if !procs.may_open_tty() {
                    return Err(Errno::ENXIO);
                }
                return Ok(Arc::new(HostFile::from_stream(devfs::open_tty()?)?));
            }
            Body::Reg(_) if writes(flags) || flags & libc::O_TRUNC != 0 => {
                if flags & libc::O_TRUNC != 0 {
                    if let Some(mut d) = node.data_mut() {
                        match &*d {
                            // Mapped pages stay the file's (now past its end).
                            Data::Paged(pages) => pages.truncate(0)?,
                            _ => *d = Data::Mem(Vec::new()),
                        }
                    }
                    node.touch_modified();
                } else {
                    copy_up(&self.host, &node)?;
                }
            }
            _ => {}
        }
        Ok(Arc::new(NodeFile::new(self.clone(), node, path, flags)?))
    }

    /// `O_TMPFILE`: an unnamed regular file in directory `path`.
    fn open_tmpfile(
        self: &Arc<Self>,
        path: &[u8],
        flags: i32,
        mode: u32,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<Arc<dyn File>, Errno> {
        let w = self.resolve(path, true, procs)?;
        if !w.node().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let node = new_file(w.node(), who.meta(libc::S_IFREG, mode));
        node.meta().nlink = 0;
        let flags = flags & !(O_TMPFILE_BIT | libc::O_DIRECTORY);
        Ok(Arc::new(NodeFile::new(
            self.clone(),
            node,
            w.path(),
            flags,
        )?))
    }

    pub fn stat(
        &self,
        path: &[u8],
        follow: bool,
        procs: &dyn ProcSource,
    ) -> Result<GuestStat, Errno> {
        Ok(self.resolve(path, follow, procs)?.node().stat())
    }

    pub fn statx(
        &self,
        path: &[u8],
        follow: bool,
        procs: &dyn ProcSource,
    ) -> Result<GuestStatx, Errno> {
        Ok(statx_from_stat(&self.stat(path, follow, procs)?))
    }

    /// `faccessat` as `uid:gid`.
    pub fn access(
        &self,
        path: &[u8],
        mode: u32,
        follow: bool,
        uid: u32,
        gid: u32,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let w = self.resolve(path, follow, procs)?;
        access::check(w.node(), mode, uid, gid)
    }

    /// The target of symbolic link `path`; EINVAL if it is not one.
    pub fn readlink(&self, path: &[u8], procs: &dyn ProcSource) -> Result<Vec<u8>, Errno> {
        let w = self.resolve(path, false, procs)?;
        w.node()
            .symlink_target()
            .map(<[u8]>::to_vec)
            .ok_or(Errno::EINVAL)
    }

    /// For `chdir`: `path` must be a directory the caller may search; its
    /// canonical guest path.
    pub fn canonical_dir(
        &self,
        path: &[u8],
        uid: u32,
        gid: u32,
        procs: &dyn ProcSource,
    ) -> Result<Vec<u8>, Errno> {
        let w = self.resolve(path, true, procs)?;
        if !w.node().is_dir() {
            return Err(Errno::ENOTDIR);
        }
        access::check(w.node(), libc::X_OK as u32, uid, gid)?;
        Ok(w.path())
    }

    /// The whole of executable `path` for the loader, with its canonical
    /// guest path (what /proc/PID/exe shows): a regular file with an
    /// execute bit, else EACCES. Files the guest wrote run too.
    pub fn read_executable(
        &self,
        path: &[u8],
        procs: &dyn ProcSource,
    ) -> Result<Executable, Errno> {
        let w = self.resolve(path, true, procs)?;
        // A nameless open file reached through /proc/PID/fd/N (a memfd, as
        // fexecve uses it) runs from its own inode.
        let (node, exe_path) = match &w.node().body {
            Body::Opened(file) => match file.inode() {
                Some(inode) => (inode, file.link_name()),
                None => return Err(Errno::EACCES),
            },
            _ => (w.node().clone(), w.path()),
        };
        let node = &node;
        if node.kind() != libc::S_IFREG || node.meta().mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        let data = node.data().ok_or(Errno::EACCES)?;
        let bytes = match &*data {
            Data::Mem(bytes) => bytes.clone(),
            Data::Paged(pages) => pages.read_all()?,
            Data::Lower { path, .. } => self.host.read_file(path)?,
        };
        Ok(Executable {
            bytes,
            path: exe_path,
        })
    }
}

/// A new empty regular file on `dir`'s mount.
pub fn new_file(dir: &Inode, meta: Meta) -> Arc<Inode> {
    let body = Body::Reg(std::sync::RwLock::new(Data::Mem(Vec::new())));
    Inode::new(next_ino(), dir.dev, meta, body)
}

/// A program file as the loader needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executable {
    pub bytes: Vec<u8>,
    /// Canonical guest path: symlinks and `..` resolved.
    pub path: Vec<u8>,
}
