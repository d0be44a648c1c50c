//! Extended attributes of the sentry's inodes, as tmpfs keeps them: the
//! `user.`, `trusted.` and `security.` namespaces, in memory with the
//! inode. Like every other change a guest makes, they never reach the
//! host; a host file's own attributes are not shown. POSIX ACLs are not
//! supported: reading `system.posix_acl_*` finds none, setting it is
//! EOPNOTSUPP.

use std::collections::BTreeMap;

use crate::errno::Errno;
use crate::vfs::inode::Inode;

/// `XATTR_NAME_MAX`.
pub const NAME_MAX: usize = 255;
/// `XATTR_SIZE_MAX`: the largest value, and the largest list.
pub const SIZE_MAX: usize = 65536;
const XATTR_CREATE: u32 = 1;
const XATTR_REPLACE: u32 = 2;

/// The attributes of one inode, by full name.
pub type Xattrs = BTreeMap<Vec<u8>, Vec<u8>>;

/// Who is asking: trusted attributes are root's alone (CAP_SYS_ADMIN).
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub euid: u32,
    pub egid: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Namespace {
    User,
    Trusted,
    Security,
    /// `system.posix_acl_access` / `system.posix_acl_default`.
    Acl,
}

/// The namespace of `name`: ERANGE for an empty or too long name, EINVAL
/// for a bare prefix, EOPNOTSUPP for no namespace the sentry keeps.
fn namespace(name: &[u8]) -> Result<Namespace, Errno> {
    if name.is_empty() || name.len() > NAME_MAX {
        return Err(Errno::ERANGE);
    }
    let ns = [
        (&b"user."[..], Namespace::User),
        (b"trusted.", Namespace::Trusted),
        (b"security.", Namespace::Security),
    ]
    .into_iter()
    .find(|(prefix, _)| name.starts_with(prefix));
    match ns {
        // A namespace with nothing after it.
        Some((prefix, _)) if name.len() == prefix.len() => Err(Errno::EINVAL),
        Some((_, ns)) => Ok(ns),
        None if name == b"system.posix_acl_access" || name == b"system.posix_acl_default" => {
            Ok(Namespace::Acl)
        }
        None => Err(Errno::EOPNOTSUPP),
    }
}

fn is_root(caller: Caller) -> bool {
    caller.euid == 0
}

/// Whether `caller` sees `ns` at all (unprivileged callers do not see
/// trusted attributes, as Linux's listxattr hides them).
fn visible(ns: Namespace, caller: Caller) -> bool {
    ns != Namespace::Trusted || is_root(caller)
}

/// `setxattr`: `flags` XATTR_CREATE (EEXIST if present) or XATTR_REPLACE
/// (ENODATA if absent).
pub fn set(
    node: &Inode,
    caller: Caller,
    name: &[u8],
    value: &[u8],
    flags: u32,
) -> Result<(), Errno> {
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let ns = namespace(name)?;
    if value.len() > SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    may_change(node, caller, ns)?;
    let mut attrs = node.xattrs();
    let exists = attrs.contains_key(name);
    if exists && flags & XATTR_CREATE != 0 {
        return Err(Errno::EEXIST);
    }
    if !exists && flags & XATTR_REPLACE != 0 {
        return Err(Errno::ENODATA);
    }
    attrs.insert(name.to_vec(), value.to_vec());
    drop(attrs);
    node.touch_changed();
    Ok(())
}

/// `getxattr`: the value of `name`.
pub fn get(node: &Inode, caller: Caller, name: &[u8]) -> Result<Vec<u8>, Errno> {
    let ns = namespace(name)?;
    if !visible(ns, caller) {
        return Err(Errno::ENODATA);
    }
    if ns == Namespace::User {
        // user.* exists only on regular files and directories.
        may_read_user(node, caller)?;
    }
    node.xattrs().get(name).cloned().ok_or(Errno::ENODATA)
}

/// `listxattr`: every visible name, each followed by a NUL.
pub fn list(node: &Inode, caller: Caller) -> Vec<u8> {
    let mut out = Vec::new();
    for name in node.xattrs().keys() {
        if namespace(name).is_ok_and(|ns| visible(ns, caller)) {
            out.extend_from_slice(name);
            out.push(0);
        }
    }
    out
}

/// `removexattr`.
pub fn remove(node: &Inode, caller: Caller, name: &[u8]) -> Result<(), Errno> {
    let ns = namespace(name)?;
    may_change(node, caller, ns)?;
    node.xattrs().remove(name).ok_or(Errno::ENODATA)?;
    node.touch_changed();
    Ok(())
}

/// What a file that keeps no attributes answers for `name` (`change`:
/// set or remove). A `special` file (a pipe, a socket, a terminal) has
/// Linux refuse user.* before asking its file system: EPERM to change,
/// ENODATA to read; otherwise the file system has no handler, EOPNOTSUPP.
pub fn refuse(name: &[u8], change: bool, special: bool) -> Errno {
    match namespace(name) {
        Err(e) => e,
        Ok(Namespace::User) if special && change => Errno::EPERM,
        Ok(Namespace::User) if special => Errno::ENODATA,
        Ok(_) => Errno::EOPNOTSUPP,
    }
}

fn kind(node: &Inode) -> u32 {
    node.meta().mode & libc::S_IFMT
}

/// Linux's xattr_permission for a change: trusted needs root; user needs
/// a regular file or directory (EPERM otherwise), write permission, and
/// on a sticky directory its owner; ACLs are not kept.
fn may_change(node: &Inode, caller: Caller, ns: Namespace) -> Result<(), Errno> {
    match ns {
        Namespace::Acl => Err(Errno::EOPNOTSUPP),
        Namespace::Trusted if !is_root(caller) => Err(Errno::EPERM),
        Namespace::Trusted => Ok(()),
        Namespace::Security => {
            if is_root(caller) || node.meta().uid == caller.euid {
                Ok(())
            } else {
                Err(Errno::EPERM)
            }
        }
        Namespace::User => {
            let k = kind(node);
            if k != libc::S_IFREG && k != libc::S_IFDIR {
                return Err(Errno::EPERM);
            }
            let m = *node.meta();
            if k == libc::S_IFDIR
                && m.mode & libc::S_ISVTX != 0
                && !is_root(caller)
                && m.uid != caller.euid
            {
                return Err(Errno::EPERM);
            }
            crate::vfs::access::check(node, 2, caller.euid, caller.egid)
        }
    }
}

/// Reading user.* needs read permission; on anything but a regular file
/// or directory there is nothing to read (ENODATA, as Linux).
fn may_read_user(node: &Inode, caller: Caller) -> Result<(), Errno> {
    let k = kind(node);
    if k != libc::S_IFREG && k != libc::S_IFDIR {
        return Err(Errno::ENODATA);
    }
    crate::vfs::access::check(node, 4, caller.euid, caller.egid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::inode::Meta;

    const ROOT: Caller = Caller { euid: 0, egid: 0 };
    const USER: Caller = Caller {
        euid: 1000,
        egid: 1000,
    };

    fn file(mode: u32, uid: u32) -> std::sync::Arc<Inode> {
        Inode::new_dir(1, Meta::new(libc::S_IFREG | mode, uid, uid), None)
    }

    #[test]
    fn names_need_a_known_namespace_and_a_sane_length() {
        assert_eq!(namespace(b"user.a"), Ok(Namespace::User));
        assert_eq!(namespace(b"user."), Err(Errno::EINVAL));
        assert_eq!(namespace(b"user"), Err(Errno::EOPNOTSUPP));
        assert_eq!(namespace(b"bogus.a"), Err(Errno::EOPNOTSUPP));
        assert_eq!(namespace(b""), Err(Errno::ERANGE));
        assert_eq!(namespace(&[b'u'; 256]), Err(Errno::ERANGE));
        assert_eq!(namespace(b"system.posix_acl_access"), Ok(Namespace::Acl));
        assert_eq!(namespace(b"system.other"), Err(Errno::EOPNOTSUPP));
    }

    #[test]
    fn set_get_list_remove_with_create_and_replace() {
        let f = file(0o644, 1000);
        assert_eq!(
            set(&f, USER, b"user.x", b"1", XATTR_REPLACE),
            Err(Errno::ENODATA)
        );
        set(&f, USER, b"user.x", b"1", XATTR_CREATE).unwrap();
        assert_eq!(
            set(&f, USER, b"user.x", b"2", XATTR_CREATE),
            Err(Errno::EEXIST)
        );
        set(&f, USER, b"user.x", b"2", XATTR_REPLACE).unwrap();
        assert_eq!(get(&f, USER, b"user.x"), Ok(b"2".to_vec()));
        assert_eq!(set(&f, USER, b"user.x", b"", 4), Err(Errno::EINVAL));
        assert_eq!(set(&f, USER, b"user.x", b"", 3), Err(Errno::EEXIST));
        assert_eq!(
            set(&f, USER, b"user.big", &vec![0; SIZE_MAX + 1], 0),
            Err(Errno::E2BIG)
        );
        set(&f, ROOT, b"trusted.t", b"t", 0).unwrap();
        assert_eq!(list(&f, USER), b"user.x\0".to_vec());
        assert_eq!(list(&f, ROOT), b"trusted.t\0user.x\0".to_vec());
        assert_eq!(get(&f, USER, b"trusted.t"), Err(Errno::ENODATA));
        assert_eq!(set(&f, USER, b"trusted.u", b"", 0), Err(Errno::EPERM));
        remove(&f, USER, b"user.x").unwrap();
        assert_eq!(remove(&f, USER, b"user.x"), Err(Errno::ENODATA));
        assert_eq!(
            get(&f, ROOT, b"system.posix_acl_access"),
            Err(Errno::ENODATA)
        );
        assert_eq!(
            set(&f, ROOT, b"system.posix_acl_access", b"", 0),
            Err(Errno::EOPNOTSUPP)
        );
    }

    #[test]
    fn files_without_attributes_refuse_as_linux() {
        assert_eq!(refuse(b"user.x", true, true), Errno::EPERM);
        assert_eq!(refuse(b"user.x", false, true), Errno::ENODATA);
        assert_eq!(refuse(b"user.x", false, false), Errno::EOPNOTSUPP);
        assert_eq!(refuse(b"trusted.x", true, true), Errno::EOPNOTSUPP);
        assert_eq!(refuse(b"", true, true), Errno::ERANGE);
    }

    #[test]
    fn user_attributes_need_write_permission_to_change() {
        let f = file(0o644, 0);
        assert_eq!(set(&f, USER, b"user.x", b"1", 0), Err(Errno::EACCES));
        set(&f, ROOT, b"user.x", b"1", 0).unwrap();
        assert_eq!(get(&f, USER, b"user.x"), Ok(b"1".to_vec()));
        let private = file(0o600, 0);
        assert_eq!(get(&private, USER, b"user.x"), Err(Errno::EACCES));
    }
}
