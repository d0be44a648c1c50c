//! Locking memory in and asking what is resident: mlock, mlock2, munlock,
//! mlockall, munlockall, mincore. Guest memory is the memory file's and
//! is never swapped out by the sentry, so a lock changes nothing but is
//! checked as Linux checks it (mapped range, RLIMIT_MEMLOCK, flags).

use vmm::PAGE_SIZE;

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::mm::{page_align_down, page_align_up};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_mlock, sys_mlock),
    (libc::SYS_mlock2, sys_mlock2),
    (libc::SYS_munlock, sys_munlock),
    (libc::SYS_mlockall, sys_mlockall),
    (libc::SYS_munlockall, sys_munlockall),
    (libc::SYS_mincore, sys_mincore),
];

const MLOCK_ONFAULT: u64 = 1;
const MCL_CURRENT: u64 = 1;
const MCL_FUTURE: u64 = 2;
const MCL_ONFAULT: u64 = 4;

/// The page range `[addr, addr + len)` covers (mlock rounds outwards).
fn page_range(addr: u64, len: u64) -> Result<(u64, u64), Errno> {
    let start = page_align_down(addr);
    let end = addr
        .checked_add(len)
        .and_then(page_align_up)
        .ok_or(Errno::ENOMEM)?;
    Ok((start, end - start))
}

/// Linux's can_do_mlock and the RLIMIT_MEMLOCK check: root (CAP_IPC_LOCK)
/// may lock anything; others need a limit that is not 0 (EPERM) and big
/// enough for `bytes` (ENOMEM).
fn may_lock(task: &Task, bytes: u64) -> Result<(), Errno> {
    if task.creds.euid == 0 {
        return Ok(());
    }
    let limit = task.rlimits[libc::RLIMIT_MEMLOCK as usize].cur;
    if limit == 0 {
        return Err(Errno::EPERM);
    }
    if bytes > limit {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

fn lock(task: &mut Task, addr: u64, len: u64) -> SysResult {
    let (start, len) = page_range(addr, len)?;
    may_lock(task, len)?;
    task.mm.lock().check_mapped(start, len)?;
    Ok(0)
}

fn sys_mlock(task: &mut Task, a: [u64; 6]) -> SysResult {
    lock(task, a[0], a[1])
}

fn sys_mlock2(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[2] & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    lock(task, a[0], a[1])
}

fn sys_munlock(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (start, len) = page_range(a[0], a[1])?;
    task.mm.lock().check_mapped(start, len)?;
    Ok(0)
}

fn sys_mlockall(task: &mut Task, a: [u64; 6]) -> SysResult {
    let flags = a[0];
    if flags == 0 || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 || flags == MCL_ONFAULT
    {
        return Err(Errno::EINVAL);
    }
    let bytes = if flags & MCL_CURRENT != 0 {
        task.mm.lock().mapped_bytes()
    } else {
        0
    };
    may_lock(task, bytes)?;
    Ok(0)
}

fn sys_munlockall(_task: &mut Task, _a: [u64; 6]) -> SysResult {
    Ok(0)
}

/// mincore(addr, len, vec): `addr` page-aligned (EINVAL), the range
/// mapped (ENOMEM); one byte per page, 1 for a page backed by memory.
fn sys_mincore(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, len, vec, ..] = a;
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let len = page_align_up(len).ok_or(Errno::ENOMEM)?;
    let resident = task.mm.lock().residency(addr, len)?;
    task.mm.copy_out(vec, &resident)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_outwards_to_pages() {
        assert_eq!(page_range(0x1001, 1), Ok((0x1000, PAGE_SIZE)));
        assert_eq!(page_range(0x1fff, 2), Ok((0x1000, 2 * PAGE_SIZE)));
        assert_eq!(page_range(u64::MAX - 10, 20), Err(Errno::ENOMEM));
    }
}
