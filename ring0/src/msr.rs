//! Model-specific registers ring0 depends on, and the values it runs with.
//! The VMM sets them with `KVM_SET_MSRS`/`KVM_SET_SREGS` before the first
//! entry; the entry stubs touch only the FS/GS bases.

/// Extended feature enables.
pub const IA32_EFER: u32 = 0xc000_0080;
/// SYSCALL/SYSRET selectors: [`crate::gdt::STAR`].
pub const IA32_STAR: u32 = 0xc000_0081;
/// SYSCALL target: [`crate::entry::lstar`].
pub const IA32_LSTAR: u32 = 0xc000_0082;
/// Compatibility-mode SYSCALL target (AMD only; Intel raises #UD). ring0
/// has no 32-bit system-call entry, but the VMM must still point this at
/// [`crate::entry::lstar`]: left 0, a `syscall` from 32-bit user code would
/// jump to address 0 at CPL 0.
pub const IA32_CSTAR: u32 = 0xc000_0083;
/// RFLAGS mask applied by SYSCALL: [`crate::entry::SFMASK`].
pub const IA32_FMASK: u32 = 0xc000_0084;
pub const IA32_FS_BASE: u32 = 0xc000_0100;
/// The active GS base. In ring0 it is the per-vCPU page's address.
pub const IA32_GS_BASE: u32 = 0xc000_0101;
/// The GS base `swapgs` exchanges with [`IA32_GS_BASE`]: the user's GS base
/// while ring0 runs, the per-vCPU page's address while user code runs.
pub const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// EFER.SCE: SYSCALL/SYSRET enabled.
pub const EFER_SCE: u64 = 1 << 0;
/// EFER.LME: long mode enabled.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active (set by the CPU; KVM wants it with LME).
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.NXE: no-execute page protection, which also makes #PF report
/// instruction fetches ([`crate::abi::PF_INSTRUCTION`]).
pub const EFER_NXE: u64 = 1 << 11;

/// The EFER ring0 runs with.
pub const RING0_EFER: u64 = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efer_value() {
        assert_eq!(RING0_EFER, 0xd01);
    }
}
