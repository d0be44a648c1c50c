//! Private memory areas: which memory-file pages back which guest pages.

use std::collections::BTreeMap;

use vmm::FileRange;

/// Backed guest ranges keyed by start; each maps `[start, end)` to the
/// memory-file pages starting at `offset`.
#[derive(Default)]
pub struct PmaSet {
    map: BTreeMap<u64, Pma>,
}

#[derive(Clone, Copy, Debug)]
struct Pma {
    end: u64,
    offset: u64,
}

impl PmaSet {
    pub fn contains(&self, addr: u64) -> bool {
        self.map
            .range(..=addr)
            .next_back()
            .is_some_and(|(_, p)| addr < p.end)
    }

    pub fn insert(&mut self, start: u64, end: u64, range: FileRange) {
        debug_assert_eq!(end - start, range.len);
        self.map.insert(
            start,
            Pma {
                end,
                offset: range.offset,
            },
        );
    }

    /// Backed pieces of `[start, end)`, clipped to it, in address order.
    pub fn pieces(&self, start: u64, end: u64) -> Vec<(u64, u64, FileRange)> {
        let first = self
            .map
            .range(..=start)
            .next_back()
            .map(|(&s, _)| s)
            .unwrap_or(start);
        self.map
            .range(first..end)
            .filter(|(_, p)| p.end > start)
            .map(|(&s, p)| {
                let lo = s.max(start);
                let hi = p.end.min(end);
                (
                    lo,
                    hi,
                    FileRange {
                        offset: p.offset + (lo - s),
                        len: hi - lo,
                    },
                )
            })
            .collect()
    }

    /// Unbacked sub-ranges of `[start, end)`.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cur = start;
        for (lo, hi, _) in self.pieces(start, end) {
            if lo > cur {
                out.push((cur, lo));
            }
            cur = hi;
        }
        if cur < end {
            out.push((cur, end));
        }
        out
    }

    /// Remove the backing of `[start, end)` and return it (clipped pieces
    /// with their guest addresses), splitting PMAs at the edges.
    pub fn take_range(&mut self, start: u64, end: u64) -> Vec<(u64, u64, FileRange)> {
        let pieces = self.pieces(start, end);
        for &(lo, hi, _) in &pieces {
            let (&s, &p) = self
                .map
                .range(..=lo)
                .next_back()
                .expect("piece comes from a pma");
            self.map.remove(&s);
            if s < lo {
                self.map.insert(
                    s,
                    Pma {
                        end: lo,
                        offset: p.offset,
                    },
                );
            }
            if hi < p.end {
                self.map.insert(
                    hi,
                    Pma {
                        end: p.end,
                        offset: p.offset + (hi - s),
                    },
                );
            }
        }
        pieces
    }

    /// Remove the backing of `[start, end)` and return the file ranges to free.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<FileRange> {
        self.take_range(start, end)
            .into_iter()
            .map(|(_, _, r)| r)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(offset: u64, len: u64) -> FileRange {
        FileRange { offset, len }
    }

    #[test]
    fn gaps_and_pieces_partition_a_range() {
        let mut p = PmaSet::default();
        p.insert(0x2000, 0x4000, fr(0x10000, 0x2000));
        p.insert(0x6000, 0x7000, fr(0x20000, 0x1000));
        assert_eq!(
            p.gaps(0x1000, 0x8000),
            vec![(0x1000, 0x2000), (0x4000, 0x6000), (0x7000, 0x8000)]
        );
        let pieces = p.pieces(0x3000, 0x6800);
        assert_eq!(
            pieces,
            vec![
                (0x3000, 0x4000, fr(0x11000, 0x1000)),
                (0x6000, 0x6800, fr(0x20000, 0x800))
            ]
        );
    }

    #[test]
    fn removing_the_middle_keeps_both_ends() {
        let mut p = PmaSet::default();
        p.insert(0x1000, 0x5000, fr(0, 0x4000));
        let freed = p.remove_range(0x2000, 0x3000);
        assert_eq!(freed, vec![fr(0x1000, 0x1000)]);
        assert!(p.contains(0x1000));
        assert!(!p.contains(0x2000));
        assert!(p.contains(0x3000));
        assert_eq!(
            p.pieces(0x3000, 0x5000),
            vec![(0x3000, 0x5000, fr(0x2000, 0x2000))]
        );
    }
}
