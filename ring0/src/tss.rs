//! The 64-bit task-state segment: the stacks the CPU switches to when an
//! interrupt or exception enters ring 0.
//!
//! In long mode the TSS holds no task state, only stack pointers: RSP0 is
//! loaded on any entry from user mode through a gate with IST 0, and IST1–7
//! are loaded unconditionally for gates that name them (see
//! [`crate::idt`]). The I/O bitmap base points past the segment limit, so
//! there is no bitmap: with IOPL 0 every user-mode `in`/`out` raises #GP.

use bytemuck::{Pod, Zeroable};

/// Size of the 64-bit TSS in bytes.
pub const SIZE: usize = 104;
/// Segment limit of the TSS descriptor (size minus one, no I/O bitmap).
pub const LIMIT: u32 = (SIZE - 1) as u32;
/// Byte offset of RSP0 (RSP1 and RSP2 follow).
pub const RSP0: usize = 0x04;
/// Byte offset of IST1 (IST2..IST7 follow, 8 bytes apart).
pub const IST1: usize = 0x24;
/// Byte offset of the 16-bit I/O map base.
pub const IOMAP_BASE: usize = 0x66;

/// A 64-bit TSS, laid out exactly as the CPU reads it.
///
/// The CPU does not write to a 64-bit TSS, so the VMM may place it in any
/// supervisor-only page.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

const _: () = {
    assert!(core::mem::size_of::<Tss>() == SIZE);
    assert!(core::mem::offset_of!(Tss, rsp) == RSP0);
    assert!(core::mem::offset_of!(Tss, ist) == IST1);
    assert!(core::mem::offset_of!(Tss, iomap_base) == IOMAP_BASE);
};

impl Tss {
    /// A TSS with all stacks zero and no I/O bitmap.
    pub const fn new() -> Tss {
        Tss {
            reserved0: 0,
            rsp: [0; 3],
            reserved1: 0,
            ist: [0; 7],
            reserved2: 0,
            reserved3: 0,
            iomap_base: SIZE as u16,
        }
    }

    /// The stack top loaded on entry from user mode through an IST-0 gate.
    pub const fn rsp0(&self) -> u64 {
        let rsp = self.rsp;
        rsp[0]
    }

    pub fn set_rsp0(&mut self, top: u64) {
        let mut rsp = self.rsp;
        rsp[0] = top;
        self.rsp = rsp;
    }

    /// The stack top of IST slot `index` (1..=7).
    pub const fn ist(&self, index: u8) -> u64 {
        assert!(index >= 1 && index <= 7, "IST index is 1..=7");
        let ist = self.ist;
        ist[index as usize - 1]
    }

    /// Sets IST slot `index` (1..=7) to `top`.
    pub fn set_ist(&mut self, index: u8, top: u64) {
        assert!((1..=7).contains(&index), "IST index is 1..=7");
        let mut ist = self.ist;
        ist[index as usize - 1] = top;
        self.ist = ist;
    }

    pub const fn iomap_base(&self) -> u16 {
        self.iomap_base
    }

    /// The bytes to write into guest memory at the TR base.
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
}

impl Default for Tss {
    fn default() -> Self {
        Tss::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;
    use x86_64::structures::tss::TaskStateSegment;

    #[test]
    fn layout_matches_the_architecture_and_x86_64_crate() {
        assert_eq!(core::mem::size_of::<Tss>(), 104);
        assert_eq!((RSP0, IST1, IOMAP_BASE), (4, 36, 102));
        assert_eq!(core::mem::size_of::<TaskStateSegment>(), SIZE);
        assert_eq!(offset_of!(TaskStateSegment, privilege_stack_table), RSP0);
        assert_eq!(offset_of!(TaskStateSegment, interrupt_stack_table), IST1);
        assert_eq!(offset_of!(TaskStateSegment, iomap_base), IOMAP_BASE);
        assert_eq!(
            { TaskStateSegment::new().iomap_base },
            Tss::new().iomap_base()
        );
    }

    #[test]
    fn no_io_bitmap() {
        // The bitmap would start past the limit: every port is denied.
        assert!(u32::from(Tss::new().iomap_base()) > LIMIT);
    }

    #[test]
    fn fields_land_at_their_offsets() {
        let mut tss = Tss::new();
        tss.set_rsp0(0xffff_8000_0001_0000);
        tss.set_ist(1, 0xffff_8000_0002_0000);
        tss.set_ist(7, 0xffff_8000_0008_0000);
        assert_eq!(tss.rsp0(), 0xffff_8000_0001_0000);
        assert_eq!(tss.ist(1), 0xffff_8000_0002_0000);
        assert_eq!(tss.ist(7), 0xffff_8000_0008_0000);
        let b = tss.as_bytes();
        assert_eq!(b.len(), SIZE);
        let at = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(at(RSP0), 0xffff_8000_0001_0000);
        assert_eq!(at(IST1), 0xffff_8000_0002_0000);
        assert_eq!(at(IST1 + 6 * 8), 0xffff_8000_0008_0000);
        assert_eq!(&b[IOMAP_BASE..], &104u16.to_le_bytes());
        assert!(b[..RSP0].iter().all(|&x| x == 0));
    }

    #[test]
    #[should_panic]
    fn ist_zero_is_not_a_slot() {
        Tss::new().set_ist(0, 1);
    }
}
