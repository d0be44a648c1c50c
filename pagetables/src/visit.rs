//! Enumerating the mappings of a tree, in address order.

use crate::addr::{check_range, sign_extend, span, Level, ROOT_LEVEL};
use crate::{EntryFlags, Error, FrameAllocator, PageSize, PageTables, ENTRY_COUNT};

impl<A: FrameAllocator> PageTables<A> {
    /// Call `f(virt, phys, flags, size)` for every leaf, lower half first,
    /// with flags as [`translate`](Self::translate) reports them.
    pub fn for_each_mapping(&self, mut f: impl FnMut(u64, u64, EntryFlags, PageSize)) {
        self.visit(self.root_phys(), ROOT_LEVEL, 0, &mut f);
    }

    /// Like [`for_each_mapping`](Self::for_each_mapping), but only for the
    /// leaves that overlap `[virt, virt + len)` (a 2 MiB leaf the range
    /// covers in part is reported whole). Only the tables over the range
    /// are read, so a small range of a large tree is cheap. Alignment and
    /// errors as for [`unmap_range`](Self::unmap_range).
    pub fn for_each_mapping_in(
        &self,
        virt: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, EntryFlags, PageSize),
    ) -> Result<(), Error> {
        let (start, end) = check_range(virt, len)?;
        if start < end {
            self.visit_range(self.root_phys(), ROOT_LEVEL, 0, start, end, &mut f);
        }
        Ok(())
    }

    /// `visit` restricted to entries of `table` that overlap `[start, end)`
    /// (linear addresses), which overlaps the table.
    fn visit_range<F: FnMut(u64, u64, EntryFlags, PageSize)>(
        &self,
        table: u64,
        level: Level,
        base: u64,
        start: u64,
        end: u64,
        f: &mut F,
    ) {
        let step = span(level);
        let first = (start.max(base) - base) / step;
        let last = (end.min(base + step * ENTRY_COUNT as u64) - 1 - base) / step;
        for i in first..=last {
            // Both bounds are below 512, so the cast is lossless.
            let i = i as usize;
            let entry = self.table(table).get(i);
            if !entry.is_present() {
                continue;
            }
            let virt = base + i as u64 * step;
            if level == 0 || entry.is_huge() {
                let size = if level == 0 {
                    PageSize::Size4K
                } else {
                    PageSize::Size2M
                };
                f(
                    sign_extend(virt),
                    entry.address(),
                    entry.flags() - EntryFlags::HUGE,
                    size,
                );
            } else {
                self.visit_range(entry.address(), level - 1, virt, start, end, f);
            }
        }
    }

    fn visit<F: FnMut(u64, u64, EntryFlags, PageSize)>(
        &self,
        table: u64,
        level: Level,
        base: u64,
        f: &mut F,
    ) {
        for i in 0..ENTRY_COUNT {
            let entry = self.table(table).get(i);
            if !entry.is_present() {
                continue;
            }
            let virt = base + i as u64 * span(level);
            if level == 0 || entry.is_huge() {
                let size = if level == 0 {
                    PageSize::Size4K
                } else {
                    PageSize::Size2M
                };
                let flags = entry.flags() - EntryFlags::HUGE;
                f(sign_extend(virt), entry.address(), flags, size);
            } else {
                self.visit(entry.address(), level - 1, virt, f);
            }
        }
    }
}
