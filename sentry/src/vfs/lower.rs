//! The overlay's lower layer: inodes standing for files of the host tree.
//!
//! Each host file is looked up one name at a time below a directory the
//! sentry already resolved, never following a symbolic link on the host
//! (the sentry follows them itself, inside the guest's tree), and always
//! through `HostFs`, whose `openat2(RESOLVE_IN_ROOT)` keeps even a racing
//! change of the host tree from reaching outside the root.

use std::sync::{Arc, RwLock};

use crate::errno::Errno;
use crate::vfs::hostfs::HostFs;
use crate::vfs::inode::{Body, Data, Dir, Inode, Meta};
use crate::vfs::path::join;

/// The inode for host file `dir/name` (`dir` a lower directory's guest
/// path), on the mount with device number `dev`; `None` if there is none.
pub fn lookup(
    host: &HostFs,
    dev: u64,
    dir: &[u8],
    name: &[u8],
) -> Result<Option<Arc<Inode>>, Errno> {
    let path = join(dir, name);
    let fd = match host.lookup(&path, false) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = rustix::fs::fstat(&fd)?;
    let procfs = HostFs::is_procfs(&fd);
    let meta = Meta::from_host(&st);
    let body = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Body::Dir(RwLock::new(Dir {
            entries: Default::default(),
            // The host's /proc describes the sentry: it shows as empty.
            lower: (!procfs).then_some(path),
        })),
        _ if procfs => return Ok(None),
        libc::S_IFREG => Body::Reg(RwLock::new(Data::Lower {
            path,
            size: st.st_size as u64,
        })),
        libc::S_IFLNK => Body::Symlink(rustix::fs::readlinkat(&fd, c"", Vec::new())?.into_bytes()),
        _ => Body::Host(path),
    };
    Ok(Some(Inode::new(st.st_ino, dev, meta, body)))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::vfs::hostfs::tests::TempDir;

    #[test]
    fn host_files_become_lower_inodes() {
        let t = TempDir::new("lower");
        fs::create_dir(t.0.join("d")).unwrap();
        fs::write(t.0.join("f"), b"12345").unwrap();
        symlink("/../../etc/passwd", t.0.join("l")).unwrap();
        let host = HostFs::new(&t.0).unwrap();
        let d = lookup(&host, 9, b"/", b"d").unwrap().unwrap();
        assert_eq!(d.dir().unwrap().lower.as_deref(), Some(&b"/d"[..]));
        assert_eq!(d.dev, 9);
        let f = lookup(&host, 9, b"/", b"f").unwrap().unwrap();
        assert_eq!(f.stat().size, 5);
        assert!(matches!(&*f.data().unwrap(), Data::Lower { path, .. } if path == b"/f"));
        let l = lookup(&host, 9, b"/", b"l").unwrap().unwrap();
        assert_eq!(l.symlink_target(), Some(&b"/../../etc/passwd"[..]));
        assert!(lookup(&host, 9, b"/", b"missing").unwrap().is_none());
        assert_eq!(lookup(&host, 9, b"/f", b"x").err(), Some(Errno::ENOTDIR));
    }

    #[test]
    fn host_proc_is_empty() {
        let host = HostFs::new(std::path::Path::new("/")).unwrap();
        let p = lookup(&host, 1, b"/", b"proc").unwrap().unwrap();
        assert!(p.dir().unwrap().lower.is_none());
        assert!(lookup(&host, 1, b"/proc", b"self").unwrap().is_none());
    }
}
