//! The guest's view of files: a tree of the sentry's own (`tree`), with a
//! writable in-memory overlay over the host tree under `--root` on `/`,
//! tmpfs on `/tmp`, devfs on `/dev` and procfs on `/proc`; and the caller's
//! standard streams.
//!
//! - `file`: the `File` trait, one open file description.
//! - `fdtable`: descriptor numbers → files, with close-on-exec flags.
//! - `inode`: the sentry's inodes (directories, memory files, links).
//! - `tree`: the mounted tree and path resolution; `mount`: the mounts.
//! - `open`: open and the looking calls; `change`: the changing calls.
//! - `node_file`: a `File` over an inode; `access`: permission checks.
//! - `lower`: the overlay's lower layer, from `hostfs` (root-confined
//!   lookups on the host tree) and `host_file` (a `File` over a host fd).
//! - `devfs`: /dev's devices; `procfs`: /proc, generated from what the
//!   kernel reports through a `ProcSource`; `statfs`: per-mount answers.
//! - `path`: guest path strings; `stat`: the guest's stat layouts.
//! - `mmap`: file-backed `mmap` as a private copy.
//! - `eventfd`, `epoll`: eventfd counters and epoll instances, kept by
//!   host objects of the same kind.

pub mod access;
pub mod change;
pub mod devfs;
pub mod epoll;
pub mod eventfd;
pub mod fdtable;
pub mod file;
pub mod host_file;
pub mod hostfs;
pub mod inode;
mod lower;
mod mmap;
pub mod mount;
pub mod node_file;
pub mod open;
pub mod path;
pub mod procfs;
pub mod stat;
pub mod statfs;
pub mod tree;

use std::path::Path;
use std::sync::Arc;

pub use fdtable::FdTable;
pub use file::File;
pub use host_file::HostFile;
pub use hostfs::HostFs;
pub use mmap::{mmap_file, mmap_file_copy};
pub use open::Creator;
pub use tree::Vfs;

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
    vfs: Arc<Vfs>,
    /// Canonical absolute guest path of the working directory. (A path,
    /// not a directory: renaming the directory leaves it stale.)
    cwd: Vec<u8>,
    /// The file mode creation mask.
    umask: u32,
}

impl FsContext {
    /// The tree under host directory `root`, with the guest in `cwd` (an
    /// absolute guest path).
    pub fn new(root: &Path, cwd: &str) -> Result<Self, Errno> {
        Ok(FsContext {
            vfs: Vfs::new(root)?,
            cwd: path::join(b"/", cwd.as_bytes()),
            umask: 0o022,
        })
    }

    pub fn cwd(&self) -> &[u8] {
        &self.cwd
    }

    /// Set the working directory; `cwd` is canonical and absolute.
    pub fn set_cwd(&mut self, cwd: Vec<u8>) {
        self.cwd = cwd;
    }

    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    pub fn umask(&self) -> u32 {
        self.umask
    }

    /// Set the umask, returning the old one.
    pub fn set_umask(&mut self, umask: u32) -> u32 {
        std::mem::replace(&mut self.umask, umask & 0o777)
    }

    /// `path` as an absolute guest path, relative ones from the cwd.
    pub fn absolute(&self, path: &[u8]) -> Vec<u8> {
        path::join(&self.cwd, path)
    }

    /// Read the whole of an executable for the loader; checks it is a
    /// regular file with an execute bit (EACCES otherwise).
    pub fn open_executable(&self, path: &[u8]) -> Result<open::Executable, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        self.vfs
            .read_executable(&self.absolute(path), &procfs::NoProcs)
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
        assert_eq!(
            ctx.open_executable(b"prog").unwrap().bytes,
            b"program bytes"
        );
        assert_eq!(
            ctx.open_executable(b"./prog").unwrap().bytes,
            b"program bytes"
        );
        assert_eq!(
            ctx.open_executable(b"/bin/prog").unwrap().bytes,
            b"program bytes"
        );
        assert_eq!(ctx.open_executable(b""), Err(Errno::ENOENT));
        ctx.set_cwd(b"/".to_vec());
        assert_eq!(ctx.open_executable(b"prog"), Err(Errno::ENOENT));
        assert_eq!(
            ctx.open_executable(b"bin/prog").unwrap().bytes,
            b"program bytes"
        );
        // Forked contexts share the tree but not the cwd.
        let mut child = ctx.clone();
        child.set_cwd(b"/bin".to_vec());
        assert_eq!((ctx.cwd(), child.cwd()), (&b"/"[..], &b"/bin"[..]));
    }
}
