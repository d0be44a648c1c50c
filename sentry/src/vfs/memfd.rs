//! `memfd_create`'s files: in-memory regular files like tmpfs's, with no
//! name in any directory. Their fd link reads `/memfd:NAME (deleted)` and
//! opening it reopens the same file; seals (`seals.rs`) are theirs alone.

use std::sync::{Arc, RwLock};

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::inode::{next_ino, Body, Data, Inode, Meta};
use crate::vfs::mount::FsKind;
use crate::vfs::node_file::NodeFile;
use crate::vfs::seals::{Seals, F_SEAL_EXEC, F_SEAL_SEAL};
use crate::vfs::tree::Vfs;

pub const MFD_CLOEXEC: u32 = 0x1;
pub const MFD_ALLOW_SEALING: u32 = 0x2;
pub const MFD_HUGETLB: u32 = 0x4;
pub const MFD_NOEXEC_SEAL: u32 = 0x8;
pub const MFD_EXEC: u32 = 0x10;

/// Longest name Linux takes (`MFD_NAME_MAX_LEN`: NAME_MAX less "memfd:").
pub const NAME_MAX: usize = 249;

/// EINVAL for flags Linux refuses; huge pages are not offered, so
/// `MFD_HUGETLB` is refused as on a kernel without hugetlbfs.
pub fn check_flags(flags: u32) -> Result<(), Errno> {
    let known = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A new memfd named `name` (without the "memfd:" prefix; checked by the
/// caller) owned by `uid:gid`, open read-write.
pub fn create(
    vfs: Arc<Vfs>,
    name: &[u8],
    flags: u32,
    uid: u32,
    gid: u32,
) -> Result<Arc<dyn File>, Errno> {
    check_flags(flags)?;
    // Linux ignores the umask here; MFD_NOEXEC_SEAL drops the execute bits
    // and seals them off.
    let (mode, seals) = if flags & MFD_NOEXEC_SEAL != 0 {
        (0o666, F_SEAL_EXEC)
    } else if flags & MFD_ALLOW_SEALING != 0 {
        (0o777, 0)
    } else {
        (0o777, F_SEAL_SEAL)
    };
    let mut meta = Meta::new(libc::S_IFREG | mode, uid, gid);
    // Never linked anywhere: fstat shows no links, and linkat refuses it.
    meta.nlink = 0;
    let body = Body::Reg(RwLock::new(Data::Mem(Vec::new())));
    let dev = FsKind::Tmpfs.dev();
    let node = Inode::new_sealable(next_ino(), dev, meta, body, Some(Seals::new(seals)));
    let mut link = b"/memfd:".to_vec();
    link.extend_from_slice(name);
    link.extend_from_slice(b" (deleted)");
    let file = NodeFile::new(vfs, node, link.clone(), libc::O_RDWR)?;
    Ok(Arc::new(file.with_anon_name(link)))
}

/// The inode of `file` if it is a memfd (it carries seals); else EINVAL,
/// as `F_GET_SEALS`/`F_ADD_SEALS` answer for other files.
fn sealable(file: &dyn File) -> Result<Arc<Inode>, Errno> {
    file.inode()
        .filter(|n| n.seals.is_some())
        .ok_or(Errno::EINVAL)
}

/// `fcntl(F_GET_SEALS)`.
pub fn get_seals(file: &dyn File) -> Result<u32, Errno> {
    let node = sealable(file)?;
    Ok(node.seals.as_ref().map_or(0, Seals::get))
}

/// `fcntl(F_ADD_SEALS, seals)`: only through a descriptor open for
/// writing (EPERM otherwise, as Linux).
pub fn add_seals(file: &dyn File, seals: u32) -> Result<(), Errno> {
    let node = sealable(file)?;
    if file.status_flags()? & libc::O_ACCMODE as u32 == libc::O_RDONLY as u32 {
        return Err(Errno::EPERM);
    }
    let executable = node.meta().mode & 0o111 != 0;
    // Held across the change, so no write slips in between (the write path
    // takes the data, then the seals, in the same order).
    let data = node.data_mut().ok_or(Errno::EINVAL)?;
    let mapped = matches!(&*data, Data::Paged(p) if p.writably_mapped());
    let result = node
        .seals
        .as_ref()
        .map_or(Err(Errno::EINVAL), |s| s.add(seals, executable, mapped));
    drop(data);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_as_linux_does() {
        assert_eq!(check_flags(MFD_CLOEXEC | MFD_ALLOW_SEALING), Ok(()));
        assert_eq!(check_flags(MFD_NOEXEC_SEAL), Ok(()));
        assert_eq!(check_flags(MFD_EXEC), Ok(()));
        assert_eq!(check_flags(MFD_EXEC | MFD_NOEXEC_SEAL), Err(Errno::EINVAL));
        assert_eq!(check_flags(MFD_HUGETLB), Err(Errno::EINVAL));
        assert_eq!(check_flags(0x100), Err(Errno::EINVAL));
    }
}
