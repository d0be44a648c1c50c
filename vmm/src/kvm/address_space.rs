//! [`KvmAddressSpace`]: one guest address space as 4-level page tables in
//! the memory file, with ring0's PML4 slot linked in.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pagetables::{EntryFlags, PageSize, PageTables};

use crate::memfile::FileRange;
use crate::platform::{AddressSpace, PlatformError, Result, ThreadSeed};

use super::context::KvmThreadSeed;
use crate::{Access, PAGE_SIZE};

use super::frames::FileFrames;
use super::layout_r0::{RING0_PML4_SLOT, USER_LIMIT};
use super::machine::{pt_err, Machine};

/// Distinguishes address spaces whose root frames may be reused.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct KvmAddressSpace {
    /// Locked by mapping changes (the threads of a process share it); the
    /// vCPUs read the tables through the MMU.
    tables: Mutex<PageTables<FileFrames>>,
    /// Root of the tables, fixed for their life.
    cr3: u64,
    machine: Arc<Machine>,
    /// Unique per address space, so a vCPU never mistakes a new address
    /// space on a reused root frame for the one it last ran.
    pub(super) id: u64,
    /// Bumped whenever a present entry changes: vCPUs that ran this address
    /// space must flush their TLB before running it again.
    pub(super) generation: AtomicU64,
}

impl KvmAddressSpace {
    pub(super) fn new(machine: Arc<Machine>) -> Result<Self> {
        let frames = FileFrames::new(machine.mf.clone(), machine.quarantine.clone());
        let tables = PageTables::new(frames).map_err(pt_err)?;
        let entry = machine.ring0_pml4_entry();
        set_root_slot(&tables, entry);
        Ok(KvmAddressSpace {
            cr3: tables.root_phys(),
            tables: Mutex::new(tables),
            machine,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
        })
    }

    /// Reads user memory at `addr` (within one page) as the guest sees it,
    /// or `None` if it is not mapped for user mode.
    pub(super) fn read_user(&self, addr: u64, buf: &mut [u8]) -> Option<()> {
        let in_page = (PAGE_SIZE - addr % PAGE_SIZE) as usize;
        if buf.len() > in_page {
            return None;
        }
        let (phys, flags, _) = self.lock().translate(addr)?;
        flags.contains(EntryFlags::USER).then_some(())?;
        self.machine.guest.read(phys, buf).ok()
    }

    /// CR3 (no PCID) of this address space.
    pub(super) fn cr3(&self) -> u64 {
        self.cr3
    }

    fn lock(&self) -> MutexGuard<'_, PageTables<FileFrames>> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
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

/// Leaf flags for `perms`. ACCESSED and DIRTY are set from the start: a
/// shadow MMU only prefetches neighbouring entries (8 per fault) from guest
/// entries marked accessed, makes a writable entry read-only until the
/// guest entry is dirty, and would otherwise write both bits into the
/// tables on the first access; nothing here reads them.
fn leaf_flags(perms: Access) -> EntryFlags {
    let mut flags = EntryFlags::USER | EntryFlags::STATUS;
    if perms.contains(Access::WRITE) {
        flags |= EntryFlags::WRITABLE;
    }
    if !perms.contains(Access::EXEC) {
        flags |= EntryFlags::NO_EXECUTE;
    }
    flags
}

impl KvmAddressSpace {
    /// Tells the machine which data pages lost a mapping (or some of its
    /// permissions) in `[addr, end)`: every leaf there, unless `keep` says
    /// the leaf survives as is. Returns whether any present leaf was there.
    fn note_changed_leaves(
        &self,
        tables: &PageTables<FileFrames>,
        addr: u64,
        end: u64,
        mut keep: impl FnMut(u64, u64, EntryFlags, PageSize) -> bool,
    ) -> Result<bool> {
        let mut any = false;
        tables
            .for_each_mapping_in(addr, end - addr, |virt, phys, flags, size| {
                any = true;
                if !keep(virt, phys, flags, size) {
                    self.machine.zap_guest_mappings(phys, size.bytes());
                }
            })
            .map_err(pt_err)?;
        Ok(any)
    }
}

/// Whether a leaf with `new` flags grants at least what one with `old`
/// flags did (so a shadow entry made from the old one is not too generous).
fn grants_all_of(new: EntryFlags, old: EntryFlags) -> bool {
    let rights = EntryFlags::WRITABLE | EntryFlags::USER;
    new.contains(old & rights)
        && (old.contains(EntryFlags::NO_EXECUTE) || !new.contains(EntryFlags::NO_EXECUTE))
}

impl AddressSpace for KvmAddressSpace {
    fn map_file(&self, addr: u64, range: FileRange, perms: Access) -> Result<()> {
        self.map(addr, range, perms, true)
    }

    fn map_file_backed(&self, addr: u64, range: FileRange, perms: Access) -> Result<()> {
        // The pages are in use already, so the sentry's mapping has them
        // (KVM faulted them in for whoever touched them): populating would
        // only cost a system call.
        self.map(addr, range, perms, false)
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<()> {
        self.unmap_range(addr, len)
    }

    fn spawn_thread(&self) -> Result<Box<dyn ThreadSeed>> {
        Ok(Box::new(KvmThreadSeed(self.machine.clone())))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl KvmAddressSpace {
    /// `map_file`; `populate`: have the host pages ready first.
    fn map(&self, addr: u64, range: FileRange, perms: Access, populate: bool) -> Result<()> {
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
            return self.unmap_range(addr, range.len);
        }
        let flags = leaf_flags(perms);
        let mut tables = self.lock();
        // A leaf that keeps its page and gains rights needs nothing: the
        // shadow MMU re-reads the tables when the old, narrower entry faults.
        let replaced = self.note_changed_leaves(&tables, addr, end, |virt, phys, old, size| {
            size == PageSize::Size4K
                && virt >= addr
                && phys == range.offset + (virt - addr)
                && grants_all_of(flags, old)
        })?;
        // 4 KiB leaves only: a shadow MMU follows the links between its
        // shadow pages without checking them against the guest's tables,
        // so a 2 MiB leaf later split into a table (or the reverse) could
        // leave a stale link (see "Shadow paging" in ARCHITECTURE.md). The
        // host backs the memory file with 4 KiB pages, so KVM would shadow a
        // 2 MiB guest page with 4 KiB entries anyway.
        let mut virt = addr;
        while virt < end {
            let phys = range.offset + (virt - addr);
            tables
                .remap(virt, phys, PageSize::Size4K, flags)
                .map_err(pt_err)?;
            virt += PAGE_SIZE;
        }
        drop(tables);
        if replaced {
            self.generation.fetch_add(1, Ordering::AcqRel);
            // Other vCPUs of this process may run right now: drop the old
            // frames from the shadow MMU before anyone reuses them.
            self.machine.sync_shadow()?;
        } else if populate {
            let write = perms.contains(Access::WRITE);
            if let Err(e) = self.machine.mf.populate(range.offset, range.len, write) {
                // Only an optimisation: the guest's faults populate it too.
                tracing::debug!("cannot populate {range:?}: {e}");
            }
        }
        Ok(())
    }

    fn unmap_range(&self, addr: u64, len: u64) -> Result<()> {
        let end = addr.saturating_add(len).min(USER_LIMIT);
        if addr >= end {
            return Ok(());
        }
        {
            let mut tables = self.lock();
            self.note_changed_leaves(&tables, addr, end, |_, _, _, _| false)?;
            tables.unmap_range(addr, end - addr).map_err(pt_err)?;
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        // As in `map_file`: no vCPU of this process keeps the old frames.
        self.machine.sync_shadow()
    }
}

impl Drop for KvmAddressSpace {
    fn drop(&mut self) {
        // ring0's tables are shared: unlink them before the tree is freed.
        // The tree's frames go to the quarantine, so no shadow page built
        // from them is reachable again (nothing loads them as CR3 or links
        // them as tables) until KVM has dropped them all.
        set_root_slot(&self.lock(), 0);
    }
}
