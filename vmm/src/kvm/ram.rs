//! [`GuestRam`]: an anonymous host mapping to hand to KVM as guest-physical memory.

use std::ptr::NonNull;

use rustix::mm::{self, MapFlags, ProtFlags};

/// Errors of [`GuestRam`].
#[derive(Debug, thiserror::Error)]
pub enum GuestRamError {
    /// The size is zero or not a multiple of the page size.
    #[error("guest RAM size {0:#x} is not a positive multiple of 4 KiB")]
    BadSize(usize),
    /// mmap failed.
    #[error("mapping {size:#x} bytes of guest RAM: {source}")]
    Map {
        /// Requested size.
        size: usize,
        /// The mmap error.
        source: rustix::io::Errno,
    },
    /// An access falls outside the RAM.
    #[error("guest-physical range {gpa:#x}+{len:#x} is outside the {size:#x}-byte RAM")]
    OutOfBounds {
        /// Start of the access.
        gpa: u64,
        /// Length of the access.
        len: usize,
        /// Size of the RAM.
        size: usize,
    },
}

/// Zero-filled, page-aligned, private anonymous memory of a fixed size.
///
/// Reads and writes are bounds-checked copies. The mapping lives until the
/// value is dropped; whoever registers it with KVM must make sure every VM
/// using it is gone first (see [`GuestRam::host_address`]).
#[derive(Debug)]
pub struct GuestRam {
    ptr: NonNull<u8>,
    size: usize,
}

impl GuestRam {
    /// Maps `size` bytes (a positive multiple of 4 KiB) of zeroed memory.
    pub fn new(size: usize) -> Result<Self, GuestRamError> {
        if size == 0 || !size.is_multiple_of(crate::PAGE_SIZE as usize) {
            return Err(GuestRamError::BadSize(size));
        }
        // SAFETY: a fresh anonymous mapping at an address the kernel picks
        // cannot alias any memory this program already uses.
        let ptr = unsafe {
            mm::mmap_anonymous(
                std::ptr::null_mut(),
                size,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .map_err(|source| GuestRamError::Map { size, source })?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(GuestRamError::Map {
            size,
            source: rustix::io::Errno::NOMEM,
        })?;
        Ok(Self { ptr, size })
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Host virtual address of the first byte, for `KVM_SET_USER_MEMORY_REGION`.
    /// It stays valid until `self` is dropped.
    pub fn host_address(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    fn check(&self, gpa: u64, len: usize) -> Result<usize, GuestRamError> {
        usize::try_from(gpa)
            .ok()
            .filter(|start| start.checked_add(len).is_some_and(|end| end <= self.size))
            .ok_or(GuestRamError::OutOfBounds {
                gpa,
                len,
                size: self.size,
            })
    }

    /// Copies `bytes` to guest-physical `gpa`.
    pub fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), GuestRamError> {
        let start = self.check(gpa, bytes.len())?;
        // SAFETY: `check` keeps `start..start + len` inside the live mapping,
        // which cannot overlap `bytes`: no Rust reference into it ever exists.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(start),
                bytes.len(),
            );
        }
        Ok(())
    }

    /// Copies guest-physical `gpa..gpa + buf.len()` into `buf`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), GuestRamError> {
        let start = self.check(gpa, buf.len())?;
        // SAFETY: as in `write`: in bounds, and `buf` is not part of the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(start),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        Ok(())
    }

    /// Writes little-endian words starting at `gpa`.
    pub fn write_u64s(&mut self, gpa: u64, words: &[u64]) -> Result<(), GuestRamError> {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.write(gpa, &bytes)
    }

    /// Reads `N` little-endian words starting at `gpa`.
    pub fn read_u64s<const N: usize>(&self, gpa: u64) -> Result<[u64; N], GuestRamError> {
        let mut bytes = vec![0u8; N * 8];
        self.read(gpa, &mut bytes)?;
        let mut words = [0u64; N];
        for (w, b) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(b.try_into().expect("chunks of 8"));
        }
        Ok(words)
    }
}

impl Drop for GuestRam {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`size` describe the mapping made in `new`, and no
        // reference into it outlives `self`. Whoever gave it to KVM has torn
        // the VM down already (the contract on `host_address`).
        let _ = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.size) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        let mut ram = GuestRam::new(0x2000).unwrap();
        assert_eq!(ram.size(), 0x2000);
        ram.write_u64s(0x1ff0, &[1, 0xdead_beef]).unwrap();
        assert_eq!(ram.read_u64s::<2>(0x1ff0).unwrap(), [1, 0xdead_beef]);
        assert_eq!(ram.read_u64s::<1>(0).unwrap(), [0], "zero-filled");
        assert!(matches!(
            ram.write(0x1fff, &[0, 0]),
            Err(GuestRamError::OutOfBounds {
                gpa: 0x1fff,
                len: 2,
                ..
            })
        ));
        assert!(ram.read_u64s::<1>(u64::MAX).is_err());
        assert!(matches!(
            GuestRam::new(100),
            Err(GuestRamError::BadSize(100))
        ));
        assert!(matches!(GuestRam::new(0), Err(GuestRamError::BadSize(0))));
    }
}
