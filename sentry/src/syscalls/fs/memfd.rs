//! memfd_create: an anonymous in-memory file (`vfs::memfd`).

use super::nofile_limit;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::memfd::{self, MFD_CLOEXEC, NAME_MAX};

/// memfd_create(name, flags). Flags are checked before the name, whose
/// length past `NAME_MAX` is EINVAL (not ENAMETOOLONG), as on Linux.
pub(super) fn sys_memfd_create(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[1] as u32;
    memfd::check_flags(flags)?;
    let name = match task.mm.read_cstring(a[0], NAME_MAX + 1) {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        r => r?,
    };
    let limit = nofile_limit(task);
    let vfs = task.fs.vfs().clone();
    let file = memfd::create(vfs, &name, flags, task.creds.fsuid, task.creds.fsgid)?;
    let fd = task.fds.install(file, flags & MFD_CLOEXEC != 0, 0, limit)?;
    Ok(fd as u64)
}
