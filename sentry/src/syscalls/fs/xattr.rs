//! Extended attributes: setxattr, getxattr, listxattr, removexattr, each
//! by path (following symlinks), by path without following (`l...`) and
//! by descriptor (`f...`). The attributes live in `vfs/xattr.rs`; this
//! file finds the inode and moves names and values in and out of guest
//! memory with Linux's size rules.

use std::sync::Arc;

use super::fd_arg;
use super::path::{at_target, Target};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::inode::{Body, Inode};
use crate::vfs::xattr::{self, Caller, NAME_MAX, SIZE_MAX};

const O_PATH: u32 = libc::O_PATH as u32;

/// Where the attributes are: a path, followed or not, or a descriptor.
#[derive(Clone, Copy)]
enum Whose {
    Path { follow: bool },
    Fd,
}

/// What holds the attributes `arg` names.
enum Holder {
    Inode(Arc<Inode>),
    /// A file with no inode in the tree: a pipe, the caller's streams.
    Special,
    /// A procfs file: its file system keeps no attributes.
    Proc,
}

fn holder_of(task: &mut Task, whose: Whose, arg: u64) -> Result<Holder, Errno> {
    let node = match whose {
        Whose::Fd => {
            let file = task.fds.get(fd_arg(arg))?;
            if file.status_flags()? & O_PATH != 0 {
                return Err(Errno::EBADF);
            }
            file.inode()
        }
        Whose::Path { follow } => {
            let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
            match at_target(task, libc::AT_FDCWD, arg, flags)? {
                Target::File(f) => f.inode(),
                Target::Path(path) => {
                    Some(task.fs.vfs().resolve(&path, follow, &*task)?.node().clone())
                }
            }
        }
    };
    Ok(match node {
        None => Holder::Special,
        Some(node) if matches!(node.body, Body::Proc(_)) => Holder::Proc,
        Some(node) => Holder::Inode(node),
    })
}

fn caller(task: &Task) -> Caller {
    Caller {
        euid: task.creds.fsuid,
        egid: task.creds.fsgid,
    }
}

/// An attribute name: ERANGE if empty or longer than XATTR_NAME_MAX.
fn read_name(task: &mut Task, addr: u64) -> Result<Vec<u8>, Errno> {
    match task.mm.read_cstring(addr, NAME_MAX + 1) {
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
        Ok(name) if name.is_empty() => Err(Errno::ERANGE),
        Ok(name) => Ok(name),
    }
}

/// Hand `bytes` to a buffer of `size` at `addr`: with size 0 only the
/// length is asked for; a smaller buffer is ERANGE.
fn hand_out(task: &Task, addr: u64, size: u64, bytes: &[u8]) -> SysResult {
    if size == 0 {
        return Ok(bytes.len() as u64);
    }
    if (size as usize) < bytes.len() {
        return Err(Errno::ERANGE);
    }
    task.mm.copy_out(addr, bytes)?;
    Ok(bytes.len() as u64)
}

fn set(task: &mut Task, whose: Whose, a: [u64; 6]) -> SysResult {
    let [target, name, value, size, flags, ..] = a;
    let name = read_name(task, name)?;
    if size as usize > SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let mut bytes = vec![0u8; size as usize];
    task.mm.copy_in(value, &mut bytes)?;
    match holder_of(task, whose, target)? {
        Holder::Inode(node) => xattr::set(&node, caller(task), &name, &bytes, flags as u32)?,
        Holder::Special => return Err(xattr::refuse(&name, true, true)),
        Holder::Proc => return Err(xattr::refuse(&name, true, false)),
    }
    Ok(0)
}

fn get(task: &mut Task, whose: Whose, a: [u64; 6]) -> SysResult {
    let [target, name, value, size, ..] = a;
    let name = read_name(task, name)?;
    let bytes = match holder_of(task, whose, target)? {
        Holder::Inode(node) => xattr::get(&node, caller(task), &name)?,
        Holder::Special => return Err(xattr::refuse(&name, false, true)),
        Holder::Proc => return Err(xattr::refuse(&name, false, false)),
    };
    hand_out(task, value, size.min(SIZE_MAX as u64), &bytes)
}

fn list(task: &mut Task, whose: Whose, a: [u64; 6]) -> SysResult {
    let [target, list, size, ..] = a;
    let names = match holder_of(task, whose, target)? {
        Holder::Inode(node) => xattr::list(&node, caller(task)),
        Holder::Special | Holder::Proc => Vec::new(),
    };
    if names.len() > SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    hand_out(task, list, size.min(SIZE_MAX as u64), &names)
}

fn remove(task: &mut Task, whose: Whose, a: [u64; 6]) -> SysResult {
    let name = read_name(task, a[1])?;
    match holder_of(task, whose, a[0])? {
        Holder::Inode(node) => xattr::remove(&node, caller(task), &name)?,
        Holder::Special => return Err(xattr::refuse(&name, true, true)),
        Holder::Proc => return Err(xattr::refuse(&name, true, false)),
    }
    Ok(0)
}

const FOLLOW: Whose = Whose::Path { follow: true };
const NOFOLLOW: Whose = Whose::Path { follow: false };

pub(super) fn sys_setxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    set(task, FOLLOW, a)
}

pub(super) fn sys_lsetxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    set(task, NOFOLLOW, a)
}

pub(super) fn sys_fsetxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    set(task, Whose::Fd, a)
}

pub(super) fn sys_getxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    get(task, FOLLOW, a)
}

pub(super) fn sys_lgetxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    get(task, NOFOLLOW, a)
}

pub(super) fn sys_fgetxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    get(task, Whose::Fd, a)
}

pub(super) fn sys_listxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    list(task, FOLLOW, a)
}

pub(super) fn sys_llistxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    list(task, NOFOLLOW, a)
}

pub(super) fn sys_flistxattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    list(task, Whose::Fd, a)
}

pub(super) fn sys_removexattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    remove(task, FOLLOW, a)
}

pub(super) fn sys_lremovexattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    remove(task, NOFOLLOW, a)
}

pub(super) fn sys_fremovexattr(task: &mut Task, a: [u64; 6]) -> SysResult {
    remove(task, Whose::Fd, a)
}
