//! The signal frame a handler runs on, laid out as x86-64 Linux does so
//! glibc's and musl's handlers, `ucontext_t` readers and `rt_sigreturn`
//! trampolines work unchanged:
//!
//! ```text
//! higher  | caller's stack (or the alternate stack's top)
//!         | 128-byte red zone (skipped when not switching stacks)
//!         | XSAVE image (64-byte aligned) + FP_XSTATE_MAGIC2
//!         | siginfo_t
//!         | ucontext_t (flags, link, stack_t, sigcontext, sigmask)
//! rsp ->  | return address = sa_restorer   (rsp + 8 is 16-byte aligned)
//! ```

use bytemuck::{Pod, Zeroable};
use ring0::abi::{USER_CS, USER_DS};
use vmm::Regs;

use super::siginfo::SigInfo;
use super::signal::{
    sig_bit, SigAction, SigStack, SA_RESTORER, SS_AUTODISARM, SS_DISABLE, UNBLOCKABLE,
};
use super::Task;
use crate::errno::Errno;

/// `struct sigcontext` (x86-64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// Guest address of the XSAVE image, or 0.
    pub fpstate: u64,
    pub reserved: [u64; 8],
}

/// `struct ucontext` as the kernel writes it (sigset is 8 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub stack: SigStack,
    pub mcontext: SigContext,
    pub sigmask: u64,
}

/// `struct rt_sigframe`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
struct RtSigFrame {
    pretcode: u64,
    uc: UContext,
    info: SigInfo,
}

const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
const RED_ZONE: u64 = 128;
/// Markers Linux puts in an XSAVE image on the signal stack: MAGIC1 in the
/// software-reserved bytes of the FXSAVE area, MAGIC2 right after the image.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// Offset of `fpx_sw_bytes` in the FXSAVE area, and of the XSAVE header.
const SW_BYTES: usize = 464;
const XSAVE_HEADER: usize = 512;
/// The FXSAVE area alone: what a frame without MAGIC1 restores.
pub const FXSAVE_LEN: usize = 512;
/// Largest XSAVE image a frame may claim.
const XSTATE_MAX: usize = 16 << 10;

/// RFLAGS bits a handler's `rt_sigreturn` may change (Linux's FIX_EFLAGS).
const FIX_EFLAGS: u64 = 0x4_0000 /* AC */
    | 0x800 /* OF */
    | 0x400 /* DF */
    | 0x100 /* TF */
    | 0x80 /* SF */
    | 0x40 /* ZF */
    | 0x10 /* AF */
    | 0x4 /* PF */
    | 0x1 /* CF */
    | 0x1_0000 /* RF */;
/// Flags cleared on entry to a handler: DF, TF, RF.
const ENTRY_CLEAR: u64 = 0x400 | 0x100 | 0x1_0000;

/// The CPU exception behind a signal, for sigcontext's trapno/err/cr2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapInfo {
    pub trapno: u64,
    pub err: u64,
    pub cr2: u64,
}

/// Mark `image` (an XSAVE image) as Linux does for the signal stack.
fn tag_xstate(image: &[u8]) -> Vec<u8> {
    let mut out = image.to_vec();
    let len = out.len();
    if len >= XSAVE_HEADER + 8 {
        let xfeatures = u64::from_ne_bytes(
            out[XSAVE_HEADER..XSAVE_HEADER + 8]
                .try_into()
                .unwrap_or_default(),
        ) | 3;
        out[SW_BYTES..SW_BYTES + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_ne_bytes());
        out[SW_BYTES + 4..SW_BYTES + 8].copy_from_slice(&((len + 4) as u32).to_ne_bytes());
        out[SW_BYTES + 8..SW_BYTES + 16].copy_from_slice(&xfeatures.to_ne_bytes());
        out[SW_BYTES + 16..SW_BYTES + 20].copy_from_slice(&(len as u32).to_ne_bytes());
    }
    out.extend_from_slice(&FP_XSTATE_MAGIC2.to_ne_bytes());
    out
}

/// Build the frame for `info` with `action` on the task's stack and point
/// its registers at the handler. `fpu` is the thread's XSAVE image.
/// EFAULT if the stack cannot hold the frame (the caller then kills the
/// task with SIGSEGV, as Linux does).
pub fn push_frame(
    task: &mut Task,
    info: &SigInfo,
    action: &SigAction,
    trap: TrapInfo,
    fpu: &[u8],
) -> Result<(), Errno> {
    if action.flags & SA_RESTORER == 0 {
        // x86-64 Linux has no default trampoline.
        return Err(Errno::EFAULT);
    }
    let regs = task.regs;
    let sig = info.signo;
    // The mask the handler's rt_sigreturn restores.
    let restore_mask = task.signals.saved_mask.take().unwrap_or(task.signals.mask);
    let saved_stack = task.signals.altstack_report(regs.rsp);
    let alt = task.signals.altstack;
    let switch_stack = action.flags & libc::SA_ONSTACK as u64 != 0
        && alt.flags & SS_DISABLE == 0
        && !task.signals.on_altstack(regs.rsp);
    let mut sp = if switch_stack {
        alt.sp.wrapping_add(alt.size)
    } else {
        regs.rsp.wrapping_sub(RED_ZONE)
    };

    let xstate = tag_xstate(fpu);
    sp = sp.wrapping_sub(xstate.len() as u64) & !63;
    let fp_addr = sp;
    let frame_len = std::mem::size_of::<RtSigFrame>() as u64;
    sp = (sp.wrapping_sub(frame_len) & !15).wrapping_sub(8);
    let frame_addr = sp;

    let frame = RtSigFrame {
        pretcode: action.restorer,
        uc: UContext {
            flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
            link: 0,
            stack: saved_stack,
            mcontext: SigContext {
                r8: regs.r8,
                r9: regs.r9,
                r10: regs.r10,
                r11: regs.r11,
                r12: regs.r12,
                r13: regs.r13,
                r14: regs.r14,
                r15: regs.r15,
                rdi: regs.rdi,
                rsi: regs.rsi,
                rbp: regs.rbp,
                rbx: regs.rbx,
                rdx: regs.rdx,
                rax: regs.rax,
                rcx: regs.rcx,
                rsp: regs.rsp,
                rip: regs.rip,
                eflags: regs.eflags,
                cs: USER_CS as u16,
                ss: USER_DS as u16,
                err: trap.err,
                trapno: trap.trapno,
                oldmask: restore_mask,
                cr2: trap.cr2,
                fpstate: fp_addr,
                ..SigContext::default()
            },
            sigmask: restore_mask,
        },
        info: *info,
    };
    task.mm.copy_out(fp_addr, &xstate)?;
    task.mm.write_val(frame_addr, &frame)?;

    let r = &mut task.regs;
    r.rip = action.handler;
    r.rsp = frame_addr;
    r.rdi = sig as u64;
    r.rsi = frame_addr + std::mem::offset_of!(RtSigFrame, info) as u64;
    r.rdx = frame_addr + std::mem::offset_of!(RtSigFrame, uc) as u64;
    r.rax = 0;
    r.eflags &= !ENTRY_CLEAR;
    r.orig_rax = u64::MAX;

    if switch_stack && alt.flags & SS_AUTODISARM != 0 {
        task.signals.altstack = SigStack {
            flags: SS_DISABLE,
            ..SigStack::default()
        };
    }
    let mut block = action.mask;
    if action.flags & libc::SA_NODEFER as u64 == 0 {
        block |= sig_bit(sig);
    }
    task.signals.mask = (task.signals.mask | block) & !UNBLOCKABLE;
    if action.flags & libc::SA_RESETHAND as u64 != 0 {
        task.signals
            .actions
            .set((sig - 1) as usize, SigAction::default());
    }
    Ok(())
}

/// `rt_sigreturn`: restore what `push_frame` saved. Returns the XSAVE
/// image (or the bare FXSAVE area) the platform must load, if the frame
/// has one. EFAULT for an unreadable frame.
pub fn pop_frame(task: &mut Task) -> Result<Option<Vec<u8>>, Errno> {
    // The handler's `ret` popped the return address.
    let frame_addr = task.regs.rsp.wrapping_sub(8);
    let uc: UContext = task
        .mm
        .read_val(frame_addr + std::mem::offset_of!(RtSigFrame, uc) as u64)?;
    let sc = uc.mcontext;
    let handler_sp = task.regs.rsp;
    let r: &mut Regs = &mut task.regs;
    r.r8 = sc.r8;
    r.r9 = sc.r9;
    r.r10 = sc.r10;
    r.r11 = sc.r11;
    r.r12 = sc.r12;
    r.r13 = sc.r13;
    r.r14 = sc.r14;
    r.r15 = sc.r15;
    r.rdi = sc.rdi;
    r.rsi = sc.rsi;
    r.rbp = sc.rbp;
    r.rbx = sc.rbx;
    r.rdx = sc.rdx;
    r.rax = sc.rax;
    r.rcx = sc.rcx;
    r.rsp = sc.rsp;
    r.rip = sc.rip;
    r.eflags = (r.eflags & !FIX_EFLAGS) | (sc.eflags & FIX_EFLAGS);
    r.cs = USER_CS;
    r.ss = USER_DS;
    r.orig_rax = u64::MAX;
    task.signals.mask = uc.sigmask & !UNBLOCKABLE;
    // Linux ignores every error of restoring the alternate stack.
    let _ = task.signals.set_altstack(Some(uc.stack), handler_sp);

    if sc.fpstate == 0 {
        return Ok(None);
    }
    let mut legacy = vec![0u8; FXSAVE_LEN];
    task.mm.copy_in(sc.fpstate, &mut legacy)?;
    let magic = u32::from_ne_bytes(
        legacy[SW_BYTES..SW_BYTES + 4]
            .try_into()
            .unwrap_or_default(),
    );
    let size = u32::from_ne_bytes(
        legacy[SW_BYTES + 16..SW_BYTES + 20]
            .try_into()
            .unwrap_or_default(),
    ) as usize;
    if magic != FP_XSTATE_MAGIC1 || !(FXSAVE_LEN..=XSTATE_MAX).contains(&size) {
        return Ok(Some(legacy));
    }
    let mut image = vec![0u8; size];
    task.mm.copy_in(sc.fpstate, &mut image)?;
    Ok(Some(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_linux() {
        assert_eq!(std::mem::size_of::<SigContext>(), 256);
        assert_eq!(std::mem::size_of::<UContext>(), 304);
        assert_eq!(std::mem::offset_of!(UContext, mcontext), 40);
        assert_eq!(std::mem::offset_of!(RtSigFrame, info), 312);
        assert_eq!(std::mem::offset_of!(SigContext, fpstate), 184);
    }

    #[test]
    fn xstate_is_tagged_like_linux() {
        let image = vec![0u8; 832];
        let tagged = tag_xstate(&image);
        assert_eq!(tagged.len(), 836);
        assert_eq!(
            &tagged[SW_BYTES..SW_BYTES + 4],
            &FP_XSTATE_MAGIC1.to_ne_bytes()
        );
        assert_eq!(&tagged[832..], &FP_XSTATE_MAGIC2.to_ne_bytes());
        assert_eq!(&tagged[SW_BYTES + 16..SW_BYTES + 20], &832u32.to_ne_bytes());
    }
}
