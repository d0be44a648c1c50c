//! ring0's code: the SYSCALL entry, the 256 vector stubs, the common exit
//! path and the return to user mode, as one block of position-independent
//! machine code (`global_asm!`, no relocations, no data).
//!
//! The VMM copies [`entry_text`] into supervisor-only guest pages at the
//! entry-text base (see [`crate::entry`] for the fixed layout) and points
//! LSTAR and the IDT there; nothing is linked into the guest.
//!
//! How a stub finds its vCPU's page without GS: every stack a user-mode
//! entry can land on (RSP0 and the IST stacks) starts 16 bytes below the
//! top of its memory, and the VMM stores the per-vCPU page's address in the
//! word at the stack's start ([`PAGE_POINTER_SLOT`]). An entry from user
//! mode always begins on such a stack, so after the CPU's frame and the
//! stub's vector and error-code words, the page pointer is at a fixed offset
//! from RSP. Entries from ring0 itself are bugs ([`ExitReason::KernelFault`]).
//!
//! Exit: all user registers, vector, error code and CR2 (for #PF) are saved
//! into the page, then `out` to [`EXIT_PORT`] with the reason. The VMM's next
//! `KVM_RUN` continues at [`RESUME`]'s code right after the `out`, with RSP
//! at the top of RSP0's stack: it reloads CR3 if [`Resume::LOAD_CR3`] asks,
//! and returns to user mode with `iretq` and the page's registers. The first
//! entry of a vCPU starts at the same code (`resume_offset`).
//!
//! SYSRET and SWAPGS are avoided (PVM forbids both); GS is only used on the
//! standard SYSCALL path, which PVM hosts never take (their user-mode
//! `syscall` reaches the #PF stub instead, see [`crate::entry`]).
//!
//! [`ExitReason::KernelFault`]: crate::exit::ExitReason::KernelFault
//! [`EXIT_PORT`]: crate::exit::EXIT_PORT
//! [`RESUME`]: crate::vcpu_page::RESUME
//! [`Resume::LOAD_CR3`]: crate::resume::Resume::LOAD_CR3

use crate::abi::{self, Vector};
use crate::exit::{ExitReason, EXIT_PORT};
use crate::resume::Resume;
use crate::vcpu_page as vp;

/// The offset below a stack's top where the stack starts (RSP0 and the IST
/// slots hold `top - PAGE_POINTER_SLOT`); the word at the stack's start holds
/// the per-vCPU page's guest-virtual address.
pub const PAGE_POINTER_SLOT: u64 = 16;

/// The pseudo-vector the standard SYSCALL entry reports to the common path.
const SYSCALL_VECTOR: u64 = 256;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.rvisor_ring0,\"ax\",@progbits",
    ".balign 4096",
    ".globl rvisor_ring0_start",
    "rvisor_ring0_start:",
    // The SYSCALL entry at offset 0, for hosts where it runs at CPL 0: RSP
    // is the user's, GS the user's, KERNEL_GS_BASE the per-vCPU page.
    // Build the frame an exception from user mode would have built.
    "swapgs",
    "movq %rsp, %gs:{scratch}",
    "movq %gs:{rsp0}, %rsp",
    "pushq ${user_ds}",
    "pushq %gs:{scratch}",
    "pushq %r11",
    "pushq ${user_cs}",
    "pushq %rcx",
    "swapgs",
    "pushq $0",
    "pushq ${syscall_vector}",
    "jmp rvisor_ring0_common",
    // 256 vector stubs, 16 bytes apart, from offset 0x1000.
    ".balign 4096",
    ".globl rvisor_ring0_vectors",
    "rvisor_ring0_vectors:",
    ".set rvisor_r0_vec, 0",
    ".rept 256",
    ".balign 16",
    ".if (rvisor_r0_vec == 8) || ((rvisor_r0_vec >= 10) && (rvisor_r0_vec <= 14)) || (rvisor_r0_vec == 17) || (rvisor_r0_vec == 21) || (rvisor_r0_vec == 29) || (rvisor_r0_vec == 30)",
    ".else",
    "pushq $0",
    ".endif",
    "pushq $rvisor_r0_vec",
    "jmp rvisor_ring0_common",
    ".set rvisor_r0_vec, rvisor_r0_vec + 1",
    ".endr",
    ".balign 16",
    ".globl rvisor_ring0_vectors_end",
    "rvisor_ring0_vectors_end:",
    // Common path. Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS,
    // then (from user mode) the page pointer.
    "rvisor_ring0_common:",
    "testb $3, 24(%rsp)",
    "jz rvisor_ring0_kernel_fault",
    "pushq %rax",
    "movq 64(%rsp), %rax",
    "movq %r15, {r15}(%rax)",
    "movq %r14, {r14}(%rax)",
    "movq %r13, {r13}(%rax)",
    "movq %r12, {r12}(%rax)",
    "movq %rbp, {rbp}(%rax)",
    "movq %rbx, {rbx}(%rax)",
    "movq %r11, {r11}(%rax)",
    "movq %r10, {r10}(%rax)",
    "movq %r9, {r9}(%rax)",
    "movq %r8, {r8}(%rax)",
    "movq %rcx, {rcx}(%rax)",
    "movq %rdx, {rdx}(%rax)",
    "movq %rsi, {rsi}(%rax)",
    "movq %rdi, {rdi}(%rax)",
    "popq %rbx",
    "movq %rbx, {rax}(%rax)",
    "popq %rbx", // vector
    "popq %rdx", // error code
    "popq %rsi", // RIP
    "popq %rdi", // CS
    "popq %r8",  // RFLAGS
    "popq %r9",  // RSP
    "popq %r10", // SS
    "movq %rbx, {vector}(%rax)",
    "movq %rdx, {error_code}(%rax)",
    "movq %rdi, {cs}(%rax)",
    "movq %r9, {rsp}(%rax)",
    "movq %r10, {ss}(%rax)",
    "movq $0, {cr2}(%rax)",
    "cmpq ${syscall_vector}, %rbx",
    "je 3f",
    "cmpq ${page_fault}, %rbx",
    "jne 4f",
    "movq %cr2, %r11",
    "movq %r11, {cr2}(%rax)",
    // The SYSCALL quirk (crate::entry::is_syscall_fault): a user-mode
    // fetch fault at LSTAR with IF clear in the frame.
    "testq ${rflags_if}, %r8",
    "jnz 4f",
    "testq ${pf_user}, %rdx",
    "jz 4f",
    "leaq rvisor_ring0_start(%rip), %r12",
    "cmpq %r12, %r11",
    "jne 4f",
    // A system call: RIP = RCX, RFLAGS = R11, orig_rax = rax.
    "3:",
    "movq {rcx}(%rax), %rsi",
    "movq {r11}(%rax), %r8",
    "movq {rax}(%rax), %rdx",
    "movq %rdx, {orig_rax}(%rax)",
    "movl ${reason_syscall}, %ebx",
    "jmp 5f",
    // An exception (or int 0x80), or an interrupt.
    "4:",
    "movq $-1, {orig_rax}(%rax)",
    "cmpq $32, %rbx",
    "jb 6f",
    "cmpq $0x80, %rbx",
    "je 6f",
    "movl ${reason_interrupt}, %ebx",
    "jmp 5f",
    "6:",
    "movl ${reason_exception}, %ebx",
    "5:",
    "movq %rsi, {rip}(%rax)",
    "movq %r8, {eflags}(%rax)",
    "movq %rbx, {exit_reason}(%rax)",
    "movl %ebx, %eax",
    "movl ${exit_port}, %edx",
    "outl %eax, %dx",
    // Return to user mode. RSP is the top of RSP0's stack.
    ".globl rvisor_ring0_resume",
    "rvisor_ring0_resume:",
    "movq (%rsp), %rax",
    "testq ${load_cr3}, {resume}(%rax)",
    "jz 7f",
    "movq {user_cr3}(%rax), %rcx",
    "movq %rcx, %cr3",
    "7:",
    "pushq {ss}(%rax)",
    "pushq {rsp}(%rax)",
    "pushq {eflags}(%rax)",
    "pushq {cs}(%rax)",
    "pushq {rip}(%rax)",
    "movq {r15}(%rax), %r15",
    "movq {r14}(%rax), %r14",
    "movq {r13}(%rax), %r13",
    "movq {r12}(%rax), %r12",
    "movq {rbp}(%rax), %rbp",
    "movq {rbx}(%rax), %rbx",
    "movq {r11}(%rax), %r11",
    "movq {r10}(%rax), %r10",
    "movq {r9}(%rax), %r9",
    "movq {r8}(%rax), %r8",
    "movq {rcx}(%rax), %rcx",
    "movq {rdx}(%rax), %rdx",
    "movq {rsi}(%rax), %rsi",
    "movq {rdi}(%rax), %rdi",
    "movq {rax}(%rax), %rax",
    "iretq",
    // A fault in ring0 itself: report it and stop; the VMM reads the
    // registers with KVM_GET_REGS and never resumes this vCPU.
    "rvisor_ring0_kernel_fault:",
    "movl ${reason_kernel_fault}, %eax",
    "movl ${exit_port}, %edx",
    "outl %eax, %dx",
    "8:",
    "hlt",
    "jmp 8b",
    ".globl rvisor_ring0_end",
    "rvisor_ring0_end:",
    ".popsection",
    scratch = const vp::SCRATCH,
    rsp0 = const vp::TSS_RSP0,
    user_ds = const abi::USER_DS,
    user_cs = const abi::USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
    r15 = const vp::REGS_R15,
    r14 = const vp::REGS_R14,
    r13 = const vp::REGS_R13,
    r12 = const vp::REGS_R12,
    rbp = const vp::REGS_RBP,
    rbx = const vp::REGS_RBX,
    r11 = const vp::REGS_R11,
    r10 = const vp::REGS_R10,
    r9 = const vp::REGS_R9,
    r8 = const vp::REGS_R8,
    rax = const vp::REGS_RAX,
    rcx = const vp::REGS_RCX,
    rdx = const vp::REGS_RDX,
    rsi = const vp::REGS_RSI,
    rdi = const vp::REGS_RDI,
    orig_rax = const vp::REGS_ORIG_RAX,
    rip = const vp::REGS_RIP,
    cs = const vp::REGS_CS,
    eflags = const vp::REGS_EFLAGS,
    rsp = const vp::REGS_RSP,
    ss = const vp::REGS_SS,
    vector = const vp::VECTOR,
    error_code = const vp::ERROR_CODE,
    cr2 = const vp::CR2,
    exit_reason = const vp::EXIT_REASON,
    resume = const vp::RESUME,
    user_cr3 = const vp::USER_CR3,
    page_fault = const Vector::PAGE_FAULT.0,
    rflags_if = const 1u64 << 9,
    pf_user = const abi::PF_USER,
    reason_syscall = const ExitReason::Syscall as u32,
    reason_exception = const ExitReason::Exception as u32,
    reason_interrupt = const ExitReason::Interrupt as u32,
    reason_kernel_fault = const ExitReason::KernelFault as u32,
    exit_port = const EXIT_PORT,
    load_cr3 = const Resume::LOAD_CR3.bits(),
    options(att_syntax)
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    static rvisor_ring0_start: u8;
    static rvisor_ring0_vectors: u8;
    static rvisor_ring0_vectors_end: u8;
    static rvisor_ring0_resume: u8;
    static rvisor_ring0_end: u8;
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
    /// Offset of the return-to-user code, where a vCPU starts.
    pub resume_offset: u64,
}

/// The entry text as assembled into this binary.
#[cfg(target_arch = "x86_64")]
pub fn entry_text() -> EntryText {
    let start = &raw const rvisor_ring0_start as usize;
    let at = |p: *const u8| (p as usize - start) as u64;
    let len = &raw const rvisor_ring0_end as usize - start;
    // SAFETY: the symbols delimit one contiguous block of code in this
    // binary's read-only text section, which lives as long as the program.
    let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, len) };
    EntryText {
        bytes,
        vectors_offset: at(&raw const rvisor_ring0_vectors),
        vectors_end: at(&raw const rvisor_ring0_vectors_end),
        resume_offset: at(&raw const rvisor_ring0_resume),
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
        assert!(t.resume_offset > t.vectors_end);
        assert!(t.bytes.len() < 0x3000);
        // Vector 8 (error code pushed by the CPU) starts with its push of
        // the vector, vector 0 with `push $0`.
        let stub = |v: u64| &t.bytes[(t.vectors_offset + 16 * v) as usize..][..2];
        assert_eq!(stub(0), [0x6a, 0x00]);
        assert_eq!(stub(8), [0x6a, 0x08]);
        assert_eq!(stub(14), [0x6a, 0x0e]);
    }
}
