//! procfs, mounted on /proc: files whose contents the sentry generates from
//! its own state when they are opened, never the host's /proc (which would
//! describe the sentry).
//!
//! Nothing here is stored: a lookup below /proc makes a fresh inode for the
//! name (a directory or file tagged with its `ProcNode`, or a symbolic link
//! whose target is computed right then, so `self`, `exe`, `cwd` and `fd/N`
//! walk, lstat and readlink like any link), and an open generates the whole
//! text once (`file::ProcFile`), so small reads and seeks see one snapshot.
//! What a process looks like comes from the `ProcSource` the system call
//! hands down: procfs only knows formats.
//!
//! - `source`: the `ProcSource` trait and the data it answers with.
//! - `pid`: /proc/PID (status, cmdline, comm, environ, limits, fd/...).
//! - `stat`: /proc/PID/stat and statm; `maps`: /proc/PID/maps.
//! - `system`: meminfo, cpuinfo, version, uptime, loadavg, stat, sys/...
//! - `file`: the open file over a generated text.
//! - `fd_link`: following /proc/PID/fd/N to the open file itself.

pub mod fd_link;
mod file;
mod maps;
mod pid;
pub mod source;
mod stat;
mod system;

use std::sync::Arc;

pub use file::ProcFile;
pub use source::{FdEntry, ImageLayout, Mapping, NoProcs, ProcSource, ProcessInfo};

use crate::errno::Errno;
use crate::vfs::inode::{Body, Inode, Meta};
use crate::vfs::mount::FsKind;
use crate::vfs::tree::dtype;

/// What a procfs directory or file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcNode {
    /// /proc itself.
    Root,
    /// A directory or file of the system part: `system::ENTRIES[i]`.
    System(usize),
    /// /proc/PID, or /proc/PID/task/TID (the same contents).
    Pid(i32),
    /// A generated file in /proc/PID.
    PidFile(i32, pid::PidFile),
    /// /proc/PID/fd: one link per descriptor.
    FdDir(i32),
    /// /proc/PID/fdinfo and its files.
    FdInfoDir(i32),
    FdInfo(i32, i32),
    /// /proc/PID/task: one directory per thread.
    TaskDir(i32),
}

impl ProcNode {
    pub fn is_dir(self) -> bool {
        match self {
            ProcNode::Root
            | ProcNode::Pid(_)
            | ProcNode::FdDir(_)
            | ProcNode::FdInfoDir(_)
            | ProcNode::TaskDir(_) => true,
            ProcNode::System(i) => system::ENTRIES[i].is_dir(),
            ProcNode::PidFile(..) | ProcNode::FdInfo(..) => false,
        }
    }

    /// A stable inode number: the same name gives the same number on every
    /// lookup, as long as the process lives. Per-pid numbers sit above
    /// 1 << 24 so they never meet the system part's.
    fn ino(self) -> u64 {
        let per_pid = |pid: i32, sub: u64| ((pid as u64) << 24) | sub;
        match self {
            ProcNode::Root => 1,
            ProcNode::System(i) => 0x100 + i as u64,
            ProcNode::Pid(p) => per_pid(p, 1),
            ProcNode::PidFile(p, f) => per_pid(p, 0x10 + f as u64),
            ProcNode::FdDir(p) => per_pid(p, 2),
            ProcNode::FdInfoDir(p) => per_pid(p, 3),
            ProcNode::TaskDir(p) => per_pid(p, 4),
            ProcNode::FdInfo(p, fd) => per_pid(p, 0x20_0000 + fd as u64),
        }
    }
}

/// Number of link inodes below a pid: fd links sit at 0x10_0000 + fd.
fn link_ino(pid: i32, sub: u64) -> u64 {
    ((pid.max(0) as u64) << 24) | sub
}

/// The root of the sandbox's procfs.
pub fn new_root() -> Arc<Inode> {
    dir_inode(ProcNode::Root, 0, 0)
}

fn dir_inode(node: ProcNode, uid: u32, gid: u32) -> Arc<Inode> {
    let meta = Meta::new(libc::S_IFDIR | 0o555, uid, gid);
    Inode::new(node.ino(), FsKind::Procfs.dev(), meta, Body::Proc(node))
}

fn node_inode(node: ProcNode, uid: u32, gid: u32) -> Arc<Inode> {
    if node.is_dir() {
        return dir_inode(node, uid, gid);
    }
    let mode = match node {
        ProcNode::PidFile(_, f) => f.mode(),
        ProcNode::System(i) => system::ENTRIES[i].mode(),
        _ => 0o444,
    };
    let meta = Meta::new(libc::S_IFREG | mode, uid, gid);
    Inode::new(node.ino(), FsKind::Procfs.dev(), meta, Body::Proc(node))
}

fn link_inode(ino: u64, target: Vec<u8>, uid: u32, gid: u32) -> Arc<Inode> {
    let meta = Meta::new(libc::S_IFLNK | 0o777, uid, gid);
    Inode::new(ino, FsKind::Procfs.dev(), meta, Body::Symlink(target))
}

/// Entry `name` of procfs directory `dir`.
pub fn lookup(dir: ProcNode, name: &[u8], procs: &dyn ProcSource) -> Result<Arc<Inode>, Errno> {
    match dir {
        ProcNode::Root => {
            let (tgid, tid) = procs.caller();
            match name {
                b"self" if tgid > 0 => Ok(link_inode(2, tgid.to_string().into(), 0, 0)),
                b"thread-self" if tgid > 0 => {
                    let target = format!("{tgid}/task/{tid}");
                    Ok(link_inode(3, target.into(), 0, 0))
                }
                _ => match parse_pid(name) {
                    Some(pid) if procs.tgids().contains(&pid) => pid_dir(pid, procs),
                    // A thread's directory is reachable, unlisted, by its tid.
                    Some(pid) if procs.process(pid).is_some() => pid_dir(pid, procs),
                    _ => system::lookup(None, name),
                },
            }
        }
        ProcNode::System(i) => system::lookup(Some(i), name),
        ProcNode::Pid(p) | ProcNode::FdDir(p) | ProcNode::FdInfoDir(p) | ProcNode::TaskDir(p) => {
            pid::lookup(dir, p, name, procs)
        }
        ProcNode::PidFile(..) | ProcNode::FdInfo(..) => Err(Errno::ENOTDIR),
    }
}

fn pid_dir(pid: i32, procs: &dyn ProcSource) -> Result<Arc<Inode>, Errno> {
    let p = procs.process(pid).ok_or(Errno::ENOENT)?;
    Ok(dir_inode(ProcNode::Pid(pid), p.uids[1], p.gids[1]))
}

/// A decimal pid with no sign or leading zero.
fn parse_pid(name: &[u8]) -> Option<i32> {
    if name.first() == Some(&b'0') {
        return None;
    }
    std::str::from_utf8(name)
        .ok()?
        .parse()
        .ok()
        .filter(|&p| p > 0)
}

/// The entries of procfs directory `dir`, as (inode, `DT_*`, name),
/// without `.` and `..`.
pub fn list(dir: ProcNode, procs: &dyn ProcSource) -> Result<Vec<(u64, u8, Vec<u8>)>, Errno> {
    match dir {
        ProcNode::Root => {
            let mut out = system::list(None);
            let (tgid, _) = procs.caller();
            if tgid > 0 {
                out.push((2, libc::DT_LNK, b"self".to_vec()));
                out.push((3, libc::DT_LNK, b"thread-self".to_vec()));
            }
            for pid in procs.tgids() {
                let ino = ProcNode::Pid(pid).ino();
                out.push((ino, libc::DT_DIR, pid.to_string().into_bytes()));
            }
            Ok(out)
        }
        ProcNode::System(i) => Ok(system::list(Some(i))),
        ProcNode::Pid(p) | ProcNode::FdDir(p) | ProcNode::FdInfoDir(p) | ProcNode::TaskDir(p) => {
            pid::list(dir, p, procs)
        }
        ProcNode::PidFile(..) | ProcNode::FdInfo(..) => Err(Errno::ENOTDIR),
    }
}

/// The text of procfs file `node`, generated now.
pub fn contents(node: ProcNode, procs: &dyn ProcSource) -> Result<Vec<u8>, Errno> {
    match node {
        ProcNode::System(i) => system::contents(i, procs),
        ProcNode::PidFile(p, f) => pid::contents(p, f, procs),
        ProcNode::FdInfo(p, fd) => pid::fdinfo(p, fd, procs),
        _ => Err(Errno::EISDIR),
    }
}

/// `d_type` of a node.
fn node_dtype(node: ProcNode) -> u8 {
    if node.is_dir() {
        libc::DT_DIR
    } else {
        dtype(libc::S_IFREG)
    }
}

#[cfg(test)]
mod tests;
