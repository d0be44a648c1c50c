//! One behaviour per test: errors, splitting, freeing, the high half.

extern crate std;

use std::vec::Vec;

use crate::testing::{check_tree, Arena};
use crate::{EntryFlags, Error, PageSize, PageTables, Pcid};

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;
const RW: EntryFlags = EntryFlags::WRITABLE;
const P: EntryFlags = EntryFlags::PRESENT;

fn pt(arena: &mut Arena) -> PageTables<&mut Arena> {
    PageTables::new(arena).unwrap()
}

#[test]
fn maps_and_translates_both_sizes() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    let f = RW | EntryFlags::USER | EntryFlags::NO_EXECUTE;
    pt.map(0x40_1000, 0x9_9000, PageSize::Size4K, f).unwrap();
    pt.map(0x80_0000, 0x1_0000_0000, PageSize::Size2M, f)
        .unwrap();
    assert_eq!(
        pt.translate(0x40_1abc),
        Some((0x9_9abc, f | P, PageSize::Size4K))
    );
    assert_eq!(
        pt.translate(0x80_0000 + 0x12_3456),
        Some((0x1_0012_3456, f | P, PageSize::Size2M))
    );
    assert_eq!(pt.translate(0x40_2000), None);
    assert_eq!(pt.translate(0x40_0000), None);
    // root, PDPT, PD, one PT (the 2 MiB page sits in the same PD)
    assert_eq!(check_tree(&pt), 4);
}

#[test]
fn high_half_addresses() {
    let mut arena = Arena::new();
    {
        let mut pt = pt(&mut arena);
        let low = 0xffff_8000_0000_0000;
        let top = 0xffff_ffff_ffe0_0000;
        pt.map(low, 0x5000, PageSize::Size4K, EntryFlags::GLOBAL)
            .unwrap();
        pt.map(top, 0x4000_0000, PageSize::Size2M, RW).unwrap();
        assert_eq!(
            pt.translate(low + 8),
            Some((0x5008, EntryFlags::GLOBAL | P, PageSize::Size4K))
        );
        assert_eq!(
            pt.translate(u64::MAX),
            Some((0x4000_0000 + M2 - 1, RW | P, PageSize::Size2M))
        );
        let mut seen = Vec::new();
        pt.for_each_mapping(|v, p, _, s| seen.push((v, p, s)));
        assert_eq!(
            seen,
            [
                (low, 0x5000, PageSize::Size4K),
                (top, 0x4000_0000, PageSize::Size2M)
            ]
        );
        // The range ending at 2^64 is legal.
        pt.protect(top, M2, EntryFlags::empty()).unwrap();
        assert_eq!(pt.translate(top).unwrap().1, P);
        assert_eq!(pt.unmap(low, PageSize::Size4K), Ok(Some(0x5000)));
        pt.unmap_range(top, M2).unwrap();
        assert_eq!(check_tree(&pt), 1);
    }
    assert_eq!(arena.live_frames(), 0);
}

#[test]
fn non_canonical_rejected() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    let hole = 0x0000_8000_0000_0000;
    let nc = Error::NonCanonical { virt: hole };
    assert_eq!(pt.map(hole, 0, PageSize::Size4K, RW), Err(nc));
    assert_eq!(pt.map(hole, 0, PageSize::Size2M, RW), Err(nc));
    assert_eq!(pt.unmap(hole, PageSize::Size4K), Err(nc));
    assert_eq!(pt.translate(hole), None);
    assert_eq!(pt.protect(hole, K4, RW), Err(nc));
    // Ranges that start canonical but run into the hole or past 2^64.
    assert_eq!(pt.protect(hole - K4, 2 * K4, RW), Err(nc));
    assert!(matches!(
        pt.unmap_range(u64::MAX - K4 + 1, 2 * K4),
        Err(Error::NonCanonical { .. })
    ));
    assert_eq!(check_tree(&pt), 1);
}

#[test]
fn misaligned_and_invalid_rejected() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    fn mis<T>(addr: u64, align: u64) -> Result<T, Error> {
        Err(Error::Misaligned { addr, align })
    }
    assert_eq!(pt.map(0x1001, 0, PageSize::Size4K, RW), mis(0x1001, K4));
    assert_eq!(pt.map(K4, 0, PageSize::Size2M, RW), mis(K4, M2));
    assert_eq!(pt.map(M2, K4, PageSize::Size2M, RW), mis(K4, M2));
    assert_eq!(pt.unmap(K4, PageSize::Size2M), mis(K4, M2));
    assert_eq!(pt.protect(K4, 10, RW), mis(10, K4));
    assert_eq!(
        pt.map(0, 1 << 52, PageSize::Size4K, RW),
        Err(Error::PhysOutOfRange { phys: 1 << 52 })
    );
    assert!(matches!(
        pt.map(0, 0, PageSize::Size4K, EntryFlags::HUGE),
        Err(Error::InvalidFlags { .. })
    ));
    assert!(matches!(
        pt.protect(0, K4, EntryFlags::from_bits_retain(1 << 9)),
        Err(Error::InvalidFlags { .. })
    ));
    assert_eq!(check_tree(&pt), 1);
}

#[test]
fn map_never_replaces() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    pt.map(M2, 0x20_0000, PageSize::Size2M, RW).unwrap();
    pt.map(2 * M2 + K4, 0x1000, PageSize::Size4K, RW).unwrap();
    let tables = check_tree(&pt);
    let taken = |virt| Err(Error::AlreadyMapped { virt });
    assert_eq!(pt.map(M2 + K4, 0, PageSize::Size4K, RW), taken(M2 + K4));
    assert_eq!(pt.map(M2, 0, PageSize::Size2M, RW), taken(M2));
    assert_eq!(pt.map(2 * M2, 0, PageSize::Size2M, RW), taken(2 * M2));
    assert_eq!(
        pt.map(2 * M2 + K4, 0, PageSize::Size4K, RW),
        taken(2 * M2 + K4)
    );
    assert_eq!(check_tree(&pt), tables);
    assert_eq!(pt.translate(M2 + K4).unwrap().0, 0x20_1000);
    assert_eq!(pt.translate(2 * M2 + K4).unwrap().0, 0x1000);
}

#[test]
fn remap_replaces() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    pt.map(0, 0x1000, PageSize::Size4K, RW).unwrap();
    pt.remap(0, 0x2000, PageSize::Size4K, EntryFlags::empty())
        .unwrap();
    assert_eq!(pt.translate(0), Some((0x2000, P, PageSize::Size4K)));

    // A 4 KiB page inside a 2 MiB one: the rest keeps its translation.
    pt.map(M2, 0x4000_0000, PageSize::Size2M, RW).unwrap();
    pt.remap(M2 + 5 * K4, 0x7000, PageSize::Size4K, RW).unwrap();
    assert_eq!(
        pt.translate(M2 + 5 * K4),
        Some((0x7000, RW | P, PageSize::Size4K))
    );
    assert_eq!(
        pt.translate(M2 + 6 * K4),
        Some((0x4000_6000, RW | P, PageSize::Size4K))
    );

    // A 2 MiB page over 4 KiB pages drops their table.
    let before = check_tree(&pt);
    pt.remap(M2, 0x6000_0000, PageSize::Size2M, RW).unwrap();
    assert_eq!(check_tree(&pt), before - 1);
    assert_eq!(
        pt.translate(M2 + 5 * K4),
        Some((0x6000_5000, RW | P, PageSize::Size2M))
    );
}

#[test]
fn unmap_reports_what_was_there() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    assert_eq!(pt.unmap(K4, PageSize::Size4K), Ok(None));
    pt.map(M2, 0x20_0000, PageSize::Size2M, RW).unwrap();
    pt.map(2 * M2, 0x3000, PageSize::Size4K, RW).unwrap();
    let mismatch = |virt| Err(Error::SizeMismatch { virt });
    assert_eq!(pt.unmap(M2 + K4, PageSize::Size4K), mismatch(M2 + K4));
    assert_eq!(pt.unmap(2 * M2, PageSize::Size2M), mismatch(2 * M2));
    assert_eq!(pt.unmap(3 * M2, PageSize::Size2M), Ok(None));
    assert_eq!(pt.unmap(2 * M2 + K4, PageSize::Size4K), Ok(None));
    assert_eq!(pt.unmap(M2, PageSize::Size2M), Ok(Some(0x20_0000)));
    assert_eq!(pt.unmap(2 * M2, PageSize::Size4K), Ok(Some(0x3000)));
    assert_eq!(check_tree(&pt), 1);
}

#[test]
fn empty_tables_are_freed() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    let a = 0x1000;
    let b = 0x80_0000_0000; // second PML4 slot: a tree of its own
    pt.map(a, 0, PageSize::Size4K, RW).unwrap();
    assert_eq!(check_tree(&pt), 4);
    pt.map(b, 0, PageSize::Size4K, RW).unwrap();
    assert_eq!(check_tree(&pt), 7);
    pt.map(a + K4, 0, PageSize::Size4K, RW).unwrap();
    assert_eq!(check_tree(&pt), 7);
    pt.unmap(a, PageSize::Size4K).unwrap();
    assert_eq!(check_tree(&pt), 7, "PT still holds a + 4K");
    pt.unmap(a + K4, PageSize::Size4K).unwrap();
    assert_eq!(check_tree(&pt), 4);
    pt.unmap(b, PageSize::Size4K).unwrap();
    assert_eq!(check_tree(&pt), 1);
    assert_eq!(pt.allocator().live_frames(), 1);
}

#[test]
fn partial_protect_splits_a_2m_page() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    pt.map(M2, 0x4000_0000, PageSize::Size2M, RW | EntryFlags::DIRTY)
        .unwrap();
    let before = check_tree(&pt);
    pt.protect(M2 + 3 * K4, 2 * K4, EntryFlags::NO_EXECUTE)
        .unwrap();
    assert_eq!(check_tree(&pt), before + 1);
    let kept = RW | P | EntryFlags::DIRTY;
    assert_eq!(
        pt.translate(M2 + 2 * K4),
        Some((0x4000_2000, kept, PageSize::Size4K))
    );
    let changed = EntryFlags::NO_EXECUTE | P | EntryFlags::DIRTY;
    assert_eq!(
        pt.translate(M2 + 3 * K4),
        Some((0x4000_3000, changed, PageSize::Size4K))
    );
    assert_eq!(
        pt.translate(M2 + 4 * K4 + 5),
        Some((0x4000_4005, changed, PageSize::Size4K))
    );
    assert_eq!(
        pt.translate(M2 + 5 * K4),
        Some((0x4000_5000, kept, PageSize::Size4K))
    );
    assert_eq!(
        pt.translate(2 * M2 - 1),
        Some((0x401f_ffff, kept, PageSize::Size4K))
    );
}

#[test]
fn whole_protect_keeps_a_2m_page() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    pt.map(M2, 0x4000_0000, PageSize::Size2M, RW).unwrap();
    pt.map(2 * M2 + K4, 0x5000, PageSize::Size4K, RW).unwrap();
    let before = check_tree(&pt);
    // Covers the 2 MiB page, a hole and the 4 KiB page.
    pt.protect(M2, 2 * M2, EntryFlags::USER).unwrap();
    assert_eq!(check_tree(&pt), before);
    let user = EntryFlags::USER | P;
    assert_eq!(
        pt.translate(M2),
        Some((0x4000_0000, user, PageSize::Size2M))
    );
    assert_eq!(
        pt.translate(2 * M2 + K4),
        Some((0x5000, user, PageSize::Size4K))
    );
    assert_eq!(pt.translate(2 * M2), None);
}

#[test]
fn unmap_range_splits_and_frees() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    pt.map(M2, 0x4000_0000, PageSize::Size2M, RW).unwrap();
    pt.map(2 * M2, 0x4020_0000, PageSize::Size2M, RW).unwrap();
    // From the middle of the first to the middle of the second.
    pt.unmap_range(M2 + M2 / 2, M2).unwrap();
    assert_eq!(pt.translate(M2 + M2 / 2 - K4).unwrap().0, 0x400f_f000);
    assert_eq!(pt.translate(M2 + M2 / 2), None);
    assert_eq!(pt.translate(2 * M2 + M2 / 2 - K4), None);
    assert_eq!(pt.translate(2 * M2 + M2 / 2).unwrap().0, 0x4030_0000);
    pt.unmap_range(0, 4 * M2).unwrap();
    assert_eq!(check_tree(&pt), 1);
}

#[test]
fn out_of_frames_changes_nothing() {
    let mut arena = Arena::new();
    let mut pt = pt(&mut arena);
    pt.map(M2, 0x4000_0000, PageSize::Size2M, RW).unwrap();
    assert_eq!(check_tree(&pt), 3);
    // Room for a PDPT in a new PML4 slot but not for the PD below it: the
    // PDPT must be given back.
    pt.allocator().limit.set(4);
    assert_eq!(
        pt.map(0x80_0000_0000, 0, PageSize::Size4K, RW),
        Err(Error::OutOfFrames)
    );
    assert_eq!(pt.allocator().live_frames(), 3);
    // No room at all: the splits and the page table all fail cleanly.
    pt.allocator().limit.set(3);
    assert_eq!(pt.map(0, 0, PageSize::Size4K, RW), Err(Error::OutOfFrames));
    assert_eq!(
        pt.protect(M2 + K4, K4, EntryFlags::empty()),
        Err(Error::OutOfFrames)
    );
    assert_eq!(
        pt.remap(M2 + K4, 0, PageSize::Size4K, RW),
        Err(Error::OutOfFrames)
    );
    assert_eq!(pt.unmap_range(M2, K4), Err(Error::OutOfFrames));
    assert_eq!(check_tree(&pt), 3);
    assert_eq!(pt.allocator().live_frames(), 3);
    assert_eq!(
        pt.translate(M2 + K4),
        Some((0x4000_1000, RW | P, PageSize::Size2M))
    );
}

#[test]
fn drop_and_clear_free_everything() {
    let mut arena = Arena::new();
    {
        let mut pt = pt(&mut arena);
        for i in 0..8u64 {
            pt.map(i << 39, 0, PageSize::Size4K, RW).unwrap();
            pt.map((i << 30) + M2, 0, PageSize::Size2M, RW).unwrap();
        }
        pt.clear();
        assert_eq!(check_tree(&pt), 1);
        pt.map(0xffff_8000_0000_0000, 0, PageSize::Size4K, RW)
            .unwrap();
        pt.map(0x1000, 0, PageSize::Size4K, RW).unwrap();
    }
    assert_eq!(arena.live_frames(), 0);
}

#[test]
fn cr3_carries_root_and_pcid() {
    let mut arena = Arena::new();
    let pt = pt(&mut arena);
    let pcid = Pcid::new(7).unwrap();
    assert_eq!(pt.cr3(pcid, false), pt.root_phys() | 7);
    assert_eq!(pt.cr3(pcid, true), pt.root_phys() | 7 | 1 << 63);
}

#[test]
fn mappings_in_a_range() {
    let mut arena = Arena::new();
    {
        let mut pt = pt(&mut arena);
        let base = 0x4000_0000;
        pt.map(base, 0x20_0000, PageSize::Size2M, RW).unwrap();
        pt.map(base + M2, 0x9000, PageSize::Size4K, RW).unwrap();
        pt.map(base + M2 + 0x3000, 0xa000, PageSize::Size4K, RW)
            .unwrap();
        pt.map(base + 4 * M2, 0xb000, PageSize::Size4K, RW).unwrap();
        let seen = |virt, len| {
            let mut seen = Vec::new();
            pt.for_each_mapping_in(virt, len, |v, p, _, s| seen.push((v, p, s)))
                .unwrap();
            seen
        };
        // A 2 MiB leaf covered in part is reported whole.
        assert_eq!(
            seen(base + 0x1000, M2 + 0x1000),
            [
                (base, 0x20_0000, PageSize::Size2M),
                (base + M2, 0x9000, PageSize::Size4K)
            ]
        );
        assert_eq!(
            seen(base + M2 + 0x1000, 3 * M2 - 0x1000),
            [(base + M2 + 0x3000, 0xa000, PageSize::Size4K)]
        );
        assert_eq!(seen(base + 5 * M2, M2), []);
        assert_eq!(seen(base, 0), []);
        assert!(pt
            .for_each_mapping_in(base + 1, 0x1000, |_, _, _, _| ())
            .is_err());
        pt.clear();
    }
    assert_eq!(arena.live_frames(), 0);
}
