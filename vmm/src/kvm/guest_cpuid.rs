//! The CPUID the guest sees: what KVM supports, minus what ring0 does not
//! enable for user mode.

use kvm_bindings::CpuId;

use crate::platform::Result;

/// Leaf 7 EBX bit 0: RDFSBASE/WRFSBASE and friends. ring0 leaves
/// CR4.FSGSBASE clear (user FS/GS bases change only through the sentry), so
/// the guest must not be told they exist.
const LEAF7_EBX_FSGSBASE: u32 = 1 << 0;

/// XCR0 features ring0 enables when the host has them: x87, SSE, AVX,
/// AVX-512 (opmask, ZMM_Hi256, Hi16_ZMM). AMX and the supervisor states
/// need more set-up and stay off.
pub(super) const XCR0_WANTED: u64 = 0b1110_0111;

/// The supported CPUID, filtered.
pub(super) fn filtered(mut cpuid: CpuId) -> Result<CpuId> {
    let xcr0 = xcr0(&cpuid);
    for e in cpuid.as_mut_slice() {
        match (e.function, e.index) {
            (7, 0) => e.ebx &= !LEAF7_EBX_FSGSBASE,
            (0xd, 0) => {
                // Only the enabled states, and their save-area size.
                e.eax &= xcr0 as u32;
                e.edx &= (xcr0 >> 32) as u32;
            }
            _ => {}
        }
    }
    Ok(cpuid)
}

/// The XCR0 the guest runs with: the wanted states the host supports.
pub(super) fn xcr0(cpuid: &CpuId) -> u64 {
    let supported = cpuid
        .as_slice()
        .iter()
        .find(|e| e.function == 0xd && e.index == 0)
        .map_or(0b11, |e| u64::from(e.eax) | u64::from(e.edx) << 32);
    supported & XCR0_WANTED | 0b1
}
