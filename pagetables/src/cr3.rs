//! CR3 values for PCID-tagged roots.
//!
//! With CR4.PCIDE set, CR3 holds the root table's address in bits 12..52, the
//! process-context identifier in bits 0..12, and on a write bit 63 asks the
//! CPU to keep the TLB entries tagged with that PCID. Switching address spaces
//! with distinct PCIDs and bit 63 set then costs no TLB flush.

use crate::ADDRESS_MASK;

/// A process-context identifier: 12 bits. PCID 0 is what the CPU uses while
/// CR4.PCIDE is clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pcid(u16);

impl Pcid {
    /// Largest valid PCID.
    pub const MAX: u16 = 0xfff;

    /// `None` if `value` needs more than 12 bits.
    pub const fn new(value: u16) -> Option<Self> {
        if value <= Self::MAX {
            Some(Pcid(value))
        } else {
            None
        }
    }

    pub const fn get(self) -> u16 {
        self.0
    }
}

/// CR3 bit 63 on a write: do not invalidate this PCID's TLB entries.
pub const CR3_NO_FLUSH: u64 = 1 << 63;

/// The CR3 value selecting the root table at `root_phys` tagged with `pcid`;
/// `no_flush` keeps the TLB entries cached for that PCID. Only meaningful
/// with CR4.PCIDE set (without it, bits 0..12 are cache-control bits).
pub const fn cr3_value(root_phys: u64, pcid: Pcid, no_flush: bool) -> u64 {
    let flush = if no_flush { CR3_NO_FLUSH } else { 0 };
    (root_phys & ADDRESS_MASK) | pcid.0 as u64 | flush
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcid_is_twelve_bits() {
        assert_eq!(Pcid::new(0xfff).map(Pcid::get), Some(0xfff));
        assert_eq!(Pcid::new(0x1000), None);
    }

    #[test]
    fn cr3_layout() {
        let pcid = Pcid::new(0x2a).unwrap();
        assert_eq!(cr3_value(0x12_3000, pcid, false), 0x12_302a);
        assert_eq!(cr3_value(0x12_3000, pcid, true), 0x8000_0000_0012_302a);
    }
}
