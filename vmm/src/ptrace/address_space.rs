//! A guest address space on the ptrace platform: one stub process, with one
//! stub thread per guest thread, each traced by the sentry thread running
//! that guest thread.
//!
//! Mapping changes are queued and applied by a tracing thread (through its
//! own stub thread) just before guest code next runs, in one batch: the
//! stub opens the memory file (it holds no descriptor while guest code
//! runs), performs every queued `mmap` and `munmap`, and closes it again.
//! The calls are written to the stub's batch table (through /proc/PID/mem)
//! and run by the stub's batch code in one ptrace round trip; merging
//! adjacent mappings keeps batches short.

use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use libc::pid_t;
use ring0::abi::Regs;

use crate::memfile::FileRange;
use crate::platform::{Access, AddressSpace, PlatformError, Result, ThreadSeed};

use super::context::PtraceThreadSeed;

use super::stub::{StubPage, BATCH_FIRST_RESULT, BATCH_MAX};
use super::sys::{self, WaitStatus};
use super::template::StubTemplate;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MapOp {
    Map {
        addr: u64,
        len: u64,
        prot: i32,
        offset: u64,
    },
    Unmap {
        addr: u64,
        len: u64,
    },
}

pub struct PtraceAddressSpace {
    /// The stub process (its first thread).
    pid: pid_t,
    /// Kills the stub once no address space uses it (an execve's new
    /// address space may take over the old one's stub).
    process: Arc<StubProcess>,
    stub: Arc<StubPage>,
    base_regs: Regs,
    shared: Arc<Mutex<Shared>>,
}

/// What every thread of the guest process reaches through the address
/// space: the queued mapping changes and which stub thread each sentry
/// thread traces.
pub(super) struct Shared {
    pending: Vec<MapOp>,
    /// (sentry thread, the stub thread it traces), one per guest thread.
    tracees: Vec<(pid_t, pid_t)>,
}

impl Shared {
    pub(super) fn add_tracee(&mut self, tracer: pid_t, tid: pid_t) {
        self.tracees.push((tracer, tid));
    }

    pub(super) fn remove_tracee(&mut self, tid: pid_t) {
        self.tracees.retain(|&(_, t)| t != tid);
    }

    fn tracee_of(&self, tracer: pid_t) -> Option<pid_t> {
        self.tracees
            .iter()
            .find(|&&(t, _)| t == tracer)
            .map(|&(_, tid)| tid)
    }

    fn push(&mut self, op: MapOp) {
        if let (
            Some(MapOp::Map {
                addr,
                len,
                prot,
                offset,
            }),
            MapOp::Map {
                addr: a2,
                len: l2,
                prot: p2,
                offset: o2,
            },
        ) = (self.pending.last_mut(), op)
        {
            if *addr + *len == a2 && *offset + *len == o2 && *prot == p2 {
                *len += l2;
                return;
            }
        }
        self.pending.push(op);
    }
}

fn prot_of(perms: Access) -> i32 {
    let mut prot = libc::PROT_NONE;
    if perms.contains(Access::READ) {
        prot |= libc::PROT_READ;
    }
    if perms.contains(Access::WRITE) {
        prot |= libc::PROT_WRITE;
    }
    if perms.contains(Access::EXEC) {
        prot |= libc::PROT_EXEC;
    }
    prot
}

impl PtraceAddressSpace {
    /// A new address space whose stub (forked from `template`) is traced
    /// by the calling thread.
    pub(super) fn new(stub: Arc<StubPage>, template: &StubTemplate) -> Result<Self> {
        let pid = template.fork_stub()?;
        Ok(PtraceAddressSpace {
            pid,
            process: Arc::new(StubProcess::new(pid)),
            stub,
            base_regs: template.base_regs(),
            shared: Arc::new(Mutex::new(Shared {
                pending: Vec::new(),
                tracees: vec![(sys::gettid(), pid)],
            })),
        })
    }

    /// An empty address space in this one's stub, for a program replacing
    /// this one's (execve): its first batch unmaps everything below the
    /// stub page. Only when the calling thread is the only one running
    /// this address space, in the stub's first thread.
    pub(super) fn successor(&self) -> Option<Self> {
        let me = sys::gettid();
        if self.lock().tracees != [(me, self.pid)] {
            return None;
        }
        Some(PtraceAddressSpace {
            pid: self.pid,
            process: self.process.clone(),
            stub: self.stub.clone(),
            base_regs: self.base_regs,
            shared: Arc::new(Mutex::new(Shared {
                pending: vec![MapOp::Unmap {
                    addr: 0,
                    len: self.stub.addr(),
                }],
                tracees: vec![(me, self.pid)],
            })),
        })
    }

    /// The stub process.
    pub fn pid(&self) -> pid_t {
        self.pid
    }

    /// Where a stub thread executes `exit` from.
    pub(super) fn exit_addr(&self) -> u64 {
        self.stub.syscall_addr()
    }

    pub(super) fn shared(&self) -> &Arc<Mutex<Shared>> {
        &self.shared
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stub thread the calling sentry thread traces.
    pub(super) fn my_tracee(&self) -> Result<pid_t> {
        self.lock().tracee_of(sys::gettid()).ok_or_else(no_tracee)
    }

    /// Make the stub clone a new thread (through the caller's own stub
    /// thread, which must be stopped); returns the new thread's id. The new
    /// thread waits untraced until its tracer seizes it.
    pub(super) fn clone_thread(&self) -> Result<pid_t> {
        let tid = self.my_tracee()?;
        let flags = (libc::CLONE_VM
            | libc::CLONE_FS
            | libc::CLONE_FILES
            | libc::CLONE_SIGHAND
            | libc::CLONE_THREAD
            | libc::CLONE_SYSVSEM) as u64;
        let r = self.inject_at(
            tid,
            self.stub.clone_addr(),
            libc::SYS_clone,
            [flags, 0, 0, 0, 0, 0],
        )?;
        if r <= 0 {
            return Err(PlatformError::Protocol(format!(
                "stub cannot clone a thread: errno {}",
                -r
            )));
        }
        Ok(r as pid_t)
    }

    /// Apply the queued mapping changes through the caller's stub thread.
    pub(super) fn flush(&self) -> Result<()> {
        let mut shared = self.lock();
        if shared.pending.is_empty() {
            return Ok(());
        }
        let tid = shared.tracee_of(sys::gettid()).ok_or_else(no_tracee)?;
        // Applied with the lock held: another thread's switch must not run
        // guest code before the changes queued so far are in place.
        let ops = std::mem::take(&mut shared.pending);
        self.apply(tid, ops)
    }

    fn apply(&self, tid: pid_t, ops: Vec<MapOp>) -> Result<()> {
        // Room for the open and the close around each chunk.
        for chunk in ops.chunks(BATCH_MAX - 2) {
            self.apply_batch(tid, chunk)?;
        }
        Ok(())
    }

    /// Run `ops` in one injected batch: open the memory file (if a mapping
    /// needs it), every `mmap`/`munmap`, close it. One ptrace round trip
    /// instead of one per call, which is most of what a fork costs.
    fn apply_batch(&self, tid: pid_t, ops: &[MapOp]) -> Result<()> {
        let needs_fd = ops.iter().any(|op| matches!(op, MapOp::Map { .. }));
        let mut table: Vec<[u64; 7]> = Vec::with_capacity(ops.len() + 2);
        if needs_fd {
            let flags = (libc::O_RDWR | libc::O_CLOEXEC) as u64;
            let path = self.stub.path_addr();
            table.push([
                libc::SYS_openat as u64,
                libc::AT_FDCWD as u64,
                path,
                flags,
                0,
                0,
                0,
            ]);
        }
        for op in ops {
            table.push(match *op {
                MapOp::Map {
                    addr,
                    len,
                    prot,
                    offset,
                } => {
                    let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
                    let fd = BATCH_FIRST_RESULT;
                    [
                        libc::SYS_mmap as u64,
                        addr,
                        len,
                        prot as u64,
                        flags,
                        fd,
                        offset,
                    ]
                }
                MapOp::Unmap { addr, len } => [libc::SYS_munmap as u64, addr, len, 0, 0, 0, 0],
            });
        }
        if needs_fd {
            table.push([libc::SYS_close as u64, BATCH_FIRST_RESULT, 0, 0, 0, 0, 0]);
        }
        let bytes: &[u8] = bytemuck::cast_slice(&table);
        let written = rustix::io::pwrite(self.process.mem()?, bytes, self.stub.table_addr())
            .map_err(|e| PlatformError::host("pwrite /proc/PID/mem", e))?;
        if written != bytes.len() {
            return Err(PlatformError::Protocol(
                "short write of a batch table".into(),
            ));
        }
        let regs = Regs {
            rip: self.stub.batch_addr(),
            r12: self.stub.table_addr(),
            r13: table.len() as u64,
            ..self.base_regs
        };
        let after = self.run_injected(tid, regs, "batch")?;
        if after.r13 == 0 {
            return Ok(());
        }
        let failed = table.len() - after.r13 as usize;
        // The descriptor is open if the failure came between the open and
        // the close: it must not stay in the stub.
        if needs_fd && failed > 0 && failed + 1 < table.len() {
            self.inject(tid, libc::SYS_close, [after.r15, 0, 0, 0, 0, 0])?;
        }
        Err(PlatformError::Protocol(format!(
            "stub system call {} of a batch ({:?}) failed: errno {}",
            table[failed][0],
            &table[failed][1..],
            -(after.rax as i64)
        )))
    }

    /// Make stopped stub thread `tid` execute one system call and return
    /// its result.
    pub(super) fn inject(&self, tid: pid_t, nr: i64, args: [u64; 6]) -> Result<i64> {
        self.inject_at(tid, self.stub.syscall_addr(), nr, args)
    }

    /// The same, with the `syscall` at `entry` (which traps back after it).
    fn inject_at(&self, tid: pid_t, entry: u64, nr: i64, args: [u64; 6]) -> Result<i64> {
        let regs = Regs {
            rip: entry,
            rax: nr as u64,
            rdi: args[0],
            rsi: args[1],
            rdx: args[2],
            r10: args[3],
            r8: args[4],
            r9: args[5],
            ..self.base_regs
        };
        let after = self.run_injected(tid, regs, &format!("injected system call {nr}"))?;
        Ok(after.rax as i64)
    }

    /// Run stopped stub thread `tid` from `regs` until it traps back
    /// (`int3`); returns its registers then. `what` names the code run,
    /// for errors.
    fn run_injected(&self, tid: pid_t, mut regs: Regs, what: &str) -> Result<Regs> {
        let host = |(c, e)| PlatformError::host(c, e);
        sys::set_regs(tid, &regs).map_err(host)?;
        sys::resume(tid, libc::PTRACE_CONT).map_err(host)?;
        loop {
            match sys::wait(tid).map_err(host)? {
                WaitStatus::Stopped(libc::SIGTRAP) => break,
                WaitStatus::Stopped(
                    sig @ (libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE),
                ) => {
                    sys::get_regs(tid, &mut regs).map_err(host)?;
                    let si = sys::get_siginfo(tid).map_err(host)?;
                    return Err(PlatformError::Protocol(format!(
                        "stub faulted with signal {sig} (code {}) at {:#x} during {what}: {regs:x?}",
                        si.si_code, regs.rip
                    )));
                }
                // A signal (an interrupt) arrived first; drop it and go on.
                WaitStatus::Stopped(_) => sys::resume(tid, libc::PTRACE_CONT).map_err(host)?,
                other => {
                    return Err(PlatformError::StubDied(format!("{other:?} during {what}")));
                }
            }
        }
        sys::get_regs(tid, &mut regs).map_err(host)?;
        Ok(regs)
    }
}

fn no_tracee() -> PlatformError {
    PlatformError::Protocol(
        "ptrace address space used from a thread that traces none of its stub threads".into(),
    )
}

impl AddressSpace for PtraceAddressSpace {
    fn map_file(&self, addr: u64, range: FileRange, perms: Access) -> Result<()> {
        self.lock().push(MapOp::Map {
            addr,
            len: range.len,
            prot: prot_of(perms),
            offset: range.offset,
        });
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        let threads = {
            let mut shared = self.lock();
            shared.push(MapOp::Unmap { addr, len });
            shared.tracees.len()
        };
        // Other threads may be running guest code: take the pages from
        // them now, before the sentry reuses them.
        if threads > 1 {
            self.flush()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        // Alone, the caller applies the queue before its guest code runs.
        if self.lock().tracees.len() > 1 {
            self.flush()?;
        }
        Ok(())
    }

    fn spawn_thread(&self) -> Result<Box<dyn ThreadSeed>> {
        let tid = self.clone_thread()?;
        Ok(Box::new(PtraceThreadSeed {
            tid,
            exit_addr: self.exit_addr(),
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A stub process, killed (and reaped) when dropped.
/// The stub process, killed when the last address space using it goes.
struct StubProcess {
    pid: pid_t,
    /// /proc/PID/mem of the stub, opened at its first batch: how the
    /// sentry fills the batch table.
    mem: OnceLock<OwnedFd>,
}

impl StubProcess {
    fn new(pid: pid_t) -> Self {
        StubProcess {
            pid,
            mem: OnceLock::new(),
        }
    }

    fn mem(&self) -> Result<&OwnedFd> {
        if let Some(fd) = self.mem.get() {
            return Ok(fd);
        }
        let path = format!("/proc/{}/mem", self.pid);
        let fd = rustix::fs::open(
            path.as_str(),
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| PlatformError::host("open /proc/PID/mem", e))?;
        // Two threads may race here; the loser's descriptor just closes.
        Ok(self.mem.get_or_init(|| fd))
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        sys::kill_and_reap(self.pid);
    }
}
