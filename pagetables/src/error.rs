//! The one error type of this crate. Display is written by hand so the crate
//! needs nothing beyond `core`.

use core::fmt;

use crate::EntryFlags;

/// Why a page-table operation was refused. A refused operation leaves the
/// translations unchanged (see each method for the one exception).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `virt` is not canonical (bits 63..48 differ from bit 47), or a range
    /// crosses the non-canonical hole; `virt` is the first offending address.
    NonCanonical { virt: u64 },
    /// An address or length is not a multiple of the page size it is used with.
    Misaligned { addr: u64, align: u64 },
    /// A physical address at or beyond the 52-bit architectural limit.
    PhysOutOfRange { phys: u64 },
    /// Flags that a leaf may not be given (`HUGE` or an undefined bit).
    InvalidFlags { flags: u64 },
    /// `map` found a translation already covering part of the page.
    AlreadyMapped { virt: u64 },
    /// `unmap` found a mapping of the other page size at `virt`.
    SizeMismatch { virt: u64 },
    /// The frame allocator had no frame for a new table.
    OutOfFrames,
}

impl Error {
    pub(crate) fn invalid_flags(flags: EntryFlags) -> Self {
        Error::InvalidFlags {
            flags: flags.bits(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::NonCanonical { virt } => write!(f, "non-canonical virtual address {virt:#x}"),
            Error::Misaligned { addr, align } => {
                write!(f, "{addr:#x} is not aligned to {align:#x}")
            }
            Error::PhysOutOfRange { phys } => {
                write!(f, "physical address {phys:#x} beyond 52 bits")
            }
            Error::InvalidFlags { flags } => write!(f, "invalid leaf flags {flags:#x}"),
            Error::AlreadyMapped { virt } => write!(f, "{virt:#x} is already mapped"),
            Error::SizeMismatch { virt } => {
                write!(f, "{virt:#x} is mapped with a different page size")
            }
            Error::OutOfFrames => write!(f, "no free frame for a page table"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn display_names_the_address() {
        let e = Error::NonCanonical {
            virt: 0x8000_0000_0000,
        };
        assert_eq!(
            e.to_string(),
            "non-canonical virtual address 0x800000000000"
        );
        let e = Error::Misaligned {
            addr: 0x1001,
            align: 0x1000,
        };
        assert_eq!(e.to_string(), "0x1001 is not aligned to 0x1000");
    }
}
