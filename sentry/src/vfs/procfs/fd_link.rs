//! /proc/PID/fd/N as Linux's "magic" links: following one reaches the open
//! file itself, not a path named by the link's text. Files with a guest
//! path are followed by that path, as any link; the others (pipes, the
//! caller's streams) have nothing to walk to, so following their link gives
//! an inode standing for the open file (`Body::Opened`): stat shows the
//! file, and opening it opens the file afresh (`File::reopen`), which is
//! what `/dev/fd/63` of a shell's process substitution needs.

use std::sync::Arc;

use super::{pid::parse_fd, ProcNode, ProcSource};
use crate::vfs::inode::{Body, Inode, Meta, Time};

/// If `dir`/`name` is the fd link of an open file without a guest path,
/// the inode to follow it to; `None` for any other entry (then the link's
/// text is followed, or the lookup fails as usual).
pub fn follow(dir: &Inode, name: &[u8], procs: &dyn ProcSource) -> Option<Arc<Inode>> {
    let Body::Proc(ProcNode::FdDir(pid)) = dir.body else {
        return None;
    };
    let file = procs.fd_file(pid, parse_fd(name)?)?;
    if file.guest_path().is_some() {
        return None;
    }
    let st = file.stat().ok()?;
    let time = |sec, nsec| Time { sec, nsec };
    let meta = Meta {
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        nlink: st.nlink,
        rdev: st.rdev,
        atime: time(st.atime, st.atime_nsec),
        mtime: time(st.mtime, st.mtime_nsec),
        ctime: time(st.ctime, st.ctime_nsec),
    };
    Some(Inode::new(st.ino, st.dev, meta, Body::Opened(file)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use crate::vfs::procfs::{FdEntry, Mapping, ProcessInfo};
    use crate::vfs::{File, HostFile};

    /// Process 5 with one descriptor, 4: the read end of a host pipe.
    struct OnePipe(Arc<dyn File>);

    impl ProcSource for OnePipe {
        fn caller(&self) -> (i32, i32) {
            (5, 5)
        }
        fn tgids(&self) -> Vec<i32> {
            vec![5]
        }
        fn process(&self, _pid: i32) -> Option<ProcessInfo> {
            None
        }
        fn maps(&self, _pid: i32) -> Vec<Mapping> {
            Vec::new()
        }
        fn fds(&self, _pid: i32) -> Vec<FdEntry> {
            Vec::new()
        }
        fn cmdline(&self, _pid: i32) -> Vec<u8> {
            Vec::new()
        }
        fn environ(&self, _pid: i32) -> Vec<u8> {
            Vec::new()
        }
        fn fd_file(&self, pid: i32, fd: i32) -> Option<Arc<dyn File>> {
            (pid == 5 && fd == 4).then(|| self.0.clone())
        }
    }

    fn fd_dir(pid: i32) -> Arc<Inode> {
        let meta = Meta::new(libc::S_IFDIR | 0o500, 0, 0);
        Inode::new(1, 2, meta, Body::Proc(ProcNode::FdDir(pid)))
    }

    #[test]
    fn a_pipe_link_leads_to_the_pipe_itself() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let procs = OnePipe(Arc::new(HostFile::from_stream(r).unwrap()));
        let node = follow(&fd_dir(5), b"4", &procs).expect("a pipe is followed");
        assert_eq!(node.kind(), libc::S_IFIFO);
        let Body::Opened(file) = &node.body else {
            panic!("not an opened file");
        };
        // A fresh description of the same pipe reads what the writer wrote.
        let again = file.reopen(libc::O_RDONLY).unwrap();
        rustix::io::write(&w, b"hi").unwrap();
        let mut buf = [0; 8];
        assert_eq!(again.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"hi");
        // The read end gives no write access.
        assert_eq!(file.reopen(libc::O_WRONLY).err(), Some(Errno::EACCES));
    }

    #[test]
    fn other_names_are_not_followed_here() {
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let procs = OnePipe(Arc::new(HostFile::from_stream(r).unwrap()));
        assert!(follow(&fd_dir(5), b"3", &procs).is_none());
        assert!(follow(&fd_dir(5), b"04", &procs).is_none());
        assert!(follow(&fd_dir(6), b"4", &procs).is_none());
        let other = Inode::new(1, 2, Meta::new(0o40500, 0, 0), Body::Proc(ProcNode::Root));
        assert!(follow(&other, b"4", &procs).is_none());
    }
}
