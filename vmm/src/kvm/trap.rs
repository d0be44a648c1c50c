//! Reading an event out of a vCPU stopped at one of ring0's `hlt` stubs,
//! and sending it back to user mode (see `ring0::text`).

use kvm_bindings::kvm_regs;
use ring0::abi::{Regs, Vector};

use crate::platform::{PlatformError, Result};

use super::layout_r0::TEXT_BASE;
use super::vcpu::Vcpu;

const RFLAGS_IF: u64 = 1 << 9;

/// What stopped the vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Trap {
    Syscall,
    /// An exception or interrupt from user mode, with the CPU's error code
    /// (0 if it pushes none).
    Vector(Vector, u64),
}

fn protocol(what: String) -> PlatformError {
    PlatformError::Protocol(what)
}

/// The user registers (all but FS/GS state, which the caller keeps) and
/// what happened, for a vCPU that just left guest mode at a `hlt`.
pub(super) fn read_trap(v: &mut Vcpu, regs: &mut Regs) -> Result<Trap> {
    let r = *v.regs();
    let text = &v.machine.text;
    let hlt = r.rip.wrapping_sub(1);
    let vectors = TEXT_BASE + text.vectors_offset;
    let (vector, syscall_entry) = if hlt == TEXT_BASE + text.syscall_hlt_offset {
        (None, true)
    } else if (vectors..TEXT_BASE + text.vectors_end).contains(&hlt)
        && (hlt - vectors).is_multiple_of(16)
    {
        (Some(Vector(((hlt - vectors) / 16) as u8)), false)
    } else {
        let s = v.fd.get_sregs().ok().map(|s| (s.cr2, s.cr3));
        return Err(protocol(format!(
            "vCPU stopped outside ring0's stubs: {r:x?}, (cr2, cr3) {s:x?}"
        )));
    };
    let has_code = vector.is_some_and(|v| v.has_error_code());
    let words = 5 + u64::from(has_code);
    let frame_gpa = v
        .region_gpa_of(r.rsp, 8 * words)
        // Every stack a user-mode entry lands on ends 16 bytes below a page end.
        .filter(|_| (r.rsp + 8 * words + 16).is_multiple_of(crate::PAGE_SIZE))
        .ok_or_else(|| {
            let s = v.fd.get_sregs().ok().map(|s| (s.cr2, s.cr3));
            protocol(format!(
                "fault in ring0 ({vector:?}): {r:x?}, (cr2, cr3) {s:x?}"
            ))
        })?;
    let mut bytes = [0u8; 48];
    let bytes = &mut bytes[..8 * words as usize];
    v.machine.guest.read(frame_gpa, bytes)?;
    let mut w = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunks")));
    let code = if has_code { w.next().unwrap_or(0) } else { 0 };
    let [rip, cs, eflags, rsp, ss] = [(); 5].map(|()| w.next().unwrap_or(0));
    if cs & 3 != 3 {
        return Err(protocol(format!("fault in ring0 ({vector:?}): {r:x?}")));
    }
    *regs = Regs {
        cs,
        ss,
        ..regs_from_kvm(&r, regs, rip, rsp, eflags)
    };
    let lstar = ring0::entry::lstar(TEXT_BASE);
    // The SYSCALL quirk: a fetch fault at LSTAR from user mode with IF
    // clear (only SYSCALL's FMASK clears it; user mode runs with IF set).
    let quirk = vector == Some(Vector::PAGE_FAULT) && rip == lstar && eflags & RFLAGS_IF == 0;
    if syscall_entry || quirk {
        regs.rip = r.rcx;
        regs.eflags = r.r11;
        regs.orig_rax = r.rax;
        return Ok(Trap::Syscall);
    }
    let vector = vector.expect("not the syscall entry");
    Ok(Trap::Vector(vector, code))
}

/// CR2 of the vCPU (for a page fault).
pub(super) fn cr2(v: &mut Vcpu) -> u64 {
    v.sregs().cr2
}

/// Sends the vCPU (stopped in ring0) back to user mode at `regs`: directly
/// through staged registers for 64-bit code, else through ring0's `iretq`
/// (which first reloads CR3 to flush the TLB if `flush`).
pub(super) fn prepare_return(v: &mut Vcpu, regs: &Regs, flush: bool) -> Result<()> {
    if !flush
        && regs.cs == u64::from(v.user_cs.selector)
        && regs.ss == u64::from(v.user_ss.selector)
    {
        // Staging the user segments with the registers returns to user
        // mode without running ring0 at all: on PVM hosts an emulated
        // `iretq` costs ~3 µs more than KVM taking the staged state.
        let (cs, ss) = (v.user_cs, v.user_ss);
        let s = v.stage_sregs();
        s.cs = cs;
        s.ss = ss;
        v.stage_regs(kvm_regs_from(regs, regs.rip, regs.rsp, regs.eflags));
        return Ok(());
    }
    let frame = [regs.rip, regs.cs, regs.eflags, regs.rsp, regs.ss];
    let rsp = v.rsp0 - 8 * frame.len() as u64;
    let gpa = v
        .region_gpa_of(rsp, 40)
        .ok_or_else(|| protocol("RSP0 outside the vCPU region".into()))?;
    let bytes: Vec<u8> = frame.iter().flat_map(|w| w.to_le_bytes()).collect();
    v.machine.guest.write(gpa, &bytes)?;
    let text = &v.machine.text;
    let entry = if flush {
        text.flush_iret_offset
    } else {
        text.iret_offset
    };
    // Ring0 runs the return path with interrupts off (RFLAGS = just bit 1).
    v.stage_regs(kvm_regs_from(regs, TEXT_BASE + entry, rsp, 0x2));
    Ok(())
}

/// `base` (segment and FS/GS state) with KVM's general registers, and
/// `rip`, `rsp` and `eflags` given; no system call in progress.
pub(super) fn regs_from_kvm(r: &kvm_regs, base: &Regs, rip: u64, rsp: u64, eflags: u64) -> Regs {
    Regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp,
        rbp: r.rbp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip,
        eflags,
        orig_rax: u64::MAX,
        ..*base
    }
}

/// KVM's register file for `regs`, with `rip`, `rsp` and `rflags` given.
pub(super) fn kvm_regs_from(regs: &Regs, rip: u64, rsp: u64, rflags: u64) -> kvm_regs {
    kvm_regs {
        rax: regs.rax,
        rbx: regs.rbx,
        rcx: regs.rcx,
        rdx: regs.rdx,
        rsi: regs.rsi,
        rdi: regs.rdi,
        rsp,
        rbp: regs.rbp,
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rip,
        rflags,
    }
}
