//! The global descriptor table: Linux-compatible selectors, descriptor
//! encoding, and the IA32_STAR value that goes with them.
//!
//! Layout (index: selector, what):
//!
//! | index | selector | descriptor |
//! |---|---|---|
//! | 0 | 0x00 | null |
//! | 1 | 0x08 | not present (Linux's kernel32 CS; ring0 never runs 32-bit code) |
//! | 2 | 0x10 | kernel CS: 64-bit code, DPL 0 |
//! | 3 | 0x18 | kernel DS: data, DPL 0 |
//! | 4 | 0x23 | user32 CS: 32-bit code, DPL 3 |
//! | 5 | 0x2b | user DS: data, DPL 3 |
//! | 6 | 0x33 | user CS: 64-bit code, DPL 3 |
//! | 7 | 0x38 | not present |
//! | 8–9 | 0x40 | the vCPU's TSS (a 16-byte system descriptor) |
//! | 10–15 | | not present (Linux's LDT, TLS and CPUNODE slots) |
//!
//! The order user32 CS, user DS, user CS is forced by SYSRET (see [`STAR`]).
//! Code and data descriptors are flat (base 0, limit 4 GiB) with the accessed
//! bit preset, so the CPU never writes to the table. Each vCPU has its own
//! GDT because the TSS descriptor holds that vCPU's TSS address; the VMM
//! places it in the per-vCPU page ([`crate::vcpu_page`]) and loads it with
//! `KVM_SET_SREGS` (base = its guest-virtual address, limit = [`Gdt::LIMIT`]).

use bytemuck::{Pod, Zeroable};

use crate::abi;
use crate::tss;

/// Access byte (descriptor bits 40..48).
pub mod access {
    /// Set by the CPU on first use; preset so the CPU never writes the table.
    pub const ACCESSED: u8 = 1 << 0;
    /// Readable (code) or writable (data).
    pub const READ_WRITE: u8 = 1 << 1;
    pub const CONFORMING: u8 = 1 << 2;
    pub const EXECUTABLE: u8 = 1 << 3;
    /// Code or data segment (clear for system descriptors such as the TSS).
    pub const CODE_DATA: u8 = 1 << 4;
    pub const PRESENT: u8 = 1 << 7;
    /// System descriptor type: available 64-bit TSS.
    pub const TSS_AVAILABLE: u8 = 0x9;
    /// System descriptor type: busy 64-bit TSS (after `ltr`).
    pub const TSS_BUSY: u8 = 0xb;

    /// The descriptor privilege level field.
    pub const fn dpl(level: u8) -> u8 {
        assert!(level <= 3);
        level << 5
    }
}

/// Flags nibble (descriptor bits 52..56).
pub mod flags {
    /// Available for software.
    pub const AVL: u8 = 1 << 0;
    /// 64-bit code segment (L).
    pub const LONG_MODE: u8 = 1 << 1;
    /// 32-bit default operand size (D/B); must be clear when L is set.
    pub const SIZE_32: u8 = 1 << 2;
    /// Limit counts 4 KiB pages rather than bytes (G).
    pub const GRANULARITY: u8 = 1 << 3;
}

/// Number of 8-byte entries, as in Linux (`GDT_ENTRIES`).
pub const GDT_ENTRIES: usize = 16;

pub const KERNEL_CS_INDEX: u16 = 2;
pub const KERNEL_DS_INDEX: u16 = 3;
pub const USER32_CS_INDEX: u16 = 4;
pub const USER_DS_INDEX: u16 = 5;
pub const USER_CS_INDEX: u16 = 6;
/// First of the two entries of the TSS descriptor.
pub const TSS_INDEX: u16 = 8;

/// A segment selector: table index, table indicator 0 (GDT), and `rpl`.
pub const fn selector(index: u16, rpl: u16) -> u16 {
    assert!(rpl <= 3);
    (index << 3) | rpl
}

/// Kernel 64-bit code selector (0x10), also what SYSCALL loads into CS.
pub const KERNEL_CS: u16 = selector(KERNEL_CS_INDEX, 0);
/// Kernel data/stack selector (0x18), also what SYSCALL loads into SS.
pub const KERNEL_DS: u16 = selector(KERNEL_DS_INDEX, 0);
/// User 32-bit code selector (0x23).
pub const USER32_CS: u16 = selector(USER32_CS_INDEX, 3);
/// User data/stack selector (0x2b); equals [`abi::USER_DS`].
pub const USER_DS: u16 = selector(USER_DS_INDEX, 3);
/// User 64-bit code selector (0x33); equals [`abi::USER_CS`].
pub const USER_CS: u16 = selector(USER_CS_INDEX, 3);
/// Task register selector (0x40).
pub const TSS_SELECTOR: u16 = selector(TSS_INDEX, 0);

/// An 8-byte code or data descriptor (or the low half of a system one).
///
/// `limit` is 20 bits (bytes, or pages with [`flags::GRANULARITY`]),
/// `access` is the access byte ([`access`]), `flag_bits` the flags nibble
/// ([`flags`]).
pub const fn segment_descriptor(base: u32, limit: u32, access: u8, flag_bits: u8) -> u64 {
    assert!(limit <= 0xf_ffff);
    assert!(flag_bits <= 0xf);
    let base = base as u64;
    let limit = limit as u64;
    (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | ((access as u64) << 40)
        | ((limit >> 16) << 48)
        | ((flag_bits as u64) << 52)
        | ((base >> 24) << 56)
}

/// A 16-byte system descriptor (TSS, LDT): the low half encodes like a
/// segment descriptor with base bits 0..32, the high half holds base bits
/// 32..64.
pub const fn system_descriptor(base: u64, limit: u32, access: u8, flag_bits: u8) -> [u64; 2] {
    [
        segment_descriptor(base as u32, limit, access, flag_bits),
        base >> 32,
    ]
}

const FLAT_LIMIT: u32 = 0xf_ffff;
const CODE: u8 = access::PRESENT
    | access::CODE_DATA
    | access::EXECUTABLE
    | access::READ_WRITE
    | access::ACCESSED;
const DATA: u8 = access::PRESENT | access::CODE_DATA | access::READ_WRITE | access::ACCESSED;
const CODE64: u8 = flags::GRANULARITY | flags::LONG_MODE;
const FLAT32: u8 = flags::GRANULARITY | flags::SIZE_32;

/// 0x00af9b000000ffff, as Linux's `__KERNEL_CS`.
pub const KERNEL_CODE64: u64 = segment_descriptor(0, FLAT_LIMIT, CODE | access::dpl(0), CODE64);
/// 0x00cf93000000ffff, as Linux's `__KERNEL_DS`.
pub const KERNEL_DATA: u64 = segment_descriptor(0, FLAT_LIMIT, DATA | access::dpl(0), FLAT32);
/// 0x00cffb000000ffff, as Linux's `__USER32_CS`.
pub const USER_CODE32: u64 = segment_descriptor(0, FLAT_LIMIT, CODE | access::dpl(3), FLAT32);
/// 0x00cff3000000ffff, as Linux's `__USER_DS`.
pub const USER_DATA: u64 = segment_descriptor(0, FLAT_LIMIT, DATA | access::dpl(3), FLAT32);
/// 0x00affb000000ffff, as Linux's `__USER_CS`.
pub const USER_CODE64: u64 = segment_descriptor(0, FLAT_LIMIT, CODE | access::dpl(3), CODE64);

/// The descriptor of the 64-bit TSS at `base`: present, DPL 0, type
/// "available", byte-granular limit [`tss::LIMIT`] (so no I/O bitmap).
pub const fn tss_descriptor(base: u64) -> [u64; 2] {
    system_descriptor(base, tss::LIMIT, access::PRESENT | access::TSS_AVAILABLE, 0)
}

/// The IA32_STAR value for `syscall_cs` and `sysret_base`.
///
/// SYSCALL loads CS = STAR\[47:32\] and SS = STAR\[47:32\] + 8.
/// 64-bit SYSRET loads CS = STAR\[63:48\] + 16 and SS = STAR\[63:48\] + 8,
/// both with RPL forced to 3; 32-bit SYSRET loads CS = STAR\[63:48\].
pub const fn star(syscall_cs: u16, sysret_base: u16) -> u64 {
    ((sysret_base as u64) << 48) | ((syscall_cs as u64) << 32)
}

/// IA32_STAR for this GDT: 0x0023_0010_0000_0000, as Linux.
///
/// SYSCALL: CS = 0x10 (kernel CS), SS = 0x10 + 8 = 0x18 (kernel DS).
/// SYSRET to 64-bit mode: CS = 0x23 + 16 = 0x33 (user CS),
/// SS = 0x23 + 8 = 0x2b (user DS). The low 32 bits (the legacy 32-bit
/// SYSCALL target) are unused in long mode.
pub const STAR: u64 = star(KERNEL_CS, USER32_CS);

// The selector arithmetic SYSCALL/SYSRET impose on the table's order, and
// agreement with the register-file constants.
const _: () = {
    assert!(KERNEL_DS == KERNEL_CS + 8);
    assert!(USER_DS == USER32_CS + 8);
    assert!(USER_CS == USER32_CS + 16);
    assert!(USER_CS as u64 == abi::USER_CS);
    assert!(USER_DS as u64 == abi::USER_DS);
    assert!((TSS_INDEX as usize) + 1 < GDT_ENTRIES);
};

/// The hidden part of a segment register, decoded from a descriptor: what
/// `KVM_SET_SREGS` wants in a `kvm_segment`, field for field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub base: u64,
    /// Limit in bytes (already scaled by the granularity bit).
    pub limit: u32,
    pub selector: u16,
    /// The 4-bit type field (access byte bits 0..4).
    pub type_: u8,
    /// Code/data (true) or system (false) descriptor.
    pub s: bool,
    pub dpl: u8,
    pub present: bool,
    pub avl: bool,
    pub long: bool,
    pub db: bool,
    pub granularity: bool,
}

impl Segment {
    /// Decodes `desc` (and for system descriptors the base bits 32..64 in
    /// `high`) as loaded through `selector`.
    pub const fn decode(selector: u16, desc: u64, high: u64) -> Segment {
        let access = (desc >> 40) as u8;
        let flag_bits = ((desc >> 52) & 0xf) as u8;
        let s = access & access::CODE_DATA != 0;
        let raw_limit = ((desc & 0xffff) | ((desc >> 32) & 0xf_0000)) as u32;
        let granularity = flag_bits & flags::GRANULARITY != 0;
        let limit = if granularity {
            (raw_limit << 12) | 0xfff
        } else {
            raw_limit
        };
        let mut base = ((desc >> 16) & 0xff_ffff) | ((desc >> 32) & 0xff00_0000);
        if !s {
            base |= high << 32;
        }
        Segment {
            base,
            limit,
            selector,
            type_: access & 0xf,
            s,
            dpl: (access >> 5) & 3,
            present: access & access::PRESENT != 0,
            avl: flag_bits & flags::AVL != 0,
            long: flag_bits & flags::LONG_MODE != 0,
            db: flag_bits & flags::SIZE_32 != 0,
            granularity,
        }
    }
}

/// One vCPU's GDT, laid out exactly as the CPU reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Gdt {
    entries: [u64; GDT_ENTRIES],
}

impl Gdt {
    /// The GDTR limit: size in bytes minus one (127).
    pub const LIMIT: u16 = (GDT_ENTRIES * 8 - 1) as u16;

    /// The table for a vCPU whose TSS is at guest-virtual `tss_base`.
    pub const fn new(tss_base: u64) -> Gdt {
        let mut entries = [0u64; GDT_ENTRIES];
        entries[KERNEL_CS_INDEX as usize] = KERNEL_CODE64;
        entries[KERNEL_DS_INDEX as usize] = KERNEL_DATA;
        entries[USER32_CS_INDEX as usize] = USER_CODE32;
        entries[USER_DS_INDEX as usize] = USER_DATA;
        entries[USER_CS_INDEX as usize] = USER_CODE64;
        let tss = tss_descriptor(tss_base);
        entries[TSS_INDEX as usize] = tss[0];
        entries[TSS_INDEX as usize + 1] = tss[1];
        Gdt { entries }
    }

    /// The raw 8-byte entry at `index`.
    pub const fn entry(&self, index: usize) -> u64 {
        self.entries[index]
    }

    /// The bytes to write into guest memory at the GDTR base.
    pub fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }

    /// The segment register contents for `selector`, or `None` if it names
    /// the null descriptor, an entry past the table or a non-present one.
    pub const fn segment(&self, selector: u16) -> Option<Segment> {
        let index = (selector >> 3) as usize;
        if index == 0 || index >= GDT_ENTRIES || selector & 4 != 0 {
            return None;
        }
        let desc = self.entries[index];
        let high = if index + 1 < GDT_ENTRIES {
            self.entries[index + 1]
        } else {
            0
        };
        let seg = Segment::decode(selector, desc, high);
        if seg.present {
            Some(seg)
        } else {
            None
        }
    }

    /// The task register as `KVM_SET_SREGS` must load it: the TSS
    /// descriptor with type "busy", the state `ltr` would leave (VMX
    /// requires a busy TSS in TR). The table itself keeps the "available"
    /// type; ring0 never executes `ltr`.
    pub const fn task_register(&self) -> Segment {
        let high = self.entries[TSS_INDEX as usize + 1];
        let mut seg = Segment::decode(TSS_SELECTOR, self.entries[TSS_INDEX as usize], high);
        seg.type_ = access::TSS_BUSY;
        seg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x86_64::structures::gdt::{Descriptor, DescriptorFlags, SegmentSelector};
    use x86_64::structures::tss::TaskStateSegment;
    use x86_64::PrivilegeLevel;

    #[test]
    fn descriptors_match_linux() {
        assert_eq!(KERNEL_CODE64, 0x00af_9b00_0000_ffff);
        assert_eq!(KERNEL_DATA, 0x00cf_9300_0000_ffff);
        assert_eq!(USER_CODE32, 0x00cf_fb00_0000_ffff);
        assert_eq!(USER_DATA, 0x00cf_f300_0000_ffff);
        assert_eq!(USER_CODE64, 0x00af_fb00_0000_ffff);
    }

    #[test]
    fn descriptors_match_x86_64_crate() {
        assert_eq!(KERNEL_CODE64, DescriptorFlags::KERNEL_CODE64.bits());
        assert_eq!(KERNEL_DATA, DescriptorFlags::KERNEL_DATA.bits());
        assert_eq!(USER_CODE32, DescriptorFlags::USER_CODE32.bits());
        assert_eq!(USER_DATA, DescriptorFlags::USER_DATA.bits());
        assert_eq!(USER_CODE64, DescriptorFlags::USER_CODE64.bits());
    }

    #[test]
    fn selectors() {
        assert_eq!(
            [
                KERNEL_CS,
                KERNEL_DS,
                USER32_CS,
                USER_DS,
                USER_CS,
                TSS_SELECTOR
            ],
            [0x10, 0x18, 0x23, 0x2b, 0x33, 0x40]
        );
        assert_eq!(KERNEL_CS, SegmentSelector::new(2, PrivilegeLevel::Ring0).0);
        assert_eq!(USER_CS, SegmentSelector::new(6, PrivilegeLevel::Ring3).0);
    }

    #[test]
    fn segment_descriptor_fields() {
        // base 0x12345678, limit 0xabcde, access 0x9a, flags 0x4:
        // limit[15:0]=0xbcde, base[23:0]=0x345678, access=0x9a,
        // limit[19:16]=0xa, flags=0x4, base[31:24]=0x12.
        assert_eq!(
            segment_descriptor(0x1234_5678, 0xa_bcde, 0x9a, 0x4),
            0x124a_9a34_5678_bcde
        );
    }

    #[test]
    fn star_selector_arithmetic() {
        assert_eq!(STAR, 0x0023_0010_0000_0000);
        let syscall_cs = (STAR >> 32) as u16;
        let sysret_base = (STAR >> 48) as u16;
        assert_eq!(syscall_cs, KERNEL_CS);
        assert_eq!(syscall_cs + 8, KERNEL_DS);
        assert_eq!((sysret_base + 16) | 3, USER_CS);
        assert_eq!((sysret_base + 8) | 3, USER_DS);
    }

    #[test]
    fn tss_descriptor_encoding() {
        // base 0xffff_8000_dead_b000, limit 103 (0x67), access 0x89.
        assert_eq!(
            tss_descriptor(0xffff_8000_dead_b000),
            [0xde00_89ad_b000_0067, 0xffff_8000]
        );
        static X86_TSS: TaskStateSegment = TaskStateSegment::new();
        let Descriptor::SystemSegment(low, high) = Descriptor::tss_segment(&X86_TSS) else {
            panic!("TSS descriptor is a system segment");
        };
        let base = core::ptr::addr_of!(X86_TSS) as u64;
        assert_eq!(tss_descriptor(base), [low, high]);
    }

    #[test]
    fn table_layout_and_bytes() {
        let gdt = Gdt::new(0xffff_8000_0000_2000);
        assert_eq!(Gdt::LIMIT, 127);
        let bytes = gdt.as_bytes();
        assert_eq!(bytes.len(), 128);
        assert_eq!(&bytes[0x10..0x18], &KERNEL_CODE64.to_le_bytes());
        assert_eq!(&bytes[0x30..0x38], &USER_CODE64.to_le_bytes());
        for unused in [0, 1, 7, 10, 11, 12, 13, 14, 15] {
            assert_eq!(gdt.entry(unused), 0, "entry {unused}");
        }
        let tss = tss_descriptor(0xffff_8000_0000_2000);
        assert_eq!(&bytes[0x40..0x48], &tss[0].to_le_bytes());
        assert_eq!(&bytes[0x48..0x50], &tss[1].to_le_bytes());
    }

    #[test]
    fn segments_for_kvm() {
        let gdt = Gdt::new(0xffff_8000_0000_2000);
        let cs = gdt.segment(KERNEL_CS).unwrap();
        assert_eq!(
            cs,
            Segment {
                base: 0,
                limit: 0xffff_ffff,
                selector: 0x10,
                type_: 0xb,
                s: true,
                dpl: 0,
                present: true,
                avl: false,
                long: true,
                db: false,
                granularity: true,
            }
        );
        let ss = gdt.segment(USER_DS).unwrap();
        assert_eq!((ss.type_, ss.dpl, ss.db, ss.long), (0x3, 3, true, false));
        let tr = gdt.task_register();
        assert_eq!(tr.base, 0xffff_8000_0000_2000);
        assert_eq!(tr.limit, 103);
        assert_eq!(
            (tr.type_, tr.s, tr.present, tr.selector),
            (0xb, false, true, 0x40)
        );
        assert_eq!(
            gdt.segment(TSS_SELECTOR).unwrap().type_,
            access::TSS_AVAILABLE
        );
        assert_eq!(gdt.segment(0), None);
        assert_eq!(gdt.segment(0x08), None);
        assert_eq!(gdt.segment(0x80), None);
        assert_eq!(gdt.segment(USER_CS | 4), None); // LDT selector
    }
}
