//! The guest's `struct stat` and `struct statx`, byte for byte as the x86-64
//! Linux ABI lays them out, filled from what the host reports.

use bytemuck::{Pod, Zeroable};

/// `struct stat` on x86-64 (what `fstat`, `stat`, `lstat` and `newfstatat`
/// write): 144 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GuestStat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub unused: [i64; 3],
}

impl GuestStat {
    /// The file type bits of `mode` (`S_IFMT`).
    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    pub fn is_regular(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }
}

impl From<&rustix::fs::Stat> for GuestStat {
    fn from(st: &rustix::fs::Stat) -> Self {
        GuestStat {
            dev: st.st_dev,
            ino: st.st_ino,
            nlink: st.st_nlink,
            mode: st.st_mode,
            uid: st.st_uid,
            gid: st.st_gid,
            pad0: 0,
            rdev: st.st_rdev,
            size: st.st_size,
            blksize: st.st_blksize,
            blocks: st.st_blocks,
            atime: st.st_atime,
            atime_nsec: st.st_atime_nsec as i64,
            mtime: st.st_mtime,
            mtime_nsec: st.st_mtime_nsec as i64,
            ctime: st.st_ctime,
            ctime_nsec: st.st_ctime_nsec as i64,
            unused: [0; 3],
        }
    }
}

/// `struct statx_timestamp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct StatxTimestamp {
    pub sec: i64,
    pub nsec: u32,
    pub reserved: i32,
}

impl From<&rustix::fs::StatxTimestamp> for StatxTimestamp {
    fn from(t: &rustix::fs::StatxTimestamp) -> Self {
        StatxTimestamp {
            sec: t.tv_sec,
            nsec: t.tv_nsec,
            reserved: 0,
        }
    }
}

/// `struct statx` (what `statx` writes): 256 bytes, the fields Linux 6.x
/// defines followed by reserved space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GuestStatx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub spare0: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTimestamp,
    pub btime: StatxTimestamp,
    pub ctime: StatxTimestamp,
    pub mtime: StatxTimestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub mnt_id: u64,
    pub dio_mem_align: u32,
    pub dio_offset_align: u32,
    pub subvol: u64,
    pub atomic_write_unit_min: u32,
    pub atomic_write_unit_max: u32,
    pub atomic_write_segments_max: u32,
    pub dio_read_offset_align: u32,
    pub atomic_write_unit_max_opt: u32,
    pub spare2: u32,
    pub spare3: [u64; 8],
}

impl From<&rustix::fs::Statx> for GuestStatx {
    fn from(s: &rustix::fs::Statx) -> Self {
        GuestStatx {
            mask: s.stx_mask,
            blksize: s.stx_blksize,
            attributes: s.stx_attributes.bits(),
            nlink: s.stx_nlink,
            uid: s.stx_uid,
            gid: s.stx_gid,
            mode: s.stx_mode,
            spare0: 0,
            ino: s.stx_ino,
            size: s.stx_size,
            blocks: s.stx_blocks,
            attributes_mask: s.stx_attributes_mask.bits(),
            atime: (&s.stx_atime).into(),
            btime: (&s.stx_btime).into(),
            ctime: (&s.stx_ctime).into(),
            mtime: (&s.stx_mtime).into(),
            rdev_major: s.stx_rdev_major,
            rdev_minor: s.stx_rdev_minor,
            dev_major: s.stx_dev_major,
            dev_minor: s.stx_dev_minor,
            mnt_id: s.stx_mnt_id,
            dio_mem_align: s.stx_dio_mem_align,
            dio_offset_align: s.stx_dio_offset_align,
            subvol: s.stx_subvol,
            atomic_write_unit_min: s.stx_atomic_write_unit_min,
            atomic_write_unit_max: s.stx_atomic_write_unit_max,
            atomic_write_segments_max: s.stx_atomic_write_segments_max,
            dio_read_offset_align: s.stx_dio_read_offset_align,
            atomic_write_unit_max_opt: s.stx_atomic_write_unit_max_opt,
            spare2: 0,
            spare3: [0; 8],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn layouts_match_the_x86_64_abi() {
        assert_eq!(size_of::<GuestStat>(), 144);
        assert_eq!(size_of::<GuestStat>(), size_of::<libc::stat>());
        assert_eq!(offset_of!(GuestStat, mode), offset_of!(libc::stat, st_mode));
        assert_eq!(offset_of!(GuestStat, size), offset_of!(libc::stat, st_size));
        assert_eq!(
            offset_of!(GuestStat, mtime_nsec),
            offset_of!(libc::stat, st_mtime_nsec)
        );
        assert_eq!(size_of::<GuestStatx>(), 256);
        assert_eq!(offset_of!(GuestStatx, ino), 32);
        assert_eq!(offset_of!(GuestStatx, atime), 64);
        assert_eq!(offset_of!(GuestStatx, rdev_major), 128);
        assert_eq!(offset_of!(GuestStatx, mnt_id), 144);
        assert_eq!(offset_of!(GuestStatx, subvol), 160);
    }

    #[test]
    fn conversion_keeps_what_the_host_said() {
        let exe = std::env::current_exe().unwrap();
        let host = rustix::fs::stat(&exe).unwrap();
        let st = GuestStat::from(&host);
        assert_eq!(st.size as u64, std::fs::metadata(&exe).unwrap().len());
        assert_eq!(st.file_type(), libc::S_IFREG);
        assert!(!st.is_dir());
        let sx = rustix::fs::statx(
            rustix::fs::CWD,
            &exe,
            rustix::fs::AtFlags::empty(),
            rustix::fs::StatxFlags::BASIC_STATS,
        )
        .unwrap();
        let gx = GuestStatx::from(&sx);
        assert_eq!((gx.ino, gx.size), (st.ino, st.size as u64));
        assert_eq!(u32::from(gx.mode), st.mode);
        assert_eq!(gx.mtime.sec, st.mtime);
    }
}
