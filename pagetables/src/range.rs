//! Operations over a range of pages: `protect` and `unmap_range`.
//!
//! Both first split the (at most two) 2 MiB pages that the range covers only
//! in part, the only step that can fail, and then walk the tree once over the
//! range, which cannot; so either the whole range changes or none of it does
//! (a split by itself changes no translation).

use crate::addr::{check_range, sign_extend, span, Level, ROOT_LEVEL};
use crate::page_tables::check_flags;
use crate::{Entry, EntryFlags, Error, FrameAllocator, PageSize, PageTables, ENTRY_COUNT};

/// What to do to each leaf in the range.
#[derive(Clone, Copy)]
enum Op {
    /// Give the leaf these permission flags, keeping address, size and the
    /// ACCESSED/DIRTY status.
    Protect(EntryFlags),
    /// Remove the leaf, freeing tables that become empty.
    Unmap,
}

impl<A: FrameAllocator> PageTables<A> {
    /// Set the flags of every page mapped in `[virt, virt + len)` to `flags`
    /// (`PRESENT` implied, `HUGE` refused), keeping ACCESSED and DIRTY. Holes
    /// are skipped. A 2 MiB page the range covers in part is split into 4 KiB
    /// pages first; one covered whole stays 2 MiB. `virt` and `len` must be
    /// 4 KiB aligned and the range canonical. On error no translation or
    /// permission changed (a 2 MiB page at one end may have been split,
    /// which translates the same).
    pub fn protect(&mut self, virt: u64, len: u64, flags: EntryFlags) -> Result<(), Error> {
        check_flags(flags)?;
        self.over_range(virt, len, Op::Protect(flags))
    }

    /// Remove every mapping in `[virt, virt + len)`, splitting 2 MiB pages the
    /// range covers in part, and free the tables left empty. Alignment and
    /// errors as for [`protect`](Self::protect).
    pub fn unmap_range(&mut self, virt: u64, len: u64) -> Result<(), Error> {
        self.over_range(virt, len, Op::Unmap)
    }

    fn over_range(&mut self, virt: u64, len: u64, op: Op) -> Result<(), Error> {
        let (start, end) = check_range(virt, len)?;
        if start == end {
            return Ok(());
        }
        self.split_around(start)?;
        self.split_around(end)?;
        self.apply(self.root_phys(), ROOT_LEVEL, 0, start, end, op);
        Ok(())
    }

    /// If the linear address `boundary` falls inside a 2 MiB leaf, split it.
    fn split_around(&mut self, boundary: u64) -> Result<(), Error> {
        let huge = PageSize::Size2M.bytes();
        // An aligned boundary (including the end of the address space) cuts
        // no page.
        if boundary.is_multiple_of(huge) {
            return Ok(());
        }
        let slot = self.walk_to(sign_extend(boundary), PageSize::Size2M.level());
        if slot.level == 1 && slot.entry.is_huge() {
            self.split(slot.table, slot.index)?;
        }
        Ok(())
    }

    /// Apply `op` to the leaves of `table` (at `level`, covering linear
    /// addresses from `base`) that lie in `[start, end)`, which overlaps it.
    fn apply(&mut self, table: u64, level: Level, base: u64, start: u64, end: u64, op: Op) {
        let step = span(level);
        let first = (start.max(base) - base) / step;
        let last = (end.min(base + step * ENTRY_COUNT as u64) - 1 - base) / step;
        for i in first..=last {
            // Both bounds are below 512, so the cast is lossless.
            let i = i as usize;
            let entry_base = base + i as u64 * step;
            let entry = self.table(table).get(i);
            if !entry.is_present() {
                continue;
            }
            if level == 0 || entry.is_huge() {
                debug_assert!(
                    start <= entry_base && entry_base + step <= end,
                    "leaf partly outside the range: split_around missed it"
                );
                match op {
                    Op::Protect(flags) => self.table(table).update(i, |old| {
                        let kept = old.flags() & (EntryFlags::STATUS | EntryFlags::HUGE);
                        Entry::new(old.address(), flags | EntryFlags::PRESENT | kept)
                    }),
                    Op::Unmap => {
                        self.table(table).take(i);
                    }
                }
            } else {
                let child = entry.address();
                self.apply(child, level - 1, entry_base, start, end, op);
                if matches!(op, Op::Unmap) && self.table(child).is_empty() {
                    self.table(table).set(i, Entry::EMPTY);
                    self.free_table(child);
                }
            }
        }
    }
}
