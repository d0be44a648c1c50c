//! Virtual-address arithmetic: canonical form, page sizes, table indices.
//!
//! Internally the walker works on *linear* addresses, the low 48 bits of a
//! virtual address. A range that lies in one canonical half never wraps in
//! that space, so range code needs no overflow handling; `sign_extend` turns a
//! linear address back into the canonical one.

use crate::Error;

/// Implemented virtual-address width (4-level paging).
pub const VIRT_BITS: u32 = 48;
/// First physical address beyond the architectural limit (52 bits).
pub const PHYS_LIMIT: u64 = 1 << 52;
/// Entries in one table.
pub const ENTRY_COUNT: usize = 512;

const LINEAR_MASK: u64 = (1 << VIRT_BITS) - 1;

/// Level of a table in the tree: 0 is a page table (PT, 4 KiB leaves), 1 a
/// page directory (PD, may hold 2 MiB leaves), 2 the PDPT, 3 the PML4 (root).
pub(crate) type Level = u32;
pub(crate) const ROOT_LEVEL: Level = 3;

/// Size of a leaf mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PageSize {
    Size4K,
    Size2M,
}

impl PageSize {
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 1 << 12,
            PageSize::Size2M => 1 << 21,
        }
    }

    /// Level of the table holding a leaf of this size.
    pub(crate) const fn level(self) -> Level {
        match self {
            PageSize::Size4K => 0,
            PageSize::Size2M => 1,
        }
    }
}

/// True if bits 63..48 of `virt` all equal bit 47.
pub const fn is_canonical(virt: u64) -> bool {
    sign_extend(virt) == virt
}

/// The canonical address whose low 48 bits are `linear`.
pub(crate) const fn sign_extend(linear: u64) -> u64 {
    (((linear << (64 - VIRT_BITS)) as i64) >> (64 - VIRT_BITS)) as u64
}

/// Bytes covered by one entry of a table at `level`.
pub(crate) const fn span(level: Level) -> u64 {
    1 << (12 + 9 * level)
}

/// Index of the entry covering `virt` in the table at `level`.
pub(crate) const fn index(virt: u64, level: Level) -> usize {
    // The mask keeps the value below 512, so the cast never truncates.
    ((virt >> (12 + 9 * level)) & 0x1ff) as usize
}

/// Check that `virt` is canonical and aligned to `align`.
pub(crate) fn check_virt(virt: u64, align: u64) -> Result<(), Error> {
    if !is_canonical(virt) {
        return Err(Error::NonCanonical { virt });
    }
    check_aligned(virt, align)
}

/// Check that `phys` fits in 52 bits and is aligned to `align`.
pub(crate) fn check_phys(phys: u64, align: u64) -> Result<(), Error> {
    if phys >= PHYS_LIMIT {
        return Err(Error::PhysOutOfRange { phys });
    }
    check_aligned(phys, align)
}

fn check_aligned(addr: u64, align: u64) -> Result<(), Error> {
    if addr & (align - 1) != 0 {
        return Err(Error::Misaligned { addr, align });
    }
    Ok(())
}

/// Validate the 4 KiB-aligned range `[virt, virt + len)` and return it as a
/// half-open linear range (empty when `len` is 0).
pub(crate) fn check_range(virt: u64, len: u64) -> Result<(u64, u64), Error> {
    let page = PageSize::Size4K.bytes();
    check_virt(virt, page)?;
    check_aligned(len, page)?;
    if len == 0 {
        return Ok((virt & LINEAR_MASK, virt & LINEAR_MASK));
    }
    // Ranges are checked by their last byte so that a range ending exactly at
    // 2^64 (the top of the upper half) is legal.
    // A range running past 2^64 would wrap to address 0, the first address
    // it must not include.
    let last = virt
        .checked_add(len - 1)
        .ok_or(Error::NonCanonical { virt: 0 })?;
    if !is_canonical(last) || (last ^ virt) >> 63 != 0 {
        // Both ends canonical but in different halves: the range crosses the
        // hole, whose first address is the offender.
        return Err(Error::NonCanonical {
            virt: 1 << (VIRT_BITS - 1),
        });
    }
    Ok((virt & LINEAR_MASK, (last & LINEAR_MASK) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_edges() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x0000_7fff_ffff_ffff));
        assert!(!is_canonical(0x0000_8000_0000_0000));
        assert!(!is_canonical(0xffff_7fff_ffff_ffff));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(is_canonical(u64::MAX));
        assert!(!is_canonical(0x0001_0000_0000_0000));
    }

    #[test]
    fn indices_of_a_high_half_address() {
        let v = 0xffff_8000_4020_3000;
        assert_eq!(index(v, 3), 256);
        assert_eq!(index(v, 2), 1);
        assert_eq!(index(v, 1), 1);
        assert_eq!(index(v, 0), 3);
        assert_eq!(sign_extend(v & LINEAR_MASK), v);
    }

    #[test]
    fn range_checks() {
        assert_eq!(check_range(0x1000, 0x2000), Ok((0x1000, 0x3000)));
        assert_eq!(
            check_range(0xffff_ffff_ffff_f000, 0x1000),
            Ok((0xffff_ffff_f000, 1 << 48))
        );
        assert!(matches!(
            check_range(0x7fff_ffff_f000, 0x2000),
            Err(Error::NonCanonical { .. })
        ));
        assert!(matches!(
            check_range(0xffff_ffff_ffff_f000, 0x2000),
            Err(Error::NonCanonical { .. })
        ));
        assert!(matches!(
            check_range(0x1000, 0x800),
            Err(Error::Misaligned { .. })
        ));
        assert_eq!(check_range(0x5000, 0), Ok((0x5000, 0x5000)));
    }

    #[test]
    fn phys_checks() {
        assert_eq!(check_phys(PHYS_LIMIT - 0x1000, 0x1000), Ok(()));
        assert_eq!(
            check_phys(PHYS_LIMIT, 0x1000),
            Err(Error::PhysOutOfRange { phys: PHYS_LIMIT })
        );
        assert_eq!(
            check_phys(0x1000, 0x20_0000),
            Err(Error::Misaligned {
                addr: 0x1000,
                align: 0x20_0000
            })
        );
    }
}
