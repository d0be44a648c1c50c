//! [`KvmPlatform`]: guest code runs in guest user mode under rvisor's ring0.

use std::sync::Arc;

use crate::memfile::MemoryFile;
use crate::platform::{AddressSpace, Context, Platform, Result};

use super::address_space::KvmAddressSpace;
use super::context::KvmContext;
use super::layout_r0::USER_LIMIT;
use super::machine::Machine;

pub struct KvmPlatform {
    machine: Arc<Machine>,
}

impl KvmPlatform {
    /// A VM over `mf`. Fails if /dev/kvm cannot be used.
    pub fn new(mf: Arc<MemoryFile>) -> Result<Self> {
        Ok(KvmPlatform {
            machine: Arc::new(Machine::new(mf)?),
        })
    }
}

impl Platform for KvmPlatform {
    fn name(&self) -> &'static str {
        "kvm"
    }

    fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.machine.mf
    }

    fn max_user_address(&self) -> u64 {
        USER_LIMIT
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>> {
        Ok(Box::new(KvmAddressSpace::new(self.machine.clone())?))
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        Ok(Box::new(KvmContext::new(&self.machine)?))
    }
}
