//! [`Machine`]: one sandbox's VM: the memory file as guest-physical memory
//! (one memslot, guest-physical = file offset), ring0's pages and the
//! template tables that map them, the filtered CPUID, and the pool of idle
//! vCPUs.

use std::sync::{Arc, Mutex};

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VmFd};
use pagetables::{EntryFlags, PageSize, PageTables};
use ring0::idt::Idt;
use ring0::text::{entry_text, EntryText};

use crate::memfile::MemoryFile;
use crate::platform::{PlatformError, Result};
use crate::PAGE_SIZE;

use super::frames::{FileFrames, Quarantine};
use super::guest_gate::GuestGate;
use super::guest_phys::GuestPhys;
use super::layout_r0::*;
use super::vcpu::Vcpu;

/// Shorthand for a failed KVM ioctl.
pub(super) fn kvm_err(call: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> PlatformError {
    move |e| PlatformError::host(call, std::io::Error::from_raw_os_error(e.errno()))
}

/// How many freed table frames (16 MiB of them) may wait in the quarantine
/// before KVM is made to drop all its shadow pages.
const QUARANTINE_FLUSH_FRAMES: usize = 4096;

/// Flags of ring0's data pages: present, writable, supervisor-only, NX.
const RING0_DATA: EntryFlags = EntryFlags::WRITABLE.union(EntryFlags::NO_EXECUTE);

pub(super) struct Machine {
    // Field order: vCPUs and the VM go before the memory they use.
    idle: Mutex<Vec<Vcpu>>,
    vm: VmFd,
    /// The memory file as guest-physical memory (KVM's memslot 0).
    pub(super) guest: GuestPhys,
    pub(super) mf: Arc<MemoryFile>,
    pub(super) cpuid: CpuId,
    /// Maps ring0's pages; PML4 slot 511 of its root is linked into every
    /// address space.
    ring0: Mutex<Ring0Tables>,
    pub(super) quarantine: Arc<Quarantine>,
    /// Memory-file ranges (offset, length) of data pages whose guest
    /// mappings were removed or narrowed since the last run.
    stale_data: Mutex<Vec<(u64, u64)>>,
    pub(super) text: EntryText,
    /// Passed by every KVM_RUN; closed while the memslot is replaced.
    pub(super) gate: GuestGate,
}

struct Ring0Tables {
    tables: PageTables<FileFrames>,
    next_vcpu: u64,
}

impl Machine {
    pub(super) fn new(mf: Arc<MemoryFile>) -> Result<Self> {
        let kvm = Kvm::new().map_err(kvm_err("open /dev/kvm"))?;
        let vm = kvm.create_vm().map_err(kvm_err("KVM_CREATE_VM"))?;
        let guest = GuestPhys::new(mf.clone())?;
        // SAFETY: the region is the memory file's own mapping, which lives
        // as long as `mf`; the machine holds `mf` (and `guest` holds it too)
        // and drops the VM (and its vCPUs) first (field order).
        unsafe { vm.set_user_memory_region(guest.memslot(0, true)) }
            .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
        let cpuid = super::guest_cpuid::filtered(
            kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
                .map_err(kvm_err("KVM_GET_SUPPORTED_CPUID"))?,
        )?;
        let text = entry_text();
        if text.vectors_offset != ring0::entry::VECTOR_STUBS_OFFSET
            || text.vectors_end != ring0::entry::ENTRY_TEXT_END
            || text.bytes.len() as u64 > TEXT_PAGES * PAGE_SIZE
        {
            return Err(PlatformError::Protocol(format!(
                "ring0 entry text has the wrong layout: {text:?}"
            )));
        }
        let quarantine = Arc::new(Quarantine::default());
        let mut tables =
            PageTables::new(FileFrames::new(mf.clone(), quarantine.clone())).map_err(pt_err)?;

        let code = mf.allocate(TEXT_PAGES * PAGE_SIZE)?;
        guest.write(code.offset, text.bytes)?;
        for i in 0..TEXT_PAGES {
            let off = i * PAGE_SIZE;
            tables
                .map(
                    TEXT_BASE + off,
                    code.offset + off,
                    PageSize::Size4K,
                    EntryFlags::empty(),
                )
                .map_err(pt_err)?;
        }
        let idt = mf.allocate(PAGE_SIZE)?;
        guest.write(idt.offset, Idt::for_entry_text(TEXT_BASE).as_bytes())?;
        tables
            .map(
                IDT_BASE,
                idt.offset,
                PageSize::Size4K,
                EntryFlags::NO_EXECUTE,
            )
            .map_err(pt_err)?;

        Ok(Machine {
            idle: Mutex::new(Vec::new()),
            vm,
            guest,
            mf,
            cpuid,
            ring0: Mutex::new(Ring0Tables {
                tables,
                next_vcpu: 0,
            }),
            quarantine,
            stale_data: Mutex::new(Vec::new()),
            text,
            gate: GuestGate::default(),
        })
    }

    /// The PML4 entry every address space's slot 511 must hold.
    pub(super) fn ring0_pml4_entry(&self) -> u64 {
        let r0 = self.ring0.lock().unwrap_or_else(|e| e.into_inner());
        let root = r0.tables.root_phys();
        let mut word = [0u8; 8];
        // The root is a memory-file page; reading it as bytes is fine: slot
        // 511 only changes here, under the lock.
        self.guest
            .read(root + 8 * RING0_PML4_SLOT as u64, &mut word)
            .expect("ring0 root lies in the memory file");
        u64::from_le_bytes(word)
    }

    /// CR3 of ring0's own tables (no user mappings).
    pub(super) fn kernel_cr3(&self) -> u64 {
        self.ring0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .tables
            .root_phys()
    }

    /// An idle vCPU, or a new one.
    pub(super) fn take_vcpu(self: &Arc<Self>) -> Result<Vcpu> {
        if let Some(v) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(v);
        }
        let (index, page_gpa) = {
            let mut r0 = self.ring0.lock().unwrap_or_else(|e| e.into_inner());
            let index = r0.next_vcpu;
            if index >= MAX_VCPUS {
                return Err(PlatformError::Protocol("too many vCPUs".into()));
            }
            let region = self.mf.allocate(VCPU_REGION_PAGES * PAGE_SIZE)?;
            for i in 0..VCPU_REGION_PAGES {
                r0.tables
                    .map(
                        vcpu_region(index) + i * PAGE_SIZE,
                        region.offset + i * PAGE_SIZE,
                        PageSize::Size4K,
                        RING0_DATA,
                    )
                    .map_err(pt_err)?;
            }
            for slot in page_pointer_slots(index) {
                self.mf
                    .write(region.offset + slot, &vcpu_page(index).to_le_bytes())?;
            }
            r0.next_vcpu += 1;
            (
                index,
                region.offset + (vcpu_page(index) - vcpu_region(index)),
            )
        };
        let fd = self
            .vm
            .create_vcpu(index)
            .map_err(kvm_err("KVM_CREATE_VCPU"))?;
        Vcpu::new(self.clone(), fd, index, page_gpa)
    }

    /// Takes back a vCPU whose context is gone.
    pub(super) fn put_vcpu(&self, vcpu: Vcpu) {
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(vcpu);
    }

    /// Notes that a guest mapping of `len` bytes of data pages at memory-file
    /// offset `offset` was removed or narrowed: KVM must drop what it built
    /// from it before guest code runs again.
    pub(super) fn zap_guest_mappings(&self, offset: u64, len: u64) {
        self.stale_data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((offset, len));
    }

    /// Before guest code runs: makes KVM forget guest mappings the VMM
    /// removed or narrowed. A shadow MMU (PVM) only notices page-table
    /// changes the guest writes itself; the VMM's edits stay invisible. But
    /// KVM drops every mapping of a page when the host mapping it was made
    /// from changes (MMU notifier), so dropping the sentry's own PTEs for
    /// the data pages concerned (`madvise(MADV_DONTNEED)`, which keeps their
    /// contents) removes exactly the stale shadow entries, on every vCPU.
    /// Freed table frames wait in the quarantine so that no shadow page
    /// built from them is used again; once it holds many, the memslot is
    /// deleted and re-added, which drops every shadow page (~10 ms with
    /// a 64 GiB memslot), and the frames are released.
    pub(super) fn sync_shadow(&self) -> Result<()> {
        let mut stale =
            std::mem::take(&mut *self.stale_data.lock().unwrap_or_else(|e| e.into_inner()));
        if !stale.is_empty() {
            stale.sort_unstable();
            let mut run: Option<(u64, u64)> = None;
            for (offset, len) in stale {
                match &mut run {
                    Some((start, end)) if offset <= *end => *end = (*end).max(offset + len),
                    _ => {
                        if let Some((start, end)) = run {
                            self.mf.drop_host_ptes(start, end - start)?;
                        }
                        run = Some((offset, offset + len));
                    }
                }
            }
            if let Some((start, end)) = run {
                self.mf.drop_host_ptes(start, end - start)?;
            }
        }
        if self.quarantine.len() < QUARANTINE_FLUSH_FRAMES {
            return Ok(());
        }
        // With every vCPU out of guest mode (one running while the slot is
        // gone triple-faults), and by one thread at a time; another one
        // doing it at the same time does it for us.
        self.gate
            .with_all_out(|| self.replace_memslot())
            .unwrap_or(Ok(()))
    }

    /// Deletes and re-adds the memslot, which drops every shadow page, and
    /// then releases the quarantined table frames.
    fn replace_memslot(&self) -> Result<()> {
        if self.quarantine.len() < QUARANTINE_FLUSH_FRAMES {
            return Ok(());
        }
        // SAFETY: deleting the slot (size 0) gives KVM no memory at all.
        unsafe { self.vm.set_user_memory_region(self.guest.memslot(0, false)) }
            .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION (delete)"))?;
        // SAFETY: as in `new`: the memory file's mapping, alive as long as
        // the VM.
        unsafe { self.vm.set_user_memory_region(self.guest.memslot(0, true)) }
            .map_err(kvm_err("KVM_SET_USER_MEMORY_REGION"))?;
        self.quarantine.release(&self.mf);
        Ok(())
    }
}

/// A page-table error as a platform error.
pub(super) fn pt_err(e: pagetables::Error) -> PlatformError {
    PlatformError::Protocol(format!("page tables: {e}"))
}
