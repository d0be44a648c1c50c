//! A file backed by one host descriptor: a file of the read-only host tree,
//! a duplicate of one of the sentry's standard streams, or an end of a
//! guest pipe. Every operation is passed to the host kernel, which owns the
//! offset and (except for pipe ends) the status flags.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use rustix::fs::{AtFlags, Mode, OFlags, SeekFrom, StatxFlags};
use rustix::io::retry_on_intr;

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::stat::{GuestStat, GuestStatx};

pub struct HostFile {
    fd: OwnedFd,
    /// The guest path it was opened by; `None` for the standard streams.
    path: Option<Vec<u8>>,
    /// `S_IFMT` bits of the file when it was opened.
    kind: u32,
    /// The guest may have write access: a stream the caller gave us, or a
    /// harmless device. Other files of the tree are read-only (EROFS).
    may_write: bool,
    /// For an end of a guest pipe: its status flags as the guest sees
    /// them. The host descriptor is then always non-blocking, so a
    /// transfer is tried at once and waited for (interruptibly, by the
    /// system-call layer) only when the host says EAGAIN: one host call
    /// where a poll first would cost three.
    pipe_flags: Option<AtomicU32>,
    /// The host says it is a terminal (the caller's: no other is reachable).
    tty: bool,
}

impl HostFile {
    /// One of the caller's standard streams, already duplicated.
    pub fn from_stream(fd: OwnedFd) -> Result<Self, Errno> {
        let kind = rustix::fs::fstat(&fd)?.st_mode & libc::S_IFMT;
        let tty = kind == libc::S_IFCHR && rustix::termios::isatty(&fd);
        Ok(HostFile {
            fd,
            path: None,
            kind,
            may_write: true,
            pipe_flags: None,
            tty,
        })
    }

    /// One end of a host pipe made for the guest, which no one else holds:
    /// non-blocking on the host whatever `flags` (the guest's open flags)
    /// say.
    pub fn pipe_end(fd: OwnedFd, flags: u32) -> Result<Self, Errno> {
        let host = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, host | OFlags::NONBLOCK)?;
        Ok(HostFile {
            fd,
            path: None,
            kind: libc::S_IFIFO,
            may_write: true,
            pipe_flags: Some(AtomicU32::new(flags)),
            tty: false,
        })
    }

    /// A file of the host tree opened by `path`: read-only or `O_PATH`,
    /// unless `may_write` (a harmless device).
    pub(crate) fn from_tree(fd: OwnedFd, path: Vec<u8>, kind: u32, may_write: bool) -> Self {
        let tty = kind == libc::S_IFCHR && rustix::termios::isatty(&fd);
        HostFile {
            fd,
            path: Some(path),
            kind,
            may_write,
            pipe_flags: None,
            tty,
        }
    }

    pub fn host_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `lseek` arguments as rustix spells them; EINVAL for an unknown `whence`.
fn seek_from(offset: i64, whence: i32) -> Result<SeekFrom, Errno> {
    Ok(match whence {
        libc::SEEK_SET => SeekFrom::Start(offset as u64),
        libc::SEEK_CUR => SeekFrom::Current(offset),
        libc::SEEK_END => SeekFrom::End(offset),
        libc::SEEK_DATA => SeekFrom::Data(offset as u64),
        libc::SEEK_HOLE => SeekFrom::Hole(offset as u64),
        _ => return Err(Errno::EINVAL),
    })
}

/// Status flags the guest may change with `F_SETFL` on a host file.
const SETFL_MASK: u32 = (libc::O_APPEND | libc::O_NONBLOCK) as u32;

impl File for HostFile {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        matches!(self.kind, libc::S_IFIFO | libc::S_IFCHR | libc::S_IFSOCK).then(|| self.fd.as_fd())
    }

    fn terminal(&self) -> Option<BorrowedFd<'_>> {
        self.tty.then(|| self.fd.as_fd())
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(retry_on_intr(|| rustix::io::read(&self.fd, &mut *buf))?)
    }

    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        Ok(retry_on_intr(|| {
            rustix::io::pread(&self.fd, &mut *buf, offset)
        })?)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        Ok(retry_on_intr(|| rustix::io::write(&self.fd, buf))?)
    }

    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        Ok(retry_on_intr(|| rustix::io::pwrite(&self.fd, buf, offset))?)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        // Tree files are open read-only on the host, which refuses (EINVAL).
        Ok(rustix::fs::ftruncate(&self.fd, len)?)
    }

    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        Ok(rustix::fs::seek(&self.fd, seek_from(offset, whence)?)?)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(GuestStat::from(&rustix::fs::fstat(&self.fd)?))
    }

    fn statx(&self, mask: u32, sync: u32) -> Result<GuestStatx, Errno> {
        let flags = AtFlags::EMPTY_PATH | AtFlags::from_bits_retain(sync);
        let sx = rustix::fs::statx(&self.fd, c"", flags, StatxFlags::from_bits_retain(mask))?;
        Ok(GuestStatx::from(&sx))
    }

    fn getdents64(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        crate::host::getdents64(self.fd.as_fd(), buf)
    }

    fn ioctl_get(&self, cmd: u32) -> Result<(Vec<u8>, u64), Errno> {
        match u64::from(cmd) {
            libc::TCGETS => Ok((crate::host::tcgets(self.fd.as_fd())?.to_vec(), 0)),
            libc::TIOCGWINSZ => {
                let ws = rustix::termios::tcgetwinsize(&self.fd)?;
                let raw = [ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel];
                Ok((bytemuck::cast_slice(&raw).to_vec(), 0))
            }
            libc::FIONREAD => {
                let n = rustix::io::ioctl_fionread(&self.fd)?;
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                Ok((n.to_ne_bytes().to_vec(), 0))
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn host_never_blocks(&self) -> bool {
        self.pipe_flags.is_some()
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        if let Some(f) = &self.pipe_flags {
            return Ok(f.load(Ordering::Relaxed));
        }
        Ok(rustix::fs::fcntl_getfl(&self.fd)?.bits())
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        if let Some(f) = &self.pipe_flags {
            // Neither flag changes what the host pipe does: O_APPEND means
            // nothing to a pipe, and O_NONBLOCK is the sentry's to honour.
            let _ = f.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cur| {
                Some((cur & !SETFL_MASK) | (flags & SETFL_MASK))
            });
            return Ok(());
        }
        let cur = rustix::fs::fcntl_getfl(&self.fd)?.bits();
        let new = (cur & !SETFL_MASK) | (flags & SETFL_MASK);
        rustix::fs::fcntl_setfl(&self.fd, rustix::fs::OFlags::from_bits_retain(new))?;
        Ok(())
    }

    fn guest_path(&self) -> Option<&[u8]> {
        self.path.as_deref()
    }

    /// A caller's stream (or a host pipe) has no guest path: it shows as
    /// the host names it (`pipe:[ino]`, `/dev/pts/0`...), as it would to
    /// the same program run natively with these streams.
    fn link_name(&self) -> Vec<u8> {
        if let Some(p) = &self.path {
            return p.clone();
        }
        let link = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        rustix::fs::readlink(link, Vec::new())
            .map(|c| c.into_bytes())
            .unwrap_or_else(|_| b"anon_inode:[unknown]".to_vec())
    }

    fn dir_path(&self) -> Option<&[u8]> {
        (self.kind == libc::S_IFDIR)
            .then_some(self.path.as_deref())
            .flatten()
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        if self.kind != libc::S_IFLNK {
            return Err(Errno::ENOENT);
        }
        Ok(rustix::fs::readlinkat(&self.fd, c"", Vec::new())?.into_bytes())
    }

    fn access(&self, mode: u32, eaccess: bool) -> Result<(), Errno> {
        crate::host::access_fd(self.fd.as_fd(), mode, eaccess)?;
        if !self.may_write && mode & libc::W_OK as u32 != 0 {
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// The host opens its own /proc/self/fd/N: for a pipe that is the pipe
    /// again, for a caller's file a new description of it. The guest gains
    /// no access this way: the new access mode must be one it already has.
    fn reopen(&self, flags: i32) -> Result<Arc<dyn File>, Errno> {
        let have = rustix::fs::fcntl_getfl(&self.fd)?.bits() as i32 & libc::O_ACCMODE;
        let want = flags & libc::O_ACCMODE;
        let allowed = match want {
            libc::O_RDONLY => have != libc::O_WRONLY,
            libc::O_WRONLY => have != libc::O_RDONLY && self.may_write,
            _ => have == libc::O_RDWR && self.may_write,
        };
        if !allowed {
            return Err(Errno::EACCES);
        }
        let kept = libc::O_ACCMODE | libc::O_APPEND | libc::O_NONBLOCK | libc::O_TRUNC;
        let oflags =
            OFlags::from_bits_retain((flags & kept) as u32) | OFlags::CLOEXEC | OFlags::NOCTTY;
        let link = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let fd = retry_on_intr(|| rustix::fs::open(link.as_str(), oflags, Mode::empty()))?;
        Ok(Arc::new(HostFile::from_stream(fd)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_self() -> HostFile {
        let exe = std::env::current_exe().unwrap();
        let fd = rustix::fs::open(
            &exe,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        HostFile::from_tree(fd, b"/test-binary".to_vec(), libc::S_IFREG, false)
    }

    #[test]
    fn reads_seeks_and_preads_through_the_host() {
        let f = open_self();
        let mut head = [0u8; 4];
        assert_eq!(f.read(&mut head), Ok(4));
        assert_eq!(&head, b"\x7fELF");
        assert_eq!(f.seek(0, libc::SEEK_CUR), Ok(4));
        let mut one = [0u8; 1];
        assert_eq!(f.pread(&mut one, 1), Ok(1));
        assert_eq!(one[0], b'E');
        assert_eq!(f.seek(0, libc::SEEK_CUR), Ok(4), "pread kept the offset");
        assert_eq!(f.seek(-1, libc::SEEK_SET), Err(Errno::EINVAL));
        assert_eq!(f.seek(0, 99), Err(Errno::EINVAL));
        let size = f.stat().unwrap().size as u64;
        assert_eq!(f.seek(0, libc::SEEK_END), Ok(size));
    }

    #[test]
    fn tree_files_are_read_only() {
        let f = open_self();
        assert_eq!(f.write(b"x"), Err(Errno::EBADF));
        assert_eq!(f.pwrite(b"x", 0), Err(Errno::EBADF));
        assert_eq!(f.truncate(0), Err(Errno::EINVAL));
        assert_eq!(f.access(libc::R_OK as u32, false), Ok(()));
        assert_eq!(f.access(libc::W_OK as u32, false), Err(Errno::EROFS));
        assert_eq!(f.status_flags().unwrap() & libc::O_ACCMODE as u32, 0);
        assert_eq!(f.getdents64(&mut [0u8; 1024]), Err(Errno::ENOTDIR));
        assert_eq!(f.ioctl_get(libc::TCGETS as u32), Err(Errno::ENOTTY));
        assert_eq!(f.readlink(), Err(Errno::ENOENT));
        assert!(f.dir_path().is_none());
        assert_eq!(f.guest_path(), Some(&b"/test-binary"[..]));
    }

    #[test]
    fn setfl_changes_only_nonblock_and_append() {
        let f = open_self();
        f.set_status_flags((libc::O_NONBLOCK | libc::O_RDWR) as u32)
            .unwrap();
        let fl = f.status_flags().unwrap();
        assert_ne!(fl & libc::O_NONBLOCK as u32, 0);
        assert_eq!(fl & libc::O_ACCMODE as u32, libc::O_RDONLY as u32);
        f.set_status_flags(0).unwrap();
        assert_eq!(f.status_flags().unwrap() & libc::O_NONBLOCK as u32, 0);
    }

    #[test]
    fn fionread_reports_what_is_left() {
        let f = open_self();
        let size = f.stat().unwrap().size;
        f.seek(10, libc::SEEK_SET).unwrap();
        let (bytes, rc) = f.ioctl_get(libc::FIONREAD as u32).unwrap();
        assert_eq!(rc, 0);
        let left = i32::from_ne_bytes(bytes.try_into().unwrap());
        assert_eq!(i64::from(left), (size - 10).min(i64::from(i32::MAX)));
    }
}
