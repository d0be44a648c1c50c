//! The x86-64 page-table entry format, shared by every level of the tree.

use bitflags::bitflags;

bitflags! {
    /// Flag bits of an x86-64 page-table entry.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EntryFlags: u64 {
        const PRESENT = 1 << 0;
        const WRITABLE = 1 << 1;
        const USER = 1 << 2;
        const WRITE_THROUGH = 1 << 3;
        const NO_CACHE = 1 << 4;
        /// Set by the MMU when the entry is used for a translation.
        const ACCESSED = 1 << 5;
        /// Set by the MMU on a write through a leaf entry.
        const DIRTY = 1 << 6;
        /// In a PD entry: the entry maps a 2 MiB page instead of a table.
        const HUGE = 1 << 7;
        const GLOBAL = 1 << 8;
        const NO_EXECUTE = 1 << 63;
    }
}

impl EntryFlags {
    /// Flags a caller may ask for on a leaf. `HUGE` is absent: the page size
    /// argument decides it, so a flag set can never contradict the size.
    pub const LEAF_SETTABLE: EntryFlags = EntryFlags::PRESENT
        .union(EntryFlags::WRITABLE)
        .union(EntryFlags::USER)
        .union(EntryFlags::WRITE_THROUGH)
        .union(EntryFlags::NO_CACHE)
        .union(EntryFlags::ACCESSED)
        .union(EntryFlags::DIRTY)
        .union(EntryFlags::GLOBAL)
        .union(EntryFlags::NO_EXECUTE);

    /// Flags of every intermediate (non-leaf) entry. x86 takes the most
    /// restrictive combination along the walk, so intermediate entries grant
    /// everything and the leaf alone decides access; changing a page's
    /// permissions then touches exactly one entry.
    pub const TABLE: EntryFlags = EntryFlags::PRESENT
        .union(EntryFlags::WRITABLE)
        .union(EntryFlags::USER);

    /// Status bits the MMU writes; they survive a permission change.
    pub const STATUS: EntryFlags = EntryFlags::ACCESSED.union(EntryFlags::DIRTY);
}

/// Mask of the physical-address bits of an entry (bits 12..52).
pub const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;

/// One page-table entry: a physical frame address plus flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(transparent)]
pub struct Entry(u64);

impl Entry {
    /// The all-zero entry: not present, no address.
    pub const EMPTY: Entry = Entry(0);

    /// An entry pointing at `phys` (must be 4 KiB aligned) with `flags`.
    pub fn new(phys: u64, flags: EntryFlags) -> Self {
        debug_assert_eq!(phys & !ADDRESS_MASK, 0, "unaligned frame address");
        Entry((phys & ADDRESS_MASK) | flags.bits())
    }

    /// The entry with exactly these raw bits (as read from a table).
    pub const fn from_bits(bits: u64) -> Self {
        Entry(bits)
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

    /// Present and mapping a large page rather than pointing at a table.
    /// Only meaningful above the last level, where bit 7 means PAT instead.
    pub fn is_huge(self) -> bool {
        self.flags()
            .contains(EntryFlags::PRESENT | EntryFlags::HUGE)
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
        assert!(!e.is_huge());
        assert_eq!(e.bits(), 0x8000_0000_1234_5005);
        assert_eq!(Entry::from_bits(e.bits()), e);
    }

    #[test]
    fn empty_entry_is_not_present() {
        assert!(!Entry::default().is_present());
        assert_eq!(Entry::default(), Entry::EMPTY);
    }

    #[test]
    fn huge_requires_present() {
        assert!(!Entry::new(0x20_0000, EntryFlags::HUGE).is_huge());
        assert!(Entry::new(0x20_0000, EntryFlags::HUGE | EntryFlags::PRESENT).is_huge());
    }

    #[test]
    fn leaf_settable_excludes_huge() {
        assert!(!EntryFlags::LEAF_SETTABLE.contains(EntryFlags::HUGE));
        assert!(EntryFlags::LEAF_SETTABLE.contains(EntryFlags::TABLE));
    }
}
