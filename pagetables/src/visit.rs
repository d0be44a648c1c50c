//! Enumerating the mappings of a tree, in address order.

use crate::addr::{sign_extend, span, Level, ROOT_LEVEL};
use crate::{EntryFlags, FrameAllocator, PageSize, PageTables, ENTRY_COUNT};

impl<A: FrameAllocator> PageTables<A> {
    /// Call `f(virt, phys, flags, size)` for every leaf, lower half first,
    /// with flags as [`translate`](Self::translate) reports them.
    pub fn for_each_mapping(&self, mut f: impl FnMut(u64, u64, EntryFlags, PageSize)) {
        self.visit(self.root_phys(), ROOT_LEVEL, 0, &mut f);
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
