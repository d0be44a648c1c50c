//! [`FsContext`]: where a task's path lookups happen. The file tree is the
//! sandbox's; the working directory and umask are Linux's `fs_struct`,
//! shared by the threads created with CLONE_FS (every pthread) and copied
//! by `fork`.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use super::procfs::ProcSource;
use super::{open, path, Vfs};
use crate::errno::Errno;

/// The part of a task's file context that CLONE_FS shares.
#[derive(Clone)]
struct FsState {
    /// Canonical absolute guest path of the working directory. (A path,
    /// not a directory: renaming the directory leaves it stale.)
    cwd: Vec<u8>,
    /// The file mode creation mask.
    umask: u32,
}

/// A task's view of the file tree: the sandbox's tree (shared by every
/// task of the sandbox), the working directory and the umask. The state
/// is locked only to copy a value in or out, never across a lookup (which
/// may reach /proc, which reads it again).
pub struct FsContext {
    vfs: Arc<Vfs>,
    state: Arc<Mutex<FsState>>,
}

impl FsContext {
    /// The tree under host directory `root`, with the guest in `cwd` (an
    /// absolute guest path).
    pub fn new(root: &Path, cwd: &str) -> Result<Self, Errno> {
        Ok(FsContext {
            vfs: Vfs::new(root)?,
            state: Arc::new(Mutex::new(FsState {
                cwd: path::join(b"/", cwd.as_bytes()),
                umask: 0o022,
            })),
        })
    }

    /// The same working directory and umask, for a thread created with
    /// CLONE_FS.
    pub fn share(&self) -> Self {
        FsContext {
            vfs: self.vfs.clone(),
            state: self.state.clone(),
        }
    }

    /// A copy that changes on its own, as `fork` gives the child.
    pub fn duplicate(&self) -> Self {
        FsContext {
            vfs: self.vfs.clone(),
            state: Arc::new(Mutex::new(self.lock().clone())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn cwd(&self) -> Vec<u8> {
        self.lock().cwd.clone()
    }

    /// Set the working directory; `cwd` is canonical and absolute.
    pub fn set_cwd(&self, cwd: Vec<u8>) {
        self.lock().cwd = cwd;
    }

    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    pub fn umask(&self) -> u32 {
        self.lock().umask
    }

    /// Set the umask, returning the old one.
    pub fn set_umask(&self, umask: u32) -> u32 {
        std::mem::replace(&mut self.lock().umask, umask & 0o777)
    }

    /// `path` as an absolute guest path, relative ones from the cwd.
    pub fn absolute(&self, path: &[u8]) -> Vec<u8> {
        path::join(&self.lock().cwd, path)
    }

    /// Read the whole of an executable for the loader; checks it is a
    /// regular file with an execute bit (EACCES otherwise). `procs` is who
    /// asks (/proc/self/exe names its program).
    pub fn open_executable(
        &self,
        path: &[u8],
        procs: &dyn ProcSource,
    ) -> Result<open::Executable, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        self.vfs.read_executable(&self.absolute(path), procs)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::super::hostfs::tests::TempDir;
    use super::super::procfs::NoProcs;
    use super::*;

    #[test]
    fn relative_paths_start_at_the_cwd() {
        let t = TempDir::new("fsctx");
        fs::create_dir_all(t.0.join("bin")).unwrap();
        let prog = t.0.join("bin/prog");
        fs::write(&prog, b"program bytes").unwrap();
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
        let ctx = FsContext::new(&t.0, "/bin").unwrap();
        assert_eq!(ctx.cwd(), b"/bin");
        assert_eq!(ctx.absolute(b"prog"), b"/bin/prog");
        for name in [&b"prog"[..], b"./prog", b"/bin/prog"] {
            assert_eq!(
                ctx.open_executable(name, &NoProcs).unwrap().bytes,
                b"program bytes"
            );
        }
        assert_eq!(ctx.open_executable(b"", &NoProcs), Err(Errno::ENOENT));
        ctx.set_cwd(b"/".to_vec());
        assert_eq!(ctx.open_executable(b"prog", &NoProcs), Err(Errno::ENOENT));
        assert_eq!(
            ctx.open_executable(b"bin/prog", &NoProcs).unwrap().bytes,
            b"program bytes"
        );
    }

    #[test]
    fn shared_contexts_see_each_other_and_duplicates_do_not() {
        let t = TempDir::new("fsshare");
        let ctx = FsContext::new(&t.0, "/").unwrap();
        let thread = ctx.share();
        let child = ctx.duplicate();
        thread.set_cwd(b"/bin".to_vec());
        assert_eq!(thread.set_umask(0o077), 0o022);
        assert_eq!((ctx.cwd(), ctx.umask()), (b"/bin".to_vec(), 0o077));
        assert_eq!((child.cwd(), child.umask()), (b"/".to_vec(), 0o022));
        child.set_cwd(b"/tmp".to_vec());
        assert_eq!(ctx.cwd(), b"/bin");
        assert!(Arc::ptr_eq(ctx.vfs(), child.vfs()), "one tree for all");
    }
}
