//! Permission checks on the sentry's inodes, as Linux's
//! `generic_permission` makes them: owner, group or other bits, with root
//! passing everything but execution of a file no one may execute.

use crate::errno::Errno;
use crate::vfs::inode::Inode;

/// May `uid:gid` access `node` with `mode` (`R_OK|W_OK|X_OK` bits)?
pub fn check(node: &Inode, mode: u32, uid: u32, gid: u32) -> Result<(), Errno> {
    let m = *node.meta();
    let want = mode & 7;
    if want == 0 {
        return Ok(());
    }
    if uid == 0 {
        let is_dir = m.mode & libc::S_IFMT == libc::S_IFDIR;
        if want & 1 == 0 || is_dir || m.mode & 0o111 != 0 {
            return Ok(());
        }
        return Err(Errno::EACCES);
    }
    let bits = if uid == m.uid {
        (m.mode >> 6) & 7
    } else if gid == m.gid {
        (m.mode >> 3) & 7
    } else {
        m.mode & 7
    };
    if bits & want == want {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::inode::Meta;

    #[test]
    fn owner_group_other_and_root() {
        let f = Inode::new_dir(1, Meta::new(libc::S_IFREG | 0o640, 10, 20), None);
        assert_eq!(check(&f, 6, 10, 99), Ok(()));
        assert_eq!(check(&f, 1, 10, 99), Err(Errno::EACCES));
        assert_eq!(check(&f, 4, 11, 20), Ok(()));
        assert_eq!(check(&f, 2, 11, 20), Err(Errno::EACCES));
        assert_eq!(check(&f, 4, 11, 21), Err(Errno::EACCES));
        assert_eq!(check(&f, 6, 0, 0), Ok(()));
        assert_eq!(check(&f, 1, 0, 0), Err(Errno::EACCES));
        assert_eq!(check(&f, 0, 11, 21), Ok(()));
    }
}
