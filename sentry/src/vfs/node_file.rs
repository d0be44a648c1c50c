//! An open file description over one of the sentry's inodes: its own
//! offset and status flags, as Linux keeps them per `open`.
//!
//! Reads and writes of in-memory files touch only the bytes asked for. A
//! lower file nobody has written yet is read through a host descriptor
//! opened (inside the root) when the guest opened it; once the file is
//! copied up, every description reads the copy.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::host_file::HostFile;
use crate::vfs::inode::{read_mem, write_mem, Body, Data, Inode};
use crate::vfs::procfs::NoProcs;
use crate::vfs::stat::GuestStat;
use crate::vfs::tree::Vfs;
use crate::vfs::{devfs, HostFs};

/// Status flags `F_SETFL` may change.
const SETFL_MASK: u32 = (libc::O_APPEND | libc::O_NONBLOCK | libc::O_NOATIME) as u32;
/// The kernel's `O_LARGEFILE` on x86-64, which every 64-bit open gets.
const O_LARGEFILE: u32 = 0o100000;

/// One directory entry as getdents64 reports it.
type DirEnt = (u64, u8, Vec<u8>);

pub struct NodeFile {
    vfs: Arc<Vfs>,
    node: Arc<Inode>,
    /// The canonical guest path it was opened by.
    path: Vec<u8>,
    flags: Mutex<u32>,
    pos: Mutex<u64>,
    /// The host file under a lower regular file, for reading it before
    /// copy-up.
    host: Option<HostFile>,
    /// A directory's entries, taken at the first getdents64 (and again
    /// after a rewind), so the offset stays meaningful while it changes.
    listing: Mutex<Option<Vec<DirEnt>>>,
    /// Whether a rewind takes the listing again; not for procfs
    /// directories, whose listing only the opener's view could produce.
    relist: bool,
    /// For a file with no name in the tree (a memfd): what its fd link
    /// reads as. It has no guest path, so following the link reopens it.
    anon_name: Option<Vec<u8>>,
}

impl NodeFile {
    /// Open `node` (reached by `path`) with open(2) `flags`; the caller has
    /// done the checks and the copy-up a writable open needs.
    pub fn new(vfs: Arc<Vfs>, node: Arc<Inode>, path: Vec<u8>, flags: i32) -> Result<Self, Errno> {
        let path_only = flags & libc::O_PATH != 0;
        let kept = if path_only {
            libc::O_PATH as u32
        } else {
            let keep = libc::O_ACCMODE
                | libc::O_APPEND
                | libc::O_NONBLOCK
                | libc::O_NOATIME
                | libc::O_DIRECT
                | libc::O_SYNC
                | libc::O_DSYNC;
            (flags & keep) as u32 | O_LARGEFILE
        };
        let host = match node.data().as_deref() {
            Some(Data::Lower { path, .. }) if !path_only => {
                Some(vfs.host.open(path, libc::O_RDONLY)?)
            }
            _ => None,
        };
        Ok(NodeFile {
            vfs,
            node,
            path,
            flags: Mutex::new(kept),
            pos: Mutex::new(0),
            host,
            listing: Mutex::new(None),
            relist: true,
            anon_name: None,
        })
    }

    /// A file without a name in the tree whose fd link reads `name`.
    pub fn with_anon_name(mut self, name: Vec<u8>) -> Self {
        self.anon_name = Some(name);
        self
    }

    /// A directory whose entries (without `.` and `..`) were taken at open.
    pub fn with_listing(mut self, entries: Vec<DirEnt>) -> Self {
        let mut all = vec![
            (self.node.ino, libc::DT_DIR, b".".to_vec()),
            (self.node.ino, libc::DT_DIR, b"..".to_vec()),
        ];
        all.extend(entries);
        self.listing = Mutex::new(Some(all));
        self.relist = false;
        self
    }

    fn flags(&self) -> u32 {
        *self.flags.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pos(&self) -> MutexGuard<'_, u64> {
        self.pos.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn readable(&self) -> Result<(), Errno> {
        let f = self.flags();
        let mode = f & libc::O_ACCMODE as u32;
        if f & libc::O_PATH as u32 != 0 || mode == libc::O_WRONLY as u32 {
            return Err(Errno::EBADF);
        }
        Ok(())
    }

    fn writable(&self) -> Result<(), Errno> {
        let f = self.flags();
        let mode = f & libc::O_ACCMODE as u32;
        if f & libc::O_PATH as u32 != 0 || mode == libc::O_RDONLY as u32 {
            return Err(Errno::EBADF);
        }
        Ok(())
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        match &self.node.body {
            Body::Reg(_) => {
                let data = self.node.data().ok_or(Errno::EINVAL)?;
                match &*data {
                    Data::Mem(bytes) => Ok(read_mem(bytes, buf, offset)),
                    Data::Paged(pages) => pages.read(buf, offset),
                    Data::Lower { .. } => match &self.host {
                        Some(h) => h.pread(buf, offset),
                        None => Err(Errno::EBADF),
                    },
                }
            }
            Body::Dir(_) => Err(Errno::EISDIR),
            Body::Device(d) => devfs::read(*d, buf),
            _ => Err(Errno::EINVAL),
        }
    }

    fn write_at(&self, buf: &[u8], offset: Option<u64>) -> Result<(usize, u64), Errno> {
        match &self.node.body {
            Body::Reg(_) => {
                let mut data = self.node.data_mut().ok_or(Errno::EINVAL)?;
                let at = match offset {
                    Some(o) if self.flags() & libc::O_APPEND as u32 == 0 => o,
                    _ => data.len(),
                };
                if let Some(seals) = &self.node.seals {
                    seals.check_write(at, buf.len(), data.len())?;
                }
                let n = match &mut *data {
                    Data::Mem(bytes) => write_mem(bytes, buf, at)?,
                    Data::Paged(pages) => pages.write(buf, at)?,
                    // Writable opens copy up first.
                    Data::Lower { .. } => return Err(Errno::EBADF),
                };
                drop(data);
                if n > 0 {
                    self.node.touch_modified();
                }
                Ok((n, at + n as u64))
            }
            Body::Device(d) => Ok((devfs::write(*d, buf)?, 0)),
            Body::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    fn getdents_into(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut listing = self.listing.lock().unwrap_or_else(|e| e.into_inner());
        if listing.is_none() {
            let mut all = vec![
                (self.node.ino, libc::DT_DIR, b".".to_vec()),
                (self.node.ino, libc::DT_DIR, b"..".to_vec()),
            ];
            all.extend(self.vfs.list(&self.node, &NoProcs)?);
            *listing = Some(all);
        }
        let entries = listing.as_ref().map_or(&[][..], |l| &l[..]);
        let mut pos = self.pos();
        let mut used = 0;
        while let Some((ino, kind, name)) = entries.get(*pos as usize) {
            let reclen = (19 + name.len() + 1).next_multiple_of(8);
            if used + reclen > buf.len() {
                if used == 0 {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            let rec = &mut buf[used..used + reclen];
            rec.fill(0);
            rec[..8].copy_from_slice(&ino.to_ne_bytes());
            rec[8..16].copy_from_slice(&(*pos as i64 + 1).to_ne_bytes());
            rec[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            rec[18] = *kind;
            rec[19..19 + name.len()].copy_from_slice(name);
            used += reclen;
            *pos += 1;
        }
        Ok(used)
    }
}

impl File for NodeFile {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.readable()?;
        let mut pos = self.pos();
        let n = self.read_at(buf, *pos)?;
        *pos += n as u64;
        Ok(n)
    }

    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.readable()?;
        if matches!(self.node.body, Body::Device(_)) {
            return self.read_at(buf, offset);
        }
        if !matches!(self.node.body, Body::Reg(_) | Body::Dir(_)) {
            return Err(Errno::ESPIPE);
        }
        if offset > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        self.read_at(buf, offset)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.writable()?;
        let mut pos = self.pos();
        let (n, end) = self.write_at(buf, Some(*pos))?;
        if matches!(self.node.body, Body::Reg(_)) {
            *pos = end;
        }
        Ok(n)
    }

    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.writable()?;
        if offset > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        // Linux appends even a pwrite to an O_APPEND file.
        Ok(self.write_at(buf, Some(offset))?.0)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        if self.writable().is_err() || !matches!(self.node.body, Body::Reg(_)) {
            return Err(Errno::EINVAL);
        }
        truncate_mem(&self.node, len)
    }

    /// A memory file has every byte it holds: allocating only grows it.
    fn allocate(&self, end: u64, keep_size: bool) -> Result<(), Errno> {
        self.writable()?;
        if !matches!(self.node.body, Body::Reg(_)) {
            return Err(Errno::ENODEV);
        }
        if end > crate::vfs::inode::MAX_MEM_FILE {
            return Err(Errno::EFBIG);
        }
        if keep_size || end <= self.node.stat().size as u64 {
            return Ok(());
        }
        truncate_mem(&self.node, end)
    }

    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        if self.flags() & libc::O_PATH as u32 != 0 {
            return Err(Errno::EBADF);
        }
        if matches!(self.node.body, Body::Device(_)) {
            return Ok(0);
        }
        let mut pos = self.pos();
        let size = self.node.stat().size;
        let base = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => *pos as i64,
            libc::SEEK_END => size,
            // A memory file has no holes but its end.
            libc::SEEK_DATA | libc::SEEK_HOLE if self.node.is_dir() => return Err(Errno::EINVAL),
            libc::SEEK_DATA if offset >= size => return Err(Errno::ENXIO),
            libc::SEEK_DATA => 0,
            libc::SEEK_HOLE if offset >= size => return Err(Errno::ENXIO),
            libc::SEEK_HOLE => return Ok(size as u64).inspect(|&s| *pos = s),
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        if self.node.is_dir() && new == 0 && self.relist {
            // rewinddir: see the directory as it is now.
            *self.listing.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        *pos = new as u64;
        Ok(new as u64)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(self.node.stat())
    }

    fn getdents64(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.flags() & libc::O_PATH as u32 != 0 {
            return Err(Errno::EBADF);
        }
        if !self.node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.getdents_into(buf)
    }

    fn ioctl_get(&self, cmd: u32) -> Result<(Vec<u8>, u64), Errno> {
        match (u64::from(cmd), &self.node.body) {
            // What is left to read.
            (libc::FIONREAD, Body::Reg(_)) => {
                let left = (self.node.stat().size as u64).saturating_sub(*self.pos());
                let n = i32::try_from(left).unwrap_or(i32::MAX);
                Ok((n.to_ne_bytes().to_vec(), 0))
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags())
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        let mut f = self.flags.lock().unwrap_or_else(|e| e.into_inner());
        *f = (*f & !SETFL_MASK) | (flags & SETFL_MASK);
        Ok(())
    }

    fn guest_path(&self) -> Option<&[u8]> {
        match self.anon_name {
            Some(_) => None,
            None => Some(&self.path),
        }
    }

    fn link_name(&self) -> Vec<u8> {
        self.anon_name.clone().unwrap_or_else(|| self.path.clone())
    }

    /// Only a file without a name is reopened this way (through its fd
    /// link): a new description of the same inode, as Linux's memfds.
    fn reopen(&self, flags: i32) -> Result<Arc<dyn File>, Errno> {
        let Some(name) = &self.anon_name else {
            return Err(Errno::ENXIO);
        };
        let want = match flags & libc::O_ACCMODE {
            libc::O_RDONLY => libc::R_OK,
            libc::O_WRONLY => libc::W_OK,
            _ => libc::R_OK | libc::W_OK,
        };
        self.access(want as u32, false)?;
        if flags & libc::O_TRUNC != 0 && flags & libc::O_ACCMODE != libc::O_RDONLY {
            truncate_mem(&self.node, 0)?;
        }
        let f = NodeFile::new(
            self.vfs.clone(),
            self.node.clone(),
            self.path.clone(),
            flags,
        )?;
        Ok(Arc::new(f.with_anon_name(name.clone())))
    }

    fn dir_path(&self) -> Option<&[u8]> {
        self.node.is_dir().then_some(&self.path[..])
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.node
            .symlink_target()
            .map(<[u8]>::to_vec)
            .ok_or(Errno::ENOENT)
    }

    fn access(&self, mode: u32, _eaccess: bool) -> Result<(), Errno> {
        let (uid, gid) = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        crate::vfs::access::check(&self.node, mode, uid, gid)
    }

    fn inode(&self) -> Option<Arc<Inode>> {
        Some(self.node.clone())
    }
}

/// Resize an in-memory (copied-up) regular file.
pub fn truncate_mem(node: &Inode, len: u64) -> Result<(), Errno> {
    if len > crate::vfs::inode::MAX_MEM_FILE {
        return Err(Errno::EFBIG);
    }
    let mut data = node.data_mut().ok_or(Errno::EINVAL)?;
    if let Some(seals) = &node.seals {
        seals.check_resize(data.len(), len)?;
    }
    match &mut *data {
        Data::Mem(bytes) => bytes.resize(len as usize, 0),
        Data::Paged(pages) => pages.truncate(len)?,
        Data::Lower { .. } => return Err(Errno::EINVAL),
    }
    drop(data);
    node.touch_modified();
    Ok(())
}

/// Replace a lower file's bytes by an in-memory copy, the first time it is
/// to change; nothing ever writes the host file.
pub fn copy_up(host: &HostFs, node: &Inode) -> Result<(), Errno> {
    let Some(mut data) = node.data_mut() else {
        return Ok(());
    };
    if let Data::Lower { path, .. } = &*data {
        let bytes = host.read_file(path)?;
        *data = Data::Mem(bytes);
    }
    Ok(())
}
