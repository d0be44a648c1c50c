//! [`KvmAddressSpace`]: one guest address space as 4-level page tables in
//! the memory file, with ring0's PML4 slot linked in.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pagetables::{EntryFlags, PageSize, PageTables};

use crate::memfile::FileRange;
use crate::platform::{AddressSpace, PlatformError, Result};
use crate::{Access, PAGE_SIZE};

use super::frames::FileFrames;
use super::layout_r0::{RING0_PML4_SLOT, USER_LIMIT};
use super::machine::{pt_err, Machine};

const HUGE: u64 = 2 << 20;

/// Distinguishes address spaces whose root frames may be reused.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct KvmAddressSpace {
    tables: PageTables<FileFrames>,
    machine: Arc<Machine>,
    /// Unique per address space, so a vCPU never mistakes a new address
    /// space on a reused root frame for the one it last ran.
    pub(super) id: u64,
    /// Bumped whenever a present entry changes: vCPUs that ran this address
    /// space must flush their TLB before running it again.
    pub(super) generation: u64,
}

impl KvmAddressSpace {
    pub(super) fn new(machine: Arc<Machine>) -> Result<Self> {
        let frames = FileFrames::new(machine.mf.clone(), machine.quarantine.clone());
        let tables = PageTables::new(frames).map_err(pt_err)?;
        let entry = machine.ring0_pml4_entry();
        set_root_slot(&tables, entry);
        Ok(KvmAddressSpace {
            tables,
            machine,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
        })
    }

    /// Reads user memory at `addr` (within one page) as the guest sees it,
    /// or `None` if it is not mapped for user mode.
    pub(super) fn read_user(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        let in_page = (PAGE_SIZE - addr % PAGE_SIZE) as usize;
        if buf.len() > in_page {
            return None;
        }
        let (phys, flags, _) = self.tables.translate(addr)?;
        flags.contains(EntryFlags::USER).then_some(())?;
        self.machine.mf.read(phys, buf).ok()
    }

    /// CR3 (no PCID) of this address space.
    pub(super) fn cr3(&self) -> u64 {
        self.tables.root_phys()
    }
}

/// Writes PML4 slot 511 of `tables`' root (ring0's half).
fn set_root_slot(tables: &PageTables<FileFrames>, entry: u64) {
    use pagetables::FrameAllocator;
    let root = tables.allocator().frame_ptr(tables.root_phys());
    // SAFETY: `frame_ptr` returned a valid, aligned pointer to the root
    // frame, alive while `tables` is borrowed; entries are only accessed
    // atomically.
    let root = unsafe { root.as_ref() };
    root[RING0_PML4_SLOT].store(entry, Ordering::Release);
}

fn leaf_flags(perms: Access) -> EntryFlags {
    let mut flags = EntryFlags::USER;
    if perms.contains(Access::WRITE) {
        flags |= EntryFlags::WRITABLE;
    }
    if !perms.contains(Access::EXEC) {
        flags |= EntryFlags::NO_EXECUTE;
    }
    flags
}

impl AddressSpace for KvmAddressSpace {
    fn map_file(&mut self, addr: u64, range: FileRange, perms: Access) -> Result<()> {
        let end = addr
            .checked_add(range.len)
            .filter(|&end| end <= USER_LIMIT)
            .ok_or_else(|| {
                PlatformError::Protocol(format!(
                    "mapping {addr:#x}+{:#x} beyond user space",
                    range.len
                ))
            })?;
        if range.end() > self.machine.mf.size() {
            return Err(PlatformError::Protocol(
                "mapping beyond the memory file".into(),
            ));
        }
        if perms.is_empty() {
            return self.unmap(addr, range.len);
        }
        let flags = leaf_flags(perms);
        let mut virt = addr;
        let mut replaced = false;
        while virt < end {
            let phys = range.offset + (virt - addr);
            let size =
                if virt.is_multiple_of(HUGE) && phys.is_multiple_of(HUGE) && end - virt >= HUGE {
                    PageSize::Size2M
                } else {
                    PageSize::Size4K
                };
            if self.tables.translate(virt).is_some()
                || (size == PageSize::Size2M
                    && (0..HUGE)
                        .step_by(PAGE_SIZE as usize)
                        .any(|o| self.tables.translate(virt + o).is_some()))
            {
                replaced = true;
            }
            self.tables.remap(virt, phys, size, flags).map_err(pt_err)?;
            virt += size.bytes();
        }
        if replaced {
            self.generation += 1;
            self.machine.mark_shadow_stale();
        }
        Ok(())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<()> {
        let end = addr.saturating_add(len).min(USER_LIMIT);
        if addr >= end {
            return Ok(());
        }
        self.tables.unmap_range(addr, end - addr).map_err(pt_err)?;
        self.generation += 1;
        self.machine.mark_shadow_stale();
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Drop for KvmAddressSpace {
    fn drop(&mut self) {
        // ring0's tables are shared: unlink them before the tree is freed.
        set_root_slot(&self.tables, 0);
        self.machine.mark_shadow_stale();
    }
}
