//! A guest address space on the ptrace platform: one stub process.
//!
//! Mapping changes are queued and applied by the tracing thread just before
//! guest code next runs, in one batch: the stub opens the memory file (it
//! holds no descriptor while guest code runs), performs every queued `mmap`
//! and `munmap`, and closes it again. Each injected call is a ptrace round
//! trip, so batching and merging adjacent mappings matter.

use std::any::Any;
use std::sync::Arc;

use libc::pid_t;
use ring0::abi::Regs;

use crate::memfile::FileRange;
use crate::platform::{Access, AddressSpace, PlatformError, Result};

use super::stub::StubPage;
use super::sys::{self, WaitStatus};

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
    pid: pid_t,
    /// The sentry thread allowed to ptrace the stub.
    tracer: pid_t,
    stub: Arc<StubPage>,
    /// Registers of the stopped stub, reused as the template for injection.
    base_regs: Regs,
    pending: Vec<MapOp>,
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
    pub(super) fn new(stub: Arc<StubPage>) -> Result<Self> {
        let pid = stub.spawn()?;
        let mut base_regs = Regs::default();
        if let Err((call, e)) = sys::get_regs(pid, &mut base_regs) {
            sys::kill_and_reap(pid);
            return Err(PlatformError::host(call, e));
        }
        Ok(PtraceAddressSpace {
            pid,
            tracer: sys::gettid(),
            stub,
            base_regs,
            pending: Vec::new(),
        })
    }

    /// Host pid of the stub process.
    pub fn pid(&self) -> pid_t {
        self.pid
    }

    pub(super) fn tracer(&self) -> pid_t {
        self.tracer
    }

    fn push(&mut self, op: MapOp) {
        // Merge with the previous mapping when it continues it in both the
        // guest and the memory file: one injected mmap instead of two.
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

    /// Apply queued mapping changes in the stub. Called by the tracer with
    /// the stub stopped.
    pub(super) fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ops = std::mem::take(&mut self.pending);
        let needs_fd = ops.iter().any(|op| matches!(op, MapOp::Map { .. }));
        let fd = if needs_fd {
            let flags = (libc::O_RDWR | libc::O_CLOEXEC) as u64;
            let fd = self.inject(
                libc::SYS_openat,
                [libc::AT_FDCWD as u64, self.stub.path_addr(), flags, 0, 0, 0],
            )?;
            if fd < 0 {
                return Err(PlatformError::Protocol(format!(
                    "stub cannot open the memory file: errno {}",
                    -fd
                )));
            }
            fd as u64
        } else {
            u64::MAX
        };
        let mut result = Ok(());
        for op in ops {
            let (r, want) = match op {
                MapOp::Map {
                    addr,
                    len,
                    prot,
                    offset,
                } => {
                    let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
                    (
                        self.inject(libc::SYS_mmap, [addr, len, prot as u64, flags, fd, offset])?,
                        addr as i64,
                    )
                }
                MapOp::Unmap { addr, len } => {
                    (self.inject(libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?, 0)
                }
            };
            if r != want {
                result = Err(PlatformError::Protocol(format!("stub {op:?} returned {r}")));
                break;
            }
        }
        if needs_fd {
            self.inject(libc::SYS_close, [fd, 0, 0, 0, 0, 0])?;
        }
        result
    }

    /// Make the stopped stub execute one system call and return its result.
    fn inject(&mut self, nr: i64, args: [u64; 6]) -> Result<i64> {
        let mut regs = Regs {
            rip: self.stub.syscall_addr(),
            rax: nr as u64,
            rdi: args[0],
            rsi: args[1],
            rdx: args[2],
            r10: args[3],
            r8: args[4],
            r9: args[5],
            ..self.base_regs
        };
        sys::set_regs(self.pid, &regs).map_err(|(c, e)| PlatformError::host(c, e))?;
        sys::resume(self.pid, libc::PTRACE_CONT).map_err(|(c, e)| PlatformError::host(c, e))?;
        loop {
            match sys::wait(self.pid).map_err(|(c, e)| PlatformError::host(c, e))? {
                WaitStatus::Stopped(libc::SIGTRAP) => break,
                WaitStatus::Stopped(
                    sig @ (libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE),
                ) => {
                    sys::get_regs(self.pid, &mut regs)
                        .map_err(|(c, e)| PlatformError::host(c, e))?;
                    let si =
                        sys::get_siginfo(self.pid).map_err(|(c, e)| PlatformError::host(c, e))?;
                    return Err(PlatformError::Protocol(format!(
                        "stub faulted with signal {sig} (code {}) at {:#x} during injected system call {nr}: {regs:x?}",
                        si.si_code, regs.rip
                    )));
                }
                // A signal (an interrupt) arrived first; drop it and go on.
                WaitStatus::Stopped(_) => sys::resume(self.pid, libc::PTRACE_CONT)
                    .map_err(|(c, e)| PlatformError::host(c, e))?,
                other => {
                    return Err(PlatformError::StubDied(format!(
                        "{other:?} during injected system call {nr}"
                    )))
                }
            }
        }
        sys::get_regs(self.pid, &mut regs).map_err(|(c, e)| PlatformError::host(c, e))?;
        Ok(regs.rax as i64)
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map_file(&mut self, addr: u64, range: FileRange, perms: Access) -> Result<()> {
        self.push(MapOp::Map {
            addr,
            len: range.len,
            prot: prot_of(perms),
            offset: range.offset,
        });
        Ok(())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<()> {
        self.push(MapOp::Unmap { addr, len });
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Drop for PtraceAddressSpace {
    fn drop(&mut self) {
        sys::kill_and_reap(self.pid);
    }
}
