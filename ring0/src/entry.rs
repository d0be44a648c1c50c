//! How control enters ring0: where the entry points sit in ring0's entry
//! text, the SYSCALL configuration, and how a system call is recognised on
//! hosts where SYSCALL does not reach ring 0.
//!
//! The entry text is the start of ring0's `.ring0` text, mapped
//! supervisor-only at the same guest-virtual address (`text_base`) in every
//! address space. Its layout is fixed so the VMM can program LSTAR and build
//! the IDT from `text_base` alone:
//!
//! | offset | what |
//! |---|---|
//! | [`SYSCALL_ENTRY_OFFSET`] (0x0) | the SYSCALL entry (LSTAR points here), up to 0x1000 bytes |
//! | [`VECTOR_STUBS_OFFSET`] (0x1000) | 256 vector stubs of [`VECTOR_STUB_SIZE`] bytes, vector `v` at `0x1000 + 16*v` |
//! | [`ENTRY_TEXT_END`] (0x2000) | the rest of ring0's code (common save/exit/return paths) |
//!
//! A vector stub pushes a zero error code if the CPU pushed none
//! ([`Vector::has_error_code`]), pushes its vector number and jumps to the
//! common path. The entry code asserts this layout when it is assembled.

use crate::abi::{self, Vector};

/// Offset of the SYSCALL entry point (the LSTAR target) in the entry text.
///
/// **SYSCALL quirk of our hosts.** On the nested `kvm_pvm` hosts this
/// project runs on, a user-mode `syscall` in the guest jumps to LSTAR but
/// stays at CPL 3. Standard VMX/SVM hosts enter LSTAR at CPL 0. One entry
/// serves both:
///
/// - The entry text is mapped supervisor-only (no U bit), so on a quirky
///   host the instruction fetch at LSTAR from CPL 3 raises #PF with
///   CR2 == LSTAR (error code P|U|I, 0x15, with EFER.NXE). The CPU switches
///   to RSP0 as for any user-mode fault.
/// - Measured with a variant of `shared/probes/hostprobe.c` (a user-mode
///   `hlt` at LSTAR, which faults with #GP instead): the fault frame has
///   RIP = LSTAR, CS = 0x33, RSP = the RSP at the `syscall`, and RFLAGS =
///   the user RFLAGS masked with FMASK (IF clear, RF set); RCX holds the
///   return RIP and R11 the user RFLAGS.
/// - The #PF stub recognises this with [`is_syscall_fault`] and reports
///   [`crate::exit::ExitReason::Syscall`] with `rip = rcx`,
///   `eflags = r11`, `rsp` = the frame's RSP, exactly as the standard path
///   does. The VMM never sees the difference; it probes the host once at
///   start-up and logs which path is in use.
/// - User code that simply jumps to LSTAR faults the same way but with IF
///   set in the frame (user mode always runs with IF set), so it gets an
///   ordinary SIGSEGV and cannot forge a system call with chosen RCX/R11.
pub const SYSCALL_ENTRY_OFFSET: u64 = 0;

/// Offset of the stub of vector 0; see [`vector_stub_offset`].
pub const VECTOR_STUBS_OFFSET: u64 = 0x1000;
/// Size of one vector stub, padding included.
pub const VECTOR_STUB_SIZE: u64 = 16;
/// End of the fixed part of the entry text.
pub const ENTRY_TEXT_END: u64 = VECTOR_STUBS_OFFSET + 256 * VECTOR_STUB_SIZE;

const _: () = assert!(ENTRY_TEXT_END == 0x2000);

/// Offset of the stub of vector `v` in the entry text.
pub const fn vector_stub_offset(v: Vector) -> u64 {
    VECTOR_STUBS_OFFSET + v.0 as u64 * VECTOR_STUB_SIZE
}

/// The IA32_LSTAR value for entry text mapped at `text_base`.
pub const fn lstar(text_base: u64) -> u64 {
    text_base + SYSCALL_ENTRY_OFFSET
}

/// IA32_FMASK: RFLAGS bits SYSCALL clears, as Linux: TF, DF, IF, IOPL, NT,
/// AC (0x47700). IF must be among them: [`is_syscall_fault`] relies on it.
pub const SFMASK: u64 = RFLAGS_TF | RFLAGS_DF | RFLAGS_IF | RFLAGS_IOPL | RFLAGS_NT | RFLAGS_AC;

const RFLAGS_TF: u64 = 1 << 8;
const RFLAGS_IF: u64 = 1 << 9;
const RFLAGS_DF: u64 = 1 << 10;
const RFLAGS_IOPL: u64 = 3 << 12;
const RFLAGS_NT: u64 = 1 << 14;
const RFLAGS_AC: u64 = 1 << 18;

const _: () = assert!(SFMASK & RFLAGS_IF != 0);

/// Whether a fault with these parameters is a user-mode `syscall` on a
/// host with the SYSCALL quirk (see [`SYSCALL_ENTRY_OFFSET`]): a #PF from
/// user mode on the instruction fetch at `lstar`, with IF clear in the
/// frame's RFLAGS (`frame_rflags`).
pub const fn is_syscall_fault(
    vector: Vector,
    error_code: u64,
    cr2: u64,
    frame_rflags: u64,
    lstar: u64,
) -> bool {
    vector.0 == Vector::PAGE_FAULT.0
        && error_code & abi::PF_USER != 0
        && cr2 == lstar
        && frame_rflags & RFLAGS_IF == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use x86_64::registers::rflags::RFlags;

    #[test]
    fn layout() {
        assert_eq!(vector_stub_offset(Vector(0)), 0x1000);
        assert_eq!(vector_stub_offset(Vector::PAGE_FAULT), 0x10e0);
        assert_eq!(vector_stub_offset(Vector(255)), 0x1ff0);
        assert_eq!(lstar(0xffff_ff80_0000_0000), 0xffff_ff80_0000_0000);
    }

    #[test]
    fn sfmask_as_linux() {
        assert_eq!(SFMASK, 0x47700);
        let f = RFlags::TRAP_FLAG
            | RFlags::DIRECTION_FLAG
            | RFlags::INTERRUPT_FLAG
            | RFlags::IOPL_LOW
            | RFlags::IOPL_HIGH
            | RFlags::NESTED_TASK
            | RFlags::ALIGNMENT_CHECK;
        assert_eq!(SFMASK, f.bits());
    }

    #[test]
    fn recognises_quirk_syscalls_only() {
        let lstar = 0xffff_ff80_0000_0000;
        let fetch = abi::PF_PROTECTION | abi::PF_USER | abi::PF_INSTRUCTION;
        // As measured: user RFLAGS 0x202 masked by SFMASK, plus RF.
        let masked = (0x202 & !SFMASK) | (1 << 16);
        assert!(is_syscall_fault(
            Vector::PAGE_FAULT,
            fetch,
            lstar,
            masked,
            lstar
        ));
        // A user `jmp` to LSTAR: IF still set in the frame.
        assert!(!is_syscall_fault(
            Vector::PAGE_FAULT,
            fetch,
            lstar,
            0x10202,
            lstar
        ));
        // Elsewhere, from ring0, or another vector.
        assert!(!is_syscall_fault(
            Vector::PAGE_FAULT,
            fetch,
            lstar + 1,
            masked,
            lstar
        ));
        assert!(!is_syscall_fault(
            Vector::PAGE_FAULT,
            abi::PF_PROTECTION | abi::PF_INSTRUCTION,
            lstar,
            masked,
            lstar
        ));
        assert!(!is_syscall_fault(
            Vector::GENERAL_PROTECTION,
            fetch,
            lstar,
            masked,
            lstar
        ));
    }
}
