//! Where ring0 lives in every guest address space: supervisor-only pages
//! in the top 512 GiB (PML4 slot 511), shared by all address spaces.
//!
//! | address | what |
//! |---|---|
//! | [`TEXT_BASE`] | the entry text (`ring0::text`), [`TEXT_PAGES`] pages, read+exec |
//! | [`IDT_BASE`] | the IDT, one page, read-only |
//! | [`vcpu_region`]`(i)` | vCPU `i`: four IST stacks, the kernel stack, the per-vCPU page |
//!
//! User mappings stay below [`USER_LIMIT`], so no user page table entry
//! ever shares a table with ring0's.

use ring0::text::PAGE_POINTER_SLOT;
use ring0::vcpu_page::VcpuStacks;

use crate::PAGE_SIZE;

/// First address of ring0's half: PML4 slot 511.
pub(super) const RING0_BASE: u64 = 0xffff_ff80_0000_0000;
/// The PML4 slot ring0 occupies.
pub(super) const RING0_PML4_SLOT: usize = 511;
/// The entry text; LSTAR points here.
pub(super) const TEXT_BASE: u64 = RING0_BASE;
/// Pages reserved for the entry text.
pub(super) const TEXT_PAGES: u64 = 4;
/// The IDT.
pub(super) const IDT_BASE: u64 = RING0_BASE + 0x1_0000;
/// The first vCPU's region; each takes [`VCPU_REGION_SIZE`].
const VCPU_REGIONS: u64 = RING0_BASE + 0x10_0000;
/// Address space per vCPU region (a hole follows the pages, so a stack
/// overflow faults).
const VCPU_REGION_SIZE: u64 = 0x1_0000;
/// Pages of one vCPU region: IST stacks 1..=4 (one page each), the kernel
/// stack (two pages), the per-vCPU page.
pub(super) const VCPU_REGION_PAGES: u64 = 7;
/// Offset of the per-vCPU page in its region.
const VCPU_PAGE_OFFSET: u64 = 6 * PAGE_SIZE;
/// Highest vCPU index the layout has room for.
pub(super) const MAX_VCPUS: u64 = 1024;

/// First address user mappings may not reach: the Linux TASK_SIZE.
pub(super) const USER_LIMIT: u64 = 0x7fff_ffff_f000;

/// Start of vCPU `index`'s region.
pub(super) const fn vcpu_region(index: u64) -> u64 {
    VCPU_REGIONS + index * VCPU_REGION_SIZE
}

/// The per-vCPU page of vCPU `index`.
pub(super) const fn vcpu_page(index: u64) -> u64 {
    vcpu_region(index) + VCPU_PAGE_OFFSET
}

/// The stack tops (as the TSS holds them) of vCPU `index`. Each stack
/// starts [`PAGE_POINTER_SLOT`] bytes below the end of its memory, where
/// the page pointer goes ([`page_pointer_slots`]).
pub(super) fn vcpu_stacks(index: u64) -> VcpuStacks {
    let base = vcpu_region(index);
    let top = |end: u64| end - PAGE_POINTER_SLOT;
    VcpuStacks {
        double_fault: top(base + PAGE_SIZE),
        nmi: top(base + 2 * PAGE_SIZE),
        debug: top(base + 3 * PAGE_SIZE),
        machine_check: top(base + 4 * PAGE_SIZE),
        kernel: top(base + VCPU_PAGE_OFFSET),
    }
}

/// Offsets in vCPU `index`'s region (from its start) of the words that hold
/// the per-vCPU page's address: one at the start of each stack.
pub(super) fn page_pointer_slots(index: u64) -> [u64; 5] {
    let s = vcpu_stacks(index);
    let base = vcpu_region(index);
    [s.double_fault, s.nmi, s.debug, s.machine_check, s.kernel].map(|top| top - base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_fit_in_slot_511() {
        assert_eq!((RING0_BASE >> 39) & 0x1ff, RING0_PML4_SLOT as u64);
        let last = vcpu_region(MAX_VCPUS - 1) + VCPU_REGION_SIZE - 1;
        assert_eq!((last >> 39) & 0x1ff, RING0_PML4_SLOT as u64);
        const { assert!(IDT_BASE >= TEXT_BASE + TEXT_PAGES * PAGE_SIZE) };
        const { assert!(VCPU_REGION_PAGES * PAGE_SIZE < VCPU_REGION_SIZE) };
    }

    #[test]
    fn stacks_and_page_pointers() {
        let s = vcpu_stacks(1);
        assert_eq!(s.kernel, vcpu_page(1) - 16);
        assert_eq!(s.double_fault, vcpu_region(1) + 0x1000 - 16);
        assert_eq!(
            page_pointer_slots(0),
            [0xff0, 0x1ff0, 0x2ff0, 0x3ff0, 0x5ff0]
        );
    }
}
