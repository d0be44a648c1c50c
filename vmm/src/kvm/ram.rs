//! [`GuestRam`]: anonymous memory (a `vm-memory` guest memory of one region at
//! guest-physical 0) to hand to KVM as the probe VM's memory.

use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

/// Errors of [`GuestRam`].
#[derive(Debug, thiserror::Error)]
pub enum GuestRamError {
    /// The size is zero or not a multiple of the page size.
    #[error("guest RAM size {0:#x} is not a positive multiple of 4 KiB")]
    BadSize(usize),
    /// Mapping the memory failed.
    #[error("mapping {size:#x} bytes of guest RAM: {reason}")]
    Map {
        /// Requested size.
        size: usize,
        /// What vm-memory reported.
        reason: String,
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

/// Zero-filled, page-aligned anonymous memory of a fixed size, with
/// bounds-checked copies in and out. The mapping lives until the value is
/// dropped; whoever registers it with KVM must make sure every VM using it
/// is gone first (see [`GuestRam::host_address`]).
#[derive(Debug)]
pub struct GuestRam {
    mem: GuestMemoryMmap<()>,
    size: usize,
}

impl GuestRam {
    /// Maps `size` bytes (a positive multiple of 4 KiB) of zeroed memory.
    pub fn new(size: usize) -> Result<Self, GuestRamError> {
        if size == 0 || !size.is_multiple_of(crate::PAGE_SIZE as usize) {
            return Err(GuestRamError::BadSize(size));
        }
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), size)]).map_err(|e| {
            GuestRamError::Map {
                size,
                reason: e.to_string(),
            }
        })?;
        Ok(Self { mem, size })
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Host virtual address of the first byte, for `KVM_SET_USER_MEMORY_REGION`.
    /// It stays valid until `self` is dropped.
    pub fn host_address(&self) -> u64 {
        let region = self.mem.iter().next().expect("one region");
        region.as_ptr() as u64
    }

    fn out_of_bounds(&self, gpa: u64, len: usize) -> GuestRamError {
        GuestRamError::OutOfBounds {
            gpa,
            len,
            size: self.size,
        }
    }

    /// Copies `bytes` to guest-physical `gpa`.
    pub fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), GuestRamError> {
        self.mem
            .write_slice(bytes, GuestAddress(gpa))
            .map_err(|_| self.out_of_bounds(gpa, bytes.len()))
    }

    /// Copies guest-physical `gpa..gpa + buf.len()` into `buf`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), GuestRamError> {
        self.mem
            .read_slice(buf, GuestAddress(gpa))
            .map_err(|_| self.out_of_bounds(gpa, buf.len()))
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
