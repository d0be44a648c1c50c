//! [`TinyVm`]: one VM, one vCPU and [`GuestRam`], set up in 64-bit mode with the
//! tables of [`layout`](super::layout). It runs one small scenario and
//! reports how it stopped.

use kvm_bindings::{
    kvm_msr_entry, kvm_regs, kvm_segment, kvm_userspace_memory_region, CpuId, Msrs,
};
use kvm_ioctls::{Cap, Kvm, SyncReg, VcpuExit, VcpuFd, VmFd};

use super::layout::*;
use super::ram::{GuestRam, GuestRamError};

/// Errors of the probe VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A KVM ioctl failed.
    #[error("{op}: {source}")]
    Kvm {
        /// The ioctl.
        op: &'static str,
        /// Its error.
        source: kvm_ioctls::Error,
    },
    /// Guest RAM could not be mapped or accessed.
    #[error(transparent)]
    Ram(#[from] GuestRamError),
    /// KVM took fewer MSRs than given.
    #[error("{op} processed {done} of {wanted} MSRs")]
    Msrs {
        /// The ioctl.
        op: &'static str,
        /// How many KVM processed.
        done: usize,
        /// How many were given.
        wanted: usize,
    },
    /// The vCPU exited for a reason the scenario does not expect.
    #[error("unexpected VM exit: {0}")]
    UnexpectedExit(String),
    /// The guest kept exiting without stopping.
    #[error("guest still running after {0} VM exits")]
    TooManyExits(u32),
}

/// Shorthand for mapping a KVM error.
fn kvm(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmError {
    move |source| VmError::Kvm { op, source }
}

/// What an exception stub reported: the vector and the frame it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ExceptionReport {
    /// The vector (the stub's number, not the CPU's word for it).
    pub vector: u8,
    /// The error code, 0 for vectors without one.
    pub error_code: u64,
    /// Saved RIP: the faulting instruction (or the next, for traps).
    pub rip: u64,
    /// Saved CS: its low two bits are the CPL the exception came from.
    pub cs: u64,
    /// Saved RSP.
    pub rsp: u64,
    /// Saved SS.
    pub ss: u64,
    /// CR2 at the time of the report.
    pub cr2: u64,
}

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// `hlt` in ring 0 exited to the VMM (`KVM_EXIT_HLT`).
    Halted {
        /// RIP after the exit (KVM has stepped over the `hlt`).
        rip: u64,
        /// CS selector at the exit.
        cs: u16,
    },
    /// An exception went through the guest IDT to a stub, which reported it.
    Exception(ExceptionReport),
    /// The guest triple-faulted (`KVM_EXIT_SHUTDOWN`).
    Shutdown,
}

/// The probe guest. Fields drop in order: the vCPU and the VM go before the
/// RAM they were given.
pub(super) struct TinyVm {
    vcpu: VcpuFd,
    _vm: VmFd,
    ram: GuestRam,
}

impl TinyVm {
    /// A VM with RAM, tables and one vCPU in ring 0, 64-bit mode, interrupts off.
    /// Pages in `user_pages` (besides [`USER_PAGES`]) are user-accessible.
    pub(super) fn new(kvm: &Kvm, cpuid: &CpuId, user_pages: &[u64]) -> Result<Self, VmError> {
        // Declared before the VM so that, on an early return, the VM goes first.
        let mut ram = GuestRam::new(RAM_SIZE)?;
        let vm = kvm.create_vm().map_err(self::kvm("KVM_CREATE_VM"))?;
        if kvm.check_extension(Cap::SetTssAddr) {
            // Only used by VMX for real-mode emulation; set like other VMMs do.
            vm.set_tss_address(0xfffb_d000)
                .map_err(self::kvm("KVM_SET_TSS_ADDR"))?;
        }
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: ram.size() as u64,
            userspace_addr: ram.host_address(),
        };
        // SAFETY: the region is exactly the live mapping of `ram`, which no
        // other slot overlaps, and `ram` outlives the VM: it is dropped after
        // `vm` both on the error paths below (declared earlier) and in
        // `TinyVm` (field order).
        unsafe { vm.set_user_memory_region(region) }
            .map_err(self::kvm("KVM_SET_USER_MEMORY_REGION"))?;
        let vcpu = vm.create_vcpu(0).map_err(self::kvm("KVM_CREATE_VCPU"))?;
        vcpu.set_cpuid2(cpuid)
            .map_err(self::kvm("KVM_SET_CPUID2"))?;

        write_tables(&mut ram, user_pages)?;
        let mut this = Self { vcpu, _vm: vm, ram };
        this.enter_long_mode()?;
        Ok(this)
    }

    fn enter_long_mode(&mut self) -> Result<(), VmError> {
        let mut s = self.vcpu.get_sregs().map_err(kvm("KVM_GET_SREGS"))?;
        let flat = kvm_segment {
            base: 0,
            limit: 0xffff_ffff,
            present: 1,
            s: 1,
            g: 1,
            ..Default::default()
        };
        s.cs = kvm_segment {
            selector: KERNEL_CS,
            type_: 11, // execute/read, accessed
            l: 1,
            ..flat
        };
        let data = kvm_segment {
            selector: KERNEL_DS,
            type_: 3, // read/write, accessed
            db: 1,
            ..flat
        };
        (s.ds, s.es, s.fs, s.gs, s.ss) = (data, data, data, data, data);
        s.tr = kvm_segment {
            base: TSS,
            limit: TSS_SIZE as u32 - 1,
            selector: TSS_SELECTOR,
            type_: 11, // busy 64-bit TSS
            present: 1,
            ..Default::default()
        };
        s.gdt.base = GDT;
        s.gdt.limit = (GDT_ENTRIES * 8 - 1) as u16;
        s.idt.base = IDT;
        s.idt.limit = (IDT_VECTORS * 16 - 1) as u16;
        s.cr0 = CR0;
        s.cr3 = PAGE_TABLES;
        s.cr4 = CR4;
        s.efer = EFER;
        self.vcpu.set_sregs(&s).map_err(kvm("KVM_SET_SREGS"))?;

        let msrs = [
            (MSR_STAR, STAR_VALUE),
            (MSR_LSTAR, LSTAR_CODE),
            (MSR_FMASK, FMASK_VALUE),
        ]
        .map(|(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        });
        let wanted = msrs.len();
        let msrs = Msrs::from_entries(&msrs).map_err(|_| VmError::Msrs {
            op: "KVM_SET_MSRS",
            done: 0,
            wanted,
        })?;
        let done = self.vcpu.set_msrs(&msrs).map_err(kvm("KVM_SET_MSRS"))?;
        if done != wanted {
            return Err(VmError::Msrs {
                op: "KVM_SET_MSRS",
                done,
                wanted,
            });
        }
        Ok(())
    }

    /// Whether `KVM_GET_MSRS` on the vCPU accepts MSR `index`.
    pub(super) fn msr_readable(&self, index: u32) -> Result<bool, VmError> {
        let entry = kvm_msr_entry {
            index,
            ..Default::default()
        };
        let mut msrs = Msrs::from_entries(&[entry]).map_err(|_| VmError::Msrs {
            op: "KVM_GET_MSRS",
            done: 0,
            wanted: 1,
        })?;
        Ok(self.vcpu.get_msrs(&mut msrs).map_err(kvm("KVM_GET_MSRS"))? == 1)
    }

    /// Copies guest code (or data) to guest-physical `gpa`.
    pub(super) fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), VmError> {
        Ok(self.ram.write(gpa, bytes)?)
    }

    /// Points the vCPU at `rip` with the ring-0 stack and interrupts off.
    pub(super) fn start_at(&mut self, rip: u64) -> Result<(), VmError> {
        let regs = kvm_regs {
            rip,
            rsp: KERNEL_STACK_TOP,
            rflags: 0x2,
            ..Default::default()
        };
        self.vcpu.set_regs(&regs).map_err(kvm("KVM_SET_REGS"))
    }

    /// Runs until the guest halts, reports an exception or shuts down, allowing
    /// at most `max_exits` VM exits (port [`PORT_TICK`] writes are passed over).
    pub(super) fn run_until_stop(&mut self, max_exits: u32) -> Result<Stop, VmError> {
        for _ in 0..max_exits {
            let vector = match self.vcpu.run() {
                Ok(VcpuExit::IoOut(PORT_TICK, _)) => continue,
                Ok(VcpuExit::IoOut(PORT_EXCEPTION, data)) => {
                    data.first().copied().unwrap_or(u8::MAX)
                }
                Ok(VcpuExit::Hlt) => {
                    let rip = self.vcpu.get_regs().map_err(kvm("KVM_GET_REGS"))?.rip;
                    let cs = self.vcpu.get_sregs().map_err(kvm("KVM_GET_SREGS"))?.cs;
                    return Ok(Stop::Halted {
                        rip,
                        cs: cs.selector,
                    });
                }
                Ok(VcpuExit::Shutdown) => return Ok(Stop::Shutdown),
                Ok(other) => return Err(VmError::UnexpectedExit(format!("{other:?}"))),
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(source) => {
                    return Err(VmError::Kvm {
                        op: "KVM_RUN",
                        source,
                    })
                }
            };
            let rsp = self.vcpu.get_regs().map_err(kvm("KVM_GET_REGS"))?.rsp;
            let cr2 = self.vcpu.get_sregs().map_err(kvm("KVM_GET_SREGS"))?.cr2;
            // The stub made the frame uniform: error code, RIP, CS, RFLAGS, RSP, SS.
            let [error_code, rip, cs, _rflags, user_rsp, ss] = self.ram.read_u64s::<6>(rsp)?;
            return Ok(Stop::Exception(ExceptionReport {
                vector,
                error_code,
                rip,
                cs,
                rsp: user_rsp,
                ss,
                cr2,
            }));
        }
        Err(VmError::TooManyExits(max_exits))
    }

    /// Serves user-mode `syscall`s the way the KVM platform does on hosts
    /// where they stay at CPL 3: each becomes a #PF at the supervisor-only
    /// LSTAR page, whose stub exits; the registers travel through the
    /// `kvm_run` page, and the vCPU goes straight back to user mode at the
    /// return address with staged user segments. Runs until any other stop
    /// (the user code's final `hlt`, a #GP) and returns how many system
    /// calls it served.
    pub(super) fn serve_syscalls(&mut self) -> Result<u64, VmError> {
        self.vcpu.set_sync_valid_reg(SyncReg::Register);
        self.vcpu.set_sync_valid_reg(SyncReg::SystemRegister);
        let mut served = 0;
        loop {
            match self.vcpu.run() {
                Ok(VcpuExit::IoOut(PORT_EXCEPTION, data)) if data.first() == Some(&14) => {}
                // Any other exception, or a `hlt` at CPL 0 (SYSCALL entered
                // ring 0 directly: not this path's host).
                Ok(VcpuExit::IoOut(PORT_EXCEPTION, _) | VcpuExit::Hlt) => return Ok(served),
                Ok(other) => return Err(VmError::UnexpectedExit(format!("{other:?}"))),
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(source) => {
                    return Err(VmError::Kvm {
                        op: "KVM_RUN",
                        source,
                    })
                }
            }
            let sync = self.vcpu.sync_regs_mut();
            let [_code, rip, _cs, _rflags, user_rsp, _ss] =
                self.ram.read_u64s::<6>(sync.regs.rsp)?;
            if rip != LSTAR_CODE {
                return Ok(served);
            }
            served += 1;
            sync.regs.rip = sync.regs.rcx;
            sync.regs.rflags = sync.regs.r11;
            sync.regs.rsp = user_rsp;
            sync.regs.rax = 0;
            let (mut cs, mut ss) = (sync.sregs.cs, sync.sregs.ss);
            (cs.selector, cs.dpl, cs.l, cs.db) = (USER_CS, 3, 1, 0);
            (ss.selector, ss.dpl) = (USER_DS, 3);
            (sync.sregs.cs, sync.sregs.ss) = (cs, ss);
            self.vcpu.set_sync_dirty_reg(SyncReg::Register);
            self.vcpu.set_sync_dirty_reg(SyncReg::SystemRegister);
        }
    }

    /// One `KVM_RUN` that must end in a [`PORT_TICK`] write.
    pub(super) fn tick(&mut self) -> Result<(), VmError> {
        match self.vcpu.run() {
            Ok(VcpuExit::IoOut(PORT_TICK, _)) => Ok(()),
            Ok(other) => Err(VmError::UnexpectedExit(format!("{other:?}"))),
            Err(source) => Err(VmError::Kvm {
                op: "KVM_RUN",
                source,
            }),
        }
    }
}

/// Writes GDT, TSS, IDT, exception stubs and page tables into `ram`.
fn write_tables(ram: &mut GuestRam, user_pages: &[u64]) -> Result<(), GuestRamError> {
    ram.write_u64s(GDT, &gdt(TSS))?;
    ram.write(TSS, &tss(KERNEL_STACK_TOP))?;
    ram.write_u64s(IDT, &idt(STUBS))?;
    for v in 0..IDT_VECTORS {
        ram.write(STUBS + (v * STUB_SIZE) as u64, &exception_stub(v as u8))?;
    }
    let is_user = |a: u64| USER_PAGES.contains(&a) || user_pages.contains(&a);
    for (i, table) in page_tables(PAGE_TABLES, is_user).iter().enumerate() {
        ram.write_u64s(PAGE_TABLES + 0x1000 * i as u64, table)?;
    }
    Ok(())
}
