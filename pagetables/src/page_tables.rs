//! `PageTables`: one address space's 4-level tree, and the single-page
//! operations on it (map, remap, unmap, translate).

use crate::addr::{check_phys, check_virt, index, is_canonical, Level, ROOT_LEVEL};
use crate::cr3::{cr3_value, Pcid};
use crate::table::Table;
use crate::{Entry, EntryFlags, Error, FrameAllocator, PageSize};

/// The page tables of one address space: a PML4 frame and the allocator its
/// tables come from.
///
/// Leaves carry all the permissions; intermediate entries are always
/// [`EntryFlags::TABLE`] (present, writable, user), so a permission change is
/// a change of leaf entries only.
///
/// Tables that become empty are freed as soon as they do, so the tree holds
/// exactly the tables its mappings need, and dropping `PageTables` frees every
/// frame including the root.
///
/// Nothing here invalidates TLBs: after `unmap`, `remap` or `protect` the
/// caller flushes (or switches PCID) before relying on the change.
pub struct PageTables<A: FrameAllocator> {
    root: u64,
    alloc: A,
}

/// Where a walk stopped: entry `index` of the table at `table` (a frame at
/// `level`), holding `entry`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub(crate) table: u64,
    pub(crate) level: Level,
    pub(crate) index: usize,
    pub(crate) entry: Entry,
}

impl Slot {
    /// A present entry that maps memory rather than pointing at a table.
    pub(crate) fn is_leaf(&self) -> bool {
        self.entry.is_present() && (self.level == 0 || self.entry.is_huge())
    }

    /// The size of the leaf in this slot (only for `is_leaf` slots).
    fn leaf_size(&self) -> PageSize {
        // 1 GiB leaves are never created here, so a leaf is at level 0 or 1.
        debug_assert!(self.level <= 1, "1 GiB leaf in a tree built by this crate");
        if self.level == 0 {
            PageSize::Size4K
        } else {
            PageSize::Size2M
        }
    }
}

/// Reject flags a leaf may not carry.
pub(crate) fn check_flags(flags: EntryFlags) -> Result<(), Error> {
    if EntryFlags::LEAF_SETTABLE.contains(flags) {
        Ok(())
    } else {
        Err(Error::invalid_flags(flags))
    }
}

/// The leaf entry mapping `phys` with `flags` at `size`.
fn leaf_entry(phys: u64, flags: EntryFlags, size: PageSize) -> Entry {
    let huge = match size {
        PageSize::Size4K => EntryFlags::empty(),
        PageSize::Size2M => EntryFlags::HUGE,
    };
    Entry::new(phys, flags | EntryFlags::PRESENT | huge)
}

impl<A: FrameAllocator> PageTables<A> {
    /// An empty address space: one zeroed root table.
    pub fn new(mut alloc: A) -> Result<Self, Error> {
        let root = alloc.allocate_frame().ok_or(Error::OutOfFrames)?;
        Ok(PageTables { root, alloc })
    }

    /// Physical address of the PML4.
    pub fn root_phys(&self) -> u64 {
        self.root
    }

    /// The CR3 value that activates these tables under `pcid`; see
    /// [`cr3_value`].
    pub fn cr3(&self, pcid: Pcid, no_flush: bool) -> u64 {
        cr3_value(self.root, pcid, no_flush)
    }

    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    pub(crate) fn table(&self, phys: u64) -> Table<'_> {
        Table::at(&self.alloc, phys)
    }

    pub(crate) fn new_table(&mut self) -> Result<u64, Error> {
        self.alloc.allocate_frame().ok_or(Error::OutOfFrames)
    }

    /// Free a table frame that nothing links to any more.
    pub(crate) fn free_table(&mut self, phys: u64) {
        self.alloc.free_frame(phys);
    }

    /// Walk towards `virt` down to `target` level, stopping early at a leaf
    /// or a missing table. `virt` must be canonical.
    pub(crate) fn walk_to(&self, virt: u64, target: Level) -> Slot {
        let mut table = self.root;
        let mut level = ROOT_LEVEL;
        loop {
            let index = index(virt, level);
            let entry = self.table(table).get(index);
            let slot = Slot {
                table,
                level,
                index,
                entry,
            };
            if level == target || !entry.is_present() || slot.is_leaf() {
                return slot;
            }
            table = entry.address();
            level -= 1;
        }
    }

    /// The physical address `virt` translates to, with the leaf's flags
    /// (`HUGE` removed: the size says it) and page size; `None` if unmapped
    /// or non-canonical. ACCESSED and DIRTY are as the MMU left them.
    pub fn translate(&self, virt: u64) -> Option<(u64, EntryFlags, PageSize)> {
        if !is_canonical(virt) {
            return None;
        }
        let slot = self.walk_to(virt, 0);
        if !slot.is_leaf() {
            return None;
        }
        let size = slot.leaf_size();
        let offset = virt & (size.bytes() - 1);
        let flags = slot.entry.flags() - EntryFlags::HUGE;
        Some((slot.entry.address() + offset, flags, size))
    }

    /// Map the page at `virt` to `phys` with `flags` (`PRESENT` is implied;
    /// `HUGE` is refused, `size` decides it). Both addresses must be aligned
    /// to `size`.
    ///
    /// Never replaces: if any translation already covers part of the page,
    /// the call fails with [`Error::AlreadyMapped`] and changes nothing. Use
    /// [`remap`](Self::remap) to replace on purpose.
    pub fn map(
        &mut self,
        virt: u64,
        phys: u64,
        size: PageSize,
        flags: EntryFlags,
    ) -> Result<(), Error> {
        self.map_leaf(virt, phys, size, flags, false)
    }

    /// Like [`map`](Self::map), but whatever translated the page before is
    /// replaced: a 2 MiB page around a 4 KiB `virt` is split first (its other
    /// pages keep their translations), 4 KiB pages under a new 2 MiB page are
    /// dropped with their table. On error nothing changed.
    pub fn remap(
        &mut self,
        virt: u64,
        phys: u64,
        size: PageSize,
        flags: EntryFlags,
    ) -> Result<(), Error> {
        self.map_leaf(virt, phys, size, flags, true)
    }

    fn map_leaf(
        &mut self,
        virt: u64,
        phys: u64,
        size: PageSize,
        flags: EntryFlags,
        replace: bool,
    ) -> Result<(), Error> {
        check_virt(virt, size.bytes())?;
        check_phys(phys, size.bytes())?;
        check_flags(flags)?;
        let leaf_level = size.level();
        let mut table = self.root;
        for level in (leaf_level + 1..=ROOT_LEVEL).rev() {
            let i = index(virt, level);
            let entry = self.table(table).get(i);
            table = if !entry.is_present() {
                match self.new_table() {
                    Ok(new) => {
                        self.table(table).set(i, Entry::new(new, EntryFlags::TABLE));
                        new
                    }
                    Err(e) => {
                        // Tables created on the way down are still empty.
                        self.prune(virt);
                        return Err(e);
                    }
                }
            } else if entry.is_huge() {
                // A 2 MiB page covers this 4 KiB one. Tables are only created
                // below missing entries, so nothing needs undoing here.
                if !replace {
                    return Err(Error::AlreadyMapped { virt });
                }
                self.split(table, i)?
            } else {
                entry.address()
            };
        }
        let i = index(virt, leaf_level);
        let old = self.table(table).get(i);
        if old.is_present() && !replace {
            return Err(Error::AlreadyMapped { virt });
        }
        self.table(table).set(i, leaf_entry(phys, flags, size));
        if old.is_present() && leaf_level > 0 && !old.is_huge() {
            // A 2 MiB page replaced a table of 4 KiB pages; the link is gone,
            // so the table can go.
            self.free_subtree(old.address(), leaf_level - 1);
        }
        Ok(())
    }

    /// Remove the `size` mapping at `virt`, returning the physical address it
    /// mapped, or `None` if nothing is mapped there. Tables left empty are
    /// freed. A mapping of the other size at `virt` (a 2 MiB page around a
    /// 4 KiB request, or 4 KiB pages inside a 2 MiB request) is
    /// [`Error::SizeMismatch`]; [`unmap_range`](Self::unmap_range) removes
    /// whatever is there.
    pub fn unmap(&mut self, virt: u64, size: PageSize) -> Result<Option<u64>, Error> {
        check_virt(virt, size.bytes())?;
        let slot = self.walk_to(virt, size.level());
        if !slot.entry.is_present() {
            return Ok(None);
        }
        if slot.level != size.level() || !slot.is_leaf() {
            return Err(Error::SizeMismatch { virt });
        }
        let old = self.table(slot.table).take(slot.index);
        self.prune(virt);
        Ok(Some(old.address()))
    }

    /// Free the tables on the path to `virt` that hold no entries, deepest
    /// first, unlinking each from its parent. The root stays.
    pub(crate) fn prune(&mut self, virt: u64) {
        // path[k] = (table at level ROOT_LEVEL - k, index of virt in it)
        let mut path = [(0u64, 0usize); 4];
        let mut depth = 0;
        let mut table = self.root;
        let mut level = ROOT_LEVEL;
        loop {
            let i = index(virt, level);
            path[depth] = (table, i);
            depth += 1;
            let entry = self.table(table).get(i);
            if level == 0 || !entry.is_present() || entry.is_huge() {
                break;
            }
            table = entry.address();
            level -= 1;
        }
        for k in (1..depth).rev() {
            let (child, _) = path[k];
            if !self.table(child).is_empty() {
                break;
            }
            let (parent, i) = path[k - 1];
            self.table(parent).set(i, Entry::EMPTY);
            self.free_table(child);
        }
    }

    /// Free `table` (a frame at `level`) and every table below it. The caller
    /// has already unlinked it.
    pub(crate) fn free_subtree(&mut self, table: u64, level: Level) {
        if level > 0 {
            for i in 0..crate::ENTRY_COUNT {
                let entry = self.table(table).get(i);
                if entry.is_present() && !entry.is_huge() {
                    self.free_subtree(entry.address(), level - 1);
                }
            }
        }
        self.free_table(table);
    }

    /// Unmap everything, both halves, freeing every table but the root.
    pub fn clear(&mut self) {
        for i in 0..crate::ENTRY_COUNT {
            let entry = self.table(self.root).take(i);
            if entry.is_present() {
                self.free_subtree(entry.address(), ROOT_LEVEL - 1);
            }
        }
    }
}

impl<A: FrameAllocator> Drop for PageTables<A> {
    fn drop(&mut self) {
        self.clear();
        self.free_table(self.root);
    }
}
