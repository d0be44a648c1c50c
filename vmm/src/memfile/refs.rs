//! Reference counts of memory-file pages held by more than one owner.
//!
//! After `fork`, parent and child map the same private pages copy-on-write
//! until one of them writes. Most pages have exactly one owner, so only
//! shared runs are recorded: a page not listed here has one reference.

use std::collections::BTreeMap;

/// Runs of shared pages keyed by start offset; each is `[start, end)` with
/// `count >= 2` references. Runs never overlap.
#[derive(Default)]
pub(super) struct SharedRefs {
    runs: BTreeMap<u64, Run>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    end: u64,
    count: u32,
}

impl SharedRefs {
    /// Add one reference to every page of `[start, end)`.
    pub(super) fn inc(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let mut cur = start;
        let listed: Vec<u64> = self.runs.range(start..end).map(|(&s, _)| s).collect();
        for s in listed {
            if s > cur {
                self.runs.insert(cur, Run { end: s, count: 2 });
            }
            let run = self.runs.get_mut(&s).expect("listed run");
            run.count += 1;
            cur = run.end;
        }
        if cur < end {
            self.runs.insert(cur, Run { end, count: 2 });
        }
        self.merge_around(start, end);
    }

    /// Drop one reference to every page of `[start, end)`; returns the
    /// sub-ranges whose last reference this was.
    pub(super) fn dec(&mut self, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.split_at(start);
        self.split_at(end);
        let mut gone = Vec::new();
        let mut cur = start;
        let listed: Vec<u64> = self.runs.range(start..end).map(|(&s, _)| s).collect();
        for s in listed {
            if s > cur {
                gone.push((cur, s));
            }
            let run = self.runs.get_mut(&s).expect("listed run");
            run.count -= 1;
            cur = run.end;
            if run.count == 1 {
                self.runs.remove(&s);
            }
        }
        if cur < end {
            gone.push((cur, end));
        }
        self.merge_around(start, end);
        gone
    }

    /// `[start, end)` cut where the reference count changes: each piece
    /// with its count.
    pub(super) fn counts(&self, start: u64, end: u64) -> Vec<(u64, u64, u32)> {
        let first = self
            .runs
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let mut out = Vec::new();
        let mut cur = start;
        for (&s, run) in self.runs.range(first..end) {
            if run.end <= start {
                continue;
            }
            let lo = s.max(start);
            if lo > cur {
                out.push((cur, lo, 1));
            }
            let hi = run.end.min(end);
            out.push((lo, hi, run.count));
            cur = hi;
        }
        if cur < end {
            out.push((cur, end, 1));
        }
        out
    }

    /// Split the run containing `at` so that one starts exactly there.
    fn split_at(&mut self, at: u64) {
        let Some((&s, &run)) = self.runs.range(..at).next_back() else {
            return;
        };
        if run.end > at {
            self.runs.insert(s, Run { end: at, ..run });
            self.runs.insert(at, run);
        }
    }

    /// Join touching runs of equal count in and around `[start, end]`, so
    /// repeated forks of one area keep one run.
    fn merge_around(&mut self, start: u64, end: u64) {
        let first = self
            .runs
            .range(..start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let keys: Vec<u64> = self.runs.range(first..=end).map(|(&s, _)| s).collect();
        let mut prev: Option<u64> = None;
        for k in keys {
            if let Some(p) = prev {
                let (pr, kr) = (self.runs[&p], self.runs[&k]);
                if pr.end == k && pr.count == kr.count {
                    self.runs.remove(&k);
                    self.runs.insert(p, Run { end: kr.end, ..pr });
                    continue;
                }
            }
            prev = Some(k);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.runs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_pages_have_one_reference() {
        let r = SharedRefs::default();
        assert_eq!(r.counts(0x1000, 0x3000), vec![(0x1000, 0x3000, 1)]);
    }

    #[test]
    fn partial_drops_split_and_free_exactly_the_last_references() {
        let mut r = SharedRefs::default();
        r.inc(0x0, 0x4000); // two owners of four pages
        r.inc(0x1000, 0x2000); // a third owner of page 1
        assert_eq!(
            r.counts(0x0, 0x4000),
            vec![(0x0, 0x1000, 2), (0x1000, 0x2000, 3), (0x2000, 0x4000, 2)]
        );
        assert!(r.dec(0x1000, 0x3000).is_empty());
        assert_eq!(
            r.counts(0x0, 0x4000),
            vec![(0x0, 0x2000, 2), (0x2000, 0x3000, 1), (0x3000, 0x4000, 2)]
        );
        assert_eq!(r.len(), 2, "equal neighbours merge");
        assert_eq!(r.dec(0x0, 0x4000), vec![(0x2000, 0x3000)]);
        assert_eq!(r.len(), 0);
        assert_eq!(r.dec(0x0, 0x4000), vec![(0x0, 0x4000)]);
    }
}
