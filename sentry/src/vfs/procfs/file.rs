//! An open procfs file: the text generated at open, served from memory, so
//! that reads in small pieces and seeks all see one consistent snapshot (as
//! Linux's seq_file gives a reader who reads from the start).

use std::sync::{Arc, Mutex};

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::inode::{read_mem, Inode};
use crate::vfs::stat::GuestStat;

/// The kernel's `O_LARGEFILE` on x86-64, which every 64-bit open gets.
const O_LARGEFILE: u32 = 0o100000;

pub struct ProcFile {
    node: Arc<Inode>,
    path: Vec<u8>,
    text: Vec<u8>,
    flags: u32,
    pos: Mutex<u64>,
}

impl ProcFile {
    pub fn new(node: Arc<Inode>, path: Vec<u8>, text: Vec<u8>, flags: i32) -> Self {
        ProcFile {
            node,
            path,
            text,
            flags: (flags & libc::O_ACCMODE) as u32 | O_LARGEFILE,
            pos: Mutex::new(0),
        }
    }

    fn readable(&self) -> Result<(), Errno> {
        if self.flags & libc::O_ACCMODE as u32 == libc::O_WRONLY as u32 {
            return Err(Errno::EBADF);
        }
        Ok(())
    }
}

impl File for ProcFile {
    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.readable()?;
        let mut pos = self.pos.lock().unwrap_or_else(|e| e.into_inner());
        let n = read_mem(&self.text, buf, *pos);
        *pos += n as u64;
        Ok(n)
    }

    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.readable()?;
        if offset > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        Ok(read_mem(&self.text, buf, offset))
    }

    /// Writes fail: nothing here can be changed (root, whom the mode does
    /// not stop from opening for writing, gets Linux's EINVAL).
    fn write(&self, _buf: &[u8]) -> Result<usize, Errno> {
        if self.flags & libc::O_ACCMODE as u32 == libc::O_RDONLY as u32 {
            return Err(Errno::EBADF);
        }
        Err(Errno::EINVAL)
    }

    fn pwrite(&self, buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        self.write(buf)
    }

    /// `SEEK_SET` and `SEEK_CUR` only: a generated file has no known end
    /// (seq_file's rule).
    fn seek(&self, offset: i64, whence: i32) -> Result<u64, Errno> {
        let mut pos = self.pos.lock().unwrap_or_else(|e| e.into_inner());
        let base = match whence {
            libc::SEEK_SET => 0,
            libc::SEEK_CUR => *pos as i64,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EINVAL)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new as u64;
        Ok(*pos)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(self.node.stat())
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        Ok(self.flags)
    }

    fn guest_path(&self) -> Option<&[u8]> {
        Some(&self.path)
    }

    fn inode(&self) -> Option<Arc<Inode>> {
        Some(self.node.clone())
    }
}
