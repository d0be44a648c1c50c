//! `--strace`: one line per guest system call on stderr, in strace's format:
//!
//! ```text
//! openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3
//! write(1, "hello\n", 6) = 6
//! mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
//! access("/nonexistent", F_OK) = -1 ENOENT (No such file or directory)
//! ```
//!
//! The line is printed after the call, so what the call wrote (read's bytes,
//! clock_gettime's time) can be shown; an output argument of a failed call
//! shows as its address, as strace does. How each argument is shown comes
//! from one table, [`spec`]; a call without an entry shows six hex words.
//! Guest memory that cannot be read shows as its address: tracing never
//! fails and never changes what the guest sees.

use std::fmt::Write as _;
use std::io::Write as _;

use super::names;
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::{SigAction, SigStack};
use crate::kernel::Task;

/// Bytes of a buffer or string shown before `...` (strace's `-s 32`).
const STRING_LIMIT: usize = 32;
/// Paths are shown whole, up to PATH_MAX, as strace does.
const PATH_LIMIT: usize = 4096;
/// iovec elements shown before `...`.
const IOV_LIMIT: usize = 16;

/// How long a buffer is.
#[derive(Clone, Copy)]
enum Len {
    /// The value of argument N.
    Arg(usize),
    /// The call's result (bytes read).
    Ret,
    /// Whatever each part says (the iovecs of an input).
    All,
}

/// A structure in guest memory that an argument points at.
#[derive(Clone, Copy)]
enum Mem {
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
}

/// How to show one argument.
#[derive(Clone, Copy)]
enum A {
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
enum Ret {
    Dec,
    Hex,
    Oct,
    /// The call does not return (`exit_group(0) = ?`).
    None,
}

type Table = &'static [(u64, &'static str)];

/// Argument kinds and result kind of system call `nr`.
fn spec(nr: u64) -> Option<(&'static [A], Ret)> {
    use Len::{All, Arg, Ret as ByRet};
    use Mem::*;
    use Ret::{Dec, Hex as RHex, None as NoRet, Oct as ROct};
    use A::*;
    const OPEN: A = Modal(3, ACCMODES, OPEN_FLAGS);
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
        libc::SYS_wait4 => (&[Int, Ptr, Hex, Ptr], Dec),
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
        _ => return Option::None,
    })
}

const ACCMODES: Table = &[(0, "O_RDONLY"), (1, "O_WRONLY"), (2, "O_RDWR")];
// Composite flags come before the bits they contain.
const OPEN_FLAGS: Table = &[
    (libc::O_CREAT as u64, "O_CREAT"),
    (libc::O_EXCL as u64, "O_EXCL"),
    (libc::O_NOCTTY as u64, "O_NOCTTY"),
    (libc::O_TRUNC as u64, "O_TRUNC"),
    (libc::O_APPEND as u64, "O_APPEND"),
    (libc::O_NONBLOCK as u64, "O_NONBLOCK"),
    (libc::O_SYNC as u64, "O_SYNC"),
    (libc::O_DSYNC as u64, "O_DSYNC"),
    (libc::O_ASYNC as u64, "O_ASYNC"),
    (libc::O_DIRECT as u64, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (libc::O_TMPFILE as u64, "O_TMPFILE"),
    (libc::O_DIRECTORY as u64, "O_DIRECTORY"),
    (libc::O_NOFOLLOW as u64, "O_NOFOLLOW"),
    (libc::O_NOATIME as u64, "O_NOATIME"),
    (libc::O_CLOEXEC as u64, "O_CLOEXEC"),
    (libc::O_PATH as u64, "O_PATH"),
];
const PROTS: Table = &[
    (0, "PROT_NONE"),
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];
const MAP_TYPES: Table = &[
    (1, "MAP_SHARED"),
    (2, "MAP_PRIVATE"),
    (3, "MAP_SHARED_VALIDATE"),
];
const MAP_FLAGS: Table = &[
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x10_0000, "MAP_FIXED_NOREPLACE"),
];
const MREMAP_FLAGS: Table = &[
    (1, "MREMAP_MAYMOVE"),
    (2, "MREMAP_FIXED"),
    (4, "MREMAP_DONTUNMAP"),
];
const AT_NAMES: Table = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x2000, "AT_STATX_FORCE_SYNC"),
    (0x4000, "AT_STATX_DONT_SYNC"),
];
const ACCESS_MODES: Table = &[(0, "F_OK"), (4, "R_OK"), (2, "W_OK"), (1, "X_OK")];
const WHENCES: Table = &[
    (0, "SEEK_SET"),
    (1, "SEEK_CUR"),
    (2, "SEEK_END"),
    (3, "SEEK_DATA"),
    (4, "SEEK_HOLE"),
];
const HOWS: Table = &[(0, "SIG_BLOCK"), (1, "SIG_UNBLOCK"), (2, "SIG_SETMASK")];
const CLOCKS: Table = &[
    (0, "CLOCK_REALTIME"),
    (1, "CLOCK_MONOTONIC"),
    (2, "CLOCK_PROCESS_CPUTIME_ID"),
    (3, "CLOCK_THREAD_CPUTIME_ID"),
    (4, "CLOCK_MONOTONIC_RAW"),
    (5, "CLOCK_REALTIME_COARSE"),
    (6, "CLOCK_MONOTONIC_COARSE"),
    (7, "CLOCK_BOOTTIME"),
    (8, "CLOCK_REALTIME_ALARM"),
    (9, "CLOCK_BOOTTIME_ALARM"),
    (11, "CLOCK_TAI"),
];
const TIMER_FLAGS: Table = &[(1, "TIMER_ABSTIME")];
const RLIMITS: Table = &[
    (0, "RLIMIT_CPU"),
    (1, "RLIMIT_FSIZE"),
    (2, "RLIMIT_DATA"),
    (3, "RLIMIT_STACK"),
    (4, "RLIMIT_CORE"),
    (5, "RLIMIT_RSS"),
    (6, "RLIMIT_NPROC"),
    (7, "RLIMIT_NOFILE"),
    (8, "RLIMIT_MEMLOCK"),
    (9, "RLIMIT_AS"),
    (10, "RLIMIT_LOCKS"),
    (11, "RLIMIT_SIGPENDING"),
    (12, "RLIMIT_MSGQUEUE"),
    (13, "RLIMIT_NICE"),
    (14, "RLIMIT_RTPRIO"),
    (15, "RLIMIT_RTTIME"),
];
const MADVICES: Table = &[
    (0, "MADV_NORMAL"),
    (1, "MADV_RANDOM"),
    (2, "MADV_SEQUENTIAL"),
    (3, "MADV_WILLNEED"),
    (4, "MADV_DONTNEED"),
    (8, "MADV_FREE"),
    (9, "MADV_REMOVE"),
    (10, "MADV_DONTFORK"),
    (11, "MADV_DOFORK"),
    (12, "MADV_MERGEABLE"),
    (13, "MADV_UNMERGEABLE"),
    (14, "MADV_HUGEPAGE"),
    (15, "MADV_NOHUGEPAGE"),
    (16, "MADV_DONTDUMP"),
    (17, "MADV_DODUMP"),
];
const GRND_FLAGS: Table = &[
    (1, "GRND_NONBLOCK"),
    (2, "GRND_RANDOM"),
    (4, "GRND_INSECURE"),
];
const ARCH_CODES: Table = &[
    (0x1001, "ARCH_SET_GS"),
    (0x1002, "ARCH_SET_FS"),
    (0x1003, "ARCH_GET_FS"),
    (0x1004, "ARCH_GET_GS"),
    (0x1011, "ARCH_GET_CPUID"),
    (0x1012, "ARCH_SET_CPUID"),
];
const FCNTL_CMDS: Table = &[
    (0, "F_DUPFD"),
    (1, "F_GETFD"),
    (2, "F_SETFD"),
    (3, "F_GETFL"),
    (4, "F_SETFL"),
    (5, "F_GETLK"),
    (6, "F_SETLK"),
    (7, "F_SETLKW"),
    (8, "F_SETOWN"),
    (9, "F_GETOWN"),
    (1030, "F_DUPFD_CLOEXEC"),
    (1031, "F_SETPIPE_SZ"),
    (1032, "F_GETPIPE_SZ"),
    (1033, "F_ADD_SEALS"),
    (1034, "F_GET_SEALS"),
];
const FD_FLAGS: Table = &[(1, "FD_CLOEXEC")];
const IOCTLS: Table = &[
    (0x5401, "TCGETS"),
    (0x5402, "TCSETS"),
    (0x5403, "TCSETSW"),
    (0x5404, "TCSETSF"),
    (0x540f, "TIOCGPGRP"),
    (0x5410, "TIOCSPGRP"),
    (0x5413, "TIOCGWINSZ"),
    (0x5414, "TIOCSWINSZ"),
    (0x541b, "FIONREAD"),
    (0x5421, "FIONBIO"),
    (0x5450, "FIONCLEX"),
    (0x5451, "FIOCLEX"),
];
const FUTEX_OPS: Table = &[
    (0, "FUTEX_WAIT"),
    (1, "FUTEX_WAKE"),
    (2, "FUTEX_FD"),
    (3, "FUTEX_REQUEUE"),
    (4, "FUTEX_CMP_REQUEUE"),
    (5, "FUTEX_WAKE_OP"),
    (6, "FUTEX_LOCK_PI"),
    (7, "FUTEX_UNLOCK_PI"),
    (8, "FUTEX_TRYLOCK_PI"),
    (9, "FUTEX_WAIT_BITSET"),
    (10, "FUTEX_WAKE_BITSET"),
];
const FUTEX_FLAGS: Table = &[(128, "FUTEX_PRIVATE_FLAG"), (256, "FUTEX_CLOCK_REALTIME")];
const SA_FLAGS: Table = &[
    (libc::SA_NOCLDSTOP as u64, "SA_NOCLDSTOP"),
    (libc::SA_NOCLDWAIT as u64, "SA_NOCLDWAIT"),
    (libc::SA_SIGINFO as u64, "SA_SIGINFO"),
    (0x0400_0000, "SA_RESTORER"),
    (libc::SA_ONSTACK as u64, "SA_ONSTACK"),
    (libc::SA_RESTART as u64, "SA_RESTART"),
    (libc::SA_NODEFER as u64, "SA_NODEFER"),
    (libc::SA_RESETHAND as u32 as u64, "SA_RESETHAND"),
];
const SS_FLAGS: Table = &[
    (1, "SS_ONSTACK"),
    (2, "SS_DISABLE"),
    (1 << 31, "SS_AUTODISARM"),
];

/// Signal names without the `SIG` prefix, for signals 1..=31.
const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// Name of signal `sig` without `SIG` (`INT`, `RTMIN`, `RT_1`).
fn signal_name(sig: u64) -> Option<String> {
    match sig {
        1..=31 => Some(SIGNALS[sig as usize - 1].to_string()),
        32 => Some("RTMIN".to_string()),
        33..=64 => Some(format!("RT_{}", sig - 32)),
        _ => None,
    }
}

/// Print one line for a finished system call.
pub fn print(task: &mut Task, nr: u64, args: [u64; 6], result: SysResult) {
    let line = format_call(task, nr, args, result);
    // One write per line, so lines from several threads never interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn format_call(task: &mut Task, nr: u64, args: [u64; 6], result: SysResult) -> String {
    let mut out = match names::name(nr) {
        Some(n) => n.to_string(),
        None => format!("syscall_{nr}"),
    };
    out.push('(');
    const UNKNOWN: &[A] = &[A::Hex; 6];
    let (kinds, ret) = spec(nr).unwrap_or((UNKNOWN, Ret::Dec));
    let mut first = true;
    for (i, &kind) in kinds.iter().enumerate() {
        let Some(text) = format_arg(task, kind, &args, i, result) else {
            break;
        };
        if !first {
            out.push_str(", ");
        }
        first = false;
        out.push_str(&text);
    }
    out.push_str(") = ");
    match (result, ret) {
        (_, Ret::None) => out.push('?'),
        (Err(e), _) => format_error(&mut out, e),
        (Ok(v), Ret::Dec) => {
            let _ = write!(out, "{}", v as i64);
        }
        (Ok(v), Ret::Hex) => out.push_str(&hex(v)),
        (Ok(v), Ret::Oct) => out.push_str(&oct(v)),
    }
    out.push('\n');
    out
}

fn format_error(out: &mut String, e: Errno) {
    let name = match e.name() {
        "E?" => format!("ERRNO_{}", e.0),
        n => n.to_string(),
    };
    let text = std::io::Error::from_raw_os_error(e.0).to_string();
    // std appends " (os error N)" to strerror's text.
    let text = text.split(" (os error").next().unwrap_or(&text);
    let _ = write!(out, "-1 {name} ({text})");
}

fn hex(v: u64) -> String {
    if v == 0 {
        "0".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// C's `%#03o`: `0644`, `022`, `000`.
fn oct(v: u64) -> String {
    format!("{:0>3}", format!("0{v:o}"))
}

fn ptr(v: u64) -> String {
    if v == 0 {
        "NULL".to_string()
    } else {
        format!("{v:#x}")
    }
}

/// The text of argument `i`, or `None` if it (and what follows) is not shown.
fn format_arg(
    task: &mut Task,
    kind: A,
    args: &[u64; 6],
    i: usize,
    result: SysResult,
) -> Option<String> {
    let v = args[i];
    Some(match kind {
        A::Int | A::Fd => (v as i32).to_string(),
        A::Long => (v as i64).to_string(),
        A::Uint => v.to_string(),
        A::Hex => hex(v),
        A::Ptr => ptr(v),
        A::Oct => oct(v & 0o7777_7777),
        A::DirFd if v as i32 == libc::AT_FDCWD => "AT_FDCWD".to_string(),
        A::DirFd => (v as i32).to_string(),
        A::Sig => match signal_name(v) {
            Some(n) => format!("SIG{n}"),
            None => (v as i32).to_string(),
        },
        A::Flags(t) => flags(v, t),
        A::Enum(t) => match t.iter().find(|&&(x, _)| x == v) {
            Some((_, name)) => name.to_string(),
            None if (-4096..0x1_0000).contains(&(v as i32)) => (v as i32).to_string(),
            None => hex(v),
        },
        A::Modal(mask, modes, t) => modal(v, mask, modes, t),
        A::OctIf(n, mask) if args[n] & mask != 0 => oct(v & 0o7777_7777),
        A::PtrIf(n, mask) if args[n] & mask != 0 => ptr(v),
        A::OctIf(..) | A::PtrIf(..) => return None,
        A::FcntlArg => fcntl_arg(args[1], v)?,
        A::In(m) => format_mem(task, m, args, v, result.unwrap_or(0)),
        A::Out(m) => match result {
            Ok(r) => format_mem(task, m, args, v, r),
            Err(_) => ptr(v),
        },
    })
}

fn fcntl_arg(cmd: u64, v: u64) -> Option<String> {
    Some(match cmd as i32 {
        libc::F_GETFD
        | libc::F_GETFL
        | libc::F_GETOWN
        | 11 // F_GETSIG
        | libc::F_GETLEASE
        | libc::F_GETPIPE_SZ
        | libc::F_GET_SEALS => return None,
        libc::F_SETFD => flags(v, FD_FLAGS),
        libc::F_SETFL => modal(v, 3, ACCMODES, OPEN_FLAGS),
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => ptr(v),
        _ => (v as i32).to_string(),
    })
}

/// `A|B|0x40`: names for the bits in `t`, leftovers in hex; a zero value
/// shows the table's name for zero, if it has one.
fn flags(v: u64, t: Table) -> String {
    if v == 0 {
        return t
            .iter()
            .find(|&&(bits, _)| bits == 0)
            .map_or("0".to_string(), |(_, n)| n.to_string());
    }
    let mut out = String::new();
    let mut rest = v;
    for &(bits, name) in t {
        if bits != 0 && rest & bits == bits {
            if !out.is_empty() {
                out.push('|');
            }
            out.push_str(name);
            rest &= !bits;
        }
    }
    if rest != 0 {
        if !out.is_empty() {
            out.push('|');
        }
        let _ = write!(out, "{rest:#x}");
    }
    out
}

/// A mode held in the bits of `mask` (O_RDONLY, MAP_PRIVATE, FUTEX_WAIT),
/// then flags.
fn modal(v: u64, mask: u64, modes: Table, t: Table) -> String {
    let mode = v & mask;
    let mut out = match modes.iter().find(|&&(m, _)| m == mode) {
        Some((_, n)) => n.to_string(),
        None => hex(mode),
    };
    if v & !mask != 0 {
        out.push('|');
        out.push_str(&flags(v & !mask, t));
    }
    out
}

/// Show the structure at guest address `addr`; `ret` is the call's result
/// (what a `Len::Ret` buffer holds). Unreadable memory shows as the address.
fn format_mem(task: &mut Task, m: Mem, args: &[u64; 6], addr: u64, ret: u64) -> String {
    if addr == 0 {
        return "NULL".to_string();
    }
    read_mem(task, m, args, addr, ret).unwrap_or_else(|_| format!("{addr:#x}"))
}

fn read_mem(
    task: &mut Task,
    m: Mem,
    args: &[u64; 6],
    addr: u64,
    ret: u64,
) -> Result<String, Errno> {
    let len = |l: Len| match l {
        Len::Arg(n) => args[n],
        Len::Ret => ret,
        Len::All => u64::MAX,
    };
    Ok(match m {
        Mem::Path => read_string(task, addr, PATH_LIMIT)?,
        Mem::Buf(l) => read_buf(task, addr, len(l))?,
        Mem::Iov(n, l) => read_iov(task, addr, args[n], len(l))?,
        Mem::Sigset => sigset(task.mm.read_val::<u64>(addr)?),
        Mem::Sigaction => {
            let sa = task.mm.read_val::<SigAction>(addr)?;
            let handler = match sa.handler {
                0 => "SIG_DFL".to_string(),
                1 => "SIG_IGN".to_string(),
                h => format!("{h:#x}"),
            };
            let mut s = format!(
                "{{sa_handler={handler}, sa_mask={}, sa_flags={}",
                sigset(sa.mask),
                flags(sa.flags, SA_FLAGS)
            );
            if sa.flags & 0x0400_0000 != 0 {
                let _ = write!(s, ", sa_restorer={:#x}", sa.restorer);
            }
            s.push('}');
            s
        }
        Mem::Altstack => {
            let st = task.mm.read_val::<SigStack>(addr)?;
            format!(
                "{{ss_sp={}, ss_flags={}, ss_size={}}}",
                ptr(st.sp),
                flags(st.flags as u32 as u64, SS_FLAGS),
                st.size
            )
        }
        Mem::Timespec => {
            let [s, ns] = task.mm.read_val::<[i64; 2]>(addr)?;
            format!("{{tv_sec={s}, tv_nsec={ns}}}")
        }
        Mem::Timeval => {
            let [s, us] = task.mm.read_val::<[i64; 2]>(addr)?;
            format!("{{tv_sec={s}, tv_usec={us}}}")
        }
        Mem::Rlimit => {
            let [cur, max] = task.mm.read_val::<[u64; 2]>(addr)?;
            format!("{{rlim_cur={}, rlim_max={}}}", rlim(cur), rlim(max))
        }
        Mem::Utsname => {
            let mut field = |i: u64| -> Result<String, Errno> {
                let mut b = [0u8; 65];
                task.mm.copy_in(addr + 65 * i, &mut b)?;
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Ok(quote(&b[..end], false))
            };
            let (sysname, nodename) = (field(0)?, field(1)?);
            format!("{{sysname={sysname}, nodename={nodename}, ...}}")
        }
        Mem::FdPair => {
            let [r, w] = task.mm.read_val::<[i32; 2]>(addr)?;
            format!("[{r}, {w}]")
        }
    })
}

fn rlim(v: u64) -> String {
    match v {
        u64::MAX => "RLIM64_INFINITY".to_string(),
        v if v >= 1024 && v.is_multiple_of(1024) => format!("{}*1024", v / 1024),
        v => v.to_string(),
    }
}

/// `[INT TERM]`, or `~[...]` of the complement when most signals are set.
fn sigset(set: u64) -> String {
    let (prefix, bits) = if set.count_ones() > 32 {
        ("~", !set)
    } else {
        ("", set)
    };
    let names: Vec<String> = (1..=64u64)
        .filter(|s| bits & (1 << (s - 1)) != 0)
        .filter_map(signal_name)
        .collect();
    format!("{prefix}[{}]", names.join(" "))
}

/// A NUL-terminated string of at most `limit` bytes, quoted.
fn read_string(task: &mut Task, addr: u64, limit: usize) -> Result<String, Errno> {
    match task.mm.read_cstring(addr, limit) {
        Ok(s) => Ok(quote(&s, false)),
        Err(Errno::ENAMETOOLONG) => {
            let mut b = vec![0u8; limit];
            task.mm.copy_in(addr, &mut b)?;
            Ok(quote(&b, true))
        }
        Err(e) => Err(e),
    }
}

/// The first bytes of a `len`-byte buffer, quoted.
fn read_buf(task: &mut Task, addr: u64, len: u64) -> Result<String, Errno> {
    let n = len.min(STRING_LIMIT as u64) as usize;
    let mut b = vec![0u8; n];
    task.mm.copy_in(addr, &mut b)?;
    Ok(quote(&b, len > n as u64))
}

/// `[{iov_base="...", iov_len=5}, ...]`. For output, `total` bytes (the
/// result) are spread over the elements; for input it is the same sum.
fn read_iov(task: &mut Task, addr: u64, count: u64, total: u64) -> Result<String, Errno> {
    let mut out = String::from("[");
    let mut left = total;
    for i in 0..count.min(IOV_LIMIT as u64) {
        let [base, len] = task.mm.read_val::<[u64; 2]>(addr + 16 * i)?;
        let shown = len.min(left);
        left -= shown;
        let data = read_buf(task, base, shown).unwrap_or_else(|_| ptr(base));
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{{iov_base={data}, iov_len={len}}}");
    }
    if count > IOV_LIMIT as u64 {
        out.push_str(", ...");
    }
    out.push(']');
    Ok(out)
}

/// strace's quoting: C escapes for the usual controls, octal for the other
/// unprintable bytes (three digits when a digit follows), `...` after the
/// closing quote if the data was cut short.
fn quote(bytes: &[u8], truncated: bool) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let next_is_digit = bytes.get(i + 1).is_some_and(|c| (b'0'..=b'7').contains(c));
                if next_is_digit {
                    let _ = write!(out, "\\{b:03o}");
                } else {
                    let _ = write!(out, "\\{b:o}");
                }
            }
        }
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_strace() {
        assert_eq!(quote(b"hello, world\n", false), r#""hello, world\n""#);
        assert_eq!(quote(b"a\"b\\c\td\r", false), r#""a\"b\\c\td\r""#);
        assert_eq!(quote(b"\x7fELF\x02\x01\x00", false), r#""\177ELF\2\1\0""#);
        assert_eq!(quote(b"\x001", false), r#""\0001""#);
        assert_eq!(quote(b"\xff8", false), r#""\3778""#);
        assert_eq!(quote(b"abc", true), r#""abc"..."#);
    }

    #[test]
    fn flag_decoding() {
        let open = |v: i32| modal(v as u64, 3, ACCMODES, OPEN_FLAGS);
        assert_eq!(open(libc::O_RDONLY | libc::O_CLOEXEC), "O_RDONLY|O_CLOEXEC");
        assert_eq!(
            open(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(open(libc::O_RDWR | libc::O_SYNC), "O_RDWR|O_SYNC");
        assert_eq!(open(libc::O_RDWR | libc::O_DSYNC), "O_RDWR|O_DSYNC");
        assert_eq!(
            open(libc::O_RDONLY | libc::O_DIRECTORY),
            "O_RDONLY|O_DIRECTORY"
        );
        assert_eq!(open(libc::O_RDWR | libc::O_TMPFILE), "O_RDWR|O_TMPFILE");
        assert_eq!(flags(3, PROTS), "PROT_READ|PROT_WRITE");
        assert_eq!(flags(0, PROTS), "PROT_NONE");
        assert_eq!(flags(0, AT_NAMES), "0");
        assert_eq!(
            flags(0x100 | 0x8000_0000, AT_NAMES),
            "AT_SYMLINK_NOFOLLOW|0x80000000"
        );
        assert_eq!(
            modal(0x22, 3, MAP_TYPES, MAP_FLAGS),
            "MAP_PRIVATE|MAP_ANONYMOUS"
        );
        assert_eq!(modal(2, 3, MAP_TYPES, MAP_FLAGS), "MAP_PRIVATE");
        assert_eq!(
            modal(0x81, 0x7f, FUTEX_OPS, FUTEX_FLAGS),
            "FUTEX_WAKE|FUTEX_PRIVATE_FLAG"
        );
        assert_eq!(flags(4 | 2, ACCESS_MODES), "R_OK|W_OK");
        assert_eq!(flags(0, ACCESS_MODES), "F_OK");
    }

    #[test]
    fn signals_and_sets() {
        assert_eq!(sigset(0), "[]");
        assert_eq!(sigset(1 << 1 | 1 << 14), "[INT TERM]");
        assert_eq!(sigset(!(1u64 << 31 | 1 << 32)), "~[RTMIN RT_1]");
        assert_eq!(signal_name(64).as_deref(), Some("RT_32"));
        assert_eq!(signal_name(65), None);
    }

    #[test]
    fn results_and_scalars() {
        let mut s = String::new();
        format_error(&mut s, Errno::ENOENT);
        assert_eq!(s, "-1 ENOENT (No such file or directory)");
        assert_eq!(hex(0), "0");
        assert_eq!(ptr(0), "NULL");
        assert_eq!(ptr(0x1000), "0x1000");
        assert_eq!(rlim(8 << 20), "8192*1024");
        assert_eq!(rlim(u64::MAX), "RLIM64_INFINITY");
        assert_eq!(fcntl_arg(libc::F_GETFD as u64, 0), None);
        assert_eq!(
            fcntl_arg(libc::F_SETFD as u64, 1).as_deref(),
            Some("FD_CLOEXEC")
        );
    }

    #[test]
    fn every_spec_names_a_call() {
        for nr in 0..512 {
            if let Some((args, _)) = spec(nr) {
                assert!(names::name(nr).is_some(), "spec for unnamed call {nr}");
                assert!(args.len() <= 6, "{nr}");
            }
        }
    }
}
