//! How each system call's arguments and result are shown: one table.

use super::tables::*;

/// How long a buffer is.
#[derive(Clone, Copy)]
pub(super) enum Len {
    /// The value of argument N.
    Arg(usize),
    /// The call's result (bytes read).
    Ret,
    /// Whatever each part says (the iovecs of an input).
    All,
}

/// A structure in guest memory that an argument points at.
#[derive(Clone, Copy)]
pub(super) enum Mem {
    /// NUL-terminated path.
    Path,
    /// Bytes, shown as a string.
    Buf(Len),
    /// `struct iovec[argument N]` holding `Len` bytes in all.
    Iov(usize, Len),
    Sigset,
    Sigaction,
    Altstack,
    Timespec,
    Timeval,
    Rlimit,
    Utsname,
    /// `int[2]` (pipe).
    FdPair,
    /// One `struct epoll_event`.
    EpollEvent,
    /// `struct epoll_event[result]`.
    EpollEvents,
    /// A `struct sockaddr` of argument N bytes.
    SockAddr(usize),
}

/// How to show one argument.
#[derive(Clone, Copy)]
pub(super) enum A {
    /// `int`, signed decimal.
    Int,
    /// `long`/`off_t`, signed decimal.
    Long,
    /// `size_t` and friends, unsigned decimal.
    Uint,
    /// Hex, `0` for zero.
    Hex,
    /// Pointer: `NULL` or hex.
    Ptr,
    /// Octal mode (`0644`).
    Oct,
    /// File descriptor.
    Fd,
    /// Directory fd of an `*at` call: `AT_FDCWD` or a number.
    DirFd,
    /// Signal number (`SIGINT`).
    Sig,
    /// Bit flags, unknown bits in hex.
    Flags(Table),
    /// One of several values, else decimal.
    Enum(Table),
    /// A mode in the bits of `mask` (named by the first table), plus flags.
    Modal(u64, Table, Table),
    /// Input in guest memory, read after the call (same bytes as before).
    In(Mem),
    /// Output in guest memory, shown only if the call succeeded.
    Out(Mem),
    /// Octal mode, present only if argument N has a bit of `mask` (open's
    /// mode needs O_CREAT or O_TMPFILE).
    OctIf(usize, u64),
    /// Pointer, present only if argument N has a bit of `mask`.
    PtrIf(usize, u64),
    /// fcntl's third argument, whose kind depends on the command.
    FcntlArg,
}

/// How to show the result.
#[derive(Clone, Copy)]
pub(super) enum Ret {
    Dec,
    Hex,
    Oct,
    /// The call does not return (`exit_group(0) = ?`).
    None,
}

pub(super) type Table = &'static [(u64, &'static str)];

/// Argument kinds and result kind of system call `nr`.
pub(super) fn spec(nr: u64) -> Option<(&'static [A], Ret)> {
    use Len::{All, Arg, Ret as ByRet};
    use Mem::*;
    use Ret::{Dec, Hex as RHex, None as NoRet, Oct as ROct};
    use A::*;
    const OPEN: A = Modal(3, ACCMODES, OPEN_FLAGS);
    const SOCK_TYPE: A = Modal(0xf, SOCK_TYPES, SOCK_FLAGS);
    const CREAT_MODE: u64 = (libc::O_CREAT | libc::O_TMPFILE & !libc::O_DIRECTORY) as u64;
    Some(match nr as i64 {
        libc::SYS_read => (&[Fd, Out(Buf(ByRet)), Uint], Dec),
        libc::SYS_write => (&[Fd, In(Buf(Arg(2))), Uint], Dec),
        libc::SYS_open => (&[In(Path), OPEN, OctIf(1, CREAT_MODE)], Dec),
        libc::SYS_close
        | libc::SYS_fsync
        | libc::SYS_fdatasync
        | libc::SYS_fchdir
        | libc::SYS_dup => (&[Fd], Dec),
        libc::SYS_stat | libc::SYS_lstat => (&[In(Path), Ptr], Dec),
        libc::SYS_fstat => (&[Fd, Ptr], Dec),
        libc::SYS_poll => (&[Ptr, Uint, Int], Dec),
        libc::SYS_lseek => (&[Fd, Long, Enum(WHENCES)], Dec),
        libc::SYS_mmap => (
            &[
                Ptr,
                Uint,
                Flags(PROTS),
                Modal(3, MAP_TYPES, MAP_FLAGS),
                Fd,
                Hex,
            ],
            RHex,
        ),
        libc::SYS_mprotect => (&[Ptr, Uint, Flags(PROTS)], Dec),
        libc::SYS_munmap => (&[Ptr, Uint], Dec),
        libc::SYS_brk => (&[Ptr], RHex),
        libc::SYS_rt_sigaction => (&[Sig, In(Sigaction), Out(Sigaction), Uint], Dec),
        libc::SYS_rt_sigprocmask => (&[Enum(HOWS), In(Sigset), Out(Sigset), Uint], Dec),
        libc::SYS_rt_sigpending => (&[Out(Sigset), Uint], Dec),
        libc::SYS_ioctl => (&[Fd, Enum(IOCTLS), Hex], Dec),
        libc::SYS_pread64 => (&[Fd, Out(Buf(ByRet)), Uint, Long], Dec),
        libc::SYS_pwrite64 => (&[Fd, In(Buf(Arg(2))), Uint, Long], Dec),
        libc::SYS_readv => (&[Fd, Out(Iov(2, ByRet)), Int], Dec),
        libc::SYS_writev => (&[Fd, In(Iov(2, All)), Int], Dec),
        libc::SYS_access => (&[In(Path), Flags(ACCESS_MODES)], Dec),
        libc::SYS_faccessat => (&[DirFd, In(Path), Flags(ACCESS_MODES)], Dec),
        libc::SYS_faccessat2 => (
            &[DirFd, In(Path), Flags(ACCESS_MODES), Flags(AT_NAMES)],
            Dec,
        ),
        libc::SYS_pipe => (&[Out(FdPair)], Dec),
        libc::SYS_pipe2 => (&[Out(FdPair), Flags(OPEN_FLAGS)], Dec),
        libc::SYS_mremap => (
            &[
                Ptr,
                Uint,
                Uint,
                Flags(MREMAP_FLAGS),
                PtrIf(3, libc::MREMAP_FIXED as u64),
            ],
            RHex,
        ),
        libc::SYS_madvise => (&[Ptr, Uint, Enum(MADVICES)], Dec),
        libc::SYS_dup2 => (&[Fd, Fd], Dec),
        libc::SYS_dup3 => (&[Fd, Fd, Flags(OPEN_FLAGS)], Dec),
        libc::SYS_nanosleep => (&[In(Timespec), Ptr], Dec),
        libc::SYS_getpid
        | libc::SYS_getppid
        | libc::SYS_gettid
        | libc::SYS_getuid
        | libc::SYS_geteuid
        | libc::SYS_getgid
        | libc::SYS_getegid
        | libc::SYS_getpgrp
        | libc::SYS_setsid
        | libc::SYS_sched_yield
        | libc::SYS_pause
        | libc::SYS_fork
        | libc::SYS_vfork
        | libc::SYS_sync => (&[], Dec),
        libc::SYS_exit | libc::SYS_exit_group => (&[Int], NoRet),
        libc::SYS_wait4 => (&[Int, Ptr, Flags(WAIT4_FLAGS), Ptr], Dec),
        libc::SYS_waitid => (&[Enum(IDTYPES), Int, Ptr, Flags(WAITID_FLAGS), Ptr], Dec),
        libc::SYS_eventfd | libc::SYS_epoll_create => (&[Int], Dec),
        libc::SYS_eventfd2 => (&[Uint, Flags(EFD_FLAGS)], Dec),
        libc::SYS_epoll_create1 => (&[Flags(EPOLL_CREATE_FLAGS)], Dec),
        libc::SYS_epoll_ctl => (&[Fd, Enum(EPOLL_CTL_OPS), Fd, In(EpollEvent)], Dec),
        libc::SYS_epoll_wait => (&[Fd, Out(EpollEvents), Int, Int], Dec),
        libc::SYS_epoll_pwait => (&[Fd, Out(EpollEvents), Int, Int, In(Sigset), Uint], Dec),
        libc::SYS_epoll_pwait2 => (
            &[Fd, Out(EpollEvents), Int, In(Timespec), In(Sigset), Uint],
            Dec,
        ),
        libc::SYS_clone => (&[Flags(CLONE_FLAGS), Ptr, Ptr, Ptr, Hex], Dec),
        libc::SYS_clone3 => (&[Ptr, Uint], Dec),
        libc::SYS_rt_sigtimedwait => (&[In(Sigset), Ptr, In(Timespec), Uint], Dec),
        libc::SYS_kill | libc::SYS_tkill => (&[Int, Sig], Dec),
        libc::SYS_tgkill => (&[Int, Int, Sig], Dec),
        libc::SYS_uname => (&[Out(Utsname)], Dec),
        libc::SYS_fcntl => (&[Fd, Enum(FCNTL_CMDS), FcntlArg], Dec),
        libc::SYS_ftruncate => (&[Fd, Long], Dec),
        libc::SYS_truncate => (&[In(Path), Long], Dec),
        libc::SYS_getdents64 | libc::SYS_getdents => (&[Fd, Ptr, Uint], Dec),
        libc::SYS_getcwd => (&[Out(Path), Uint], Dec),
        libc::SYS_chdir | libc::SYS_rmdir | libc::SYS_unlink | libc::SYS_chroot => {
            (&[In(Path)], Dec)
        }
        libc::SYS_rename | libc::SYS_link | libc::SYS_symlink => (&[In(Path), In(Path)], Dec),
        libc::SYS_mkdir | libc::SYS_creat | libc::SYS_chmod => (&[In(Path), Oct], Dec),
        libc::SYS_fchmod => (&[Fd, Oct], Dec),
        libc::SYS_chown | libc::SYS_lchown => (&[In(Path), Int, Int], Dec),
        libc::SYS_fchown => (&[Fd, Int, Int], Dec),
        libc::SYS_readlink => (&[In(Path), Out(Buf(ByRet)), Uint], Dec),
        libc::SYS_umask => (&[Oct], ROct),
        libc::SYS_gettimeofday => (&[Out(Timeval), Ptr], Dec),
        libc::SYS_getrlimit => (&[Enum(RLIMITS), Out(Rlimit)], Dec),
        libc::SYS_setrlimit => (&[Enum(RLIMITS), In(Rlimit)], Dec),
        libc::SYS_prlimit64 => (&[Int, Enum(RLIMITS), In(Rlimit), Out(Rlimit)], Dec),
        libc::SYS_sysinfo | libc::SYS_times | libc::SYS_set_tid_address | libc::SYS_time => {
            (&[Ptr], Dec)
        }
        libc::SYS_getresuid | libc::SYS_getresgid | libc::SYS_getcpu => (&[Ptr, Ptr, Ptr], Dec),
        libc::SYS_getpgid | libc::SYS_getsid => (&[Int], Dec),
        libc::SYS_setpgid => (&[Int, Int], Dec),
        libc::SYS_sigaltstack => (&[In(Altstack), Out(Altstack)], Dec),
        libc::SYS_arch_prctl => (&[Enum(ARCH_CODES), Hex], Dec),
        libc::SYS_prctl => (&[Int, Hex, Hex, Hex, Hex], Dec),
        libc::SYS_futex => (
            &[Ptr, Modal(0x7f, FUTEX_OPS, FUTEX_FLAGS), Int, Ptr, Ptr, Int],
            Dec,
        ),
        libc::SYS_sched_getaffinity | libc::SYS_sched_setaffinity => (&[Int, Uint, Ptr], Dec),
        libc::SYS_clock_gettime | libc::SYS_clock_getres => (&[Enum(CLOCKS), Out(Timespec)], Dec),
        libc::SYS_clock_settime => (&[Enum(CLOCKS), In(Timespec)], Dec),
        libc::SYS_setxattr | libc::SYS_lsetxattr => (&[In(Path), In(Path), Ptr, Uint, Int], Dec),
        libc::SYS_fsetxattr => (&[Fd, In(Path), Ptr, Uint, Int], Dec),
        libc::SYS_getxattr | libc::SYS_lgetxattr => (&[In(Path), In(Path), Ptr, Uint], Dec),
        libc::SYS_fgetxattr => (&[Fd, In(Path), Ptr, Uint], Dec),
        libc::SYS_listxattr | libc::SYS_llistxattr => (&[In(Path), Ptr, Uint], Dec),
        libc::SYS_flistxattr => (&[Fd, Ptr, Uint], Dec),
        libc::SYS_removexattr | libc::SYS_lremovexattr => (&[In(Path), In(Path)], Dec),
        libc::SYS_fremovexattr => (&[Fd, In(Path)], Dec),
        libc::SYS_getrusage => (&[Int, Ptr], Dec),
        libc::SYS_getpriority => (&[Int, Int], Dec),
        libc::SYS_setpriority => (&[Int, Int, Int], Dec),
        libc::SYS_sched_getscheduler | libc::SYS_sched_get_priority_max => (&[Int], Dec),
        libc::SYS_sched_get_priority_min => (&[Int], Dec),
        libc::SYS_sched_setscheduler => (&[Int, Int, Ptr], Dec),
        libc::SYS_sched_getparam | libc::SYS_sched_setparam => (&[Int, Ptr], Dec),
        libc::SYS_sched_rr_get_interval => (&[Int, Ptr], Dec),
        libc::SYS_close_range => (&[Uint, Uint, Hex], Dec),
        libc::SYS_syncfs => (&[Fd], Dec),
        libc::SYS_fallocate => (&[Fd, Hex, Long, Long], Dec),
        libc::SYS_sync_file_range => (&[Fd, Long, Long, Hex], Dec),
        libc::SYS_utime | libc::SYS_utimes => (&[In(Path), Ptr], Dec),
        libc::SYS_futimesat => (&[Fd, In(Path), Ptr], Dec),
        libc::SYS_preadv2 | libc::SYS_pwritev2 => (&[Fd, Ptr, Int, Long, Long, Hex], Dec),
        libc::SYS_rt_tgsigqueueinfo => (&[Int, Int, Sig, Ptr], Dec),
        libc::SYS_mlock | libc::SYS_munlock => (&[Ptr, Uint], Dec),
        libc::SYS_mlock2 => (&[Ptr, Uint, Hex], Dec),
        libc::SYS_mlockall => (&[Hex], Dec),
        libc::SYS_mincore => (&[Ptr, Uint, Ptr], Dec),
        libc::SYS_membarrier => (&[Int, Hex, Int], Dec),
        libc::SYS_personality => (&[Hex], RHex),
        libc::SYS_get_mempolicy => (&[Ptr, Ptr, Uint, Ptr, Hex], Dec),
        libc::SYS_set_mempolicy => (&[Int, Ptr, Uint], Dec),
        libc::SYS_mbind => (&[Ptr, Uint, Int, Ptr, Uint, Hex], Dec),
        libc::SYS_splice => (&[Fd, Ptr, Fd, Ptr, Uint, Hex], Dec),
        libc::SYS_tee => (&[Fd, Fd, Uint, Hex], Dec),
        libc::SYS_vmsplice => (&[Fd, Ptr, Uint, Hex], Dec),
        libc::SYS_pidfd_open => (&[Int, Hex], Dec),
        libc::SYS_pidfd_send_signal => (&[Fd, Sig, Ptr, Hex], Dec),
        libc::SYS_pidfd_getfd => (&[Fd, Int, Hex], Dec),
        libc::SYS_execveat => (&[DirFd, In(Path), Ptr, Ptr, Hex], Dec),
        libc::SYS_timerfd_create => (&[Enum(CLOCKS), Hex], Dec),
        libc::SYS_timerfd_settime => (&[Fd, Int, Ptr, Ptr], Dec),
        libc::SYS_timerfd_gettime => (&[Fd, Ptr], Dec),
        libc::SYS_timer_create => (&[Enum(CLOCKS), Ptr, Ptr], Dec),
        libc::SYS_timer_settime => (&[Int, Flags(TIMER_FLAGS), Ptr, Ptr], Dec),
        libc::SYS_timer_gettime => (&[Int, Ptr], Dec),
        libc::SYS_timer_getoverrun | libc::SYS_timer_delete => (&[Int], Dec),
        libc::SYS_clock_nanosleep => (&[Enum(CLOCKS), Flags(TIMER_FLAGS), In(Timespec), Ptr], Dec),
        libc::SYS_openat => (&[DirFd, In(Path), OPEN, OctIf(2, CREAT_MODE)], Dec),
        libc::SYS_mkdirat => (&[DirFd, In(Path), Oct], Dec),
        libc::SYS_newfstatat => (&[DirFd, In(Path), Ptr, Flags(AT_NAMES)], Dec),
        libc::SYS_unlinkat => (&[DirFd, In(Path), Flags(AT_NAMES)], Dec),
        libc::SYS_renameat => (&[DirFd, In(Path), DirFd, In(Path)], Dec),
        libc::SYS_readlinkat => (&[DirFd, In(Path), Out(Buf(ByRet)), Uint], Dec),
        libc::SYS_fchmodat => (&[DirFd, In(Path), Oct], Dec),
        libc::SYS_statx => (&[DirFd, In(Path), Flags(AT_NAMES), Hex, Ptr], Dec),
        libc::SYS_set_robust_list => (&[Ptr, Uint], Dec),
        libc::SYS_get_robust_list => (&[Int, Ptr, Ptr], Dec),
        libc::SYS_getrandom => (&[Out(Buf(ByRet)), Uint, Flags(GRND_FLAGS)], Dec),
        libc::SYS_rseq => (&[Ptr, Hex, Int, Hex], Dec),
        libc::SYS_execve => (&[In(Path), Ptr, Ptr], Dec),
        libc::SYS_fadvise64 => (&[Fd, Long, Long, Int], Dec),
        libc::SYS_memfd_create => (&[In(Path), Flags(MFD_FLAGS)], Dec),
        libc::SYS_mknod => (&[In(Path), Oct, Hex], Dec),
        libc::SYS_mknodat => (&[DirFd, In(Path), Oct, Hex], Dec),
        libc::SYS_socket => (&[Enum(ADDRESS_FAMILIES), SOCK_TYPE, Int], Dec),
        libc::SYS_socketpair => (&[Enum(ADDRESS_FAMILIES), SOCK_TYPE, Int, Out(FdPair)], Dec),
        libc::SYS_bind | libc::SYS_connect => (&[Fd, In(SockAddr(2)), Uint], Dec),
        libc::SYS_listen => (&[Fd, Int], Dec),
        libc::SYS_accept | libc::SYS_getsockname | libc::SYS_getpeername => (&[Fd, Ptr, Ptr], Dec),
        libc::SYS_accept4 => (&[Fd, Ptr, Ptr, Flags(SOCK_FLAGS)], Dec),
        libc::SYS_shutdown => (&[Fd, Enum(SHUT_HOWS)], Dec),
        libc::SYS_sendto => (
            &[
                Fd,
                In(Buf(Arg(2))),
                Uint,
                Flags(MSG_FLAGS),
                In(SockAddr(5)),
                Uint,
            ],
            Dec,
        ),
        libc::SYS_recvfrom => (
            &[Fd, Out(Buf(ByRet)), Uint, Flags(MSG_FLAGS), Ptr, Ptr],
            Dec,
        ),
        libc::SYS_sendmsg | libc::SYS_recvmsg => (&[Fd, Ptr, Flags(MSG_FLAGS)], Dec),
        libc::SYS_sendmmsg => (&[Fd, Ptr, Uint, Flags(MSG_FLAGS)], Dec),
        libc::SYS_recvmmsg => (&[Fd, Ptr, Uint, Flags(MSG_FLAGS), In(Timespec)], Dec),
        libc::SYS_getsockopt | libc::SYS_setsockopt => (
            &[Fd, Enum(SOCKOPT_LEVELS), Enum(SOCKOPT_NAMES), Ptr, Hex],
            Dec,
        ),
        _ => return Option::None,
    })
}
