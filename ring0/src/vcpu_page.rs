//! The per-vCPU page: everything one vCPU's ring0 reads and writes, shared
//! with the VMM as plain memory.
//!
//! The VMM allocates one supervisor-only, page-aligned page per vCPU, maps
//! it at the same guest-virtual address in every address space, and points
//! GS at it (IA32_GS_BASE in ring0, IA32_KERNEL_GS_BASE while user code
//! runs; the stubs `swapgs` on every entry from and return to user mode).
//! The entry stubs then address every field as `gs:[OFFSET]` with the
//! offsets exported here, which `global_asm!` takes as `const` operands.
//! The same page holds the vCPU's GDT and TSS, so one page and one address
//! describe a vCPU completely.
//!
//! Who writes what:
//! - VMM, before the first entry: [`VcpuPage::new`] (self address, GDT,
//!   TSS with the stack tops, kernel CR3).
//! - VMM, before each re-entry: `regs` (the user registers to return to),
//!   `user_cr3` and `resume` ([`crate::resume`]).
//! - Stubs, on each exit: `regs` (the interrupted registers), `exit_reason`,
//!   `vector`, `error_code`, `cr2` ([`crate::exit`]).
//!
//! Every field is a plain integer: the VMM decodes what the guest wrote with
//! checked conversions and never trusts a value to be a valid enum.

use core::mem::{offset_of, size_of};

use bytemuck::{Pod, Zeroable};

use crate::abi::Regs;
use crate::gdt::Gdt;
use crate::idt;
use crate::tss::{self, Tss};

/// The per-vCPU page. Fields are at the fixed offsets below.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct VcpuPage {
    /// The page's own guest-virtual address, so a stub can turn `gs:` into
    /// an ordinary pointer (`mov rax, gs:[SELF_ADDR]`).
    pub self_addr: u64,
    /// CR3 for user mode: root table | PCID, bit 63 set to keep the PCID's
    /// TLB entries (`pagetables::cr3_value`). Loaded on return when
    /// `resume` asks for it.
    pub user_cr3: u64,
    /// CR3 ring0 runs on before any user address space is loaded (ring0 is
    /// mapped in the upper half of every table, so entries from user mode
    /// keep the user CR3).
    pub kernel_cr3: u64,
    /// How to return to user mode: [`crate::resume::Resume`] bits.
    pub resume: u64,
    /// Why ring0 exited: [`crate::exit::ExitReason`] as an integer.
    pub exit_reason: u64,
    /// The vector of an exception or interrupt exit.
    pub vector: u64,
    /// The CPU's error code for the vector, or 0 if it pushes none.
    pub error_code: u64,
    /// CR2 at a #PF exit; 0 otherwise.
    pub cr2: u64,
    /// Private to the stubs (the user RSP during SYSCALL entry).
    pub scratch: u64,
    /// The user registers: saved by the stubs on exit, loaded on return.
    pub regs: Regs,
    /// This vCPU's GDT; its TSS descriptor points at [`VcpuPage::tss`].
    pub gdt: Gdt,
    /// Places the TSS at an offset = 4 (mod 8) so RSP0 and the IST slots
    /// are 8-byte aligned.
    tss_pad: u32,
    /// This vCPU's TSS.
    pub tss: Tss,
    tail_pad: u32,
}

pub const SELF_ADDR: usize = 0x00;
pub const USER_CR3: usize = 0x08;
pub const KERNEL_CR3: usize = 0x10;
pub const RESUME: usize = 0x18;
pub const EXIT_REASON: usize = 0x20;
pub const VECTOR: usize = 0x28;
pub const ERROR_CODE: usize = 0x30;
pub const CR2: usize = 0x38;
pub const SCRATCH: usize = 0x40;
pub const REGS: usize = 0x48;
pub const GDT: usize = 0x120;
pub const TSS: usize = 0x1a4;
/// RSP0 inside the page's TSS: the stack the SYSCALL entry switches to
/// (`mov rsp, gs:[TSS_RSP0]`), the same one the CPU loads on a user fault.
pub const TSS_RSP0: usize = TSS + tss::RSP0;
/// Size of the page's contents; the rest of the 4 KiB page is unused.
pub const SIZE: usize = 0x210;

/// Offsets of each saved user register in the page.
pub const REGS_R15: usize = REGS + offset_of!(Regs, r15);
pub const REGS_R14: usize = REGS + offset_of!(Regs, r14);
pub const REGS_R13: usize = REGS + offset_of!(Regs, r13);
pub const REGS_R12: usize = REGS + offset_of!(Regs, r12);
pub const REGS_RBP: usize = REGS + offset_of!(Regs, rbp);
pub const REGS_RBX: usize = REGS + offset_of!(Regs, rbx);
pub const REGS_R11: usize = REGS + offset_of!(Regs, r11);
pub const REGS_R10: usize = REGS + offset_of!(Regs, r10);
pub const REGS_R9: usize = REGS + offset_of!(Regs, r9);
pub const REGS_R8: usize = REGS + offset_of!(Regs, r8);
pub const REGS_RAX: usize = REGS + offset_of!(Regs, rax);
pub const REGS_RCX: usize = REGS + offset_of!(Regs, rcx);
pub const REGS_RDX: usize = REGS + offset_of!(Regs, rdx);
pub const REGS_RSI: usize = REGS + offset_of!(Regs, rsi);
pub const REGS_RDI: usize = REGS + offset_of!(Regs, rdi);
pub const REGS_ORIG_RAX: usize = REGS + offset_of!(Regs, orig_rax);
pub const REGS_RIP: usize = REGS + offset_of!(Regs, rip);
pub const REGS_CS: usize = REGS + offset_of!(Regs, cs);
pub const REGS_EFLAGS: usize = REGS + offset_of!(Regs, eflags);
pub const REGS_RSP: usize = REGS + offset_of!(Regs, rsp);
pub const REGS_SS: usize = REGS + offset_of!(Regs, ss);
pub const REGS_FS_BASE: usize = REGS + offset_of!(Regs, fs_base);
pub const REGS_GS_BASE: usize = REGS + offset_of!(Regs, gs_base);
pub const REGS_DS: usize = REGS + offset_of!(Regs, ds);
pub const REGS_ES: usize = REGS + offset_of!(Regs, es);
pub const REGS_FS: usize = REGS + offset_of!(Regs, fs);
pub const REGS_GS: usize = REGS + offset_of!(Regs, gs);

// The layout the entry assembly is written against. Changing the struct
// without changing these constants (and so the assembly) does not compile.
const _: () = {
    assert!(offset_of!(VcpuPage, self_addr) == SELF_ADDR);
    assert!(offset_of!(VcpuPage, user_cr3) == USER_CR3);
    assert!(offset_of!(VcpuPage, kernel_cr3) == KERNEL_CR3);
    assert!(offset_of!(VcpuPage, resume) == RESUME);
    assert!(offset_of!(VcpuPage, exit_reason) == EXIT_REASON);
    assert!(offset_of!(VcpuPage, vector) == VECTOR);
    assert!(offset_of!(VcpuPage, error_code) == ERROR_CODE);
    assert!(offset_of!(VcpuPage, cr2) == CR2);
    assert!(offset_of!(VcpuPage, scratch) == SCRATCH);
    assert!(offset_of!(VcpuPage, regs) == REGS);
    assert!(offset_of!(VcpuPage, gdt) == GDT);
    assert!(offset_of!(VcpuPage, tss) == TSS);
    assert!(size_of::<VcpuPage>() == SIZE);
    assert!(SIZE <= PAGE_SIZE);
    // Every register slot and the TSS stack slots are 8-byte aligned.
    assert!(REGS.is_multiple_of(8) && GDT.is_multiple_of(8) && TSS_RSP0.is_multiple_of(8));
    assert!((TSS + tss::IST1).is_multiple_of(8));
    // Linux user_regs_struct order, as the assembly assumes.
    assert!(REGS_R15 == REGS && REGS_RAX == REGS + 10 * 8 && REGS_ORIG_RAX == REGS + 15 * 8);
    assert!(REGS_RIP == REGS + 16 * 8 && REGS_EFLAGS == REGS + 18 * 8);
    assert!(REGS_RSP == REGS + 19 * 8 && REGS_GS == REGS + 26 * 8);
    assert!(size_of::<Regs>() == 27 * 8);
};

/// Size and alignment of the page the VMM allocates for a [`VcpuPage`].
pub const PAGE_SIZE: usize = 4096;

/// Stack tops (the address just past each stack; 16-byte aligned) of one
/// vCPU, all in supervisor-only memory mapped in every address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuStacks {
    /// RSP0: entries from user mode, and the SYSCALL entry.
    pub kernel: u64,
    /// IST for #DF.
    pub double_fault: u64,
    /// IST for NMI.
    pub nmi: u64,
    /// IST for #DB.
    pub debug: u64,
    /// IST for #MC.
    pub machine_check: u64,
}

impl VcpuPage {
    /// The initial page of a vCPU whose page is at guest-virtual
    /// `self_addr` (page-aligned), with `stacks`, running on `kernel_cr3`
    /// until a user address space is loaded.
    pub fn new(self_addr: u64, stacks: &VcpuStacks, kernel_cr3: u64) -> VcpuPage {
        assert!(
            self_addr.is_multiple_of(PAGE_SIZE as u64),
            "per-vCPU page must be page-aligned"
        );
        let mut tss = Tss::new();
        for (slot, top) in [
            (0, stacks.kernel),
            (idt::IST_DOUBLE_FAULT, stacks.double_fault),
            (idt::IST_NMI, stacks.nmi),
            (idt::IST_DEBUG, stacks.debug),
            (idt::IST_MACHINE_CHECK, stacks.machine_check),
        ] {
            assert!(top.is_multiple_of(16), "stack tops must be 16-byte aligned");
            if slot == 0 {
                tss.set_rsp0(top);
            } else {
                tss.set_ist(slot, top);
            }
        }
        VcpuPage {
            self_addr,
            kernel_cr3,
            gdt: Gdt::new(self_addr + TSS as u64),
            tss,
            ..VcpuPage::zeroed()
        }
    }

    /// Guest-virtual address of the GDT (the GDTR base).
    pub const fn gdt_base(&self) -> u64 {
        self.self_addr + GDT as u64
    }

    /// Guest-virtual address of the TSS (the TR base).
    pub const fn tss_base(&self) -> u64 {
        self.self_addr + TSS as u64
    }

    /// The bytes to write into guest memory at `self_addr`.
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }

    /// The page as read back from guest memory (`bytes` at least [`SIZE`]
    /// long, any alignment), or `None` if `bytes` is too short.
    pub fn read_from(bytes: &[u8]) -> Option<VcpuPage> {
        bytes.get(..SIZE).map(bytemuck::pod_read_unaligned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gdt;

    const BASE: u64 = 0xffff_ff80_0010_0000;

    fn stacks() -> VcpuStacks {
        VcpuStacks {
            kernel: 0xffff_ff80_0020_0000,
            double_fault: 0xffff_ff80_0020_4000,
            nmi: 0xffff_ff80_0020_8000,
            debug: 0xffff_ff80_0020_c000,
            machine_check: 0xffff_ff80_0021_0000,
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(size_of::<VcpuPage>(), 0x210);
        assert_eq!(
            (REGS_R15, REGS_RAX, REGS_RCX, REGS_R11),
            (0x48, 0x98, 0xa0, 0x78)
        );
        assert_eq!((REGS_ORIG_RAX, REGS_RIP, REGS_CS), (0xc0, 0xc8, 0xd0));
        assert_eq!((REGS_EFLAGS, REGS_RSP, REGS_SS), (0xd8, 0xe0, 0xe8));
        assert_eq!((REGS_FS_BASE, REGS_GS_BASE, REGS_GS), (0xf0, 0xf8, 0x118));
        assert_eq!(TSS_RSP0, 0x1a8);
    }

    #[test]
    fn new_page_describes_the_vcpu() {
        let page = VcpuPage::new(BASE, &stacks(), 0x1000);
        assert_eq!(page.self_addr, BASE);
        assert_eq!(page.kernel_cr3, 0x1000);
        assert_eq!(page.gdt_base(), BASE + 0x120);
        assert_eq!(page.tss_base(), BASE + 0x1a4);
        assert_eq!(page.gdt.task_register().base, page.tss_base());
        assert_eq!(page.tss.rsp0(), stacks().kernel);
        assert_eq!(page.tss.ist(idt::IST_DOUBLE_FAULT), stacks().double_fault);
        assert_eq!(page.tss.ist(idt::IST_NMI), stacks().nmi);
        assert_eq!(page.tss.ist(idt::IST_DEBUG), stacks().debug);
        assert_eq!(page.tss.ist(idt::IST_MACHINE_CHECK), stacks().machine_check);
        assert_eq!(page.tss.ist(5), 0);
        assert_eq!((page.exit_reason, page.resume, page.user_cr3), (0, 0, 0));
    }

    #[test]
    fn bytes_at_the_exported_offsets() {
        let mut page = VcpuPage::new(BASE, &stacks(), 0x1000);
        page.regs.rax = 0x1111;
        page.regs.rip = 0x2222;
        page.regs.gs = 0x3333;
        page.cr2 = 0x4444;
        let b = page.as_bytes();
        assert_eq!(b.len(), SIZE);
        let at = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(at(SELF_ADDR), BASE);
        assert_eq!(at(KERNEL_CR3), 0x1000);
        assert_eq!(at(REGS_RAX), 0x1111);
        assert_eq!(at(REGS_RIP), 0x2222);
        assert_eq!(at(REGS_GS), 0x3333);
        assert_eq!(at(CR2), 0x4444);
        assert_eq!(at(TSS_RSP0), stacks().kernel);
        assert_eq!(
            at(GDT + 8 * gdt::KERNEL_CS_INDEX as usize),
            gdt::KERNEL_CODE64
        );
        assert_eq!(&b[TSS..TSS + tss::SIZE], page.tss.as_bytes());
    }

    #[test]
    fn read_back_from_guest_memory() {
        let page = VcpuPage::new(BASE, &stacks(), 0x1000);
        let mut mem = [0u8; PAGE_SIZE + 1];
        mem[1..1 + SIZE].copy_from_slice(page.as_bytes());
        assert_eq!(VcpuPage::read_from(&mem[1..]), Some(page));
        assert_eq!(VcpuPage::read_from(&mem[..SIZE - 1]), None);
    }

    #[test]
    #[should_panic]
    fn unaligned_page_is_refused() {
        VcpuPage::new(BASE + 8, &stacks(), 0);
    }
}
