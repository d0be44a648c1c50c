//! ring0's code: the SYSCALL entry, the 256 vector stubs and the return
//! to user mode, as one block of position-independent machine code
//! (`global_asm!`, no relocations, no data).
//!
//! The VMM copies [`entry_text`] into supervisor-only guest pages at the
//! entry-text base (see [`crate::entry`] for the fixed layout) and points
//! LSTAR and the IDT there. linker/ring0.ld gives the code its own
//! page-aligned `.ring0` section, so those pages hold nothing else of the
//! binary.
//!
//! ring0 executes as few instructions as possible, because on PVM hosts
//! every guest-supervisor instruction is emulated by the hypervisor (about
//! 2 µs each, measured): a first version that saved the registers into the
//! per-vCPU page took ~85 emulated instructions and ~180 µs per system
//! call. Now:
//!
//! - Exit: each vector stub is a single `hlt`, which leaves guest mode
//!   (`KVM_EXIT_HLT`; the VMM has no in-kernel irqchip). The VMM derives the
//!   vector from RIP, reads the user's general registers (the stub changed
//!   none) and CR2 from what KVM copied into the `kvm_run` page at the exit,
//!   and the CPU's frame (error code, RIP, CS, RFLAGS, RSP, SS) from the
//!   stack. The SYSCALL quirk
//!   ([`crate::entry::is_syscall_fault`]) is recognised the same way: a #PF
//!   whose frame RIP is LSTAR with IF clear.
//! - Return: the VMM writes an interrupt frame below RSP0, sets the user's
//!   general registers (staged in the `kvm_run` page), RIP to an `iretq` (or to a CR3
//!   reload then `iretq` when the TLB must be flushed) and RSP to the frame.
//!
//! SYSRET and SWAPGS are avoided (PVM forbids both); SWAPGS is only on the
//! standard SYSCALL path, which PVM hosts never take (their user-mode
//! `syscall` reaches the #PF stub instead, see [`crate::entry`]).

use crate::abi;
use crate::vcpu_page as vp;

/// The offset below a stack's top where the stack starts (RSP0 and the IST
/// slots hold `top - PAGE_POINTER_SLOT`), leaving room for a word that
/// identifies the vCPU to anyone reading the stack.
pub const PAGE_POINTER_SLOT: u64 = 16;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .ring0.text,\"ax\",@progbits",
    ".balign 4096",
    // The SYSCALL entry at offset 0, for hosts where it runs at CPL 0: RSP
    // is the user's, GS the user's, KERNEL_GS_BASE the per-vCPU page.
    // Build the frame an exception from user mode would have built, then
    // stop at the syscall `hlt`.
    "swapgs",
    "movq %rsp, %gs:{scratch}",
    "movq %gs:{rsp0}, %rsp",
    "pushq ${user_ds}",
    "pushq %gs:{scratch}",
    "pushq %r11",
    "pushq ${user_cs}",
    "pushq %rcx",
    "swapgs",
    ".globl rvisor_ring0_syscall_hlt",
    "rvisor_ring0_syscall_hlt:",
    "hlt",
    "jmp rvisor_ring0_syscall_hlt",
    // 256 vector stubs, 16 bytes apart, from offset 0x1000: each is one
    // `hlt`, so the VMM learns the vector from RIP and finds everything else
    // in the untouched registers and the CPU's frame.
    ".balign 4096",
    ".globl rvisor_ring0_vectors",
    "rvisor_ring0_vectors:",
    ".rept 256",
    ".balign 16",
    "1:",
    "hlt",
    "jmp 1b",
    ".endr",
    ".balign 16",
    ".globl rvisor_ring0_vectors_end",
    "rvisor_ring0_vectors_end:",
    // Return to user mode through the frame the VMM wrote at RSP.
    ".globl rvisor_ring0_iret",
    "rvisor_ring0_iret:",
    "iretq",
    // The same after flushing the TLB (the tables changed).
    ".globl rvisor_ring0_flush_iret",
    "rvisor_ring0_flush_iret:",
    "pushq %rax",
    "movq %cr3, %rax",
    "movq %rax, %cr3",
    "popq %rax",
    "iretq",
    ".popsection",
    scratch = const vp::SCRATCH,
    rsp0 = const vp::TSS_RSP0,
    user_ds = const abi::USER_DS,
    user_cs = const abi::USER_CS,
    options(att_syntax)
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    /// Bounds of the `.ring0` output section (linker/ring0.ld).
    static __rvisor_ring0_text_start: u8;
    static __rvisor_ring0_text_end: u8;
    static rvisor_ring0_vectors: u8;
    static rvisor_ring0_vectors_end: u8;
    static rvisor_ring0_syscall_hlt: u8;
    static rvisor_ring0_iret: u8;
    static rvisor_ring0_flush_iret: u8;
}

/// ring0's entry text and where its parts sit in it.
#[derive(Clone, Copy, Debug)]
pub struct EntryText {
    /// The bytes to copy to the entry-text base.
    pub bytes: &'static [u8],
    /// Offset of the first vector stub (must be
    /// [`crate::entry::VECTOR_STUBS_OFFSET`]).
    pub vectors_offset: u64,
    /// Offset just past the last vector stub (must be
    /// [`crate::entry::ENTRY_TEXT_END`]).
    pub vectors_end: u64,
    /// Offset of the `hlt` the standard SYSCALL entry stops at.
    pub syscall_hlt_offset: u64,
    /// Offset of an `iretq`: the VMM returns to user mode by pointing RIP
    /// here and RSP at an interrupt frame.
    pub iret_offset: u64,
    /// Offset of a CR3 reload (TLB flush) followed by `iretq`.
    pub flush_iret_offset: u64,
}

/// The entry text as assembled into this binary.
#[cfg(target_arch = "x86_64")]
pub fn entry_text() -> EntryText {
    let start = &raw const __rvisor_ring0_text_start as usize;
    let at = |p: *const u8| (p as usize - start) as u64;
    let len = &raw const __rvisor_ring0_text_end as usize - start;
    // SAFETY: linker/ring0.ld defines the two symbols around the `.ring0`
    // output section, one contiguous block of read-only code in this
    // binary that lives as long as the program.
    let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, len) };
    EntryText {
        bytes,
        vectors_offset: at(&raw const rvisor_ring0_vectors),
        vectors_end: at(&raw const rvisor_ring0_vectors_end),
        syscall_hlt_offset: at(&raw const rvisor_ring0_syscall_hlt),
        iret_offset: at(&raw const rvisor_ring0_iret),
        flush_iret_offset: at(&raw const rvisor_ring0_flush_iret),
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::entry;

    #[test]
    fn layout_matches_the_entry_module() {
        let t = entry_text();
        assert_eq!(t.vectors_offset, entry::VECTOR_STUBS_OFFSET);
        assert_eq!(t.vectors_end, entry::ENTRY_TEXT_END);
        assert_eq!(t.iret_offset, t.vectors_end);
        // linker/ring0.ld pads the section to whole pages.
        assert!(t.bytes.len() <= 0x3000);
        assert_eq!(t.bytes.len() % 4096, 0);
        // Every vector stub is `hlt; jmp` back to it.
        for v in 0..256 {
            let stub = &t.bytes[(t.vectors_offset + 16 * v) as usize..][..3];
            assert_eq!(stub, [0xf4, 0xeb, 0xfd], "vector {v}");
        }
        assert_eq!(t.bytes[t.iret_offset as usize..][..2], [0x48, 0xcf]);
    }
}
