//! The guest<->VMM ABI: register file layout and exception vectors. Defined
//! once here and used by every platform, so the sentry sees the same register
//! layout whichever platform produced it.

use bytemuck::{Pod, Zeroable};

/// User register file of one guest thread.
///
/// The layout is that of Linux's `struct user_regs_struct` on x86-64, so the
/// ptrace platform can hand it to `PTRACE_GETREGS`/`PTRACE_SETREGS` as is,
/// and the KVM platform's entry stubs save it into the per-vCPU page
/// ([`crate::vcpu_page`]) at fixed offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Regs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// System call number at a system-call stop; `u64::MAX` otherwise.
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

/// Linux-compatible user code selector (GDT index 6, RPL 3).
pub const USER_CS: u64 = 0x33;
/// Linux-compatible user data selector (GDT index 5, RPL 3).
pub const USER_DS: u64 = 0x2b;
/// Initial RFLAGS of a new thread: IF set, reserved bit 1 set.
pub const USER_RFLAGS: u64 = 0x202;

/// RFLAGS bits a user thread may change itself (with `popf`, or through
/// `sigreturn`/ptrace in the sentry): CF, PF, AF, ZF, SF, TF, DF, OF, NT, RF,
/// AC and ID. IF, IOPL, VM, VIF and VIP are never taken from user state: an
/// `iretq`/`sysretq` executed at CPL 0 loads IOPL from the value it is given,
/// so a user-chosen IOPL 3 would let guest user code do port I/O (and so
/// forge exits to the VMM).
pub const USER_RFLAGS_MUTABLE: u64 = 0x0025_4dd5;

/// `flags` with every bit a user thread may not choose replaced by its
/// user-mode value (IF and reserved bit 1 set, IOPL 0, no VM/VIF/VIP).
pub const fn sanitize_user_rflags(flags: u64) -> u64 {
    (flags & USER_RFLAGS_MUTABLE) | USER_RFLAGS
}

// Whether an address is canonical for 4-level paging: one definition,
// the page tables'. Loading a non-canonical RIP with `sysretq`, or a
// non-canonical FS/GS base, faults in ring0, so the VMM checks these
// before it resumes a vCPU.
pub use pagetables::is_canonical;

impl Regs {
    /// Registers for a fresh 64-bit user thread starting at `rip` with stack `rsp`.
    pub fn new_user(rip: u64, rsp: u64) -> Self {
        Regs {
            rip,
            rsp,
            cs: USER_CS,
            ss: USER_DS,
            eflags: USER_RFLAGS,
            orig_rax: u64::MAX,
            ..Regs::default()
        }
    }

    /// The six system-call arguments in ABI order.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// Page-fault error code bits (the error code of [`Vector::PAGE_FAULT`]).
/// Set: the page was present (a protection violation); clear: not present.
pub const PF_PROTECTION: u64 = 1 << 0;
/// The access was a write.
pub const PF_WRITE: u64 = 1 << 1;
/// The access came from user mode (CPL 3).
pub const PF_USER: u64 = 1 << 2;
/// A reserved bit was set in a paging-structure entry.
pub const PF_RESERVED: u64 = 1 << 3;
/// The access was an instruction fetch (reported with EFER.NXE or SMEP).
pub const PF_INSTRUCTION: u64 = 1 << 4;
/// Protection-key violation.
pub const PF_PKEY: u64 = 1 << 5;

/// An x86 exception vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vector(pub u8);

impl Vector {
    pub const DIVIDE_ERROR: Vector = Vector(0);
    pub const DEBUG: Vector = Vector(1);
    pub const NMI: Vector = Vector(2);
    pub const BREAKPOINT: Vector = Vector(3);
    pub const OVERFLOW: Vector = Vector(4);
    pub const BOUND_RANGE: Vector = Vector(5);
    pub const INVALID_OPCODE: Vector = Vector(6);
    pub const DEVICE_NOT_AVAILABLE: Vector = Vector(7);
    pub const DOUBLE_FAULT: Vector = Vector(8);
    pub const INVALID_TSS: Vector = Vector(10);
    pub const SEGMENT_NOT_PRESENT: Vector = Vector(11);
    pub const STACK_SEGMENT: Vector = Vector(12);
    pub const GENERAL_PROTECTION: Vector = Vector(13);
    pub const PAGE_FAULT: Vector = Vector(14);
    pub const X87_FLOATING_POINT: Vector = Vector(16);
    pub const ALIGNMENT_CHECK: Vector = Vector(17);
    pub const MACHINE_CHECK: Vector = Vector(18);
    pub const SIMD_FLOATING_POINT: Vector = Vector(19);
    pub const VIRTUALIZATION: Vector = Vector(20);
    pub const CONTROL_PROTECTION: Vector = Vector(21);
    /// `int 0x80`, the i386 system-call gate. Linux with IA32 emulation
    /// accepts it from 64-bit code as a 32-bit system call; the sentry
    /// decides what it means here.
    pub const INT80: Vector = Vector(0x80);

    /// Whether the CPU pushes an error code for this vector. Only
    /// exceptions do; an `int N` or an external interrupt on the same vector
    /// pushes none, which is why every vector other than these can be called
    /// from user mode only through a gate the entry stubs expect.
    pub const fn has_error_code(self) -> bool {
        matches!(self.0, 8 | 10..=14 | 17 | 21 | 29 | 30)
    }

    /// Exceptions 0..=31 are architecturally defined; 32..=255 are
    /// interrupts (external, injected by the VMM, or `int N`).
    pub const fn is_exception(self) -> bool {
        self.0 < 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regs_match_linux_user_regs_struct_layout() {
        // 27 eight-byte fields, orig_rax at index 15, fs_base at 21.
        assert_eq!(core::mem::size_of::<Regs>(), 27 * 8);
        assert_eq!(core::mem::offset_of!(Regs, orig_rax), 15 * 8);
        assert_eq!(core::mem::offset_of!(Regs, rip), 16 * 8);
        assert_eq!(core::mem::offset_of!(Regs, fs_base), 21 * 8);
    }

    #[test]
    fn error_code_vectors() {
        let with: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];
        for v in 0..=255u8 {
            assert_eq!(Vector(v).has_error_code(), with.contains(&v), "vector {v}");
        }
    }

    #[test]
    fn canonical_addresses() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x0000_7fff_ffff_ffff));
        assert!(!is_canonical(0x0000_8000_0000_0000));
        assert!(!is_canonical(0xffff_7fff_ffff_ffff));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(is_canonical(u64::MAX));
        for a in [
            0x1234u64,
            0x0000_8000_0000_0000,
            0xffff_8000_1234_5678,
            1 << 63,
        ] {
            assert_eq!(
                is_canonical(a),
                x86_64::VirtAddr::try_new(a).is_ok(),
                "{a:#x}"
            );
        }
    }

    #[test]
    fn user_rflags_mask() {
        use x86_64::registers::rflags::RFlags as F;
        let mutable = F::CARRY_FLAG
            | F::PARITY_FLAG
            | F::AUXILIARY_CARRY_FLAG
            | F::ZERO_FLAG
            | F::SIGN_FLAG
            | F::TRAP_FLAG
            | F::DIRECTION_FLAG
            | F::OVERFLOW_FLAG
            | F::NESTED_TASK
            | F::RESUME_FLAG
            | F::ALIGNMENT_CHECK
            | F::ID;
        assert_eq!(USER_RFLAGS_MUTABLE, mutable.bits());
        // IOPL 3, VM, VIF, VIP and a cleared IF are all undone.
        assert_eq!(sanitize_user_rflags(0x1a_3000 | 0x1), 0x203);
        assert_eq!(sanitize_user_rflags(0), USER_RFLAGS);
        assert_eq!(
            sanitize_user_rflags(u64::MAX),
            USER_RFLAGS_MUTABLE | USER_RFLAGS
        );
    }

    #[test]
    fn new_user_thread_has_user_selectors() {
        let r = Regs::new_user(0x401000, 0x7fff_0000);
        assert_eq!(r.cs & 3, 3);
        assert_eq!(r.ss & 3, 3);
        assert_eq!(r.eflags & 0x200, 0x200);
        assert_eq!(r.syscall_args(), [0; 6]);
    }
}
