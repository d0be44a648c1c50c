//! x86-64 page-table entry encoding. The table walker and frame allocator
//! arrive with the KVM platform; the entry format is shared now so the
//! platform interface can speak of page permissions in one vocabulary.
#![no_std]

use bitflags::bitflags;

bitflags! {
    /// Flag bits of an x86-64 page-table entry.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct EntryFlags: u64 {
        const PRESENT = 1 << 0;
        const WRITABLE = 1 << 1;
        const USER = 1 << 2;
        const WRITE_THROUGH = 1 << 3;
        const NO_CACHE = 1 << 4;
        const ACCESSED = 1 << 5;
        const DIRTY = 1 << 6;
        const HUGE = 1 << 7;
        const GLOBAL = 1 << 8;
        const NO_EXECUTE = 1 << 63;
    }
}

/// Mask of the physical-address bits of an entry (bits 12..52).
pub const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// One page-table entry: a physical frame address plus flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct Entry(u64);

impl Entry {
    /// An entry pointing at `phys` (must be 4 KiB aligned) with `flags`.
    pub fn new(phys: u64, flags: EntryFlags) -> Self {
        debug_assert_eq!(phys & !ADDRESS_MASK, 0, "unaligned frame address");
        Entry((phys & ADDRESS_MASK) | flags.bits())
    }
    pub fn address(self) -> u64 {
        self.0 & ADDRESS_MASK
    }
    pub fn flags(self) -> EntryFlags {
        EntryFlags::from_bits_truncate(self.0)
    }
    pub fn is_present(self) -> bool {
        self.flags().contains(EntryFlags::PRESENT)
    }
    pub fn bits(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_address_and_flags() {
        let f = EntryFlags::PRESENT | EntryFlags::USER | EntryFlags::NO_EXECUTE;
        let e = Entry::new(0x1234_5000, f);
        assert_eq!(e.address(), 0x1234_5000);
        assert_eq!(e.flags(), f);
        assert!(e.is_present());
        assert_eq!(e.bits(), 0x8000_0000_1234_5005);
    }

    #[test]
    fn empty_entry_is_not_present() {
        assert!(!Entry::default().is_present());
    }
}
