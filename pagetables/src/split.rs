//! Turning a 2 MiB leaf into a table of 512 4 KiB leaves with the same
//! translations, so that part of it can change on its own.

use crate::addr::span;
use crate::{Entry, EntryFlags, Error, FrameAllocator, PageTables, ENTRY_COUNT};

impl<A: FrameAllocator> PageTables<A> {
    /// Split the 2 MiB leaf in entry `i` of the page directory `pd`; returns
    /// the new page table. On `OutOfFrames` nothing changed.
    pub(crate) fn split(&mut self, pd: u64, i: usize) -> Result<u64, Error> {
        let huge = self.table(pd).get(i);
        debug_assert!(huge.is_huge(), "split of an entry that is no 2 MiB leaf");
        let pt = self.new_table()?;
        let flags = huge.flags() - EntryFlags::HUGE;
        let small = span(0);
        let table = self.table(pt);
        for (k, phys) in (0..ENTRY_COUNT as u64).map(|k| (k, huge.address() + k * small)) {
            // The index is below 512, so the cast is lossless.
            table.set(k as usize, Entry::new(phys, flags));
        }
        // Swap rather than store so a DIRTY or ACCESSED bit the MMU set on the
        // 2 MiB page since it was read is carried over, to every piece since
        // which one was touched is unknown.
        let pd_table = self.table(pd);
        let old = pd_table.swap(i, Entry::new(pt, EntryFlags::TABLE));
        let missed = (old.flags() - huge.flags()) & EntryFlags::STATUS;
        if !missed.is_empty() {
            for k in 0..ENTRY_COUNT {
                table.update(k, |e| Entry::new(e.address(), e.flags() | missed));
            }
        }
        Ok(pt)
    }
}
