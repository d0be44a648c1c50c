//! The sentry's own inodes: what the in-memory file systems (the overlay's
//! upper layer, tmpfs, devfs) are made of. A directory is a map of names; a
//! regular file is either still its host file (an overlay lower file that
//! nobody wrote) or a byte vector; a symbolic link is its target text.
//!
//! Names hold `Arc<Inode>`s, and so do open files: an unlinked file lives
//! on while it is open, and a hard link is a second name for one inode.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::errno::Errno;
use crate::vfs::stat::GuestStat;

/// Inode numbers of files made in the sentry start here, far above what
/// host file systems hand out, so they never collide with a lower file's.
const FIRST_SENTRY_INO: u64 = 1 << 48;

/// A fresh inode number for a file made in the sentry.
pub fn next_ino() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(FIRST_SENTRY_INO);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A point in time as stat reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Time {
    pub sec: i64,
    pub nsec: i64,
}

impl Time {
    pub fn now() -> Self {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
        Time {
            sec: t.tv_sec,
            nsec: t.tv_nsec,
        }
    }
}

/// What stat reports of an inode apart from its size and identity.
#[derive(Clone, Copy, Debug)]
pub struct Meta {
    /// Type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    pub rdev: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
}

impl Meta {
    /// A new file's metadata: `mode` with type bits, owned by `uid:gid`,
    /// all times now.
    pub fn new(mode: u32, uid: u32, gid: u32) -> Self {
        let now = Time::now();
        Meta {
            mode,
            uid,
            gid,
            nlink: if mode & libc::S_IFMT == libc::S_IFDIR {
                2
            } else {
                1
            },
            rdev: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// The metadata of a host file, as the lower layer shows it.
    pub fn from_host(st: &rustix::fs::Stat) -> Self {
        let t = |sec: i64, nsec| Time {
            sec,
            nsec: i64::try_from(nsec).unwrap_or(0),
        };
        Meta {
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            nlink: st.st_nlink,
            rdev: st.st_rdev,
            atime: t(st.st_atime, st.st_atime_nsec),
            mtime: t(st.st_mtime, st.st_mtime_nsec),
            ctime: t(st.st_ctime, st.st_ctime_nsec),
        }
    }
}

/// One name in a directory.
#[derive(Clone)]
pub enum Entry {
    Node(Arc<Inode>),
    /// The overlay's mark that a lower file of this name was removed.
    Whiteout,
}

/// A directory's contents: the names it holds in memory and, in the
/// overlay, the host directory (a guest path under the root) whose names
/// show through where the map says nothing.
#[derive(Default)]
pub struct Dir {
    pub entries: BTreeMap<Vec<u8>, Entry>,
    pub lower: Option<Vec<u8>>,
}

/// A regular file's bytes.
pub enum Data {
    /// Not copied up yet: the host file at this guest path, of this size.
    Lower {
        path: Vec<u8>,
        size: u64,
    },
    Mem(Vec<u8>),
    /// In memory-file pages, since the file was first mapped shared
    /// (`page_cache.rs`): its mappings hold these same pages.
    Paged(Arc<crate::vfs::page_cache::FilePages>),
}

impl Data {
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> u64 {
        match self {
            Data::Lower { size, .. } => *size,
            Data::Mem(v) => v.len() as u64,
            Data::Paged(p) => p.len(),
        }
    }
}

/// The character devices devfs offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
    Urandom,
    /// The caller's terminal, reopened from the host's `/dev/tty`.
    Tty,
}

pub enum Body {
    Dir(RwLock<Dir>),
    Reg(RwLock<Data>),
    Symlink(Vec<u8>),
    Device(Device),
    /// A named pipe made in the sentry's tree (`fifo.rs`).
    Fifo(crate::vfs::fifo::Fifo),
    /// A special file of the lower layer (FIFO, socket, device), opened on
    /// the host by this guest path when the guest opens it.
    Host(Vec<u8>),
    /// A procfs directory or file: its contents are generated on demand.
    Proc(crate::vfs::procfs::ProcNode),
    /// An open file without a name in the tree (a pipe, a caller's stream),
    /// reached by following its /proc/PID/fd/N link.
    Opened(Arc<dyn crate::vfs::File>),
    /// The name of a bound AF_UNIX socket (`net::names` finds the socket
    /// by this inode's number); opening it is ENXIO, as on Linux.
    Socket,
}

pub struct Inode {
    pub ino: u64,
    /// The `st_dev` of the mount this inode belongs to.
    pub dev: u64,
    meta: Mutex<Meta>,
    pub body: Body,
    /// Extended attributes (`vfs/xattr.rs`).
    xattrs: Mutex<crate::vfs::xattr::Xattrs>,
    /// A memfd's seals (`vfs/seals.rs`); other files take none.
    pub seals: Option<crate::vfs::seals::Seals>,
}

impl Inode {
    pub fn new(ino: u64, dev: u64, meta: Meta, body: Body) -> Arc<Self> {
        Self::new_sealable(ino, dev, meta, body, None)
    }

    /// An inode that may carry seals (a memfd's).
    pub fn new_sealable(
        ino: u64,
        dev: u64,
        meta: Meta,
        body: Body,
        seals: Option<crate::vfs::seals::Seals>,
    ) -> Arc<Self> {
        Arc::new(Inode {
            ino,
            dev,
            meta: Mutex::new(meta),
            body,
            xattrs: Mutex::default(),
            seals,
        })
    }

    /// An empty in-memory directory.
    pub fn new_dir(dev: u64, meta: Meta, lower: Option<Vec<u8>>) -> Arc<Self> {
        let dir = Dir {
            entries: BTreeMap::new(),
            lower,
        };
        Self::new(next_ino(), dev, meta, Body::Dir(RwLock::new(dir)))
    }

    pub fn xattrs(&self) -> MutexGuard<'_, crate::vfs::xattr::Xattrs> {
        self.xattrs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn meta(&self) -> MutexGuard<'_, Meta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `S_IFMT` bits.
    pub fn kind(&self) -> u32 {
        self.meta().mode & libc::S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        match &self.body {
            Body::Dir(_) => true,
            Body::Proc(n) => n.is_dir(),
            _ => false,
        }
    }

    pub fn dir(&self) -> Result<RwLockReadGuard<'_, Dir>, Errno> {
        match &self.body {
            Body::Dir(d) => Ok(d.read().unwrap_or_else(|e| e.into_inner())),
            _ => Err(Errno::ENOTDIR),
        }
    }

    pub fn dir_mut(&self) -> Result<RwLockWriteGuard<'_, Dir>, Errno> {
        match &self.body {
            Body::Dir(d) => Ok(d.write().unwrap_or_else(|e| e.into_inner())),
            // procfs has no names to add or take away.
            Body::Proc(_) => Err(Errno::EPERM),
            _ => Err(Errno::ENOTDIR),
        }
    }

    pub fn data(&self) -> Option<RwLockReadGuard<'_, Data>> {
        match &self.body {
            Body::Reg(d) => Some(d.read().unwrap_or_else(|e| e.into_inner())),
            _ => None,
        }
    }

    pub fn data_mut(&self) -> Option<RwLockWriteGuard<'_, Data>> {
        match &self.body {
            Body::Reg(d) => Some(d.write().unwrap_or_else(|e| e.into_inner())),
            _ => None,
        }
    }

    pub fn symlink_target(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Symlink(t) => Some(t),
            _ => None,
        }
    }

    /// Set modification and change times to now (after a write).
    pub fn touch_modified(&self) {
        let now = Time::now();
        let mut m = self.meta();
        m.mtime = now;
        m.ctime = now;
    }

    /// Set the change time to now (after a metadata change).
    pub fn touch_changed(&self) {
        self.meta().ctime = Time::now();
    }

    pub fn stat(&self) -> GuestStat {
        let m = *self.meta();
        let size = match &self.body {
            Body::Reg(_) => self.data().map_or(0, |d| d.len()),
            Body::Symlink(t) => t.len() as u64,
            Body::Dir(_) => 4096,
            _ => 0,
        };
        GuestStat {
            dev: self.dev,
            ino: self.ino,
            nlink: m.nlink,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            pad0: 0,
            rdev: m.rdev,
            size: size as i64,
            blksize: 4096,
            blocks: size.div_ceil(512) as i64,
            atime: m.atime.sec,
            atime_nsec: m.atime.nsec,
            mtime: m.mtime.sec,
            mtime_nsec: m.mtime.nsec,
            ctime: m.ctime.sec,
            ctime_nsec: m.ctime.nsec,
            unused: [0; 3],
        }
    }
}

/// Read from in-memory bytes at `offset`: what is there, 0 at or past the end.
pub fn read_mem(bytes: &[u8], buf: &mut [u8], offset: u64) -> usize {
    let Ok(start) = usize::try_from(offset) else {
        return 0;
    };
    if start >= bytes.len() {
        return 0;
    }
    let n = buf.len().min(bytes.len() - start);
    buf[..n].copy_from_slice(&bytes[start..start + n]);
    n
}

/// Largest file the sentry keeps in memory (Linux's MAX_LFS_FILESIZE is
/// larger, but a byte vector this big would be the sandbox's undoing).
pub const MAX_MEM_FILE: u64 = 1 << 40;

/// Write into in-memory bytes at `offset`, growing them (holes read as
/// zero). EFBIG past `MAX_MEM_FILE`.
pub fn write_mem(bytes: &mut Vec<u8>, buf: &[u8], offset: u64) -> Result<usize, Errno> {
    let end = offset
        .checked_add(buf.len() as u64)
        .filter(|&e| e <= MAX_MEM_FILE)
        .ok_or(Errno::EFBIG)?;
    let (start, end) = (offset as usize, end as usize);
    if bytes.len() < end {
        bytes
            .try_reserve(end - bytes.len())
            .map_err(|_| Errno::ENOSPC)?;
        bytes.resize(end, 0);
    }
    bytes[start..end].copy_from_slice(buf);
    Ok(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reads_and_writes_grow_and_stop_at_the_end() {
        let mut v = Vec::new();
        assert_eq!(write_mem(&mut v, b"abc", 2), Ok(3));
        assert_eq!(v, b"\0\0abc");
        let mut buf = [9u8; 4];
        assert_eq!(read_mem(&v, &mut buf, 3), 2);
        assert_eq!(&buf[..2], b"bc");
        assert_eq!(read_mem(&v, &mut buf, 5), 0);
        assert_eq!(read_mem(&v, &mut buf, u64::MAX), 0);
        assert_eq!(write_mem(&mut v, b"x", MAX_MEM_FILE), Err(Errno::EFBIG));
        assert_eq!(write_mem(&mut v, b"x", u64::MAX), Err(Errno::EFBIG));
    }

    #[test]
    fn new_inodes_get_distinct_numbers_and_sane_stat() {
        let a = Inode::new_dir(7, Meta::new(libc::S_IFDIR | 0o755, 1, 2), None);
        let b = Inode::new_dir(7, Meta::new(libc::S_IFDIR | 0o755, 1, 2), None);
        assert_ne!(a.ino, b.ino);
        let st = a.stat();
        assert!(st.is_dir());
        assert_eq!((st.dev, st.uid, st.gid, st.nlink), (7, 1, 2, 2));
        assert!(a.dir().is_ok());
        assert!(a.data().is_none());
    }
}
