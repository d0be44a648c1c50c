//! The guest's `struct statfs`, filled per mount: the sentry's file
//! systems live in memory, so their sizes are nominal.

use bytemuck::{Pod, Zeroable};

use crate::vfs::mount::FsKind;

/// `struct statfs` on x86-64: 120 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct GuestStatfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

/// `ST_NOSUID | ST_NODEV`-free, plain read-write: `f_flags` has
/// `ST_VALID` (0x20) as Linux reports it.
const ST_VALID: i64 = 0x20;

impl GuestStatfs {
    /// The answer for the mount with device number `dev`.
    pub fn for_dev(dev: u64) -> Self {
        let kind = FsKind::of_dev(dev).unwrap_or(FsKind::Tmpfs);
        // Half a million 4 KiB blocks (2 GiB), all free: memory is the
        // limit, and the sentry does not count it per mount.
        let blocks = 1 << 19;
        GuestStatfs {
            f_type: kind.magic(),
            f_bsize: 4096,
            f_blocks: blocks,
            f_bfree: blocks,
            f_bavail: blocks,
            f_files: 1 << 20,
            f_ffree: 1 << 20,
            f_fsid: [libc::minor(dev) as i32, 0],
            f_namelen: 255,
            f_frsize: 4096,
            f_flags: ST_VALID,
            f_spare: [0; 4],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_magic() {
        assert_eq!(std::mem::size_of::<GuestStatfs>(), 120);
        assert_eq!(std::mem::size_of::<libc::statfs>(), 120);
        assert_eq!(
            GuestStatfs::for_dev(FsKind::Tmpfs.dev()).f_type,
            0x0102_1994
        );
        assert_eq!(
            GuestStatfs::for_dev(FsKind::Overlay.dev()).f_type,
            0x794c_7630
        );
    }
}
