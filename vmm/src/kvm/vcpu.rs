//! [`Vcpu`]: one KVM vCPU set up to run ring0: long mode, its GDT and TSS in
//! its per-vCPU page, the shared IDT, SYSCALL MSRs, XCR0; it starts at
//! ring0's return-to-user code.
//!
//! Registers travel through the `kvm_run` page (KVM_CAP_SYNC_REGS): KVM
//! copies the general and system registers out at every exit and takes
//! staged ones in at the next KVM_RUN. On PVM hosts each vCPU ioctl costs
//! ~10 µs (vCPU load and put), so KVM_GET/SET_REGS and KVM_GET/SET_SREGS
//! per event would double the cost of a system call.

use std::sync::Arc;

use kvm_bindings::{kvm_msr_entry, kvm_regs, kvm_run, kvm_segment, kvm_sregs, kvm_xcrs, Msrs};
use kvm_ioctls::{SyncReg, VcpuFd};
use ring0::gdt::{self, Segment};
use ring0::idt::Idt;
use ring0::msr;
use ring0::vcpu_page::VcpuPage;

use crate::platform::{PlatformError, Result};

use super::guest_cpuid;
use super::layout_r0::{vcpu_page, vcpu_region, vcpu_stacks, IDT_BASE, TEXT_BASE};
use super::machine::{kvm_err, Machine};

/// CR0: PE | MP | ET | NE | WP | PG.
const CR0: u64 = 0x8005_0033;
/// CR4: PAE | OSFXSR | OSXMMEXCPT | OSXSAVE.
const CR4: u64 = (1 << 5) | (1 << 9) | (1 << 10) | (1 << 18);

pub(super) struct Vcpu {
    pub(super) fd: VcpuFd,
    pub(super) machine: Arc<Machine>,
    /// Guest-virtual and guest-physical (memory-file offset) start of the
    /// vCPU's region (stacks and per-vCPU page).
    pub(super) region_gva: u64,
    pub(super) region_gpa: u64,
    /// RSP0: where the CPU's frame of an entry from user mode ends.
    pub(super) rsp0: u64,
    /// User FS/GS bases currently in the vCPU.
    pub(super) fs_base: u64,
    pub(super) gs_base: u64,
    /// The vCPU stopped in user mode (a signal interrupted KVM_RUN), not at
    /// ring0's exit; it resumes with staged general registers.
    pub(super) parked_in_user: bool,
    /// User code and stack segments, for returning to user mode by
    /// staging them instead of executing an emulated `iretq`.
    pub(super) user_cs: kvm_segment,
    pub(super) user_ss: kvm_segment,
}

fn segment(s: Segment) -> kvm_segment {
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: u8::from(s.present),
        dpl: s.dpl,
        db: u8::from(s.db),
        s: u8::from(s.s),
        l: u8::from(s.long),
        g: u8::from(s.granularity),
        avl: u8::from(s.avl),
        unusable: 0,
        padding: 0,
    }
}

impl Vcpu {
    pub(super) fn new(
        machine: Arc<Machine>,
        mut fd: VcpuFd,
        index: u64,
        page_gpa: u64,
    ) -> Result<Self> {
        let page_gva = vcpu_page(index);
        let page = VcpuPage::new(page_gva, &vcpu_stacks(index), machine.kernel_cr3());
        machine.guest.write(page_gpa, page.as_bytes())?;
        fd.set_cpuid2(&machine.cpuid)
            .map_err(kvm_err("KVM_SET_CPUID2"))?;

        let mut s = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?;
        let seg = |sel: u16| {
            page.gdt
                .segment(sel)
                .map(segment)
                .ok_or_else(|| PlatformError::Protocol(format!("no GDT entry {sel:#x}")))
        };
        s.cs = seg(gdt::KERNEL_CS)?;
        s.ss = seg(gdt::KERNEL_DS)?;
        let user_data = seg(gdt::USER_DS)?;
        let mut user_cs = seg(gdt::USER_CS)?;
        user_cs.selector = gdt::USER_CS;
        let mut user_ss = user_data;
        user_ss.selector = gdt::USER_DS;
        (s.ds, s.es, s.fs, s.gs) = (user_data, user_data, user_data, user_data);
        s.tr = segment(page.gdt.task_register());
        s.gdt.base = page.gdt_base();
        s.gdt.limit = gdt::Gdt::LIMIT;
        s.idt.base = IDT_BASE;
        s.idt.limit = Idt::LIMIT;
        s.cr0 = CR0;
        s.cr3 = page.kernel_cr3;
        s.cr4 = CR4;
        s.efer = msr::RING0_EFER;
        fd.set_sregs(&s).map_err(kvm_err("KVM_SET_SREGS"))?;

        let lstar = ring0::entry::lstar(TEXT_BASE);
        let msrs = [
            (msr::IA32_STAR, gdt::STAR),
            (msr::IA32_LSTAR, lstar),
            (msr::IA32_CSTAR, lstar),
            (msr::IA32_FMASK, ring0::entry::SFMASK),
            (msr::IA32_KERNEL_GS_BASE, page_gva),
        ]
        .map(|(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        });
        let msrs = Msrs::from_entries(&msrs)
            .map_err(|e| PlatformError::Protocol(format!("MSR list: {e:?}")))?;
        let done = fd.set_msrs(&msrs).map_err(kvm_err("KVM_SET_MSRS"))?;
        if done != msrs.as_slice().len() {
            return Err(PlatformError::Protocol(format!(
                "KVM_SET_MSRS took {done} of {} MSRs",
                msrs.as_slice().len()
            )));
        }

        let mut xcrs = kvm_xcrs {
            nr_xcrs: 1,
            ..Default::default()
        };
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = guest_cpuid::xcr0(&machine.cpuid);
        fd.set_xcrs(&xcrs).map_err(kvm_err("KVM_SET_XCRS"))?;

        let regs = kvm_regs {
            rip: TEXT_BASE + machine.text.iret_offset,
            rsp: page.tss.rsp0(),
            rflags: 0x2,
            ..Default::default()
        };
        fd.set_regs(&regs).map_err(kvm_err("KVM_SET_REGS"))?;
        fd.set_sync_valid_reg(SyncReg::Register);
        fd.set_sync_valid_reg(SyncReg::SystemRegister);
        // Until the first exit fills it, the sync area must hold what the
        // vCPU has: a staged SREGS change writes back the whole struct.
        let sync = fd.sync_regs_mut();
        sync.regs = regs;
        sync.sregs = s;
        let region_gva = vcpu_region(index);
        Ok(Vcpu {
            fd,
            machine,
            region_gva,
            region_gpa: page_gpa - (page_gva - region_gva),
            rsp0: page.tss.rsp0(),
            fs_base: 0,
            gs_base: 0,
            parked_in_user: false,
            user_cs,
            user_ss,
        })
    }

    /// Guest-physical address of `gva` if it lies in this vCPU's region.
    pub(super) fn region_gpa_of(&self, gva: u64, len: u64) -> Option<u64> {
        let off = gva.checked_sub(self.region_gva)?;
        (off.checked_add(len)? <= super::layout_r0::VCPU_REGION_PAGES * crate::PAGE_SIZE)
            .then_some(self.region_gpa + off)
    }

    /// The general registers as of the last exit.
    pub(super) fn regs(&mut self) -> &kvm_regs {
        &self.fd.sync_regs_mut().regs
    }

    /// The system registers as of the last exit.
    pub(super) fn sregs(&mut self) -> &kvm_sregs {
        &self.fd.sync_regs_mut().sregs
    }

    /// Stages general registers for the next KVM_RUN.
    pub(super) fn stage_regs(&mut self, regs: kvm_regs) {
        self.fd.sync_regs_mut().regs = regs;
        self.fd.set_sync_dirty_reg(SyncReg::Register);
    }

    /// The system registers as of the last exit, to be changed in place and
    /// handed to KVM at the next KVM_RUN.
    pub(super) fn stage_sregs(&mut self) -> &mut kvm_sregs {
        self.fd.set_sync_dirty_reg(SyncReg::SystemRegister);
        &mut self.fd.sync_regs_mut().sregs
    }

    /// Whether KVM has not yet taken staged registers (it takes them at the
    /// start of KVM_RUN and clears the flags).
    pub(super) fn has_staged(&mut self) -> bool {
        self.fd.get_kvm_run().kvm_dirty_regs != 0
    }

    /// The vCPU's shared `kvm_run` area, for `immediate_exit` from other
    /// threads.
    pub(super) fn run_area(&mut self) -> *mut kvm_run {
        self.fd.get_kvm_run()
    }
}
