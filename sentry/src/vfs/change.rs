//! The calls that change the tree: mkdir, mknod, symlink, link, unlink,
//! rmdir, rename, and the metadata ones (chmod, chown, utimens, truncate).
//!
//! All changes happen in memory. Removing a name the lower layer has
//! leaves a whiteout in its place so the host file stays hidden; a new
//! directory is opaque (it never shows a lower directory's old contents).

use std::sync::Arc;

use crate::errno::Errno;
use crate::vfs::access;
use crate::vfs::inode::{next_ino, Body, Entry, Inode, Time};
use crate::vfs::node_file::{copy_up, truncate_mem};
use crate::vfs::open::{new_file, Creator};
use crate::vfs::procfs::ProcSource;
use crate::vfs::tree::{Vfs, Walk};

/// renameat2 flags.
pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;

/// A timestamp change of `utimensat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    Omit,
    Now,
    To(Time),
}

impl Vfs {
    /// The directory to create `path` in and the new name; EEXIST if taken.
    fn free_name(
        &self,
        path: &[u8],
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(Walk, Vec<u8>), Errno> {
        let (parent, name) = self.resolve_parent(path, procs)?;
        if matches!(&name[..], b"." | b"..") {
            return Err(Errno::EEXIST);
        }
        match self.child(parent.node(), &name, procs) {
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let rwx = (libc::W_OK | libc::X_OK) as u32;
        access::check(parent.node(), rwx, who.uid, who.gid)?;
        Ok((parent, name))
    }

    /// Put `node` under `name` in `dir` (over a whiteout, if any).
    fn insert(dir: &Arc<Inode>, name: Vec<u8>, node: Arc<Inode>) -> Result<(), Errno> {
        if node.is_dir() {
            dir.meta().nlink += 1;
        }
        dir.dir_mut()?.entries.insert(name, Entry::Node(node));
        dir.touch_modified();
        Ok(())
    }

    /// Take `name` out of `dir`, leaving a whiteout if the lower layer
    /// could show one of that name.
    fn take_out(dir: &Arc<Inode>, name: &[u8]) -> Result<(), Errno> {
        let mut d = dir.dir_mut()?;
        if d.lower.is_some() {
            d.entries.insert(name.to_vec(), Entry::Whiteout);
        } else {
            d.entries.remove(name);
        }
        drop(d);
        dir.touch_modified();
        Ok(())
    }

    pub fn mkdir(
        &self,
        path: &[u8],
        mode: u32,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let (parent, name) = self.free_name(path, who, procs)?;
        let dir = parent.node();
        let node = Inode::new_dir(dir.dev, who.meta(libc::S_IFDIR, mode), None);
        Self::insert(dir, name, node)
    }

    /// mknod: regular files and FIFOs; devices and sockets are refused.
    pub fn mknod(
        &self,
        path: &[u8],
        mode: u32,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        match mode & libc::S_IFMT {
            0 | libc::S_IFREG | libc::S_IFIFO => {}
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFSOCK => {
                self.free_name(path, who, procs)?;
                return Err(Errno::EPERM);
            }
            _ => return Err(Errno::EINVAL),
        }
        let (parent, name) = self.free_name(path, who, procs)?;
        let node = if mode & libc::S_IFMT == libc::S_IFIFO {
            let meta = who.meta(libc::S_IFIFO, mode);
            let body = Body::Fifo(crate::vfs::fifo::Fifo::default());
            Inode::new(next_ino(), parent.node().dev, meta, body)
        } else {
            new_file(parent.node(), who.meta(libc::S_IFREG, mode))
        };
        Self::insert(parent.node(), name, node)
    }

    /// bind(2) of an AF_UNIX socket to `path`: a socket inode, mode 0777
    /// less the umask; EADDRINUSE if the name exists. Returns the inode
    /// number the socket is found by.
    pub fn bind_socket(
        &self,
        path: &[u8],
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<u64, Errno> {
        let (parent, name) = self.free_name(path, who, procs).map_err(|e| {
            if e == Errno::EEXIST {
                Errno::EADDRINUSE
            } else {
                e
            }
        })?;
        let meta = who.meta(libc::S_IFSOCK, 0o777);
        let ino = next_ino();
        let node = Inode::new(ino, parent.node().dev, meta, Body::Socket);
        Self::insert(parent.node(), name, node)?;
        Ok(ino)
    }

    pub fn symlink(
        &self,
        target: &[u8],
        path: &[u8],
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let (parent, name) = self.free_name(path, who, procs)?;
        let meta = crate::vfs::inode::Meta::new(libc::S_IFLNK | 0o777, who.uid, who.gid);
        let node = Inode::new(
            next_ino(),
            parent.node().dev,
            meta,
            Body::Symlink(target.to_vec()),
        );
        Self::insert(parent.node(), name, node)
    }

    /// link: a second name for `old` (an inode found by the caller).
    pub fn link(
        &self,
        old: &Arc<Inode>,
        new: &[u8],
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let (parent, name) = self.free_name(new, who, procs)?;
        if parent.node().dev != old.dev {
            return Err(Errno::EXDEV);
        }
        if old.is_dir() {
            return Err(Errno::EPERM);
        }
        if old.meta().nlink == 0 {
            // An unlinked (or O_TMPFILE) file without AT_EMPTY_PATH rights.
            return Err(Errno::ENOENT);
        }
        old.meta().nlink += 1;
        old.touch_changed();
        Self::insert(parent.node(), name, old.clone())
    }

    /// unlink (`dir` false) or rmdir (`dir` true) of `path`, whose last
    /// component the caller checked is not `.` or `..`.
    pub fn remove(
        &self,
        path: &[u8],
        dir: bool,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let (parent, name) = self.resolve_parent(path, procs)?;
        let node = self.child(parent.node(), &name, procs)?;
        if dir {
            if !node.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if self.is_mount_root(&node) {
                return Err(Errno::EBUSY);
            }
            if !self.list(&node, procs)?.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
        } else if node.is_dir() {
            return Err(Errno::EISDIR);
        } else if crate::vfs::path::has_trailing_slash(path) {
            return Err(Errno::ENOTDIR);
        }
        let rwx = (libc::W_OK | libc::X_OK) as u32;
        access::check(parent.node(), rwx, who.uid, who.gid)?;
        Self::take_out(parent.node(), &name)?;
        drop_link(&node);
        if dir {
            parent.node().meta().nlink -= 1;
        }
        Ok(())
    }

    /// renameat2(old, new, flags) with `RENAME_NOREPLACE` or
    /// `RENAME_EXCHANGE` (the caller rejected anything else).
    pub fn rename(
        &self,
        old: &[u8],
        new: &[u8],
        flags: u32,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let (op, oname) = self.resolve_parent(old, procs)?;
        let (np, nname) = self.resolve_parent(new, procs)?;
        if [&oname, &nname]
            .iter()
            .any(|n| matches!(&n[..], b"." | b".."))
        {
            return Err(Errno::EBUSY);
        }
        let src = self.child(op.node(), &oname, procs)?;
        let dst = match self.child(np.node(), &nname, procs) {
            Ok(n) => Some(n),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        let trailing = |p: &[u8]| crate::vfs::path::has_trailing_slash(p);
        if (trailing(old) || (trailing(new) && dst.is_none())) && !src.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if op.node().dev != np.node().dev || src.dev != np.node().dev {
            return Err(Errno::EXDEV);
        }
        if self.is_mount_root(&src) || dst.as_ref().is_some_and(|d| self.is_mount_root(d)) {
            return Err(Errno::EBUSY);
        }
        if flags & RENAME_EXCHANGE != 0 {
            let dst = dst.ok_or(Errno::ENOENT)?;
            if (src.is_dir() && np.passes(&src)) || (dst.is_dir() && op.passes(&dst)) {
                return Err(Errno::EINVAL);
            }
            let rwx = (libc::W_OK | libc::X_OK) as u32;
            access::check(op.node(), rwx, who.uid, who.gid)?;
            access::check(np.node(), rwx, who.uid, who.gid)?;
            op.node()
                .dir_mut()?
                .entries
                .insert(oname, Entry::Node(dst.clone()));
            np.node()
                .dir_mut()?
                .entries
                .insert(nname, Entry::Node(src.clone()));
            if src.is_dir() != dst.is_dir() && !Arc::ptr_eq(op.node(), np.node()) {
                let (from, to) = if src.is_dir() { (&op, &np) } else { (&np, &op) };
                from.node().meta().nlink -= 1;
                to.node().meta().nlink += 1;
            }
            for n in [op.node(), np.node(), &src, &dst] {
                n.touch_changed();
            }
            return Ok(());
        }
        if let Some(dst) = &dst {
            if flags & RENAME_NOREPLACE != 0 {
                return Err(Errno::EEXIST);
            }
            if Arc::ptr_eq(&src, dst) {
                // Two names of one file: Linux does nothing.
                return Ok(());
            }
            match (src.is_dir(), dst.is_dir()) {
                (true, false) => return Err(Errno::ENOTDIR),
                (false, true) => return Err(Errno::EISDIR),
                (true, true) if !self.list(dst, procs)?.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        if src.is_dir() && np.passes(&src) {
            // Into its own subtree.
            return Err(Errno::EINVAL);
        }
        let rwx = (libc::W_OK | libc::X_OK) as u32;
        access::check(op.node(), rwx, who.uid, who.gid)?;
        access::check(np.node(), rwx, who.uid, who.gid)?;
        Self::take_out(op.node(), &oname)?;
        if src.is_dir() {
            op.node().meta().nlink -= 1;
        }
        if let Some(dst) = &dst {
            drop_link(dst);
            if dst.is_dir() {
                np.node().meta().nlink -= 1;
            }
        }
        Self::insert(np.node(), nname, src.clone())?;
        src.touch_changed();
        Ok(())
    }

    /// chmod: permission bits only, the type stays.
    pub fn chmod(&self, node: &Inode, mode: u32) {
        let mut m = node.meta();
        m.mode = (m.mode & libc::S_IFMT) | (mode & 0o7777);
        drop(m);
        node.touch_changed();
    }

    /// chown: `u32::MAX` (-1) leaves an id as it is.
    pub fn chown(&self, node: &Inode, uid: u32, gid: u32) {
        let mut m = node.meta();
        if uid != u32::MAX {
            m.uid = uid;
        }
        if gid != u32::MAX {
            m.gid = gid;
        }
        drop(m);
        node.touch_changed();
    }

    pub fn set_times(&self, node: &Inode, atime: SetTime, mtime: SetTime) {
        let now = Time::now();
        let pick = |t: SetTime, old: Time| match t {
            SetTime::Omit => old,
            SetTime::Now => now,
            SetTime::To(t) => t,
        };
        let mut m = node.meta();
        m.atime = pick(atime, m.atime);
        m.mtime = pick(mtime, m.mtime);
        if (atime, mtime) != (SetTime::Omit, SetTime::Omit) {
            m.ctime = now;
        }
    }

    /// truncate(path, len): copy up, then resize.
    pub fn truncate(
        &self,
        path: &[u8],
        len: u64,
        who: Creator,
        procs: &dyn ProcSource,
    ) -> Result<(), Errno> {
        let w = self.resolve(path, true, procs)?;
        let node = w.node();
        if node.is_dir() {
            return Err(Errno::EISDIR);
        }
        if node.kind() != libc::S_IFREG {
            return Err(Errno::EINVAL);
        }
        access::check(node, libc::W_OK as u32, who.uid, who.gid)?;
        copy_up(&self.host, node)?;
        truncate_mem(node, len)
    }
}

/// One name fewer for `node`.
fn drop_link(node: &Inode) {
    let mut m = node.meta();
    m.nlink = if node.is_dir() {
        0
    } else {
        m.nlink.saturating_sub(1)
    };
    drop(m);
    node.touch_changed();
}
