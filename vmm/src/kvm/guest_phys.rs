//! [`GuestPhys`]: the machine's guest-physical memory as `vm-memory` sees
//! it: the memory file, one region at guest-physical 0 (guest-physical
//! address = file offset), over the sentry's own mapping of the file.
//!
//! KVM gets its memslot from the region, and every guest-physical access
//! of the platform (ring0's pages, the frames of interrupt stacks, the
//! guest page tables it reads back) goes through `vm-memory`'s
//! bounds-checked `read_slice`/`write_slice`.

use std::sync::Arc;

use kvm_bindings::kvm_userspace_memory_region;
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, GuestRegionMmap,
    MmapRegion,
};

use crate::memfile::MemoryFile;
use crate::platform::{PlatformError, Result};

pub(super) struct GuestPhys {
    mem: GuestMemoryMmap<()>,
    /// Keeps the mapping the region points into alive.
    _mf: Arc<MemoryFile>,
}

fn vm_memory_err(what: &str) -> impl FnOnce(String) -> PlatformError + '_ {
    move |e| PlatformError::Protocol(format!("guest memory: {what}: {e}"))
}

impl GuestPhys {
    pub(super) fn new(mf: Arc<MemoryFile>) -> Result<Self> {
        let size = usize::try_from(mf.size()).map_err(|_| {
            PlatformError::Protocol("memory file larger than the address space".into())
        })?;
        // SAFETY: the pointer and size are the memory file's own shared,
        // read-write mapping, which lives as long as `mf`, held here; the
        // region does not own it (never unmaps it). The sentry writes the
        // same pages through that mapping: vm-memory's accesses are plain
        // volatile copies, so sharing the bytes with it is sound.
        let region = unsafe {
            MmapRegion::build_raw(
                mf.host_address() as *mut u8,
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
            )
        }
        .map_err(|e| vm_memory_err("mapping")(e.to_string()))?;
        let region = GuestRegionMmap::new(region, GuestAddress(0))
            .ok_or_else(|| vm_memory_err("region")("overflows the guest address space".into()))?;
        let mem = GuestMemoryMmap::from_regions(vec![region])
            .map_err(|e| vm_memory_err("regions")(e.to_string()))?;
        Ok(GuestPhys { mem, _mf: mf })
    }

    /// KVM's memslot `slot` for the region (size 0 deletes it).
    pub(super) fn memslot(&self, slot: u32, present: bool) -> kvm_userspace_memory_region {
        let region = self.mem.iter().next().expect("one region");
        kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: if present { region.len() } else { 0 },
            userspace_addr: self.mf_host_address(),
        }
    }

    fn mf_host_address(&self) -> u64 {
        let region = self.mem.iter().next().expect("one region");
        region.as_ptr() as u64
    }

    /// Bytes at guest-physical `gpa`.
    pub(super) fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<()> {
        self.mem
            .read_slice(buf, GuestAddress(gpa))
            .map_err(|e| vm_memory_err("read")(e.to_string()))
    }

    /// Write bytes at guest-physical `gpa`.
    pub(super) fn write(&self, gpa: u64, bytes: &[u8]) -> Result<()> {
        self.mem
            .write_slice(bytes, GuestAddress(gpa))
            .map_err(|e| vm_memory_err("write")(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_reach_the_memory_file_and_stay_in_bounds() {
        let mf = Arc::new(MemoryFile::new(1 << 20).unwrap());
        let g = GuestPhys::new(mf.clone()).unwrap();
        g.write(0x2000, b"ring0").unwrap();
        let mut back = [0u8; 5];
        mf.read(0x2000, &mut back).unwrap();
        assert_eq!(&back, b"ring0");
        mf.write(0x3000, b"sentry").unwrap();
        let mut seen = [0u8; 6];
        g.read(0x3000, &mut seen).unwrap();
        assert_eq!(&seen, b"sentry");
        assert!(g.read(mf.size() - 2, &mut seen).is_err());
        let slot = g.memslot(0, true);
        assert_eq!(slot.memory_size, mf.size());
        assert_eq!(slot.userspace_addr, mf.host_address());
        assert_eq!(g.memslot(0, false).memory_size, 0);
    }
}
