//! Memory system calls: brk, mmap, munmap, mprotect, mremap, madvise, msync.

use vmm::{Access, PAGE_SIZE};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{page_align_up, Placement, VmaKind};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_brk, sys_brk),
    (libc::SYS_mmap, sys_mmap),
    (libc::SYS_munmap, sys_munmap),
    (libc::SYS_mprotect, sys_mprotect),
    (libc::SYS_mremap, sys_mremap),
    (libc::SYS_madvise, sys_madvise),
    (libc::SYS_msync, sys_msync),
];

/// Convert PROT_* bits to page permissions. On x86 every writable or
/// executable page is also readable.
pub(crate) fn prot_to_access(prot: u64) -> Result<Access, Errno> {
    let known = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
    if prot & !known & !(libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64 != 0 {
        return Err(Errno::EINVAL);
    }
    let mut a = Access::empty();
    if prot & libc::PROT_READ as u64 != 0 {
        a |= Access::READ;
    }
    if prot & libc::PROT_WRITE as u64 != 0 {
        a |= Access::READ | Access::WRITE;
    }
    if prot & libc::PROT_EXEC as u64 != 0 {
        a |= Access::READ | Access::EXEC;
    }
    Ok(a)
}

fn sys_brk(task: &mut Task, a: [u64; 6]) -> SysResult {
    Ok(task.mm.lock().set_brk(a[0]))
}

fn sys_mmap(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, fd, offset] = a;
    let flags = flags as i32;
    let perms = prot_to_access(prot)?;
    if len == 0 || offset % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_align_up(len).ok_or(Errno::ENOMEM)?;
    match flags & libc::MAP_SHARED_VALIDATE {
        libc::MAP_PRIVATE | libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE => {}
        _ => return Err(Errno::EINVAL),
    }
    let place = if flags & libc::MAP_FIXED_NOREPLACE != 0 {
        Placement::FixedNoReplace(addr)
    } else if flags & libc::MAP_FIXED != 0 {
        Placement::Fixed(addr)
    } else {
        Placement::Hint(addr)
    };
    if flags & libc::MAP_ANONYMOUS == 0 {
        let shared = flags & libc::MAP_SHARED != 0;
        return crate::vfs::mmap_file(task, place, len, perms, shared, fd as i32, offset);
    }
    let kind = if flags & libc::MAP_SHARED != 0 {
        VmaKind::Shared
    } else {
        VmaKind::Anon
    };
    let at = task.mm.lock().map_anon(place, len, perms, kind)?;
    if flags & libc::MAP_POPULATE != 0 {
        task.mm.lock().populate(at, len)?;
    }
    Ok(at)
}

fn sys_munmap(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[1] == 0 {
        return Err(Errno::EINVAL);
    }
    task.mm.lock().unmap(a[0], a[1]).map(|()| 0)
}

fn sys_mprotect(task: &mut Task, a: [u64; 6]) -> SysResult {
    let perms = prot_to_access(a[2])?;
    task.mm.lock().protect(a[0], a[1], perms).map(|()| 0)
}

fn sys_mremap(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [old, old_len, new_len, flags, new_addr, _] = a;
    let flags = flags as i32;
    if flags & !(libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) != 0 {
        return Err(Errno::EINVAL);
    }
    let may_move = flags & libc::MREMAP_MAYMOVE != 0;
    let fixed = if flags & libc::MREMAP_FIXED != 0 {
        if !may_move {
            return Err(Errno::EINVAL);
        }
        Some(new_addr)
    } else {
        None
    };
    task.mm.lock().remap(old, old_len, new_len, may_move, fixed)
}

/// Shared mappings are the file's own pages, so nothing is ever waiting
/// to be written back: only the arguments are checked.
fn sys_msync(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, len, flags, ..] = a;
    let flags = flags as i32;
    let known = libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE;
    if addr % PAGE_SIZE != 0
        || flags & !known != 0
        || flags & (libc::MS_ASYNC | libc::MS_SYNC) == libc::MS_ASYNC | libc::MS_SYNC
    {
        return Err(Errno::EINVAL);
    }
    let len = page_align_up(len).ok_or(Errno::ENOMEM)?;
    task.mm.lock().sync_range(addr, len).map(|()| 0)
}

fn sys_madvise(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, len, advice, ..] = a;
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let len = page_align_up(len).ok_or(Errno::EINVAL)?;
    match advice as i32 {
        // Private anonymous memory reads back as zeroes after DONTNEED.
        libc::MADV_DONTNEED | libc::MADV_FREE => task.mm.lock().discard(addr, len).map(|()| 0),
        libc::MADV_NORMAL
        | libc::MADV_RANDOM
        | libc::MADV_SEQUENTIAL
        | libc::MADV_WILLNEED
        | libc::MADV_HUGEPAGE
        | libc::MADV_NOHUGEPAGE
        | libc::MADV_DONTDUMP
        | libc::MADV_DODUMP
        | libc::MADV_DONTFORK
        | libc::MADV_DOFORK => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}
