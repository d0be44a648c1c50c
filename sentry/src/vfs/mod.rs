//! The guest's view of files: for now the host tree under `--root`, read
//! only (`hostfs`), and the caller's standard streams.
//!
//! - `file`: the `File` trait, one open file description.
//! - `fdtable`: descriptor numbers → files, with close-on-exec flags.
//! - `hostfs`: root-confined lookups and opens on the host tree.
//! - `host_file`: a `File` that passes everything to one host descriptor.
//! - `path`: guest path strings; `stat`: the guest's stat layouts.
//! - `mmap`: file-backed `mmap` as a private copy.

pub mod fdtable;
pub mod file;
pub mod host_file;
pub mod hostfs;
mod mmap;
pub mod path;
pub mod stat;

use std::path::Path;
use std::sync::Arc;

pub use fdtable::FdTable;
pub use file::File;
pub use host_file::HostFile;
pub use hostfs::HostFs;
pub use mmap::{mmap_file, mmap_file_copy};

use crate::errno::Errno;

/// Most bytes one read or write moves between the host and the guest; a
/// larger request is a partial transfer, as Linux allows.
pub const MAX_IO: usize = 1 << 20;

/// Run `f` on a sentry buffer of `min(len, MAX_IO)` bytes, reused from call
/// to call so big transfers do not fault fresh pages in every time. Its
/// contents on entry are unspecified.
pub fn with_io_buffer<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    use std::cell::RefCell;
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let len = len.min(MAX_IO);
    BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        // Nested use: a fresh buffer for the inner call.
        Err(_) => f(&mut vec![0u8; len]),
    })
}

/// Where a task's path lookups happen: the sandbox's file tree (shared by
/// every task of the sandbox) and the task's working directory.
#[derive(Clone)]
pub struct FsContext {
    host: Arc<HostFs>,
    /// Canonical absolute guest path of the working directory.
    cwd: Vec<u8>,
}

impl FsContext {
    /// The tree under host directory `root`, with the guest in `cwd` (an
    /// absolute guest path).
    pub fn new(root: &Path, cwd: &str) -> Result<Self, Errno> {
        Ok(FsContext {
            host: Arc::new(HostFs::new(root)?),
            cwd: path::join(b"/", cwd.as_bytes()),
        })
    }

    pub fn cwd(&self) -> &[u8] {
        &self.cwd
    }

    /// Set the working directory; `cwd` is canonical and absolute.
    pub fn set_cwd(&mut self, cwd: Vec<u8>) {
        self.cwd = cwd;
    }

    pub fn hostfs(&self) -> &HostFs {
        &self.host
    }

    /// `path` as an absolute guest path, relative ones from the cwd.
    pub fn absolute(&self, path: &[u8]) -> Vec<u8> {
        path::join(&self.cwd, path)
    }

    /// Read the whole of an executable for the loader; checks it is a
    /// regular file with an execute bit (EACCES otherwise).
    pub fn open_executable(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        self.host.read_executable(&self.absolute(path))
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::hostfs::tests::TempDir;
    use super::*;

    #[test]
    fn relative_paths_start_at_the_cwd() {
        let t = TempDir::new("fsctx");
        fs::create_dir_all(t.0.join("bin")).unwrap();
        let prog = t.0.join("bin/prog");
        fs::write(&prog, b"program bytes").unwrap();
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
        let mut ctx = FsContext::new(&t.0, "/bin").unwrap();
        assert_eq!(ctx.cwd(), b"/bin");
        assert_eq!(ctx.absolute(b"prog"), b"/bin/prog");
        assert_eq!(ctx.open_executable(b"prog").unwrap(), b"program bytes");
        assert_eq!(ctx.open_executable(b"./prog").unwrap(), b"program bytes");
        assert_eq!(ctx.open_executable(b"/bin/prog").unwrap(), b"program bytes");
        assert_eq!(ctx.open_executable(b""), Err(Errno::ENOENT));
        ctx.set_cwd(b"/".to_vec());
        assert_eq!(ctx.open_executable(b"prog"), Err(Errno::ENOENT));
        assert_eq!(ctx.open_executable(b"bin/prog").unwrap(), b"program bytes");
        // Forked contexts share the tree but not the cwd.
        let mut child = ctx.clone();
        child.set_cwd(b"/bin".to_vec());
        assert_eq!((ctx.cwd(), child.cwd()), (&b"/"[..], &b"/bin"[..]));
    }
}
