//! The probe guest's memory layout and the x86-64 tables it needs, built as
//! plain bytes and words. Nothing here touches KVM, so all of it is unit-tested.
//!
//! The guest is 2 MiB of RAM at guest-physical 0, identity-mapped with 4 KiB
//! pages so that each page can be user-accessible or supervisor-only.

use pagetables::EntryFlags;

/// Size of the probe guest's RAM.
pub(super) const RAM_SIZE: usize = 0x20_0000;

/// Ring-0 code that the vCPU starts at.
pub(super) const KERNEL_CODE: u64 = 0x1000;
/// The SYSCALL entry point (MSR_LSTAR), alone on its page.
pub(super) const LSTAR_CODE: u64 = 0x2000;
/// User-mode code.
pub(super) const USER_CODE: u64 = 0x3000;
/// One page of user stack; RSP starts at its top.
pub(super) const USER_STACK_TOP: u64 = 0x5000;
/// PML4, then PDPT, PD and PT on the next three pages.
pub(super) const PAGE_TABLES: u64 = 0x10000;
/// The GDT.
pub(super) const GDT: u64 = 0x14000;
/// The 64-bit TSS.
pub(super) const TSS: u64 = 0x15000;
/// The IDT: [`IDT_VECTORS`] 16-byte gates.
pub(super) const IDT: u64 = 0x16000;
/// Exception stubs, [`STUB_SIZE`] bytes per vector.
pub(super) const STUBS: u64 = 0x17000;
/// Ring-0 stack (one page below it): the initial RSP and the TSS's RSP0.
pub(super) const KERNEL_STACK_TOP: u64 = 0x19000;

/// The pages that user mode may touch, besides any the caller adds.
pub(super) const USER_PAGES: [u64; 2] = [USER_CODE, USER_STACK_TOP - 0x1000];

/// An exception stub reports its vector with `out PORT_EXCEPTION, al`.
pub(super) const PORT_EXCEPTION: u16 = 0x20;
/// Guest code that only wants a VM exit writes to this port.
pub(super) const PORT_TICK: u16 = 0x10;

/// Linux-compatible selectors (the ones PVM insists on, too).
pub(super) const KERNEL_CS: u16 = 0x10;
/// Kernel data/stack selector.
pub(super) const KERNEL_DS: u16 = 0x18;
/// 32-bit user code selector (STAR[63:48]; SYSRET derives the others from it).
pub(super) const USER32_CS: u16 = 0x23;
/// User data/stack selector.
pub(super) const USER_DS: u16 = 0x2b;
/// 64-bit user code selector.
pub(super) const USER_CS: u16 = 0x33;
/// Task register selector (a 16-byte system descriptor at GDT index 8).
pub(super) const TSS_SELECTOR: u16 = 0x40;

/// Number of GDT slots, including the two the TSS descriptor takes.
pub(super) const GDT_ENTRIES: usize = 10;
/// Size of a 64-bit TSS without an I/O permission bitmap.
pub(super) const TSS_SIZE: usize = 104;
/// Number of IDT gates: the architectural exceptions.
pub(super) const IDT_VECTORS: usize = 32;
/// Bytes reserved per exception stub.
pub(super) const STUB_SIZE: usize = 16;

/// MSR numbers.
pub(super) const MSR_STAR: u32 = 0xc000_0081;
/// SYSCALL target in 64-bit mode.
pub(super) const MSR_LSTAR: u32 = 0xc000_0082;
/// RFLAGS bits cleared on SYSCALL.
pub(super) const MSR_FMASK: u32 = 0xc000_0084;

/// STAR: SYSCALL loads CS=0x10/SS=0x18; SYSRET to 64-bit loads CS=0x23+16=0x33, SS=0x23+8=0x2b.
pub(super) const STAR_VALUE: u64 = ((KERNEL_CS as u64) << 32) | ((USER32_CS as u64) << 48);
/// FMASK: clear TF, IF, DF on SYSCALL.
pub(super) const FMASK_VALUE: u64 = 0x700;

/// CR0: PE | MP | ET | NE | WP | PG.
pub(super) const CR0: u64 = 0x8005_0033;
/// CR4: PAE | OSFXSR | OSXMMEXCPT.
pub(super) const CR4: u64 = (1 << 5) | (1 << 9) | (1 << 10);
/// EFER: SCE | LME | LMA.
pub(super) const EFER: u64 = 0x501;

/// A code or data segment descriptor with base 0 and limit 0xfffff.
/// `access` is the access byte (P, DPL, S, type); `flags` the G/DB/L/AVL nibble.
const fn flat_segment(access: u8, flags: u8) -> u64 {
    0xffff | ((access as u64) << 40) | ((0xf | ((flags as u64) << 4)) << 48)
}

/// Present, DPL 0, code, execute/read, accessed.
const ACCESS_KERNEL_CODE: u8 = 0x9b;
/// Present, DPL 0, data, read/write, accessed.
const ACCESS_KERNEL_DATA: u8 = 0x93;
/// Present, DPL 3, code, execute/read, accessed.
const ACCESS_USER_CODE: u8 = 0xfb;
/// Present, DPL 3, data, read/write, accessed.
const ACCESS_USER_DATA: u8 = 0xf3;
/// Granularity 4 KiB, 32-bit default operand size.
const FLAGS_32: u8 = 0xc;
/// Granularity 4 KiB, long mode.
const FLAGS_64: u8 = 0xa;

/// The 16-byte descriptor of an available 64-bit TSS at `base` with `limit`.
pub(super) const fn tss_descriptor(base: u64, limit: u32) -> [u64; 2] {
    let limit = limit as u64;
    let low = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, type 9: available 64-bit TSS
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The GDT, laid out like Linux's so that the selector constants above hold.
pub(super) const fn gdt(tss_base: u64) -> [u64; GDT_ENTRIES] {
    let tss = tss_descriptor(tss_base, TSS_SIZE as u32 - 1);
    [
        0,                                          // 0x00 null
        flat_segment(ACCESS_KERNEL_CODE, FLAGS_32), // 0x08 kernel 32-bit code
        flat_segment(ACCESS_KERNEL_CODE, FLAGS_64), // 0x10 kernel code
        flat_segment(ACCESS_KERNEL_DATA, FLAGS_32), // 0x18 kernel data
        flat_segment(ACCESS_USER_CODE, FLAGS_32),   // 0x23 user 32-bit code
        flat_segment(ACCESS_USER_DATA, FLAGS_32),   // 0x2b user data
        flat_segment(ACCESS_USER_CODE, FLAGS_64),   // 0x33 user code
        0,                                          // 0x38 unused
        tss[0],                                     // 0x40 TSS, low half
        tss[1],                                     //      TSS, high half
    ]
}

/// A 64-bit TSS with `rsp0` as the stack for events from user mode and no I/O bitmap.
pub(super) fn tss(rsp0: u64) -> [u8; TSS_SIZE] {
    let mut t = [0u8; TSS_SIZE];
    t[4..12].copy_from_slice(&rsp0.to_le_bytes());
    // I/O map base past the limit: no bitmap, so user-mode `in`/`out` fault.
    t[102..104].copy_from_slice(&(TSS_SIZE as u16).to_le_bytes());
    t
}

/// A present, DPL-0 64-bit interrupt gate to `handler` in code segment `selector`.
pub(super) const fn interrupt_gate(handler: u64, selector: u16) -> [u64; 2] {
    let low = (handler & 0xffff)
        | ((selector as u64) << 16)
        | (0x8e << 40) // present, DPL 0, type 0xe: 64-bit interrupt gate
        | (((handler >> 16) & 0xffff) << 48);
    [low, handler >> 32]
}

/// The IDT: vector `v` goes to the stub at `stubs + v * STUB_SIZE`.
pub(super) fn idt(stubs: u64) -> [u64; 2 * IDT_VECTORS] {
    let mut idt = [0u64; 2 * IDT_VECTORS];
    for v in 0..IDT_VECTORS {
        let gate = interrupt_gate(stubs + (v * STUB_SIZE) as u64, KERNEL_CS);
        idt[2 * v] = gate[0];
        idt[2 * v + 1] = gate[1];
    }
    idt
}

/// Whether the CPU pushes an error code for exception `vector`.
pub(super) const fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The stub for `vector`: make the frame uniform, report the vector to the
/// VMM, stop. After it, `[rsp]` holds error code, RIP, CS, RFLAGS, RSP, SS.
pub(super) fn exception_stub(vector: u8) -> [u8; STUB_SIZE] {
    let mut s = [0xf4u8; STUB_SIZE]; // padding: hlt
    let mut k = 0;
    if !has_error_code(vector) {
        s[..2].copy_from_slice(&[0x6a, 0x00]); // push 0 (stand-in error code)
        k = 2;
    }
    s[k..k + 5].copy_from_slice(&[
        0xb0,
        vector, // mov al, vector
        0xe6,
        PORT_EXCEPTION as u8, // out PORT_EXCEPTION, al
        0xf4,                 // hlt
    ]);
    s
}

/// Identity page tables for the first 2 MiB at guest-physical `base` (PML4,
/// PDPT, PD, PT, one 4 KiB page each). Page 0 stays unmapped; a page is
/// user-accessible when `is_user(page_address)`, supervisor-only otherwise.
pub(super) fn page_tables(base: u64, is_user: impl Fn(u64) -> bool) -> [[u64; 512]; 4] {
    let table = (EntryFlags::PRESENT | EntryFlags::WRITABLE | EntryFlags::USER).bits();
    let mut t = [[0u64; 512]; 4];
    t[0][0] = (base + 0x1000) | table;
    t[1][0] = (base + 0x2000) | table;
    t[2][0] = (base + 0x3000) | table;
    for (i, pte) in t[3].iter_mut().enumerate().skip(1) {
        let addr = i as u64 * 0x1000;
        let mut flags = EntryFlags::PRESENT | EntryFlags::WRITABLE;
        if is_user(addr) {
            flags |= EntryFlags::USER;
        }
        *pte = addr | flags.bits();
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdt_matches_linux_descriptors() {
        let g = gdt(0);
        assert_eq!(g[1], 0x00cf_9b00_0000_ffff);
        assert_eq!(g[(KERNEL_CS >> 3) as usize], 0x00af_9b00_0000_ffff);
        assert_eq!(g[(KERNEL_DS >> 3) as usize], 0x00cf_9300_0000_ffff);
        assert_eq!(g[(USER32_CS >> 3) as usize], 0x00cf_fb00_0000_ffff);
        assert_eq!(g[(USER_DS >> 3) as usize], 0x00cf_f300_0000_ffff);
        assert_eq!(g[(USER_CS >> 3) as usize], 0x00af_fb00_0000_ffff);
    }

    #[test]
    fn selectors_agree_with_ring0_abi() {
        assert_eq!(u64::from(USER_CS), ring0::abi::USER_CS);
        assert_eq!(u64::from(USER_DS), ring0::abi::USER_DS);
        // SYSRET's derivations from STAR[63:48].
        assert_eq!(USER32_CS + 16, USER_CS);
        assert_eq!(USER32_CS + 8, USER_DS);
    }

    #[test]
    fn tss_descriptor_encodes_base_and_limit() {
        let g = gdt(0x1234_5678_9abc_def0);
        let i = (TSS_SELECTOR >> 3) as usize;
        // The hostprobe encoding for a base below 16 MiB: limit | base << 16 | 0x89 << 40.
        assert_eq!(gdt(TSS)[i], 103 | (TSS << 16) | (0x89 << 40));
        assert_eq!(gdt(TSS)[i + 1], 0);
        assert_eq!(g[i] & 0xffff, 103);
        assert_eq!((g[i] >> 16) & 0xff_ffff, 0xbc_def0);
        assert_eq!(g[i] >> 56, 0x9a);
        assert_eq!((g[i] >> 40) & 0xff, 0x89);
        assert_eq!(g[i + 1], 0x1234_5678);
    }

    #[test]
    fn tss_holds_rsp0_and_no_io_bitmap() {
        let t = tss(0x1122_3344_5566_7788);
        assert_eq!(&t[4..12], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(u16::from_le_bytes([t[102], t[103]]), 104);
        assert!(t[..4].iter().chain(&t[12..102]).all(|&b| b == 0));
    }

    #[test]
    fn interrupt_gate_splits_the_offset() {
        let g = interrupt_gate(0xffff_8000_1234_5678, KERNEL_CS);
        assert_eq!(g[0] & 0xffff, 0x5678);
        assert_eq!((g[0] >> 16) & 0xffff, 0x10);
        assert_eq!((g[0] >> 32) & 0xff, 0, "no IST");
        assert_eq!((g[0] >> 40) & 0xff, 0x8e);
        assert_eq!(g[0] >> 48, 0x1234);
        assert_eq!(g[1], 0xffff_8000);
        let idt = idt(STUBS);
        assert_eq!(idt[2 * 13], interrupt_gate(STUBS + 13 * 16, KERNEL_CS)[0]);
    }

    #[test]
    fn stubs_push_a_stand_in_error_code_only_when_the_cpu_does_not() {
        assert_eq!(
            exception_stub(6)[..7],
            [0x6a, 0, 0xb0, 6, 0xe6, PORT_EXCEPTION as u8, 0xf4]
        );
        assert_eq!(
            exception_stub(14)[..5],
            [0xb0, 14, 0xe6, PORT_EXCEPTION as u8, 0xf4]
        );
        assert_eq!(
            (0..32u8).filter(|&v| has_error_code(v)).collect::<Vec<_>>(),
            [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]
        );
    }

    #[test]
    fn page_tables_identity_map_with_per_page_user_bit() {
        let t = page_tables(PAGE_TABLES, |a| a == USER_CODE);
        assert_eq!(t[0][0], (PAGE_TABLES + 0x1000) | 7);
        assert_eq!(t[1][0], (PAGE_TABLES + 0x2000) | 7);
        assert_eq!(t[2][0], (PAGE_TABLES + 0x3000) | 7);
        assert!(t[0][1..]
            .iter()
            .chain(&t[1][1..])
            .chain(&t[2][1..])
            .all(|&e| e == 0));
        assert_eq!(t[3][0], 0, "page 0 unmapped");
        assert_eq!(t[3][(USER_CODE >> 12) as usize], USER_CODE | 7);
        assert_eq!(t[3][(LSTAR_CODE >> 12) as usize], LSTAR_CODE | 3);
        assert_eq!(t[3][511], 0x1f_f000 | 3);
    }

    #[test]
    fn layout_fits_and_does_not_overlap() {
        let regions = [
            (KERNEL_CODE, 0x1000),
            (LSTAR_CODE, 0x1000),
            (USER_CODE, 0x1000),
            (USER_STACK_TOP - 0x1000, 0x1000),
            (PAGE_TABLES, 0x4000),
            (GDT, (GDT_ENTRIES * 8) as u64),
            (TSS, TSS_SIZE as u64),
            (IDT, (IDT_VECTORS * 16) as u64),
            (STUBS, (IDT_VECTORS * STUB_SIZE) as u64),
            (KERNEL_STACK_TOP - 0x1000, 0x1000),
        ];
        for (i, &(a, n)) in regions.iter().enumerate() {
            assert!(a >= 0x1000 && a + n <= RAM_SIZE as u64);
            for &(b, m) in &regions[i + 1..] {
                assert!(a + n <= b || b + m <= a, "{a:#x} overlaps {b:#x}");
            }
        }
    }
}
