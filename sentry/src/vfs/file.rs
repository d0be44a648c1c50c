//! An open file description: what a guest fd refers to. Several fds (after
//! `dup`) share one, and with it the offset and status flags.

use crate::errno::Errno;
use crate::vfs::stat::{GuestStat, GuestStatx};

/// Operations on an open file. Buffers are sentry memory: the system-call
/// layer copies to and from guest memory. Every method has a default that
/// answers as Linux does for a file that lacks the operation, so a new kind
/// of file implements only what it supports.
pub trait File: Send + Sync {
    /// The host descriptor behind a file whose readiness only the host
    /// knows (the caller's terminal, a host pipe); `None` for files the
    /// sentry holds, which are always ready like Linux's regular files.
    fn host_stream(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// Whether `read` and `write` of this host stream never block on the
    /// host, whatever the guest's O_NONBLOCK (the sentry's own pipes): they
    /// answer EAGAIN instead, and a caller honouring a blocking guest waits
    /// on `host_stream()` and tries again. Where false, a host stream
    /// blocks as the guest asked, so callers wait for readiness first.
    fn host_never_blocks(&self) -> bool {
        false
    }

    /// Whether read and write on this file fail at once, with this error,
    /// though it has a host stream to poll (a pidfd): no caller waits for
    /// the stream first.
    fn refuses_io(&self) -> Option<Errno> {
        None
    }

    /// The host descriptor of the caller's terminal, if this file is it:
    /// its job control is the sentry's (`kernel::tty_jobs`), its settings
    /// the host's.
    fn terminal(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// Read at the current offset, advancing it.
    fn read(&self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// Read at `offset` without moving the file offset.
    fn pread(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    /// Write at the current offset (or the end, for `O_APPEND`).
    fn write(&self, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    /// Write at `offset` without moving the file offset.
    fn pwrite(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    /// `ftruncate(len)`: EINVAL unless the file is open for writing and
    /// can be resized.
    fn truncate(&self, _len: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }

    /// `fallocate(mode 0 or FALLOC_FL_KEEP_SIZE)` up to byte `end`: the
    /// file is at least `end` long afterwards unless `keep_size`. Files
    /// whose file system cannot allocate give EOPNOTSUPP.
    fn allocate(&self, _end: u64, _keep_size: bool) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    /// `lseek(offset, whence)`; returns the new offset.
    fn seek(&self, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn stat(&self) -> Result<GuestStat, Errno>;

    /// `statx` of this file: `mask` is the guest's `STATX_*` request,
    /// `sync` its `AT_STATX_*` flags.
    fn statx(&self, _mask: u32, _sync: u32) -> Result<GuestStatx, Errno> {
        let st = self.stat()?;
        Ok(statx_from_stat(&st))
    }

    /// Fill `buf` with `linux_dirent64` records; 0 at the end.
    fn getdents64(&self, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ENOTDIR)
    }

    /// An `ioctl` that only reports something: the bytes to store at the
    /// guest's argument pointer and the call's return value.
    fn ioctl_get(&self, _cmd: u32) -> Result<(Vec<u8>, u64), Errno> {
        Err(Errno::ENOTTY)
    }

    /// Access mode and status flags, as `F_GETFL` reports them.
    fn status_flags(&self) -> Result<u32, Errno>;

    /// `F_SETFL`: change the changeable status flags (`O_APPEND`,
    /// `O_NONBLOCK`); others in `flags` are ignored.
    fn set_status_flags(&self, _flags: u32) -> Result<(), Errno> {
        Ok(())
    }

    /// The guest path this file was opened by, if it has one.
    fn guest_path(&self) -> Option<&[u8]> {
        None
    }

    /// What /proc/PID/fd/N reads as for this file: its guest path, else a
    /// name in Linux's style for files without one.
    fn link_name(&self) -> Vec<u8> {
        self.guest_path()
            .map_or_else(|| b"anon_inode:[unknown]".to_vec(), <[u8]>::to_vec)
    }

    /// The guest path, if this file is a directory: where relative paths
    /// of `*at` calls on it start.
    fn dir_path(&self) -> Option<&[u8]> {
        None
    }

    /// `readlinkat(fd, "")`: the target, if this is an `O_PATH` descriptor
    /// of a symbolic link (ENOENT otherwise, as Linux answers).
    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOENT)
    }

    /// `faccessat2(fd, "", mode, AT_EMPTY_PATH)`.
    fn access(&self, _mode: u32, _eaccess: bool) -> Result<(), Errno> {
        Ok(())
    }

    /// The sentry inode behind this file, for the calls that change one
    /// through a descriptor (fchmod, fchown, futimens, fstatfs); `None`
    /// for host files.
    fn inode(&self) -> Option<std::sync::Arc<crate::vfs::inode::Inode>> {
        None
    }

    /// Open this file afresh with open(2) `flags` (a new open file
    /// description), as opening its /proc/PID/fd/N link does. Files with
    /// nothing to reopen refuse as Linux's anonymous inodes do.
    fn reopen(&self, _flags: i32) -> Result<std::sync::Arc<dyn File>, Errno> {
        Err(Errno::ENXIO)
    }

    /// The concrete file, for calls that work on one kind only
    /// (`epoll_ctl` on an epoll instance); `None` for the rest.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// A `statx` answer built from a `stat` one, for files without a host
/// `statx` behind them.
pub fn statx_from_stat(st: &GuestStat) -> GuestStatx {
    let ts = |sec: i64, nsec: i64| crate::vfs::stat::StatxTimestamp {
        sec,
        nsec: nsec as u32,
        reserved: 0,
    };
    let dev = st.dev;
    let rdev = st.rdev;
    GuestStatx {
        mask: libc::STATX_BASIC_STATS,
        blksize: st.blksize as u32,
        nlink: st.nlink as u32,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode as u16,
        ino: st.ino,
        size: st.size as u64,
        blocks: st.blocks as u64,
        atime: ts(st.atime, st.atime_nsec),
        ctime: ts(st.ctime, st.ctime_nsec),
        mtime: ts(st.mtime, st.mtime_nsec),
        rdev_major: libc::major(rdev),
        rdev_minor: libc::minor(rdev),
        dev_major: libc::major(dev),
        dev_minor: libc::minor(dev),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl File for Fixed {
        fn stat(&self) -> Result<GuestStat, Errno> {
            Ok(GuestStat {
                mode: libc::S_IFIFO | 0o600,
                size: 0,
                dev: libc::makedev(8, 1),
                mtime: 1234,
                mtime_nsec: 5,
                ..Default::default()
            })
        }

        fn status_flags(&self) -> Result<u32, Errno> {
            Ok(libc::O_RDWR as u32)
        }
    }

    #[test]
    fn defaults_answer_like_linux() {
        let f = Fixed;
        assert_eq!(f.read(&mut [0; 4]), Err(Errno::EINVAL));
        assert_eq!(f.pread(&mut [0; 4], 0), Err(Errno::ESPIPE));
        assert_eq!(f.seek(0, libc::SEEK_SET), Err(Errno::ESPIPE));
        assert_eq!(f.getdents64(&mut [0; 64]), Err(Errno::ENOTDIR));
        assert_eq!(f.ioctl_get(libc::TCGETS as u32), Err(Errno::ENOTTY));
        assert_eq!(f.readlink(), Err(Errno::ENOENT));
        assert!(f.dir_path().is_none());
    }

    #[test]
    fn statx_default_comes_from_stat() {
        let sx = Fixed.statx(libc::STATX_BASIC_STATS, 0).unwrap();
        assert_eq!(u32::from(sx.mode), libc::S_IFIFO | 0o600);
        assert_eq!((sx.dev_major, sx.dev_minor), (8, 1));
        assert_eq!((sx.mtime.sec, sx.mtime.nsec), (1234, 5));
    }
}
