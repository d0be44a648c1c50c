//! How the VMM sends a vCPU back to user mode.
//!
//! Before each `KVM_RUN` that resumes a stub after an exit (or after
//! [`crate::exit::ExitReason::Ready`]), the VMM writes the registers to
//! return to into the page's `regs`, the address space into `user_cr3`, and
//! the page's `resume` word ([`Resume`] bits). The stub trusts all of it, so
//! the VMM first passes the registers through [`prepare_user_return`], which
//! refuses or repairs anything that would fault in ring0 or give user mode
//! privileges, and tells whether the fast SYSRET path is safe.

use crate::abi::{self, Regs};
use crate::gdt;

bitflags::bitflags! {
    /// The `resume` word of the per-vCPU page, written by the VMM before
    /// every re-entry; the stubs never modify it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Resume: u64 {
        /// Return with `sysretq` (RCX = RIP, R11 = RFLAGS) instead of
        /// `iretq`. Only set when [`prepare_user_return`] says so.
        const SYSRET = 1 << 0;
        /// Load `user_cr3` into CR3 before returning: the thread's address
        /// space changed, or its PCID must be flushed (bit 63 clear).
        const LOAD_CR3 = 1 << 1;
    }
}

/// Registers the stubs must not be given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadUserRegs {
    /// Non-canonical RIP (Linux: SIGSEGV).
    Rip(u64),
    /// Non-canonical RSP (SIGBUS, as gVisor).
    Rsp(u64),
    /// Non-canonical FS base: `wrfsbase`/`wrmsr` would fault in ring0.
    FsBase(u64),
    /// Non-canonical GS base.
    GsBase(u64),
    /// CS is neither the 64-bit nor the 32-bit user code selector.
    CodeSegment(u64),
}

impl core::fmt::Display for BadUserRegs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BadUserRegs::Rip(v) => write!(f, "non-canonical user rip {v:#x}"),
            BadUserRegs::Rsp(v) => write!(f, "non-canonical user rsp {v:#x}"),
            BadUserRegs::FsBase(v) => write!(f, "non-canonical fs_base {v:#x}"),
            BadUserRegs::GsBase(v) => write!(f, "non-canonical gs_base {v:#x}"),
            BadUserRegs::CodeSegment(v) => write!(f, "not a user code selector: {v:#x}"),
        }
    }
}

impl core::error::Error for BadUserRegs {}

/// Highest user address + 1 with 4-level paging: SYSRET requires the return
/// RIP below it (a non-canonical RCX makes Intel's SYSRET fault in ring 0
/// on the user stack).
const USER_TOP: u64 = 1 << 47;

/// Makes `regs` safe to return to user mode with and chooses the return
/// path: RFLAGS are sanitised ([`abi::sanitize_user_rflags`]: IF set,
/// IOPL 0), SS is set to the user data selector, and non-canonical
/// addresses or a non-user CS are refused. The result has
/// [`Resume::SYSRET`] when the cheaper `sysretq` restores exactly these
/// registers: 64-bit CS, RCX == RIP, R11 == RFLAGS, RIP in the lower half,
/// and neither RF nor TF set (SYSRET cannot restore RF, and with TF it traps
/// right after returning). The caller adds [`Resume::LOAD_CR3`] as needed.
pub fn prepare_user_return(regs: &mut Regs) -> Result<Resume, BadUserRegs> {
    if !abi::is_canonical(regs.rip) {
        return Err(BadUserRegs::Rip(regs.rip));
    }
    if !abi::is_canonical(regs.rsp) {
        return Err(BadUserRegs::Rsp(regs.rsp));
    }
    if !abi::is_canonical(regs.fs_base) {
        return Err(BadUserRegs::FsBase(regs.fs_base));
    }
    if !abi::is_canonical(regs.gs_base) {
        return Err(BadUserRegs::GsBase(regs.gs_base));
    }
    if regs.cs != u64::from(gdt::USER_CS) && regs.cs != u64::from(gdt::USER32_CS) {
        return Err(BadUserRegs::CodeSegment(regs.cs));
    }
    regs.ss = u64::from(gdt::USER_DS);
    regs.eflags = abi::sanitize_user_rflags(regs.eflags);

    const RF_TF: u64 = (1 << 16) | (1 << 8);
    let sysret = regs.cs == u64::from(gdt::USER_CS)
        && regs.rcx == regs.rip
        && regs.r11 == regs.eflags
        && regs.rip < USER_TOP
        && regs.eflags & RF_TF == 0;
    Ok(if sysret {
        Resume::SYSRET
    } else {
        Resume::empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after_syscall() -> Regs {
        // What the stubs save for a `syscall` at 0x401000 (2 bytes long).
        Regs {
            rcx: 0x401002,
            r11: 0x246,
            rip: 0x401002,
            eflags: 0x246,
            rsp: 0x7fff_f000,
            ..Regs::new_user(0, 0)
        }
    }

    #[test]
    fn untouched_syscall_return_takes_sysret() {
        let mut r = after_syscall();
        assert_eq!(prepare_user_return(&mut r), Ok(Resume::SYSRET));
        assert_eq!(r, after_syscall());
    }

    #[test]
    fn changed_registers_take_iret() {
        // A signal frame was set up: RIP no longer equals RCX.
        let mut r = Regs {
            rip: 0x402000,
            ..after_syscall()
        };
        assert_eq!(prepare_user_return(&mut r), Ok(Resume::empty()));
        // Single-stepping, 32-bit code, upper-half RIP: iret.
        let mut r = Regs {
            eflags: 0x346,
            r11: 0x346,
            ..after_syscall()
        };
        assert_eq!(prepare_user_return(&mut r), Ok(Resume::empty()));
        let mut r = Regs {
            cs: u64::from(gdt::USER32_CS),
            ..after_syscall()
        };
        assert_eq!(prepare_user_return(&mut r), Ok(Resume::empty()));
        let mut r = Regs {
            rip: 0xffff_8000_0000_0000,
            rcx: 0xffff_8000_0000_0000,
            ..after_syscall()
        };
        assert_eq!(prepare_user_return(&mut r), Ok(Resume::empty()));
    }

    #[test]
    fn privileges_are_never_returned() {
        // IOPL 3 and IF clear from a forged R11/sigreturn frame.
        let mut r = Regs {
            eflags: 0x3046,
            r11: 0x3046,
            ss: 0x18,
            ..after_syscall()
        };
        let resume = prepare_user_return(&mut r).unwrap();
        assert_eq!(r.eflags, 0x246);
        assert_eq!(r.ss, u64::from(gdt::USER_DS));
        // R11 no longer matches the sanitised flags: the full path.
        assert_eq!(resume, Resume::empty());
        let mut r = Regs {
            cs: u64::from(gdt::KERNEL_CS),
            ..after_syscall()
        };
        assert_eq!(
            prepare_user_return(&mut r),
            Err(BadUserRegs::CodeSegment(0x10))
        );
    }

    #[test]
    fn non_canonical_addresses_are_refused() {
        let bad = 0x0000_8000_0000_0000;
        type Corrupt = fn(&mut Regs);
        let cases: [(Corrupt, BadUserRegs); 4] = [
            (|r| r.rip = 0x0000_8000_0000_0000, BadUserRegs::Rip(bad)),
            (|r| r.rsp = 0x0000_8000_0000_0000, BadUserRegs::Rsp(bad)),
            (
                |r| r.fs_base = 0x0000_8000_0000_0000,
                BadUserRegs::FsBase(bad),
            ),
            (
                |r| r.gs_base = 0x0000_8000_0000_0000,
                BadUserRegs::GsBase(bad),
            ),
        ];
        for (corrupt, err) in cases {
            let mut r = after_syscall();
            corrupt(&mut r);
            assert_eq!(prepare_user_return(&mut r), Err(err));
        }
    }
}
