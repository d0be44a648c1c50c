//! Named pipes (FIFOs) made by `mknod(S_IFIFO)` in the sentry's tree.
//!
//! The bytes go through a host pipe, exactly as for a guest `pipe2`: each
//! open end is a `HostFile::pipe_end`, so reads, writes, poll, epoll and
//! splice need nothing new. The FIFO inode only keeps weak handles to the
//! open ends of its current host pipe: an opener gets its own descriptor
//! of that pipe by opening the host's `/proc/self/fd/N` of a live end with
//! the access it needs (the host allows it for pipes), or a fresh host pipe
//! when no end is alive, so data lives while any end is open and a later
//! opener of a FIFO nobody holds starts empty.
//!
//! Open counts how many readers and writers there are; a blocking open
//! waits (in the system-call layer, interruptibly) until the other side's
//! open count changes, as Linux's `wait_for_partner` does.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use rustix::fs::{Mode, OFlags};
use rustix::io::retry_on_intr;

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::host_file::HostFile;
use crate::vfs::inode::Inode;
use crate::vfs::stat::GuestStat;

/// Buffer size of the host pipe, as for guest pipes (`fd.rs`).
const PIPE_BUFFER: usize = 1 << 20;

/// What a FIFO inode holds (`Body::Fifo`).
#[derive(Default)]
pub struct Fifo {
    /// Shared with every open end, which uncounts itself when closed.
    state: Arc<Mutex<FifoState>>,
}

#[derive(Default)]
struct FifoState {
    readers: u32,
    writers: u32,
    /// Opens so far of each kind: a blocked opener waits for the other's
    /// to change, so a partner that came and went still ends the wait.
    read_opens: u64,
    write_opens: u64,
    /// The ends now open on the current host pipe.
    ends: Vec<Weak<HostFile>>,
    /// Blocked openers' host eventfds, written when a partner opens.
    waiters: Vec<Arc<OwnedFd>>,
}

impl FifoState {
    fn wake_all(&self) {
        for w in &self.waiters {
            let _ = rustix::io::write(&**w, &1u64.to_ne_bytes());
        }
    }

    /// A live end of the current host pipe, dropping dead handles.
    fn live_end(&mut self) -> Option<Arc<HostFile>> {
        self.ends.retain(|e| e.strong_count() > 0);
        self.ends.iter().find_map(Weak::upgrade)
    }
}

fn lock(state: &Mutex<FifoState>) -> MutexGuard<'_, FifoState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fifo {
    /// Open FIFO `node` (whose body is this) by `path` with open(2)
    /// `flags`. Never blocks: a blocking opener then calls
    /// `FifoFile::wait_for_partner`.
    pub fn open(&self, node: Arc<Inode>, path: Vec<u8>, flags: i32) -> Result<FifoFile, Errno> {
        let access = flags & libc::O_ACCMODE;
        let (reads, writes) = match access {
            libc::O_RDONLY => (true, false),
            libc::O_WRONLY => (false, true),
            libc::O_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        let nonblock = flags & libc::O_NONBLOCK != 0;
        let mut st = lock(&self.state);
        if access == libc::O_WRONLY && nonblock && st.readers == 0 {
            return Err(Errno::ENXIO);
        }
        let host_fd = match st.live_end() {
            Some(end) => reopen_pipe(end.host_fd(), access)?,
            None => fresh_pipe(access)?,
        };
        let kept = (flags & (libc::O_ACCMODE | libc::O_NONBLOCK)) as u32;
        let end = Arc::new(HostFile::pipe_end(host_fd, kept)?);
        st.ends.push(Arc::downgrade(&end));
        // Which side's opens a blocking opener must see change.
        let mut wait_for = None;
        if reads {
            st.readers += 1;
            st.read_opens += 1;
            if !writes && st.writers == 0 && !nonblock {
                wait_for = Some((Side::Writers, st.write_opens));
            }
        }
        if writes {
            st.writers += 1;
            st.write_opens += 1;
            if !reads && st.readers == 0 {
                wait_for = Some((Side::Readers, st.read_opens));
            }
        }
        st.wake_all();
        drop(st);
        Ok(FifoFile {
            end,
            state: self.state.clone(),
            node,
            path,
            reads,
            writes,
            wait_for,
        })
    }
}

/// A second host descriptor of the pipe behind `fd`, with `access`.
fn reopen_pipe(fd: BorrowedFd<'_>, access: i32) -> Result<OwnedFd, Errno> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let oflags = OFlags::from_bits_retain(access as u32)
        | OFlags::NONBLOCK
        | OFlags::CLOEXEC
        | OFlags::NOCTTY;
    Ok(retry_on_intr(|| {
        rustix::fs::open(link.as_str(), oflags, Mode::empty())
    })?)
}

/// One end, with `access`, of a new host pipe (for `O_RDWR` a descriptor
/// that is both, opened through procfs while the pipe's ends live).
fn fresh_pipe(access: i32) -> Result<OwnedFd, Errno> {
    let flags = rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK;
    let (r, w) = rustix::pipe::pipe_with(flags)?;
    let _ = rustix::pipe::fcntl_setpipe_size(&w, PIPE_BUFFER);
    match access {
        libc::O_RDONLY => Ok(r),
        libc::O_WRONLY => Ok(w),
        _ => reopen_pipe(r.as_fd(), access),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Readers,
    Writers,
}

/// An open FIFO: a host pipe end, counted as a reader and/or writer of its
/// FIFO until it is closed.
pub struct FifoFile {
    end: Arc<HostFile>,
    state: Arc<Mutex<FifoState>>,
    node: Arc<Inode>,
    path: Vec<u8>,
    reads: bool,
    writes: bool,
    /// For a blocking open without a partner: the side and its open count
    /// at open time.
    wait_for: Option<(Side, u64)>,
}

impl FifoFile {
    /// Whether a blocking open has its partner (or never needed one).
    fn partner_came(&self) -> bool {
        let Some((side, at_open)) = self.wait_for else {
            return true;
        };
        let st = lock(&self.state);
        match side {
            Side::Readers => st.read_opens != at_open,
            Side::Writers => st.write_opens != at_open,
        }
    }

    /// Finish a blocking open: until the other side opens, call `sleep`
    /// with a host descriptor that becomes readable when something
    /// changed; its error (EINTR/ERESTARTSYS) ends the open.
    pub fn wait_for_partner(
        &self,
        mut sleep: impl FnMut(BorrowedFd<'_>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if self.partner_came() {
            return Ok(());
        }
        let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
        let bell = Arc::new(rustix::event::eventfd(0, flags)?);
        lock(&self.state).waiters.push(bell.clone());
        let result = loop {
            if self.partner_came() {
                break Ok(());
            }
            if let Err(e) = sleep(bell.as_fd()) {
                break Err(e);
            }
            let _ = rustix::io::read(&*bell, &mut [0u8; 8]);
        };
        lock(&self.state).waiters.retain(|w| !Arc::ptr_eq(w, &bell));
        result
    }
}

impl Drop for FifoFile {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        if self.reads {
            st.readers -= 1;
        }
        if self.writes {
            st.writers -= 1;
        }
        st.wake_all();
    }
}

impl File for FifoFile {
    fn host_stream(&self) -> Option<BorrowedFd<'_>> {
        self.end.host_stream()
    }

    fn host_never_blocks(&self) -> bool {
        true
    }

    fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        self.end.read(buf)
    }

    fn pread(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        self.end.write(buf)
    }

    fn pwrite(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    fn stat(&self) -> Result<GuestStat, Errno> {
        Ok(self.node.stat())
    }

    fn ioctl_get(&self, cmd: u32) -> Result<(Vec<u8>, u64), Errno> {
        self.end.ioctl_get(cmd)
    }

    fn status_flags(&self) -> Result<u32, Errno> {
        self.end.status_flags()
    }

    fn set_status_flags(&self, flags: u32) -> Result<(), Errno> {
        self.end.set_status_flags(flags)
    }

    fn guest_path(&self) -> Option<&[u8]> {
        Some(&self.path)
    }

    fn access(&self, mode: u32, _eaccess: bool) -> Result<(), Errno> {
        // As `NodeFile` answers: with the sentry's own ids.
        let (uid, gid) = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        crate::vfs::access::check(&self.node, mode, uid, gid)
    }

    fn inode(&self) -> Option<Arc<Inode>> {
        Some(self.node.clone())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::inode::{next_ino, Body, Meta};

    fn fifo_node() -> Arc<Inode> {
        let meta = Meta::new(libc::S_IFIFO | 0o644, 0, 0);
        Inode::new(next_ino(), 1, meta, Body::Fifo(Fifo::default()))
    }

    fn open(node: &Arc<Inode>, flags: i32) -> Result<FifoFile, Errno> {
        match &node.body {
            Body::Fifo(f) => f.open(node.clone(), b"/f".to_vec(), flags),
            _ => unreachable!(),
        }
    }

    #[test]
    fn nonblocking_writer_without_reader_is_enxio() {
        let n = fifo_node();
        assert_eq!(
            open(&n, libc::O_WRONLY | libc::O_NONBLOCK).err(),
            Some(Errno::ENXIO)
        );
        let r = open(&n, libc::O_RDONLY | libc::O_NONBLOCK).unwrap();
        assert!(r.partner_came(), "a non-blocking reader never waits");
        let w = open(&n, libc::O_WRONLY | libc::O_NONBLOCK).unwrap();
        assert_eq!(w.write(b"hi"), Ok(2));
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf), Ok(2));
        assert_eq!(&buf[..2], b"hi");
        drop(w);
        assert_eq!(r.read(&mut buf), Ok(0), "EOF once the writer closed");
    }

    #[test]
    fn blocking_reader_waits_for_a_writer_and_data_outlives_one_end() {
        let n = fifo_node();
        let r = open(&n, libc::O_RDONLY).unwrap();
        assert!(!r.partner_came());
        let mut slept = 0;
        let w = open(&n, libc::O_WRONLY).unwrap();
        assert!(w.partner_came(), "the reader was there");
        r.wait_for_partner(|_| {
            slept += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(slept, 0);
        assert_eq!(w.write(b"kept"), Ok(4));
        drop(r);
        assert_eq!(w.write(b"x"), Err(Errno::EPIPE));
        let r2 = open(&n, libc::O_RDONLY).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r2.read(&mut buf), Ok(4), "data stays while an end is open");
        drop((w, r2));
        let r3 = open(&n, libc::O_RDWR).unwrap();
        assert_eq!(r3.read(&mut buf), Err(Errno::EAGAIN), "a new pipe is empty");
    }

    #[test]
    fn an_interrupted_wait_uncounts_the_opener() {
        let n = fifo_node();
        let w = open(&n, libc::O_WRONLY).unwrap();
        assert_eq!(w.wait_for_partner(|_| Err(Errno::EINTR)), Err(Errno::EINTR));
        drop(w);
        assert_eq!(
            open(&n, libc::O_WRONLY | libc::O_NONBLOCK).err(),
            Some(Errno::ENXIO)
        );
    }
}
