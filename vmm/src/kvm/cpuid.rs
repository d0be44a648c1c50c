//! Reading the hypervisor CPUID leaves (0x4000_0000..) out of `KVM_GET_SUPPORTED_CPUID`.

use kvm_bindings::kvm_cpuid_entry2;

/// The hypervisor vendor leaf.
pub(super) const LEAF_HYPERVISOR: u32 = 0x4000_0000;
/// PVM's feature leaf: EBX holds "PVM" when the PVM guest ABI is offered.
pub(super) const LEAF_PVM: u32 = 0x4000_0002;
/// "PVM\0" as the little-endian EBX of [`LEAF_PVM`].
pub(super) const PVM_SIGNATURE: u32 = u32::from_le_bytes(*b"PVM\0");

/// What the hypervisor leaves say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HypervisorLeaves {
    /// The 12-byte vendor signature of leaf 0x4000_0000 (EBX, ECX, EDX), without
    /// trailing NULs; `None` if the leaf is absent.
    pub signature: Option<String>,
    /// EAX of leaf 0x4000_0000: the highest hypervisor leaf.
    pub max_leaf: u32,
    /// Leaf 0x4000_0002 is within range and its EBX reads "PVM".
    pub pvm_leaf: bool,
}

/// The 12 signature bytes of a vendor leaf, as text without trailing NULs.
pub(super) fn signature(ebx: u32, ecx: u32, edx: u32) -> String {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&ebx.to_le_bytes());
    bytes[4..8].copy_from_slice(&ecx.to_le_bytes());
    bytes[8..].copy_from_slice(&edx.to_le_bytes());
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Finds the hypervisor leaves among `entries`.
pub(super) fn hypervisor_leaves(entries: &[kvm_cpuid_entry2]) -> HypervisorLeaves {
    let leaf = |function: u32| {
        entries
            .iter()
            .find(|e| e.function == function && e.index == 0)
    };
    let vendor = leaf(LEAF_HYPERVISOR);
    let max_leaf = vendor.map_or(0, |e| e.eax);
    HypervisorLeaves {
        signature: vendor.map(|e| signature(e.ebx, e.ecx, e.edx)),
        max_leaf,
        pvm_leaf: max_leaf >= LEAF_PVM && leaf(LEAF_PVM).is_some_and(|e| e.ebx == PVM_SIGNATURE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, eax: u32, ebx: u32, ecx: u32, edx: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            eax,
            ebx,
            ecx,
            edx,
            ..Default::default()
        }
    }

    /// EBX, ECX, EDX of "KVMKVMKVM\0\0\0".
    const KVM: (u32, u32, u32) = (0x4b4d_564b, 0x564b_4d56, 0x0000_004d);

    #[test]
    fn parses_the_kvm_signature() {
        assert_eq!(signature(KVM.0, KVM.1, KVM.2), "KVMKVMKVM");
        assert_eq!(
            signature(
                u32::from_le_bytes(*b"Micr"),
                u32::from_le_bytes(*b"osof"),
                u32::from_le_bytes(*b"t Hv")
            ),
            "Microsoft Hv"
        );
        assert_eq!(signature(0, 0, 0), "");
    }

    #[test]
    fn plain_kvm_has_no_pvm_leaf() {
        let e = [
            entry(0, 0xd, 0, 0, 0),
            entry(LEAF_HYPERVISOR, 0x4000_0001, KVM.0, KVM.1, KVM.2),
            entry(0x4000_0001, 0x0100_7afb, 0, 0, 0),
        ];
        let h = hypervisor_leaves(&e);
        assert_eq!(h.signature.as_deref(), Some("KVMKVMKVM"));
        assert_eq!(h.max_leaf, 0x4000_0001);
        assert!(!h.pvm_leaf);
    }

    #[test]
    fn recognises_the_pvm_leaf() {
        let mut e = vec![
            entry(LEAF_HYPERVISOR, LEAF_PVM, KVM.0, KVM.1, KVM.2),
            entry(LEAF_PVM, 0, 0x004d_5650, 0, 0),
        ];
        assert!(hypervisor_leaves(&e).pvm_leaf);
        // Out of range of the vendor leaf's EAX: ignored.
        e[0].eax = 0x4000_0001;
        assert!(!hypervisor_leaves(&e).pvm_leaf);
        // In range but not "PVM".
        e[0].eax = LEAF_PVM;
        e[1].ebx = 0;
        assert!(!hypervisor_leaves(&e).pvm_leaf);
    }

    #[test]
    fn no_hypervisor_leaf() {
        let h = hypervisor_leaves(&[entry(0, 0xd, 0, 0, 0)]);
        assert_eq!(h.signature, None);
        assert_eq!(h.max_leaf, 0);
        assert!(!h.pvm_leaf);
    }
}
