//! Random sequences of map/remap/unmap/protect/unmap_range over two small
//! regions (one straddling a PML4 boundary low down, one at the very top of
//! the high half), checked after every step against a page-by-page model.

extern crate std;

use std::collections::BTreeMap;
use std::vec::Vec;

use crate::testing::{check_tree, Arena};
use crate::{EntryFlags, Error, PageSize, PageTables};

const K4: u64 = 0x1000;
const M2: u64 = 0x20_0000;

/// (base, length): both 2 MiB aligned, 8 MiB long.
const REGIONS: [(u64, u64); 2] = [
    (0x80_0000_0000 - 0x40_0000, 0x80_0000),
    (0xffff_ffff_ff80_0000, 0x80_0000),
];

/// Xorshift64*: deterministic and good enough to pick test operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What `translate` should say for each mapped 4 KiB page:
/// page -> (phys of the page, flags, size of the leaf holding it).
type Model = BTreeMap<u64, (u64, EntryFlags, PageSize)>;

fn random_flags(rng: &mut Rng) -> EntryFlags {
    let choices = EntryFlags::WRITABLE
        | EntryFlags::USER
        | EntryFlags::NO_EXECUTE
        | EntryFlags::GLOBAL
        | EntryFlags::WRITE_THROUGH
        | EntryFlags::NO_CACHE
        | EntryFlags::ACCESSED
        | EntryFlags::DIRTY;
    EntryFlags::from_bits_truncate(rng.next()) & choices
}

fn size_of(rng: &mut Rng) -> PageSize {
    if rng.below(3) == 0 {
        PageSize::Size2M
    } else {
        PageSize::Size4K
    }
}

/// A page-aligned address in `region`, aligned to `size`.
fn random_virt(rng: &mut Rng, region: (u64, u64), size: PageSize) -> u64 {
    region.0 + rng.below(region.1 / size.bytes()) * size.bytes()
}

fn random_phys(rng: &mut Rng, size: PageSize) -> u64 {
    (rng.below(1 << 28) * K4) & !(size.bytes() - 1)
}

/// A 4 KiB-aligned range inside `region`, sometimes 2 MiB aligned.
fn random_range(rng: &mut Rng, region: (u64, u64)) -> (u64, u64) {
    let unit = if rng.below(4) == 0 { M2 } else { K4 };
    let start = random_virt(rng, region, PageSize::Size4K) & !(unit - 1);
    let room = region.0.wrapping_add(region.1).wrapping_sub(start) / unit;
    let len = (1 + rng.below(room.min(3 * M2 / unit))) * unit;
    (start, len)
}

fn pages(start: u64, len: u64) -> impl Iterator<Item = u64> {
    (0..len / K4).map(move |i| start + i * K4)
}

fn any_in(model: &Model, start: u64, len: u64) -> bool {
    model.range(start..=start + (len - 1)).next().is_some()
}

fn insert(model: &mut Model, virt: u64, phys: u64, size: PageSize, flags: EntryFlags) {
    let flags = flags | EntryFlags::PRESENT;
    for (i, page) in pages(virt, size.bytes()).enumerate() {
        model.insert(page, (phys + i as u64 * K4, flags, size));
    }
}

fn remove(model: &mut Model, start: u64, len: u64) {
    for page in pages(start, len) {
        model.remove(&page);
    }
}

/// The tree splits the 2 MiB page holding `addr` (if any); mirror that.
fn split_at(model: &mut Model, addr: u64) {
    let base = addr & !(M2 - 1);
    if let Some(&(_, _, PageSize::Size2M)) = model.get(&base) {
        for page in pages(base, M2) {
            model.get_mut(&page).unwrap().2 = PageSize::Size4K;
        }
    }
}

/// Both boundaries of a range op cut 2 MiB pages unless aligned.
fn split_boundaries(model: &mut Model, start: u64, len: u64) {
    if !start.is_multiple_of(M2) {
        split_at(model, start);
    }
    let end = start.wrapping_add(len);
    if !end.is_multiple_of(M2) {
        split_at(model, end);
    }
}

/// Every mapping of the tree, expanded to 4 KiB pages, equals the model.
fn check_all(pt: &PageTables<&mut Arena>, model: &Model) {
    let mut got = Vec::new();
    pt.for_each_mapping(|virt, phys, flags, size| {
        for (i, page) in pages(virt, size.bytes()).enumerate() {
            got.push((page, (phys + i as u64 * K4, flags, size)));
        }
    });
    let want: Vec<_> = model.iter().map(|(&v, &m)| (v, m)).collect();
    assert_eq!(got, want);
    assert_eq!(
        check_tree(pt),
        pt.allocator().live_frames(),
        "frames allocated but not in the tree"
    );
}

/// `translate` of every page near the touched range, at a random offset.
fn check_touched(pt: &PageTables<&mut Arena>, model: &Model, rng: &mut Rng, start: u64, len: u64) {
    let region = REGIONS
        .iter()
        .find(|r| (r.0..=r.0 + (r.1 - 1)).contains(&start))
        .unwrap();
    let lo = start.saturating_sub(K4).max(region.0);
    let hi = start
        .wrapping_add(len)
        .wrapping_add(K4)
        .min(region.0.wrapping_add(region.1).wrapping_sub(1));
    let mut page = lo;
    while page < hi {
        let offset = rng.below(K4);
        let want = model
            .get(&page)
            .map(|&(phys, flags, size)| (phys + offset, flags, size));
        assert_eq!(pt.translate(page + offset), want, "at {:#x}", page + offset);
        page += K4;
    }
}

fn step(pt: &mut PageTables<&mut Arena>, model: &mut Model, rng: &mut Rng) -> (u64, u64) {
    let region = REGIONS[rng.below(2) as usize];
    match rng.below(20) {
        0..=6 => {
            let size = size_of(rng);
            let (virt, phys, flags) = (
                random_virt(rng, region, size),
                random_phys(rng, size),
                random_flags(rng),
            );
            let want = if any_in(model, virt, size.bytes()) {
                Err(Error::AlreadyMapped { virt })
            } else {
                insert(model, virt, phys, size, flags);
                Ok(())
            };
            assert_eq!(pt.map(virt, phys, size, flags), want);
            (virt, size.bytes())
        }
        7..=8 => {
            let size = size_of(rng);
            let (virt, phys, flags) = (
                random_virt(rng, region, size),
                random_phys(rng, size),
                random_flags(rng),
            );
            split_at(model, virt);
            remove(model, virt, size.bytes());
            insert(model, virt, phys, size, flags);
            assert_eq!(pt.remap(virt, phys, size, flags), Ok(()));
            (virt, size.bytes())
        }
        9..=12 => {
            let size = size_of(rng);
            // Half the time aim at a mapped page so unmaps mostly succeed.
            let mapped = model.keys().nth(rng.below(model.len() as u64 + 1) as usize);
            let virt = match mapped {
                Some(&v) if rng.below(2) == 0 => v & !(size.bytes() - 1),
                _ => random_virt(rng, region, size),
            };
            let want = match model.get(&virt) {
                Some(&(phys, _, s)) if s == size => {
                    remove(model, virt, size.bytes());
                    Ok(Some(phys))
                }
                Some(_) => Err(Error::SizeMismatch { virt }),
                None if any_in(model, virt, size.bytes()) => Err(Error::SizeMismatch { virt }),
                None => Ok(None),
            };
            assert_eq!(pt.unmap(virt, size), want);
            (virt, size.bytes())
        }
        13..=16 => {
            let (start, len) = random_range(rng, region);
            let flags = random_flags(rng);
            split_boundaries(model, start, len);
            for page in pages(start, len) {
                if let Some(m) = model.get_mut(&page) {
                    m.1 = flags | EntryFlags::PRESENT | (m.1 & EntryFlags::STATUS);
                }
            }
            assert_eq!(pt.protect(start, len, flags), Ok(()));
            (start, len)
        }
        17..=18 => {
            let (start, len) = random_range(rng, region);
            split_boundaries(model, start, len);
            remove(model, start, len);
            assert_eq!(pt.unmap_range(start, len), Ok(()));
            (start, len)
        }
        _ => {
            // A misaligned request changes nothing.
            let virt = random_virt(rng, region, PageSize::Size4K) + 0x800;
            assert_eq!(
                pt.map(virt, 0, PageSize::Size4K, EntryFlags::empty()),
                Err(Error::Misaligned {
                    addr: virt,
                    align: K4
                })
            );
            (virt & !(K4 - 1), K4)
        }
    }
}

fn run(seed: u64, steps: usize) {
    let mut arena = Arena::new();
    {
        let mut pt = PageTables::new(&mut arena).unwrap();
        let mut model = Model::new();
        let mut rng = Rng(seed);
        let mut peak = 0;
        for _ in 0..steps {
            let (start, len) = step(&mut pt, &mut model, &mut rng);
            check_all(&pt, &model);
            check_touched(&pt, &model, &mut rng, start, len);
            peak = peak.max(model.len());
        }
        assert!(peak > 100, "the sequence should build up some mappings");
        // Unmap what is left, page by page, by the size the model knows.
        let leaves: Vec<_> = model
            .iter()
            .filter(|(v, m)| m.2 == PageSize::Size4K || *v % M2 == 0)
            .map(|(&v, &m)| (v, m))
            .collect();
        for (virt, (phys, _, size)) in leaves {
            assert_eq!(pt.unmap(virt, size), Ok(Some(phys)));
        }
        assert_eq!(check_tree(&pt), 1);
        assert_eq!(pt.allocator().live_frames(), 1, "only the root is left");
    }
    assert_eq!(arena.live_frames(), 0);
}

/// Dropping a populated tree frees every frame.
fn run_then_drop(seed: u64, steps: usize) {
    let mut arena = Arena::new();
    {
        let mut pt = PageTables::new(&mut arena).unwrap();
        let mut model = Model::new();
        let mut rng = Rng(seed);
        for _ in 0..steps {
            step(&mut pt, &mut model, &mut rng);
        }
        check_all(&pt, &model);
        assert!(pt.allocator().live_frames() > 1);
    }
    assert_eq!(arena.live_frames(), 0);
}

#[test]
fn random_sequences_match_the_model() {
    for seed in 1..=4u64 {
        run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1000);
    }
}

#[test]
fn random_tree_is_freed_on_drop() {
    for seed in 1..=4u64 {
        run_then_drop(seed * 7919, 400);
    }
}
