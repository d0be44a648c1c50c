//! Identity and system-information calls: uname, the id getters, resource
//! limits, getrandom, sysinfo, and the per-thread
//! registrations glibc and musl make at start-up (set_tid_address,
//! set_robust_list, rseq).
//!
//! The guest runs on a machine that looks like the host: `uname` passes the host's
//! node name, release and version through (so a guest prints what the same
//! program prints natively, and feature checks against the kernel release see
//! the kernel whose behaviour rvisor follows), with sysname "Linux" and
//! machine "x86_64" fixed. Every thread runs on CPU 0 as far as `getcpu`
//! and `rseq` tell.

use bytemuck::{Pod, Zeroable};

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::task::{RLimit, Rseq, RLIM_NLIMITS};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_uname, sys_uname),
    (libc::SYS_getpid, sys_getpid),
    (libc::SYS_gettid, sys_gettid),
    (libc::SYS_getppid, sys_getppid),
    (libc::SYS_getuid, sys_getuid),
    (libc::SYS_geteuid, sys_geteuid),
    (libc::SYS_getgid, sys_getgid),
    (libc::SYS_getegid, sys_getegid),
    (libc::SYS_getresuid, sys_getresuid),
    (libc::SYS_getresgid, sys_getresgid),
    (libc::SYS_getgroups, sys_getgroups),
    (libc::SYS_setgroups, sys_setgroups),
    (libc::SYS_getrandom, sys_getrandom),
    (libc::SYS_prlimit64, sys_prlimit64),
    (libc::SYS_getrlimit, sys_getrlimit),
    (libc::SYS_setrlimit, sys_setrlimit),
    (libc::SYS_sched_yield, sys_sched_yield),
    (libc::SYS_getcpu, sys_getcpu),
    (libc::SYS_sysinfo, sys_sysinfo),
    (libc::SYS_set_tid_address, sys_set_tid_address),
    (libc::SYS_set_robust_list, sys_set_robust_list),
    (libc::SYS_get_robust_list, sys_get_robust_list),
    (libc::SYS_rseq, sys_rseq),
];

/// Whether `pid` names the calling process (0 means "self").
fn is_self(task: &Task, pid: u64) -> bool {
    let pid = pid as i32;
    pid == 0 || pid == task.tgid
}

fn sys_uname(task: &mut Task, a: [u64; 6]) -> SysResult {
    const FIELD: usize = 65;
    let host = rustix::system::uname();
    let fields = [
        &b"Linux"[..],
        host.nodename().to_bytes(),
        host.release().to_bytes(),
        host.version().to_bytes(),
        b"x86_64",
        host.domainname().to_bytes(),
    ];
    let mut buf = [0u8; 6 * FIELD];
    for (slot, value) in buf.chunks_exact_mut(FIELD).zip(fields) {
        let n = value.len().min(FIELD - 1);
        slot[..n].copy_from_slice(&value[..n]);
    }
    task.mm.copy_out(a[0], &buf)?;
    Ok(0)
}

fn sys_getpid(task: &mut Task, _: [u64; 6]) -> SysResult {
    Ok(task.tgid as u64)
}

fn sys_gettid(task: &mut Task, _: [u64; 6]) -> SysResult {
    Ok(task.tid as u64)
}

fn sys_getppid(task: &mut Task, _: [u64; 6]) -> SysResult {
    // The table knows about re-parenting to init; the first process has
    // no parent inside the sandbox.
    Ok(task.procs.ppid(task.tgid) as u64)
}

fn sys_getuid(task: &mut Task, _: [u64; 6]) -> SysResult {
    Ok(task.creds.uid.into())
}

fn sys_geteuid(task: &mut Task, _: [u64; 6]) -> SysResult {
    Ok(task.creds.euid.into())
}

fn sys_getgid(task: &mut Task, _: [u64; 6]) -> SysResult {
    Ok(task.creds.gid.into())
}

fn sys_getegid(task: &mut Task, _: [u64; 6]) -> SysResult {
    Ok(task.creds.egid.into())
}

/// Write real, effective and saved ids.
fn put_res_ids(task: &mut Task, ptrs: &[u64], ids: [u32; 3]) -> SysResult {
    for (&p, id) in ptrs.iter().zip(ids) {
        task.mm.write_val(p, &id)?;
    }
    Ok(0)
}

fn sys_getresuid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let c = task.creds;
    put_res_ids(task, &a[..3], [c.uid, c.euid, c.suid])
}

fn sys_getresgid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let c = task.creds;
    put_res_ids(task, &a[..3], [c.gid, c.egid, c.sgid])
}

fn sys_getgroups(task: &mut Task, a: [u64; 6]) -> SysResult {
    let size = a[0] as i32;
    let n = task.groups.len();
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(n as u64);
    }
    if (size as usize) < n {
        return Err(Errno::EINVAL);
    }
    let groups = task.groups.clone();
    task.mm.copy_out(a[1], bytemuck::cast_slice(&groups))?;
    Ok(n as u64)
}

/// Largest supplementary group list (NGROUPS_MAX).
const NGROUPS_MAX: u64 = 65536;

fn sys_setgroups(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[0] > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    // Changing groups needs CAP_SETGID, which only root holds here.
    if task.creds.euid != 0 {
        return Err(Errno::EPERM);
    }
    let mut groups = vec![0u32; a[0] as usize];
    task.mm
        .copy_in(a[1], bytemuck::cast_slice_mut(&mut groups))?;
    groups.sort_unstable();
    task.groups = groups;
    Ok(0)
}

const GRND_NONBLOCK: u64 = 1;
const GRND_RANDOM: u64 = 2;
const GRND_INSECURE: u64 = 4;

fn sys_getrandom(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [buf, len, flags, ..] = a;
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(Errno::EINVAL);
    }
    // Linux caps one call at INT_MAX bytes. The host pool is initialised
    // long before rvisor runs, so no flag makes a difference in practice.
    let len = len.min(i32::MAX as u64);
    let mut done = 0u64;
    let mut chunk = [0u8; vmm::PAGE_SIZE as usize];
    while done < len {
        // Never cross a page in one copy, so a fault ends the call exactly
        // where the kernel's would: with the count written so far.
        let at = buf.wrapping_add(done);
        let n = (vmm::PAGE_SIZE - at % vmm::PAGE_SIZE).min(len - done) as usize;
        let got = rustix::rand::getrandom(&mut chunk[..n], rustix::rand::GetRandomFlags::empty())?;
        match task.mm.copy_out(at, &chunk[..got]) {
            Ok(()) => done += got as u64,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Linux's `sysctl fs.nr_open` default: no RLIMIT_NOFILE may exceed it.
const NR_OPEN: u64 = 1 << 20;

/// Read and/or replace resource limit `resource` of the calling process.
fn prlimit(task: &mut Task, resource: u64, new: u64, old: u64) -> SysResult {
    let resource = usize::try_from(resource)
        .ok()
        .filter(|&r| r < RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)?;
    let new = match new {
        0 => None,
        p => Some(task.mm.read_val::<RLimit>(p)?),
    };
    let current = task.rlimits[resource];
    if let Some(new) = new {
        if new.cur > new.max {
            return Err(Errno::EINVAL);
        }
        // Raising the hard limit needs CAP_SYS_RESOURCE, which only root has.
        if new.max > current.max && task.creds.euid != 0 {
            return Err(Errno::EPERM);
        }
        if resource == libc::RLIMIT_NOFILE as usize && new.max > NR_OPEN {
            return Err(Errno::EPERM);
        }
        task.rlimits[resource] = new;
        task.publish_facts();
    }
    if old != 0 {
        task.mm.write_val(old, &current)?;
    }
    Ok(0)
}

fn sys_prlimit64(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [pid, resource, new, old, ..] = a;
    if !is_self(task, pid) {
        return Err(Errno::ESRCH);
    }
    prlimit(task, resource, new, old)
}

fn sys_getrlimit(task: &mut Task, a: [u64; 6]) -> SysResult {
    // EFAULT rather than "nothing to do" for a NULL destination.
    if a[1] == 0 {
        return Err(Errno::EFAULT);
    }
    prlimit(task, a[0], 0, a[1])
}

fn sys_setrlimit(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[1] == 0 {
        return Err(Errno::EFAULT);
    }
    prlimit(task, a[0], a[1], 0)
}

fn sys_sched_yield(_: &mut Task, _: [u64; 6]) -> SysResult {
    std::thread::yield_now();
    Ok(0)
}

fn sys_getcpu(task: &mut Task, a: [u64; 6]) -> SysResult {
    for p in [a[0], a[1]].into_iter().filter(|&p| p != 0) {
        task.mm.write_val(p, &0u32)?;
    }
    Ok(0)
}

/// `struct sysinfo` on x86-64.
#[repr(C)]
#[derive(Clone, Copy, Default, Pod, Zeroable)]
struct SysInfo {
    uptime: i64,
    loads: [u64; 3],
    totalram: u64,
    freeram: u64,
    sharedram: u64,
    bufferram: u64,
    totalswap: u64,
    freeswap: u64,
    procs: u16,
    _pad: [u16; 3],
    totalhigh: u64,
    freehigh: u64,
    mem_unit: u32,
    _pad2: u32,
}

fn sys_sysinfo(task: &mut Task, a: [u64; 6]) -> SysResult {
    let h = rustix::system::sysinfo();
    let info = SysInfo {
        uptime: h.uptime,
        loads: h.loads,
        totalram: h.totalram,
        freeram: h.freeram,
        sharedram: h.sharedram,
        bufferram: h.bufferram,
        totalswap: h.totalswap,
        freeswap: h.freeswap,
        // The guest's own processes, not the host's.
        procs: 1,
        totalhigh: h.totalhigh,
        freehigh: h.freehigh,
        mem_unit: h.mem_unit,
        ..SysInfo::default()
    };
    task.mm.write_val(a[0], &info)?;
    Ok(0)
}

fn sys_set_tid_address(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.clear_child_tid = a[0];
    Ok(task.tid as u64)
}

/// `sizeof(struct robust_list_head)`, the only length Linux accepts.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

fn sys_set_robust_list(task: &mut Task, a: [u64; 6]) -> SysResult {
    if a[1] != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    task.robust_list = (a[0], a[1]);
    Ok(0)
}

fn sys_get_robust_list(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [pid, head_ptr, len_ptr, ..] = a;
    if pid as i32 != 0 && pid as i32 != task.tid {
        return Err(Errno::ESRCH);
    }
    let (head, len) = task.robust_list;
    task.mm.write_val(len_ptr, &len)?;
    task.mm.write_val(head_ptr, &head)?;
    Ok(0)
}

const RSEQ_FLAG_UNREGISTER: u64 = 1;
/// Size and alignment of the original `struct rseq`.
const ORIG_RSEQ_SIZE: u32 = 32;
/// `cpu_id` of a thread that has not registered.
const RSEQ_CPU_ID_UNINITIALIZED: u32 = u32::MAX;
/// Offsets of `cpu_id_start` (followed by `cpu_id`), `rseq_cs` and
/// `node_id` (followed by `mm_cid`) in `struct rseq`.
const RSEQ_CPU_IDS: u64 = 0;
const RSEQ_CS: u64 = 8;
const RSEQ_NODE_ID: u64 = 20;

/// Write the ids the kernel keeps current in a registered `struct rseq`.
fn write_rseq_ids(task: &mut Task, addr: u64, cpu: u32) -> Result<(), Errno> {
    let start = if cpu == RSEQ_CPU_ID_UNINITIALIZED {
        0
    } else {
        cpu
    };
    task.mm.write_val(addr + RSEQ_CPU_IDS, &[start, cpu])?;
    task.mm.write_val(addr + RSEQ_NODE_ID, &[0u32, 0u32])
}

fn sys_rseq(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, len, flags, sig, ..] = a;
    let (len, sig) = (len as u32, sig as u32);
    let current = task.rseq;
    if flags & RSEQ_FLAG_UNREGISTER != 0 {
        if flags & !RSEQ_FLAG_UNREGISTER != 0 {
            return Err(Errno::EINVAL);
        }
        let reg = current
            .filter(|r| r.addr == addr && r.len == len)
            .ok_or(Errno::EINVAL)?;
        if reg.sig != sig {
            return Err(Errno::EPERM);
        }
        write_rseq_ids(task, addr, RSEQ_CPU_ID_UNINITIALIZED)?;
        task.rseq = None;
        return Ok(0);
    }
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    if let Some(reg) = current {
        if reg.addr != addr || reg.len != len {
            return Err(Errno::EINVAL);
        }
        return Err(if reg.sig != sig {
            Errno::EPERM
        } else {
            Errno::EBUSY
        });
    }
    if len < ORIG_RSEQ_SIZE || !addr.is_multiple_of(ORIG_RSEQ_SIZE.into()) {
        return Err(Errno::EINVAL);
    }
    if addr
        .checked_add(len.into())
        .is_none_or(|end| end > task.mm.lock().layout().max_addr)
    {
        return Err(Errno::EFAULT);
    }
    // The area must be writable now: the kernel would update it on the way
    // back to user mode, and a fault there would kill the thread. No
    // critical section can be running (the thread is in this call), so
    // `rseq_cs` is cleared as the kernel's return path leaves it.
    write_rseq_ids(task, addr, 0)?;
    task.mm.write_val(addr + RSEQ_CS, &0u64)?;
    task.rseq = Some(Rseq { addr, len, sig });
    Ok(0)
}
