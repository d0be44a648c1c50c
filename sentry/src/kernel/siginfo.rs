//! `siginfo_t` as x86-64 Linux lays it out: what a handler's second
//! argument points at, and what the sentry queues with each signal.

use bytemuck::{Pod, Zeroable};

/// si_code values the sentry produces.
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
pub const BUS_ADRERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const FPE_FLTINV: i32 = 7;
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;

/// 128 bytes: signo, errno, code, then a union whose first words are the
/// sender (pid, uid) or the fault address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    _pad: i32,
    /// The union: `si_pid`/`si_uid` in the first word, or `si_addr`.
    pub fields: [u64; 14],
}

impl SigInfo {
    /// A signal sent by a process (`kill`, `tgkill`): who sent it.
    pub fn from_sender(signo: i32, code: i32, pid: i32, uid: u32) -> Self {
        let mut info = SigInfo::zeroed();
        info.signo = signo;
        info.code = code;
        info.fields[0] = u64::from(pid as u32) | (u64::from(uid) << 32);
        info
    }

    /// A signal raised by a CPU fault at `addr`.
    pub fn fault(signo: i32, code: i32, addr: u64) -> Self {
        let mut info = SigInfo::zeroed();
        info.signo = signo;
        info.code = code;
        info.fields[0] = addr;
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux() {
        assert_eq!(std::mem::size_of::<SigInfo>(), 128);
        assert_eq!(std::mem::offset_of!(SigInfo, fields), 16);
        let i = SigInfo::from_sender(10, SI_USER, 7, 1000);
        assert_eq!(i.fields[0], 7 | (1000 << 32));
    }
}
