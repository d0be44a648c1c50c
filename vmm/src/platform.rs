//! The platform interface shared by every backend.

use std::any::Any;
use std::sync::Arc;

use bitflags::bitflags;
use ring0::abi::{Regs, Vector};

use crate::memfile::{FileRange, MemoryFile, MemoryFileError};

bitflags! {
    /// Kinds of access to guest memory: page permissions and fault causes.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Access: u8 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
    }
}

/// Why a `Context::switch` returned to the sentry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The guest executed `syscall`; the number is in `orig_rax`, the
    /// arguments in the usual registers, and `rip` points past the
    /// instruction. The sentry writes the result to `rax`.
    Syscall,
    /// The guest touched `addr` in a way its current mappings in the platform
    /// do not allow. `access` is the platform's best knowledge of the cause:
    /// backends that cannot tell (ptrace) report `READ`, or `EXEC` when the
    /// fault address is the instruction pointer.
    PageFault { addr: u64, access: Access },
    /// Any other CPU exception. `code` is the error code where the vector has
    /// one, `addr` the faulting address the signal should report.
    Exception {
        vector: Vector,
        code: u64,
        addr: u64,
    },
    /// `Interrupter::interrupt` was called, or a host signal arrived.
    Interrupted,
}

#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("platform {0} is not available on this host: {1}")]
    Unavailable(&'static str, String),
    #[error("host system call {call} failed: {source}")]
    Host {
        call: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the stub process died unexpectedly: {0}")]
    StubDied(String),
    #[error("{0}")]
    Protocol(String),
    #[error(transparent)]
    MemoryFile(#[from] MemoryFileError),
}

impl PlatformError {
    pub(crate) fn host(call: &'static str, source: impl Into<std::io::Error>) -> Self {
        PlatformError::Host {
            call,
            source: source.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, PlatformError>;

/// One sandbox's way of running guest code.
pub trait Platform: Send + Sync {
    /// Short name as used on the command line.
    fn name(&self) -> &'static str;
    /// The memory file backing every page of this sandbox's guest memory.
    fn memory_file(&self) -> &Arc<MemoryFile>;
    /// First address guest mappings may not reach.
    fn max_user_address(&self) -> u64;
    /// A new, empty address space (one per guest process).
    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>>;
    /// A new, empty address space to replace `old` (execve), asked for by
    /// the thread running `old`. A backend may reuse `old`'s host resources
    /// for it: then `old` must run no guest code once the new one has, and
    /// dropping either leaves the other working.
    fn new_address_space_replacing(&self, old: &dyn AddressSpace) -> Result<Box<dyn AddressSpace>> {
        let _ = old;
        self.new_address_space()
    }
    /// A new execution context (one per guest thread).
    fn new_context(&self) -> Result<Box<dyn Context>>;
}

/// The platform's view of one guest address space: which guest pages map
/// which memory-file pages with which permissions. The sentry's memory
/// manager is the source of truth; this only mirrors what it decided.
///
/// All threads of a guest process share one address space, each running
/// it in its own context at the same time, so the methods take `&self`
/// and backends lock what they change.
pub trait AddressSpace: Send + Sync + Any {
    /// Map `range` of the memory file at guest address `addr` with `perms`,
    /// replacing whatever was mapped there. `addr` and the range are
    /// page-aligned.
    fn map_file(&self, addr: u64, range: FileRange, perms: Access) -> Result<()>;
    /// `map_file` for pages that already hold data the sentry or another
    /// address space uses (a forked child's): the backend need not prepare
    /// host memory for them.
    fn map_file_backed(&self, addr: u64, range: FileRange, perms: Access) -> Result<()> {
        self.map_file(addr, range, perms)
    }
    /// Remove any mappings in `[addr, addr + len)`. When several contexts
    /// run this address space, no other context reaches the old pages once
    /// this returns (the sentry may reuse them at once).
    fn unmap(&self, addr: u64, len: u64) -> Result<()>;
    /// Make the changes so far reach every other context running this
    /// address space before this returns: after narrowing mappings (fork's
    /// copy-on-write downgrade, mprotect) or replacing pages the sentry
    /// is about to free. Backends that apply changes at once need nothing.
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    /// Prepare a context for a new thread of this guest process. Called by
    /// a sentry thread whose own context runs this address space and is
    /// stopped (its guest thread is in `clone`); the seed becomes the new
    /// context on the host thread that will run the new guest thread.
    fn spawn_thread(&self) -> Result<Box<dyn ThreadSeed>>;
    /// For backends to reach their concrete type in `Context::switch`.
    fn as_any(&self) -> &dyn Any;
}

/// One guest thread's register state on a platform.
pub trait Context: Send {
    /// Run guest code in `asp` starting from `regs` until something needs the
    /// sentry; `regs` holds the guest's registers on return.
    fn switch(&mut self, asp: &dyn AddressSpace, regs: &mut Regs) -> Result<Event>;
    /// A handle other threads use to make a running `switch` return
    /// `Event::Interrupted` soon.
    fn interrupter(&self) -> Arc<dyn Interrupter>;
    /// The guest thread's FPU/SSE/AVX state as a standard XSAVE image
    /// (legacy FXSAVE area, XSAVE header, extended components), as it was
    /// when the last `switch` returned. Signal frames carry it.
    fn fpu_state(&mut self) -> Result<Vec<u8>>;
    /// Replace the guest thread's FPU state with an XSAVE image (as
    /// `fpu_state` returns, possibly modified by the guest). A malformed
    /// image is an error and leaves the state unchanged.
    fn set_fpu_state(&mut self, image: &[u8]) -> Result<()>;
}

/// A new guest thread's context in the making (see `Context::spawn_thread`).
pub trait ThreadSeed: Send {
    /// The context, created on the host thread that will run it.
    fn into_context(self: Box<Self>) -> Result<Box<dyn Context>>;
}

/// Makes a running `Context::switch` return promptly.
pub trait Interrupter: Send + Sync {
    fn interrupt(&self);
}

/// The base name a backend reports for errors about a given address space.
pub(crate) fn downcast<T: 'static>(asp: &dyn AddressSpace) -> Result<&T> {
    asp.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| PlatformError::Protocol("address space belongs to another platform".into()))
}
