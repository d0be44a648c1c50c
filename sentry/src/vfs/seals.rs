//! File seals (`fcntl(F_ADD_SEALS/F_GET_SEALS)`) of memfds: which changes
//! a file refuses from now on. Only memfds carry seals; without
//! `MFD_ALLOW_SEALING` a memfd starts sealed against more seals.

use std::sync::Mutex;

use crate::errno::Errno;

pub const F_SEAL_SEAL: u32 = 0x1;
pub const F_SEAL_SHRINK: u32 = 0x2;
pub const F_SEAL_GROW: u32 = 0x4;
pub const F_SEAL_WRITE: u32 = 0x8;
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
pub const F_SEAL_EXEC: u32 = 0x20;
const KNOWN: u32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/// The seals of one file.
#[derive(Debug, Default)]
pub struct Seals(Mutex<u32>);

impl Seals {
    pub fn new(initial: u32) -> Self {
        Seals(Mutex::new(initial))
    }

    pub fn get(&self) -> u32 {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `F_ADD_SEALS`: EINVAL for unknown bits, EPERM once `F_SEAL_SEAL` is
    /// set. `write_mapped` says whether a writable shared mapping exists,
    /// which `F_SEAL_WRITE` refuses with EBUSY as Linux does. On a file
    /// with execute bits (`executable`), `F_SEAL_EXEC` seals writes and
    /// the size too, as Linux's W^X rule.
    pub fn add(&self, mut seals: u32, executable: bool, write_mapped: bool) -> Result<(), Errno> {
        if seals & !KNOWN != 0 {
            return Err(Errno::EINVAL);
        }
        let mut cur = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if *cur & F_SEAL_SEAL != 0 {
            return Err(Errno::EPERM);
        }
        if seals & F_SEAL_WRITE != 0 && *cur & F_SEAL_WRITE == 0 && write_mapped {
            return Err(Errno::EBUSY);
        }
        if seals & F_SEAL_EXEC != 0 && executable {
            seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
        }
        *cur |= seals;
        Ok(())
    }

    /// Whether writes (by write(2) or a new shared writable mapping) are
    /// refused.
    pub fn no_writes(&self) -> bool {
        self.get() & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0
    }

    /// May `len` bytes be written at `offset` of a file of `size` bytes?
    pub fn check_write(&self, offset: u64, len: usize, size: u64) -> Result<(), Errno> {
        let seals = self.get();
        if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
        let end = offset.saturating_add(len as u64);
        if seals & F_SEAL_GROW != 0 && end > size {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// May the file change size from `size` to `len`?
    pub fn check_resize(&self, size: u64, len: u64) -> Result<(), Errno> {
        let seals = self.get();
        if (len < size && seals & F_SEAL_SHRINK != 0) || (len > size && seals & F_SEAL_GROW != 0) {
            return Err(Errno::EPERM);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_seal_stops_more_seals() {
        let s = Seals::new(F_SEAL_SEAL);
        assert_eq!(s.add(F_SEAL_GROW, false, false), Err(Errno::EPERM));
        let s = Seals::default();
        assert_eq!(s.add(0x40, false, false), Err(Errno::EINVAL));
        assert_eq!(s.add(F_SEAL_GROW | F_SEAL_SEAL, false, false), Ok(()));
        assert_eq!(s.get(), F_SEAL_GROW | F_SEAL_SEAL);
        assert_eq!(s.add(0, false, false), Err(Errno::EPERM));
        let s = Seals::default();
        s.add(F_SEAL_EXEC, true, true).unwrap();
        assert!(s.no_writes(), "an executable file's exec seal is W^X");
    }

    #[test]
    fn write_seal_waits_for_writable_mappings_to_go() {
        let s = Seals::default();
        assert_eq!(s.add(F_SEAL_WRITE, false, true), Err(Errno::EBUSY));
        assert_eq!(s.add(F_SEAL_FUTURE_WRITE, false, true), Ok(()));
        assert!(s.no_writes());
        assert_eq!(s.check_write(0, 1, 10), Err(Errno::EPERM));
        assert_eq!(s.add(F_SEAL_WRITE, false, false), Ok(()));
    }

    #[test]
    fn size_seals_refuse_their_direction_only() {
        let s = Seals::default();
        s.add(F_SEAL_GROW, false, false).unwrap();
        assert_eq!(s.check_write(0, 10, 10), Ok(()));
        assert_eq!(s.check_write(5, 10, 10), Err(Errno::EPERM));
        assert_eq!(s.check_resize(10, 5), Ok(()));
        assert_eq!(s.check_resize(10, 11), Err(Errno::EPERM));
        s.add(F_SEAL_SHRINK, false, false).unwrap();
        assert_eq!(s.check_resize(10, 5), Err(Errno::EPERM));
        assert_eq!(s.check_resize(10, 10), Ok(()));
    }
}
