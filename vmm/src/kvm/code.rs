//! Machine code of the probe guest, as bytes, one instruction per line.

use super::layout::PORT_TICK;

/// Ring 0: switch to the user stack and `sysretq` to `user_rip` with RFLAGS = 0x2
/// (interrupts off). Both addresses must be below 2 GiB (sign-extended imm32).
pub(super) fn enter_user_via_sysret(user_rip: u32, user_rsp: u32) -> [u8; 24] {
    let rip = user_rip.to_le_bytes();
    let rsp = user_rsp.to_le_bytes();
    #[rustfmt::skip]
    let code = [
        0x48, 0xc7, 0xc4, rsp[0], rsp[1], rsp[2], rsp[3], // mov rsp, user_rsp
        0x48, 0xc7, 0xc1, rip[0], rip[1], rip[2], rip[3], // mov rcx, user_rip
        0x49, 0xc7, 0xc3, 0x02, 0x00, 0x00, 0x00,         // mov r11, 0x2
        0x48, 0x0f, 0x07,                                 // sysretq
    ];
    code
}

/// User mode: a system call. Should it ever return to user mode, `ud2` says so.
#[rustfmt::skip]
pub(super) const USER_SYSCALL: [u8; 4] = [
    0x0f, 0x05, // syscall
    0x0f, 0x0b, // ud2
];

/// User mode: an invalid opcode, to see where #UD goes.
#[rustfmt::skip]
pub(super) const USER_UD2: [u8; 2] = [
    0x0f, 0x0b, // ud2
];

/// At LSTAR: `hlt` exits to the VMM at CPL 0 and raises #GP at CPL 3.
#[rustfmt::skip]
pub(super) const LSTAR_HLT: [u8; 1] = [
    0xf4, // hlt
];

/// User mode: the 2-byte instruction `insn` `n` times in a loop, then
/// `hlt` (a #GP in user mode, which ends the run). RBX counts, because
/// SYSCALL clobbers RCX and R11.
pub(super) fn user_loop(n: u32, insn: [u8; 2]) -> [u8; 12] {
    let n = n.to_le_bytes();
    #[rustfmt::skip]
    let code = [
        0xbb, n[0], n[1], n[2], n[3], // mov ebx, n
        insn[0], insn[1],             // the instruction
        0xff, 0xcb,                   // dec ebx
        0x75, 0xfa,                   // jnz back to the instruction
        0xf4,                         // hlt
    ];
    code
}

/// `ud2` and `syscall`, for [`user_loop`].
pub(super) const UD2: [u8; 2] = [0x0f, 0x0b];
pub(super) const SYSCALL: [u8; 2] = [0x0f, 0x05];

/// Ring 0 #UD handler: skip the 2-byte `ud2` and return to user mode, with
/// no VM exit.
#[rustfmt::skip]
pub(super) const UD_SKIP_HANDLER: [u8; 7] = [
    0x48, 0x83, 0x04, 0x24, 0x02, // add qword [rsp], 2
    0x48, 0xcf,                   // iretq
];

/// Ring 0: one VM exit per iteration, forever.
#[rustfmt::skip]
pub(super) const EXIT_LOOP: [u8; 4] = [
    0xe6, PORT_TICK as u8, // out PORT_TICK, al
    0xeb, 0xfc,            // jmp -4 (back to the out)
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysret_stub_embeds_its_operands() {
        let c = enter_user_via_sysret(0x1234_5678, 0x0abc_def0);
        assert_eq!(c[3..7], 0x0abc_def0u32.to_le_bytes());
        assert_eq!(c[10..14], 0x1234_5678u32.to_le_bytes());
        assert_eq!(c[21..], [0x48, 0x0f, 0x07]);
    }
}
