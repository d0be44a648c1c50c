//! How ring0 leaves guest mode, and why.
//!
//! An entry stub saves the interrupted registers into the per-vCPU page
//! ([`crate::vcpu_page`]), fills in `exit_reason`, `vector`, `error_code`
//! and `cr2`, and executes
//!
//! ```text
//! mov edx, EXIT_PORT
//! mov eax, <ExitReason>
//! out dx, eax
//! ```
//!
//! `KVM_RUN` returns with `KVM_EXIT_IO`: direction out, size 4, port
//! [`EXIT_PORT`], count 1, and the 32-bit value at `data_offset` equal to the
//! page's `exit_reason`. The VMM reads the page ([`VcpuPage::exit`]),
//! handles the event, writes the registers and `resume` back, and calls
//! `KVM_RUN` again; the stub continues after the `out` and returns to user
//! mode ([`crate::resume`]). Any other exit, or another port, is a VMM
//! error, not a guest event.
//!
//! ring0 runs with IF clear, so interrupts are only ever taken in user mode:
//! every exit other than [`ExitReason::Ready`] and
//! [`ExitReason::KernelFault`] carries user registers.

use crate::abi::Vector;
use crate::vcpu_page::VcpuPage;

/// The I/O port the stubs write to leave guest mode ("ring0 exit"). In the
/// floppy controller's range, which KVM never emulates in the kernel, so
/// every write exits to the VMM. User mode cannot forge it: IOPL is 0 and
/// the TSS has no I/O bitmap.
pub const EXIT_PORT: u16 = 0x3f0;

/// The vector the VMM injects (`KVM_INTERRUPT`) to pull a vCPU out of user
/// mode, e.g. to deliver a signal or preempt a thread; the stub reports it
/// as [`ExitReason::Interrupt`]. The first vector past the exceptions; it
/// is DPL 0, so user code cannot raise it with `int`.
pub const KICK_VECTOR: Vector = Vector(0x20);

/// Why ring0 exited, as written to [`EXIT_PORT`] and to the page's
/// `exit_reason`. 0 is never a reason, so a zeroed page is not mistaken for
/// an exit.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// ring0 has set itself up on this vCPU and has no user context yet.
    /// Resuming switches to user mode with the page's registers.
    Ready = 1,
    /// A system call from user mode (through SYSCALL, or through the #PF at
    /// LSTAR on hosts with the SYSCALL quirk, see [`crate::entry`]). `regs`
    /// hold the user registers with `rip` = the return address (RCX),
    /// `eflags` = the user RFLAGS (R11) and `orig_rax` = `rax`.
    Syscall = 2,
    /// An exception in user mode: `vector`, `error_code` (0 if the vector
    /// has none), `cr2` (for #PF).
    Exception = 3,
    /// An interrupt (vector >= 32, e.g. [`KICK_VECTOR`]) while in user mode.
    Interrupt = 4,
    /// An exception in ring0 itself (or #DF, always): a bug. `regs` hold
    /// ring0's registers at the fault; the VMM reports them and stops the
    /// sandbox.
    KernelFault = 5,
}

impl ExitReason {
    pub const fn from_raw(raw: u64) -> Option<ExitReason> {
        Some(match raw {
            1 => ExitReason::Ready,
            2 => ExitReason::Syscall,
            3 => ExitReason::Exception,
            4 => ExitReason::Interrupt,
            5 => ExitReason::KernelFault,
            _ => return None,
        })
    }

    pub const fn raw(self) -> u32 {
        self as u32
    }
}

/// A decoded exit; the registers stay in the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ready,
    Syscall,
    Exception {
        vector: Vector,
        error_code: u64,
        cr2: u64,
    },
    Interrupt {
        vector: Vector,
    },
    KernelFault {
        vector: Vector,
        error_code: u64,
        cr2: u64,
    },
}

/// The page's exit fields make no sense: a bug in the stubs (or a page the
/// VMM never initialised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadExit {
    /// `exit_reason` is not an [`ExitReason`].
    Reason(u64),
    /// `vector` is not a vector (> 255), or an exception exit names an
    /// interrupt vector or the other way round.
    Vector(ExitReason, u64),
}

impl core::fmt::Display for BadExit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BadExit::Reason(raw) => write!(f, "unknown ring0 exit reason {raw:#x}"),
            BadExit::Vector(reason, raw) => {
                write!(f, "ring0 exit {reason:?} with impossible vector {raw:#x}")
            }
        }
    }
}

impl core::error::Error for BadExit {}

impl VcpuPage {
    /// Decodes the exit the stubs recorded in this page.
    pub fn exit(&self) -> Result<Exit, BadExit> {
        let reason =
            ExitReason::from_raw(self.exit_reason).ok_or(BadExit::Reason(self.exit_reason))?;
        let vector = || {
            u8::try_from(self.vector)
                .map(Vector)
                .map_err(|_| BadExit::Vector(reason, self.vector))
        };
        Ok(match reason {
            ExitReason::Ready => Exit::Ready,
            ExitReason::Syscall => Exit::Syscall,
            ExitReason::Exception => {
                let vector = vector()?;
                if !vector.is_exception() && vector != Vector::INT80 {
                    return Err(BadExit::Vector(reason, self.vector));
                }
                Exit::Exception {
                    vector,
                    error_code: self.error_code,
                    cr2: self.cr2,
                }
            }
            ExitReason::Interrupt => {
                let vector = vector()?;
                if vector.is_exception() {
                    return Err(BadExit::Vector(reason, self.vector));
                }
                Exit::Interrupt { vector }
            }
            ExitReason::KernelFault => Exit::KernelFault {
                vector: vector()?,
                error_code: self.error_code,
                cr2: self.cr2,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;

    fn page(reason: u64, vector: u64) -> VcpuPage {
        let mut page = VcpuPage::zeroed();
        page.exit_reason = reason;
        page.vector = vector;
        page.error_code = 6;
        page.cr2 = 0x1000;
        page
    }

    #[test]
    fn reasons_round_trip() {
        for r in [
            ExitReason::Ready,
            ExitReason::Syscall,
            ExitReason::Exception,
            ExitReason::Interrupt,
            ExitReason::KernelFault,
        ] {
            assert_eq!(ExitReason::from_raw(u64::from(r.raw())), Some(r));
        }
        assert_eq!(ExitReason::from_raw(0), None);
        assert_eq!(ExitReason::from_raw(6), None);
        assert_eq!(ExitReason::from_raw(1 << 32 | 2), None);
    }

    #[test]
    fn decodes_exits() {
        assert_eq!(page(1, 0).exit(), Ok(Exit::Ready));
        assert_eq!(page(2, 0).exit(), Ok(Exit::Syscall));
        assert_eq!(
            page(3, 14).exit(),
            Ok(Exit::Exception {
                vector: Vector::PAGE_FAULT,
                error_code: 6,
                cr2: 0x1000
            })
        );
        assert_eq!(
            page(3, 0x80).exit(),
            Ok(Exit::Exception {
                vector: Vector::INT80,
                error_code: 6,
                cr2: 0x1000
            })
        );
        assert_eq!(
            page(4, 0x20).exit(),
            Ok(Exit::Interrupt {
                vector: KICK_VECTOR
            })
        );
        assert_eq!(
            page(5, 13).exit(),
            Ok(Exit::KernelFault {
                vector: Vector::GENERAL_PROTECTION,
                error_code: 6,
                cr2: 0x1000
            })
        );
    }

    #[test]
    fn refuses_nonsense() {
        assert_eq!(VcpuPage::zeroed().exit(), Err(BadExit::Reason(0)));
        assert_eq!(page(9, 0).exit(), Err(BadExit::Reason(9)));
        assert_eq!(
            page(3, 256).exit(),
            Err(BadExit::Vector(ExitReason::Exception, 256))
        );
        assert_eq!(
            page(3, 0x20).exit(),
            Err(BadExit::Vector(ExitReason::Exception, 0x20))
        );
        assert_eq!(
            page(4, 14).exit(),
            Err(BadExit::Vector(ExitReason::Interrupt, 14))
        );
    }
}
