//! Process-lifetime system calls: fork, vfork, clone (new processes),
//! execve, exit, exit_group, arch_prctl, prctl.

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::clone_flags::CloneRequest;
use crate::kernel::exec::execve;
use crate::kernel::fork::{fork, CloneOptions};
use crate::kernel::thread::{spawn_thread, ThreadOptions};
use crate::kernel::{ExitStatus, Task};

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_personality, sys_personality),
    (libc::SYS_execveat, sys_execveat),
    (libc::SYS_exit, sys_exit),
    (libc::SYS_exit_group, sys_exit_group),
    (libc::SYS_arch_prctl, sys_arch_prctl),
    (libc::SYS_prctl, sys_prctl),
    (libc::SYS_fork, sys_fork),
    (libc::SYS_vfork, sys_vfork),
    (libc::SYS_clone, sys_clone),
    (libc::SYS_clone3, sys_clone3),
    (libc::SYS_execve, sys_execve),
];

fn sys_exit(task: &mut Task, a: [u64; 6]) -> SysResult {
    // Ends this thread; the last thread's exit ends the process.
    task.exit_status = Some(ExitStatus::Exited(a[0] as u8));
    task.exit_thread_only = task.group.len() > 1;
    Ok(0)
}

fn sys_exit_group(task: &mut Task, a: [u64; 6]) -> SysResult {
    task.exit_status = Some(ExitStatus::Exited(a[0] as u8));
    Ok(0)
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;
const ARCH_GET_CPUID: u64 = 0x1011;
const ARCH_SET_CPUID: u64 = 0x1012;

fn sys_arch_prctl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [code, addr, ..] = a;
    let max = task.mm.lock().layout().max_addr;
    match code {
        ARCH_SET_FS | ARCH_SET_GS if addr >= max => Err(Errno::EPERM),
        ARCH_SET_FS => {
            task.regs.fs_base = addr;
            Ok(0)
        }
        ARCH_SET_GS => {
            task.regs.gs_base = addr;
            Ok(0)
        }
        ARCH_GET_FS => task.mm.write_val(addr, &task.regs.fs_base).map(|()| 0),
        ARCH_GET_GS => task.mm.write_val(addr, &task.regs.gs_base).map(|()| 0),
        // CPUID is never faulting for the guest.
        ARCH_GET_CPUID => Ok(1),
        ARCH_SET_CPUID => Err(Errno::ENODEV),
        _ => Err(Errno::EINVAL),
    }
}

/// Length of a task name, including the NUL (TASK_COMM_LEN).
const COMM_LEN: usize = 16;

fn sys_prctl(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [option, arg2, ..] = a;
    match option as i32 {
        libc::PR_SET_NAME => {
            // Linux copies at most COMM_LEN - 1 bytes and needs no NUL.
            let name = match task.mm.read_cstring(arg2, COMM_LEN - 1) {
                Ok(name) => name,
                Err(Errno::ENAMETOOLONG) => {
                    let mut raw = [0u8; COMM_LEN - 1];
                    task.mm.copy_in(arg2, &mut raw)?;
                    raw.to_vec()
                }
                Err(e) => return Err(e),
            };
            task.set_comm(name);
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut out = [0u8; COMM_LEN];
            out[..task.comm.len()].copy_from_slice(&task.comm);
            task.mm.copy_out(arg2, &out).map(|()| 0)
        }
        // The sandbox has no core dumps or setuid transitions to guard;
        // report the defaults a fresh process sees.
        libc::PR_GET_DUMPABLE => Ok(1),
        libc::PR_SET_DUMPABLE if arg2 <= 1 => Ok(0),
        libc::PR_GET_NO_NEW_PRIVS => Ok(u64::from(task.no_new_privs)),
        libc::PR_SET_NO_NEW_PRIVS if arg2 == 1 => {
            task.no_new_privs = true;
            task.publish_facts();
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => task.mm.write_val(arg2, &task.pdeathsig).map(|()| 0),
        libc::PR_SET_PDEATHSIG if arg2 <= 64 => {
            task.pdeathsig = arg2 as i32;
            Ok(0)
        }
        libc::PR_GET_SECCOMP => Ok(0),
        libc::PR_CAPBSET_READ if arg2 <= 63 => Ok(0),
        // Anything else (including PR_SET_VMA naming, which kernels without
        // CONFIG_ANON_VMA_NAME refuse) is EINVAL, as Linux reports for
        // options it does not support.
        _ => Err(Errno::EINVAL),
    }
}

fn sys_fork(task: &mut Task, _a: [u64; 6]) -> SysResult {
    fork(task, CloneOptions::default()).map(|pid| pid as u64)
}

/// vfork: the child runs in the caller's memory while the caller waits
/// for it to exec or exit.
fn sys_vfork(task: &mut Task, _a: [u64; 6]) -> SysResult {
    fork(task, CloneOptions::vfork()).map(|pid| pid as u64)
}

fn sys_clone(task: &mut Task, a: [u64; 6]) -> SysResult {
    // x86-64 order: flags, stack, parent_tid, child_tid, tls. clone()
    // puts a CLONE_PIDFD pidfd where CLONE_PARENT_SETTID would write.
    let [flags, stack, parent_tid, child_tid, tls, _] = a;
    let pidfd = (flags & libc::CLONE_PIDFD as u64 != 0).then_some(parent_tid);
    let args = CloneArgs {
        flags,
        stack,
        parent_tid,
        child_tid,
        tls,
        pidfd,
        pidfd_field: false,
    };
    clone_common(task, args)
}

/// What clone and clone3 ask for, read from their arguments.
struct CloneArgs {
    flags: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
    /// Where CLONE_PIDFD's pidfd goes.
    pidfd: Option<u64>,
    /// clone3: the pidfd has a field of its own, so CLONE_PARENT_SETTID
    /// may come with CLONE_PIDFD.
    pidfd_field: bool,
}

/// clone and clone3 after their arguments are read: a thread, or a
/// process (with a pidfd stored for CLONE_PIDFD).
fn clone_common(task: &mut Task, args: CloneArgs) -> SysResult {
    let CloneArgs {
        flags,
        stack,
        parent_tid,
        child_tid,
        tls,
        pidfd,
        pidfd_field,
    } = args;
    let settid = libc::CLONE_PARENT_SETTID as u64;
    let checked = if pidfd_field { flags & !settid } else { flags };
    let mut req = CloneRequest::parse(checked)?;
    if pidfd_field && flags & settid != 0 {
        req.flags |= libc::CLONE_PARENT_SETTID;
    }
    if req.is_thread() && req.has(libc::CLONE_PIDFD) {
        // Pidfds of threads (Linux 6.9's PIDFD_THREAD) are not kept.
        return Err(Errno::EINVAL);
    }
    if req.is_thread() {
        let opts = ThreadOptions {
            flags: req.flags,
            stack,
            parent_tid,
            child_tid,
            tls,
        };
        return spawn_thread(task, opts).map(|tid| tid as u64);
    }
    let opts = CloneOptions {
        flags: req.flags,
        exit_signal: req.exit_signal,
        stack,
        tls: req.has(libc::CLONE_SETTLS).then_some(tls),
        parent_settid: req.has(libc::CLONE_PARENT_SETTID).then_some(parent_tid),
        child_settid: req.has(libc::CLONE_CHILD_SETTID).then_some(child_tid),
        child_cleartid: req.has(libc::CLONE_CHILD_CLEARTID).then_some(child_tid),
    };
    let pid = fork(task, opts)?;
    if let Some(addr) = pidfd {
        let fd = super::pidfd::open_pidfd(task, pid, false)?;
        if let Err(e) = task.mm.write_val(addr, &fd) {
            let _ = task.fds.remove(fd);
            return Err(e);
        }
    }
    Ok(pid as u64)
}

/// `struct clone_args` as of Linux 5.3 (CLONE_ARGS_SIZE_VER0): flags,
/// pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls.
const CLONE_ARGS_SIZE_VER0: u64 = 64;

/// clone3: the same as clone with its arguments in a struct. Features only
/// clone3 has (pidfds, set_tid, cgroups) are not implemented: ENOSYS, which
/// glibc takes as "use clone".
fn sys_clone3(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [uargs, size, ..] = a;
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut raw = vec![0u8; size as usize];
    task.mm.copy_in(uargs, &mut raw)?;
    let word = |i: usize| u64::from_le_bytes(raw[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    // `pidfd` matters only with CLONE_PIDFD.
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls] =
        std::array::from_fn(word);
    let later_fields = raw[CLONE_ARGS_SIZE_VER0 as usize..].iter().any(|&b| b != 0);
    if later_fields {
        tracing::warn!("clone3 with set_tid or a cgroup is not implemented");
        return Err(Errno::ENOSYS);
    }
    // The low byte carries the exit signal for clone only: clone3 keeps
    // it for flags, of which there is one (a time namespace).
    const CLONE_NEWTIME: u64 = 0x80;
    if flags & CLONE_NEWTIME != 0 {
        tracing::warn!("clone3 with a new time namespace is not supported");
        return Err(Errno::ENOSYS);
    }
    let low_byte = flags & 0x7f != 0;
    if flags > u64::from(u32::MAX)
        || low_byte
        || exit_signal > 64
        || (stack == 0) != (stack_size == 0)
    {
        return Err(Errno::EINVAL);
    }
    let top = if stack == 0 {
        0
    } else {
        stack.checked_add(stack_size).ok_or(Errno::EINVAL)?
    };
    // clone3 has a field of its own for the pidfd, so CLONE_PARENT_SETTID
    // may come with it.
    let pidfd = (flags & libc::CLONE_PIDFD as u64 != 0).then_some(pidfd);
    let args = CloneArgs {
        flags: flags | exit_signal,
        stack: top,
        parent_tid,
        child_tid,
        tls,
        pidfd,
        pidfd_field: true,
    };
    clone_common(task, args)
}

/// Longest single argument or environment string (MAX_ARG_STRLEN).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Most bytes of arguments and environment together.
const MAX_ARG_TOTAL: usize = 2 << 20;

/// Read a NULL-terminated array of string pointers (argv or envp).
fn read_string_array(task: &mut Task, addr: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0u64.. {
        let ptr: u64 = task.mm.read_val(addr + i * 8)?;
        if ptr == 0 {
            break;
        }
        let s = task.mm.read_cstring(ptr, MAX_ARG_STRLEN).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        *total += s.len() + 1 + 8;
        if *total > MAX_ARG_TOTAL {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

fn sys_execve(task: &mut Task, a: [u64; 6]) -> SysResult {
    let path = task.mm.read_cstring(a[0], libc::PATH_MAX as usize)?;
    let mut total = 0;
    let argv = read_string_array(task, a[1], &mut total)?;
    let envp = read_string_array(task, a[2], &mut total)?;
    execve(task, &path, argv, envp)?;
    // The new program starts with rax = 0.
    Ok(0)
}

/// execveat(dirfd, path, argv, envp, flags): a relative path starts at
/// `dirfd`; with AT_EMPTY_PATH and an empty path the program is the file
/// `dirfd` is (glibc's fexecve), run through its /proc/self/fd link;
/// AT_SYMLINK_NOFOLLOW refuses a final symbolic link (ELOOP).
fn sys_execveat(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [dirfd, path, argv, envp, flags, ..] = a;
    let (dirfd, flags) = (dirfd as i32, flags as i32);
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = task.mm.read_cstring(path, libc::PATH_MAX as usize)?;
    let path = if name.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        task.fds.get(dirfd)?;
        format!("/proc/self/fd/{dirfd}").into_bytes()
    } else if name[0] == b'/' || dirfd == libc::AT_FDCWD {
        name
    } else {
        let dir = task.fds.get(dirfd)?;
        let base = dir.dir_path().ok_or(Errno::ENOTDIR)?;
        crate::vfs::path::join(base, &name)
    };
    if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
        let absolute = task.fs.absolute(&path);
        let walk = task.fs.vfs().resolve(&absolute, false, &*task)?;
        if walk.node().kind() == libc::S_IFLNK {
            return Err(Errno::ELOOP);
        }
    }
    let mut total = 0;
    let argv = read_string_array(task, argv, &mut total)?;
    let envp = read_string_array(task, envp, &mut total)?;
    execve(task, &path, argv, envp)?;
    Ok(0)
}

/// personality(persona): 0xffffffff only asks; the execution domain and
/// flags are kept (inherited, reported) but change nothing in the sandbox.
fn sys_personality(task: &mut Task, a: [u64; 6]) -> SysResult {
    let old = task.personality;
    let new = a[0] as u32;
    if new != u32::MAX {
        task.personality = new;
    }
    Ok(u64::from(old))
}
