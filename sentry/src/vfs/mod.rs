//! The guest's view of files. For now: the host tree under `--root`, read
//! only, and the caller's standard streams.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};

use crate::errno::Errno;

/// Where a task's path lookups start: the sandbox root and its cwd.
pub struct FsContext {
    root: OwnedFd,
    /// Absolute guest path of the working directory.
    cwd: String,
}

impl FsContext {
    pub fn new(root: &Path, cwd: &str) -> Result<Self, Errno> {
        let root = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(FsContext {
            root,
            cwd: cwd.to_string(),
        })
    }

    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Open `path` (relative to the cwd) inside the root. Symlinks and `..`
    /// are resolved by the host kernel as if the root were `/`, so nothing
    /// outside it is reachable.
    fn open_in_root(&self, path: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut full = Vec::with_capacity(self.cwd.len() + path.len() + 1);
        if path[0] != b'/' {
            full.extend_from_slice(self.cwd.as_bytes());
            full.push(b'/');
        }
        full.extend_from_slice(path);
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        Ok(openat2(
            &self.root,
            full.as_slice(),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            resolve,
        )?)
    }

    /// Read the whole of an executable for the loader; checks it is a
    /// regular file the caller may execute.
    pub fn open_executable(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let fd = self.open_in_root(path, OFlags::RDONLY)?;
        let st = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(Errno::EACCES);
        }
        if st.st_mode & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        let mut f = std::fs::File::from(fd);
        let mut bytes = Vec::with_capacity(st.st_size as usize);
        std::io::Read::read_to_end(&mut f, &mut bytes)?;
        let _ = CWD;
        Ok(bytes)
    }
}

/// The task's open files. Placeholder: the caller's three standard streams.
pub struct FdTable {
    stdio: [bool; 3],
}

impl FdTable {
    pub fn with_host_stdio() -> Self {
        FdTable { stdio: [true; 3] }
    }

    /// Write to a guest fd (only the standard streams for now).
    pub fn write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        match fd {
            1 | 2 if self.stdio[fd as usize] => {
                let out = if fd == 1 {
                    rustix::stdio::stdout()
                } else {
                    rustix::stdio::stderr()
                };
                Ok(rustix::io::write(out, buf)?)
            }
            _ => Err(Errno::EBADF),
        }
    }
}

/// `mmap` of a file: a private copy of its bytes.
pub fn mmap_file_copy(
    _task: &mut crate::kernel::Task,
    _place: crate::mm::Placement,
    _len: u64,
    _perms: vmm::Access,
    _fd: i32,
    _offset: u64,
) -> crate::errno::SysResult {
    Err(Errno::ENODEV)
}
