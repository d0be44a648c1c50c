//! Private memory areas: which memory-file pages back which guest pages.
//!
//! A PMA marked `cow` holds pages that fork shared with another process (or
//! did: the other may have let go since). It is mirrored without write
//! permission, and a write first breaks the sharing (`cow.rs`).

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
    cow: bool,
}

/// A backed guest range `[start, end)` and its memory-file pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub start: u64,
    pub end: u64,
    pub range: FileRange,
    pub cow: bool,
}

impl PmaSet {
    /// The backed page at `addr`, if any.
    pub fn page_at(&self, addr: u64) -> Option<Piece> {
        let page = addr & !(vmm::PAGE_SIZE - 1);
        self.pieces(page, page + vmm::PAGE_SIZE).pop()
    }

    pub fn insert(&mut self, start: u64, end: u64, range: FileRange, cow: bool) {
        debug_assert_eq!(end - start, range.len);
        self.map.insert(
            start,
            Pma {
                end,
                offset: range.offset,
                cow,
            },
        );
    }

    /// Put back pieces taken out (`take_range`), possibly elsewhere.
    pub fn insert_piece(&mut self, p: Piece) {
        self.insert(p.start, p.end, p.range, p.cow);
    }

    /// Mark every PMA copy-on-write (all were just shared by fork).
    /// Mark the pieces starting in `[start, end)` copy-on-write.
    pub fn mark_cow(&mut self, start: u64, end: u64) {
        for p in self.map.range_mut(start..end).map(|(_, p)| p) {
            p.cow = true;
        }
    }

    /// Backed pieces of `[start, end)`, clipped to it, in address order.
    pub fn pieces(&self, start: u64, end: u64) -> Vec<Piece> {
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
                Piece {
                    start: lo,
                    end: hi,
                    range: FileRange {
                        offset: p.offset + (lo - s),
                        len: hi - lo,
                    },
                    cow: p.cow,
                }
            })
            .collect()
    }

    /// Unbacked sub-ranges of `[start, end)`.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut cur = start;
        for p in self.pieces(start, end) {
            if p.start > cur {
                out.push((cur, p.start));
            }
            cur = p.end;
        }
        if cur < end {
            out.push((cur, end));
        }
        out
    }

    /// Remove the backing of `[start, end)` and return it (clipped pieces
    /// with their guest addresses), splitting PMAs at the edges.
    pub fn take_range(&mut self, start: u64, end: u64) -> Vec<Piece> {
        let pieces = self.pieces(start, end);
        for &Piece {
            start: lo, end: hi, ..
        } in &pieces
        {
            let (&s, &p) = self
                .map
                .range(..=lo)
                .next_back()
                .expect("piece comes from a pma");
            self.map.remove(&s);
            if s < lo {
                self.map.insert(s, Pma { end: lo, ..p });
            }
            if hi < p.end {
                self.map.insert(
                    hi,
                    Pma {
                        offset: p.offset + (hi - s),
                        ..p
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
            .map(|p| p.range)
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
        p.insert(0x2000, 0x4000, fr(0x10000, 0x2000), false);
        p.insert(0x6000, 0x7000, fr(0x20000, 0x1000), true);
        assert_eq!(
            p.gaps(0x1000, 0x8000),
            vec![(0x1000, 0x2000), (0x4000, 0x6000), (0x7000, 0x8000)]
        );
        let pieces: Vec<_> = p
            .pieces(0x3000, 0x6800)
            .into_iter()
            .map(|p| (p.start, p.end, p.range, p.cow))
            .collect();
        assert_eq!(
            pieces,
            vec![
                (0x3000, 0x4000, fr(0x11000, 0x1000), false),
                (0x6000, 0x6800, fr(0x20000, 0x800), true)
            ]
        );
    }

    #[test]
    fn removing_the_middle_keeps_both_ends() {
        let mut p = PmaSet::default();
        p.insert(0x1000, 0x5000, fr(0, 0x4000), true);
        let freed = p.remove_range(0x2000, 0x3000);
        assert_eq!(freed, vec![fr(0x1000, 0x1000)]);
        assert!(p.page_at(0x1000).is_some());
        assert!(p.page_at(0x2000).is_none());
        assert_eq!(
            p.page_at(0x3fff),
            Some(Piece {
                start: 0x3000,
                end: 0x4000,
                range: fr(0x2000, 0x1000),
                cow: true
            })
        );
        assert_eq!(
            p.pieces(0x3000, 0x5000),
            vec![Piece {
                start: 0x3000,
                end: 0x5000,
                range: fr(0x2000, 0x2000),
                cow: true
            }]
        );
    }
}
