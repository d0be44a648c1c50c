//! [`SharedMm`]: a process's memory manager, shared by its threads.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::MemoryManager;
use crate::errno::Errno;

/// The memory manager of a thread group. Every thread locks it only for the
/// length of one operation (never while guest code runs), so threads fault,
/// map and copy concurrently with each other's guest code.
#[derive(Clone)]
pub struct SharedMm(Arc<Mutex<MemoryManager>>);

/// A memory manager, if it still lives.
#[derive(Clone, Default)]
pub struct WeakMm(Weak<Mutex<MemoryManager>>);

impl WeakMm {
    pub fn upgrade(&self) -> Option<SharedMm> {
        self.0.upgrade().map(SharedMm)
    }
}

impl From<MemoryManager> for SharedMm {
    fn from(mm: MemoryManager) -> Self {
        SharedMm::new(mm)
    }
}

impl SharedMm {
    pub fn new(mm: MemoryManager) -> Self {
        SharedMm(Arc::new(Mutex::new(mm)))
    }

    /// Exclusive access for one operation. Do not hold it across anything
    /// that blocks or locks the same memory manager again.
    pub fn lock(&self) -> MutexGuard<'_, MemoryManager> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A handle that does not keep the memory manager alive (for /proc).
    pub fn downgrade(&self) -> WeakMm {
        WeakMm(Arc::downgrade(&self.0))
    }

    /// A number identifying this memory manager while it lives (futex keys).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// Whether another task (or a passing reader such as /proc) holds
    /// this memory manager too.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.0) > 1
    }

    /// Whether `other` is the same memory manager.
    pub fn same(&self, other: &SharedMm) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn read_val<T: bytemuck::Pod>(&self, addr: u64) -> Result<T, Errno> {
        self.lock().read_val(addr)
    }

    pub fn compare_exchange_u32(&self, addr: u64, old: u32, new: u32) -> Result<u32, Errno> {
        self.lock().compare_exchange_u32(addr, old, new)
    }

    pub fn write_val<T: bytemuck::Pod>(&self, addr: u64, v: &T) -> Result<(), Errno> {
        self.lock().write_val(addr, v)
    }

    pub fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.lock().copy_in(addr, buf)
    }

    pub fn copy_out(&self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        self.lock().copy_out(addr, buf)
    }

    pub fn zero(&self, addr: u64, len: u64) -> Result<(), Errno> {
        self.lock().zero(addr, len)
    }

    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        self.lock().read_cstring(addr, max)
    }
}
