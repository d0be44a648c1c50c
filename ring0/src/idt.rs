//! The interrupt descriptor table: 64-bit gate encoding, which vectors run
//! on IST stacks, and which user mode may raise with `int N`.
//!
//! Policy ([`ist_for`], [`dpl_for`]):
//! - Every vector gets an interrupt gate (type 0xE), so IF is clear in ring0
//!   from the first instruction of a stub: nothing interrupts a stub before
//!   it has saved the user registers.
//! - #DF, NMI, #DB and #MC run on their own IST stacks: they may arrive when
//!   ring0's stack cannot be trusted (a SYSCALL entry still on the user stack,
//!   a stack overflow in ring0). #DB is included as in Linux: a hardware
//!   breakpoint or single-step trap may arrive before the SYSCALL entry has
//!   switched away from the user stack. Everything else enters on RSP0 (from
//!   user mode) or the current ring0 stack.
//! - #BP and #OF are DPL 3 so `int3` and `into` from user mode deliver them
//!   (SIGTRAP and SIGSEGV, as Linux), and so is `int 0x80` (vector 0x80; the
//!   sentry decides what it means). Every other gate is DPL 0: `int N` from
//!   user mode raises #GP with error code `N*8+2`, which becomes SIGSEGV, as
//!   on Linux.

use bytemuck::{Pod, Zeroable};

use crate::abi::{self, Vector};
use crate::entry;
use crate::gdt;

/// Gate type: interrupt gate (clears IF on entry).
pub const INTERRUPT_GATE: u8 = 0xe;
/// Gate type: trap gate (leaves IF alone).
pub const TRAP_GATE: u8 = 0xf;

/// IST slot of #DF.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot of NMI.
pub const IST_NMI: u8 = 2;
/// IST slot of #DB.
pub const IST_DEBUG: u8 = 3;
/// IST slot of #MC.
pub const IST_MACHINE_CHECK: u8 = 4;

/// Number of vectors; the IDT always has all of them.
pub const VECTORS: usize = 256;

/// The IST slot vector `v` runs on (0: no stack switch beyond RSP0).
pub const fn ist_for(v: Vector) -> u8 {
    match v {
        Vector::DOUBLE_FAULT => IST_DOUBLE_FAULT,
        Vector::NMI => IST_NMI,
        Vector::DEBUG => IST_DEBUG,
        Vector::MACHINE_CHECK => IST_MACHINE_CHECK,
        _ => 0,
    }
}

/// The privilege level from which `int v` may raise vector `v`.
pub const fn dpl_for(v: Vector) -> u8 {
    match v {
        Vector::BREAKPOINT | Vector::OVERFLOW | Vector::INT80 => 3,
        _ => 0,
    }
}

/// One 16-byte gate descriptor.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Gate {
    low: u64,
    high: u64,
}

impl Gate {
    /// A not-present gate: raising its vector gives #GP (or #NP).
    pub const MISSING: Gate = Gate { low: 0, high: 0 };

    /// A present gate to `handler` (a canonical address) through code
    /// selector `selector`, on IST slot `ist` (0..=7), of `gate_type`
    /// ([`INTERRUPT_GATE`] or [`TRAP_GATE`]), callable from privilege
    /// `dpl` (0..=3).
    ///
    /// Layout: low word bits 0..16 offset\[15:0\], 16..32 selector,
    /// 32..35 IST, 40..44 type, 45..47 DPL, 47 present, 48..64
    /// offset\[31:16\]; high word bits 0..32 offset\[63:32\].
    pub const fn new(handler: u64, selector: u16, ist: u8, gate_type: u8, dpl: u8) -> Gate {
        assert!(abi::is_canonical(handler), "gate handler must be canonical");
        assert!(ist <= 7, "IST index is 0..=7");
        assert!(dpl <= 3, "DPL is 0..=3");
        assert!(gate_type == INTERRUPT_GATE || gate_type == TRAP_GATE);
        let attrs = 0x80 | (dpl << 5) | gate_type;
        let low = (handler & 0xffff)
            | ((selector as u64) << 16)
            | ((ist as u64) << 32)
            | ((attrs as u64) << 40)
            | (((handler >> 16) & 0xffff) << 48);
        Gate {
            low,
            high: handler >> 32,
        }
    }

    /// The two 8-byte words, in memory order.
    pub const fn words(self) -> [u64; 2] {
        [self.low, self.high]
    }

    pub const fn handler(self) -> u64 {
        (self.low & 0xffff) | ((self.low >> 32) & 0xffff_0000) | (self.high << 32)
    }

    pub const fn selector(self) -> u16 {
        (self.low >> 16) as u16
    }

    pub const fn ist(self) -> u8 {
        ((self.low >> 32) & 7) as u8
    }

    pub const fn gate_type(self) -> u8 {
        ((self.low >> 40) & 0xf) as u8
    }

    pub const fn dpl(self) -> u8 {
        ((self.low >> 45) & 3) as u8
    }

    pub const fn present(self) -> bool {
        self.low & (1 << 47) != 0
    }
}

/// A full 256-entry IDT, laid out exactly as the CPU reads it. One table
/// serves every vCPU: what differs per vCPU (the stacks) is in its TSS.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Idt {
    gates: [Gate; VECTORS],
}

impl Idt {
    /// The IDTR limit: size in bytes minus one (4095).
    pub const LIMIT: u16 = (VECTORS * 16 - 1) as u16;

    /// A table with every gate missing.
    pub const fn new() -> Idt {
        Idt {
            gates: [Gate::MISSING; VECTORS],
        }
    }

    /// The table ring0 runs with: every vector enters its stub in the entry
    /// text mapped at guest-virtual `text_base` (see
    /// [`entry::vector_stub_offset`]), with the IST and DPL policy of this
    /// module.
    pub fn for_entry_text(text_base: u64) -> Idt {
        let mut idt = Idt::new();
        for v in 0..=255u8 {
            let v = Vector(v);
            let handler = text_base + entry::vector_stub_offset(v);
            idt.set_handler(v, handler, ist_for(v), dpl_for(v));
        }
        idt
    }

    /// Points `vector` at `handler` with an interrupt gate through the
    /// kernel code selector, on IST slot `ist`, callable from privilege
    /// `dpl`.
    pub fn set_handler(&mut self, vector: Vector, handler: u64, ist: u8, dpl: u8) {
        self.gates[vector.0 as usize] =
            Gate::new(handler, gdt::KERNEL_CS, ist, INTERRUPT_GATE, dpl);
    }

    pub const fn gate(&self, vector: Vector) -> Gate {
        self.gates[vector.0 as usize]
    }

    /// The bytes to write into guest memory at the IDTR base.
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }
}

impl Default for Idt {
    fn default() -> Self {
        Idt::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_encoding_by_hand() {
        // handler 0xffff_8000_1234_5678, selector 0x10, IST 1, DPL 3,
        // interrupt gate: attrs = 0x80 | 3 << 5 | 0xe = 0xee.
        // low = 0x1234 << 48 | 0xee << 40 | 0x01 << 32 | 0x0010 << 16 | 0x5678
        let g = Gate::new(0xffff_8000_1234_5678, 0x10, 1, INTERRUPT_GATE, 3);
        assert_eq!(g.words(), [0x1234_ee01_0010_5678, 0x0000_0000_ffff_8000]);
        // Trap gate, DPL 0, no IST, lower-half handler: attrs 0x8f.
        let g = Gate::new(0x0000_0000_dead_beef, 0x10, 0, TRAP_GATE, 0);
        assert_eq!(g.words(), [0xdead_8f00_0010_beef, 0]);
    }

    #[test]
    fn gate_fields_round_trip() {
        let g = Gate::new(0xffff_8000_1234_5678, 0x10, 4, INTERRUPT_GATE, 3);
        assert_eq!(g.handler(), 0xffff_8000_1234_5678);
        assert_eq!(g.selector(), 0x10);
        assert_eq!(g.ist(), 4);
        assert_eq!(g.gate_type(), INTERRUPT_GATE);
        assert_eq!(g.dpl(), 3);
        assert!(g.present());
        assert!(!Gate::MISSING.present());
    }

    #[test]
    #[should_panic]
    fn non_canonical_handler_is_refused() {
        Gate::new(0x0000_8000_0000_0000, 0x10, 0, INTERRUPT_GATE, 0);
    }

    #[test]
    fn ist_policy() {
        assert_eq!(ist_for(Vector::DOUBLE_FAULT), 1);
        assert_eq!(ist_for(Vector::NMI), 2);
        assert_eq!(ist_for(Vector::DEBUG), 3);
        assert_eq!(ist_for(Vector::MACHINE_CHECK), 4);
        assert_eq!(ist_for(Vector::PAGE_FAULT), 0);
        assert_eq!(ist_for(Vector::GENERAL_PROTECTION), 0);
    }

    #[test]
    fn only_breakpoint_overflow_and_int80_are_user_callable() {
        let user: [u8; 3] = [3, 4, 0x80];
        for v in 0..=255u8 {
            let expect = if user.contains(&v) { 3 } else { 0 };
            assert_eq!(dpl_for(Vector(v)), expect, "vector {v}");
        }
    }

    #[test]
    fn table_for_entry_text() {
        let base = 0xffff_ff80_0000_0000;
        let idt = Idt::for_entry_text(base);
        assert_eq!(Idt::LIMIT, 4095);
        let bytes = idt.as_bytes();
        assert_eq!(bytes.len(), 4096);
        for v in 0..=255u8 {
            let g = idt.gate(Vector(v));
            assert!(g.present());
            assert_eq!(g.handler(), base + entry::vector_stub_offset(Vector(v)));
            assert_eq!(g.selector(), gdt::KERNEL_CS);
            assert_eq!(g.gate_type(), INTERRUPT_GATE);
            assert_eq!(g.ist(), ist_for(Vector(v)));
            assert_eq!(g.dpl(), dpl_for(Vector(v)));
            let at = usize::from(v) * 16;
            assert_eq!(&bytes[at..at + 8], &g.words()[0].to_le_bytes());
            assert_eq!(&bytes[at + 8..at + 16], &g.words()[1].to_le_bytes());
        }
        // #BP: DPL 3, no IST.
        let bp = idt.gate(Vector::BREAKPOINT).words()[0];
        assert_eq!((bp >> 40) & 0xff, 0xee);
        // #DF: DPL 0 on IST 1.
        let df = idt.gate(Vector::DOUBLE_FAULT).words()[0];
        assert_eq!((df >> 32) & 0xff, 0x01);
        assert_eq!((df >> 40) & 0xff, 0x8e);
    }

    #[test]
    fn set_handler_overrides_one_vector() {
        let mut idt = Idt::new();
        idt.set_handler(Vector::PAGE_FAULT, 0xffff_8000_0000_1000, 0, 0);
        assert!(idt.gate(Vector::PAGE_FAULT).present());
        assert!(!idt.gate(Vector::GENERAL_PROTECTION).present());
        assert_eq!(idt, {
            let mut other = Idt::default();
            other.set_handler(Vector::PAGE_FAULT, 0xffff_8000_0000_1000, 0, 0);
            other
        });
    }
}
