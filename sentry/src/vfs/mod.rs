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
//! - `fs_context`: a task's cwd and umask (shared by CLONE_FS threads).
//! - `path`: guest path strings; `stat`: the guest's stat layouts.
//! - `mmap`: file-backed `mmap` as a private copy.
//! - `fifo`: named pipes, each open end a host pipe end.
//! - `memfd`: memfd_create's nameless memory files; `seals`: their seals.
//! - `eventfd`, `epoll`: eventfd counters and epoll instances, kept by
//!   host objects of the same kind.

pub mod access;
pub mod change;
pub mod devfs;
pub mod epoll;
pub mod eventfd;
pub mod fdtable;
pub mod fifo;
pub mod file;
mod fs_context;
pub mod host_file;
pub mod hostfs;
pub mod inode;
mod lower;
pub mod memfd;
mod mmap;
pub mod mount;
pub mod node_file;
pub mod nonblock;
pub mod open;
pub mod page_cache;
pub mod path;
pub mod pidfd;
pub mod procfs;
pub mod seals;
pub mod stat;
pub mod statfs;
pub mod timerfd;
pub mod tree;
pub mod xattr;

pub use fdtable::FdTable;
pub use file::File;
pub use fs_context::FsContext;
pub use host_file::HostFile;
pub use hostfs::HostFs;
pub use mmap::{mmap_file, mmap_file_copy};
pub use open::Creator;
pub use tree::Vfs;

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
