//! The ptrace platform: guest code runs in a stub process per address space,
//! stopped at every system call with PTRACE_SYSEMU. Runs on any Linux host.
//!
//! Limitation for now: a stub is traced by the sentry thread that created
//! its address space, and only that thread may switch into it.

mod address_space;
mod context;
mod stub;
mod sys;
mod template;

use std::os::fd::AsRawFd;
use std::sync::Arc;

use crate::memfile::MemoryFile;
use crate::platform::{AddressSpace, Context, Platform, Result};

pub use address_space::PtraceAddressSpace;
pub use context::PtraceContext;
use stub::StubPage;
use template::StubTemplate;

pub struct PtracePlatform {
    mf: Arc<MemoryFile>,
    stub: Arc<StubPage>,
    template: StubTemplate,
}

impl PtracePlatform {
    pub fn new(mf: Arc<MemoryFile>) -> Result<Self> {
        // Stubs hold no descriptors while guest code runs; they reopen the
        // memory file through the sentry's /proc entry when mapping.
        let path = format!("/proc/{}/fd/{}", std::process::id(), mf.fd().as_raw_fd());
        let stub = Arc::new(StubPage::new(path.as_bytes())?);
        let template = StubTemplate::new(stub.clone())?;
        Ok(PtracePlatform { mf, stub, template })
    }
}

impl Platform for PtracePlatform {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.mf
    }

    fn max_user_address(&self) -> u64 {
        self.stub.addr()
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>> {
        Ok(Box::new(PtraceAddressSpace::new(
            self.stub.clone(),
            &self.template,
        )?))
    }

    fn new_address_space_replacing(&self, old: &dyn AddressSpace) -> Result<Box<dyn AddressSpace>> {
        // Emptying the old stub costs one munmap in the next batch; a new
        // one costs a fork of the template, and killing the old one.
        if let Some(asp) = old
            .as_any()
            .downcast_ref::<PtraceAddressSpace>()
            .and_then(PtraceAddressSpace::successor)
        {
            return Ok(Box::new(asp));
        }
        self.new_address_space()
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        Ok(Box::new(PtraceContext::new()))
    }
}
