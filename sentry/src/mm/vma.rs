//! Virtual memory areas: the ranges a guest process has mapped.

use std::collections::BTreeMap;

use vmm::Access;

use super::file_map::FileMap;

/// What a VMA is for; only affects growth and reporting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// Anonymous private memory (mmap, ELF segments).
    Anon,
    /// Anonymous shared memory (`MAP_SHARED|MAP_ANONYMOUS`): after `fork`
    /// parent and child keep writing the same pages.
    Shared,
    /// The program break area.
    Heap,
    /// The main thread's stack: grows down on faults below it.
    Stack,
    /// A segment of the executable (copied in, so anonymous underneath;
    /// /proc/PID/maps names it after the file).
    Image,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    pub perms: Access,
    pub kind: VmaKind,
    /// The file mapped here, if any (`file_map.rs`).
    pub file: Option<FileMap>,
}

impl Vma {
    /// Whether processes mapping these pages share them after fork (and a
    /// write is seen by every mapping): MAP_SHARED memory, anonymous or of
    /// a file.
    pub fn is_shared(&self) -> bool {
        self.kind == VmaKind::Shared || self.file.as_ref().is_some_and(|f| f.shared)
    }

    /// Whether `next`, starting at `start + len` right after this VMA
    /// (which starts at `start`), could be the same VMA.
    fn continued_by(&self, len: u64, next: &Vma) -> bool {
        self.perms == next.perms
            && self.kind == next.kind
            && match (&self.file, &next.file) {
                (None, None) => true,
                (Some(a), Some(b)) => a.continued_by(len, b),
                _ => false,
            }
    }
}

/// Non-overlapping VMAs keyed by start address.
#[derive(Clone, Default)]
pub struct VmaSet {
    map: BTreeMap<u64, Vma>,
}

impl VmaSet {
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.map.iter().map(|(&s, v)| (s, v))
    }

    /// Insert a VMA; the caller guarantees the range is free.
    pub fn insert(&mut self, start: u64, vma: Vma) {
        debug_assert!(!self.overlaps(start, vma.end));
        self.map.insert(start, vma);
    }

    pub fn get_containing(&self, addr: u64) -> Option<(u64, &Vma)> {
        let (&s, v) = self.map.range(..=addr).next_back()?;
        (addr < v.end).then_some((s, v))
    }

    /// The parts of `[start, end)` that VMAs cover, each with its VMA's
    /// permissions, in address order.
    pub fn spans(&self, start: u64, end: u64) -> Vec<(u64, u64, Access)> {
        let first = self
            .map
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        self.map
            .range(first..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&s, v)| (s.max(start), v.end.min(end), v.perms))
            .collect()
    }

    pub fn perms_at(&self, addr: u64) -> Option<Access> {
        self.get_containing(addr).map(|(_, v)| v.perms)
    }

    /// The first VMA starting above `addr`.
    pub fn first_above(&self, addr: u64) -> Option<(u64, Vma)> {
        self.map
            .range(addr.saturating_add(1)..)
            .next()
            .map(|(&s, v)| (s, v.clone()))
    }

    /// The end of the last VMA that starts at or below `addr`.
    pub fn last_end_below(&self, addr: u64) -> Option<u64> {
        self.map.range(..=addr).next_back().map(|(_, v)| v.end)
    }

    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        if let Some((_, v)) = self.map.range(..start).next_back() {
            if v.end > start {
                return true;
            }
        }
        self.map.range(start..end).next().is_some()
    }

    /// Whether every byte of `[start, end)` is mapped.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut cur = start;
        while cur < end {
            match self.get_containing(cur) {
                Some((_, v)) => cur = v.end,
                None => return false,
            }
        }
        true
    }

    /// Split the VMA containing `addr` so that one starts exactly there.
    fn split_at(&mut self, addr: u64) {
        let Some((s, v)) = self.get_containing(addr).map(|(s, v)| (s, v.clone())) else {
            return;
        };
        if s == addr {
            return;
        }
        self.map.get_mut(&s).expect("vma present").end = addr;
        let file = v.file.as_ref().map(|f| f.advanced(addr - s));
        self.map.insert(addr, Vma { file, ..v });
    }

    /// Remove all of `[start, end)`, splitting VMAs that straddle the edges.
    pub fn remove_range(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let doomed: Vec<u64> = self.map.range(start..end).map(|(&s, _)| s).collect();
        for s in doomed {
            self.map.remove(&s);
        }
    }

    /// Set the permissions of `[start, end)` (all mapped), merging equal neighbours.
    pub fn set_perms(&mut self, start: u64, end: u64, perms: Access) {
        self.split_at(start);
        self.split_at(end);
        for (_, v) in self.map.range_mut(start..end) {
            v.perms = perms;
        }
        self.merge_around(start, end);
    }

    /// Merge adjacent VMAs with equal attributes in and around `[start, end]`.
    fn merge_around(&mut self, start: u64, end: u64) {
        let first = self
            .map
            .range(..start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(start);
        let keys: Vec<u64> = self.map.range(first..=end).map(|(&s, _)| s).collect();
        let mut prev: Option<u64> = None;
        for k in keys {
            if let Some(p) = prev {
                let pv = &self.map[&p];
                let v = &self.map[&k];
                if pv.end == k && pv.continued_by(k - p, v) {
                    let end = v.end;
                    self.map.remove(&k);
                    self.map.get_mut(&p).expect("vma present").end = end;
                    continue;
                }
            }
            prev = Some(k);
        }
    }

    pub fn extend_end(&mut self, start: u64, new_end: u64) {
        if let Some(v) = self.map.get_mut(&start) {
            v.end = new_end;
        }
    }

    /// Move the start of the VMA at `start` down to `new_start`.
    pub fn extend_start(&mut self, start: u64, new_start: u64) -> Option<Vma> {
        let v = self.map.remove(&start)?;
        self.map.insert(new_start, v.clone());
        Some(v)
    }

    /// The highest `len`-byte gap that ends at or below `top` and starts at or
    /// above `min`.
    pub fn find_gap_below(&self, top: u64, len: u64, min: u64) -> Option<u64> {
        let mut ceiling = top;
        // Walk VMAs from the top down; a gap lies between each VMA's end and
        // the ceiling set by the VMA above it.
        let mut iter = self.map.range(..top).rev().peekable();
        // A VMA straddling `top` lowers the ceiling to its start.
        loop {
            let floor = iter.peek().map(|(_, v)| v.end).unwrap_or(min).max(min);
            if ceiling >= floor && ceiling - floor >= len {
                return Some(ceiling - len);
            }
            match iter.next() {
                Some((&s, _)) => ceiling = ceiling.min(s),
                None => return None,
            }
            if ceiling < min {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(end: u64) -> Vma {
        Vma {
            end,
            perms: Access::READ | Access::WRITE,
            kind: VmaKind::Anon,
            file: None,
        }
    }

    #[test]
    fn remove_range_splits_edges() {
        let mut s = VmaSet::default();
        s.insert(0x1000, vma(0x9000));
        s.remove_range(0x3000, 0x5000);
        let got: Vec<(u64, u64)> = s.iter().map(|(a, v)| (a, v.end)).collect();
        assert_eq!(got, vec![(0x1000, 0x3000), (0x5000, 0x9000)]);
        assert!(!s.overlaps(0x3000, 0x5000));
        assert!(s.overlaps(0x2000, 0x3001));
    }

    #[test]
    fn set_perms_splits_and_merges_back() {
        let mut s = VmaSet::default();
        s.insert(0x1000, vma(0x9000));
        s.set_perms(0x3000, 0x5000, Access::READ);
        assert_eq!(s.iter().count(), 3);
        assert_eq!(s.perms_at(0x3000), Some(Access::READ));
        s.set_perms(0x3000, 0x5000, Access::READ | Access::WRITE);
        assert_eq!(s.iter().count(), 1);
    }

    struct NoFile;

    impl crate::mm::MappedFile for NoFile {
        fn size(&self) -> u64 {
            0
        }
        fn pin(&self, _: u64, _: u64) -> Result<Vec<vmm::FileRange>, crate::errno::Errno> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn file_vmas_split_at_the_right_offset_and_merge_only_when_continuous() {
        let file: std::sync::Arc<dyn crate::mm::MappedFile> = std::sync::Arc::new(NoFile);
        let map = |offset| FileMap {
            file: file.clone(),
            offset,
            shared: true,
            may_write: true,
        };
        let mut s = VmaSet::default();
        s.insert(
            0x1000,
            Vma {
                file: Some(map(0x10000)),
                ..vma(0x5000)
            },
        );
        s.set_perms(0x2000, 0x3000, Access::READ);
        let offsets: Vec<u64> = s
            .iter()
            .map(|(_, v)| v.file.as_ref().unwrap().offset)
            .collect();
        assert_eq!(offsets, vec![0x10000, 0x11000, 0x12000]);
        s.set_perms(0x2000, 0x3000, Access::READ | Access::WRITE);
        assert_eq!(s.iter().count(), 1, "the pieces continue each other");
        // The same file at a non-adjacent offset stays a VMA of its own.
        s.insert(
            0x5000,
            Vma {
                file: Some(map(0x30000)),
                ..vma(0x6000)
            },
        );
        s.set_perms(0x1000, 0x6000, Access::READ | Access::WRITE);
        assert_eq!(s.iter().count(), 2);
    }

    #[test]
    fn gaps_are_found_top_down() {
        let mut s = VmaSet::default();
        s.insert(0x8000, vma(0x10000));
        s.insert(0x2000, vma(0x4000));
        assert_eq!(s.find_gap_below(0x10000, 0x1000, 0x1000), Some(0x7000));
        assert_eq!(s.find_gap_below(0x10000, 0x4000, 0x1000), Some(0x4000));
        assert_eq!(s.find_gap_below(0x10000, 0x5000, 0x1000), None);
        assert!(s.covers(0x8000, 0x10000));
        assert!(!s.covers(0x3000, 0x9000));
    }
}
