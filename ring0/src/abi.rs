//! The guest<->VMM ABI: register file layout and exception vectors. Defined
//! once here and used by every platform, so the sentry sees the same register
//! layout whichever platform produced it.

/// User register file of one guest thread.
///
/// The layout is that of Linux's `struct user_regs_struct` on x86-64, so the
/// ptrace platform can hand it to `PTRACE_GETREGS`/`PTRACE_SETREGS` as is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    fn new_user_thread_has_user_selectors() {
        let r = Regs::new_user(0x401000, 0x7fff_0000);
        assert_eq!(r.cs & 3, 3);
        assert_eq!(r.ss & 3, 3);
        assert_eq!(r.eflags & 0x200, 0x200);
        assert_eq!(r.syscall_args(), [0; 6]);
    }
}
