//! What procfs asks the kernel: `ProcSource`, a view of the sandbox's
//! processes by pid, handed to every lookup and open that may reach /proc.
//! procfs only formats; the kernel decides what a process looks like
//! (`kernel::proc_view` implements the trait for `Task`, answering from
//! the process table and what each process publishes).

use std::sync::Arc;

use crate::kernel::task::{RLimit, RLIM_NLIMITS};
use crate::vfs::File;

/// One mapping of a process, as /proc/PID/maps shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub offset: u64,
    /// `st_dev` and inode of the mapped file; zero for anonymous memory.
    pub dev: u64,
    pub ino: u64,
    /// A file's guest path, `[heap]`, `[stack]`, or empty.
    pub name: Vec<u8>,
}

/// One open descriptor, for /proc/PID/fd and fdinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdEntry {
    pub fd: i32,
    /// What readlink of /proc/PID/fd/N gives: a guest path, `pipe:[ino]`...
    pub target: Vec<u8>,
    /// `F_GETFL` flags, with `O_CLOEXEC` added when the fd has it.
    pub flags: u32,
    pub pos: u64,
}

/// A process's identity and the small state /proc/PID/{stat,status} show.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    pub tgid: i32,
    pub ppid: i32,
    /// Process group and session.
    pub pgid: i32,
    pub sid: i32,
    /// Thread ids, the leader first.
    pub tids: Vec<i32>,
    pub comm: Vec<u8>,
    /// `R`, `S`, `Z`...
    pub state: u8,
    /// Real, effective, saved and file-system ids.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub umask: u32,
    /// Guest path of the executable, and of the working directory.
    pub exe: Vec<u8>,
    pub cwd: Vec<u8>,
    pub rlimits: [RLimit; RLIM_NLIMITS],
    /// Signal sets, bit N-1 for signal N.
    pub sig_pending: u64,
    pub sig_blocked: u64,
    pub sig_ignored: u64,
    pub sig_caught: u64,
    /// Clock ticks (100 Hz) after boot at which the process started.
    pub start_ticks: u64,
    /// Addresses of the loaded image, program break and stack, for the
    /// tail of /proc/PID/stat.
    pub layout: ImageLayout,
    /// Pages of memory backed so far (resident set).
    pub rss_pages: u64,
    pub no_new_privs: bool,
}

/// Where a process's image, break, stack, arguments and environment lie.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageLayout {
    pub start_code: u64,
    pub end_code: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub brk: u64,
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
}

/// The kernel as procfs sees it.
pub trait ProcSource {
    /// The calling thread: (tgid, tid). /proc/self and /proc/thread-self
    /// point there.
    fn caller(&self) -> (i32, i32);
    /// Thread groups (zombies included), ascending.
    fn tgids(&self) -> Vec<i32>;
    /// Process (or thread) `pid`, if it lives or is a zombie. `comm`,
    /// `state`, `sig_blocked` and `start_ticks` are the thread's.
    fn process(&self, pid: i32) -> Option<ProcessInfo>;
    fn maps(&self, pid: i32) -> Vec<Mapping>;
    fn fds(&self, pid: i32) -> Vec<FdEntry>;
    /// The argument area (NUL-separated strings), as the process's memory
    /// holds it now.
    fn cmdline(&self, pid: i32) -> Vec<u8>;
    fn environ(&self, pid: i32) -> Vec<u8>;
    /// The open file behind descriptor `fd` of process `pid`, for
    /// following /proc/PID/fd/N to it.
    fn fd_file(&self, _pid: i32, _fd: i32) -> Option<Arc<dyn File>> {
        None
    }
    /// Whether the caller may open /dev/tty: it has a controlling
    /// terminal, or the sandbox emulates none (the host's is used).
    fn may_open_tty(&self) -> bool {
        true
    }
}

/// A kernel with no processes: lookups made by the sentry itself (and by
/// unit tests) see an empty /proc.
pub struct NoProcs;

impl ProcSource for NoProcs {
    fn caller(&self) -> (i32, i32) {
        (0, 0)
    }
    fn tgids(&self) -> Vec<i32> {
        Vec::new()
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
}
