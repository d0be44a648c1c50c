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

mod spec;
mod tables;

use crate::kernel::process_table::INIT_PID;
use std::fmt::Write as _;
use std::io::Write as _;

use super::names;
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::{SigAction, SigStack};
use crate::kernel::Task;
use spec::{spec, Len, Mem, Ret, Table, A};
use tables::*;

/// Bytes of a buffer or string shown before `...` (strace's `-s 32`).
const STRING_LIMIT: usize = 32;
/// Paths are shown whole, up to PATH_MAX, as strace does.
const PATH_LIMIT: usize = 4096;
/// iovec elements shown before `...`.
const IOV_LIMIT: usize = 16;

/// Print one line for a finished system call.
pub fn print(task: &mut Task, nr: u64, args: [u64; 6], result: SysResult) {
    let mut line = format_call(task, nr, args, result);
    // As `strace -f` does: every task but the sandbox's first names itself.
    if task.tid != INIT_PID {
        line.insert_str(0, &format!("[pid {}] ", task.tid));
    }
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
    let _ = write!(out, "-1 {name} ({})", e.description());
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
        A::Flags(t) => int_flags(v, t),
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
        libc::F_ADD_SEALS => int_flags(v, SEALS),
        libc::F_SETFL => modal(v, 3, ACCMODES, OPEN_FLAGS),
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_GETLK | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => ptr(v),
        _ => (v as i32).to_string(),
    })
}

/// `A|B|0x40`: names for the bits in `t`, leftovers in hex; a zero value
/// shows the table's name for zero, if it has one.
/// A flag argument: a C int (clone's flags use only the low half too), so
/// the upper half of the register, which callers may leave sign-extended
/// (glibc's wait4 with __WCLONE), is not part of it: the kernel ignores it.
fn int_flags(v: u64, t: Table) -> String {
    flags(u64::from(v as u32), t)
}

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

/// A `struct sockaddr` of `len` bytes: an AF_UNIX one with its path (an
/// abstract name as `@name`), others by family alone.
fn sockaddr(task: &mut Task, addr: u64, len: u64) -> Result<String, Errno> {
    let len = (len as u32 as usize).min(crate::net::addr::SOCKADDR_UN_LEN);
    let mut b = vec![0u8; len];
    task.mm.copy_in(addr, &mut b)?;
    if len < 2 {
        return Ok("{}".to_string());
    }
    let family = u64::from(u16::from_ne_bytes([b[0], b[1]]));
    let name = ADDRESS_FAMILIES
        .iter()
        .find(|&&(f, _)| f == family)
        .map_or_else(|| family.to_string(), |(_, n)| n.to_string());
    if family != libc::AF_UNIX as u64 {
        return Ok(format!("{{sa_family={name}}}"));
    }
    let path = &b[2..];
    Ok(match path.split_first() {
        None => format!("{{sa_family={name}}}"),
        Some((0, rest)) => format!("{{sa_family={name}, sun_path=@{}}}", quote(rest, false)),
        Some(_) => {
            let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
            format!(
                "{{sa_family={name}, sun_path={}}}",
                quote(&path[..end], false)
            )
        }
    })
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
            let field = |i: u64| -> Result<String, Errno> {
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
        Mem::EpollEvent => epoll_event(task, addr)?,
        Mem::SockAddr(n) => sockaddr(task, addr, args[n])?,
        Mem::EpollEvents => {
            let shown = ret.min(MAX_EPOLL_SHOWN);
            let mut parts = Vec::new();
            for i in 0..shown {
                parts.push(epoll_event(task, addr + 12 * i)?);
            }
            if ret > shown {
                parts.push("...".to_string());
            }
            format!("[{}]", parts.join(", "))
        }
    })
}

/// Most events an `epoll_wait` line lists.
const MAX_EPOLL_SHOWN: u64 = 16;

/// `{events=EPOLLIN|EPOLLET, data=0x5}` (the packed 12-byte x86-64 layout).
fn epoll_event(task: &mut Task, addr: u64) -> Result<String, Errno> {
    let mut raw = [0u8; 12];
    task.mm.copy_in(addr, &mut raw)?;
    let events = u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let mut data = [0u8; 8];
    data.copy_from_slice(&raw[4..]);
    Ok(format!(
        "{{events={}, data={}}}",
        flags(u64::from(events), EPOLL_EVENTS),
        hex(u64::from_ne_bytes(data))
    ))
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
        assert_eq!(
            int_flags(0xffff_ffff_8000_0000, WAIT4_FLAGS),
            "__WCLONE",
            "a sign-extended int"
        );
        assert_eq!(flags(0, ACCESS_MODES), "F_OK");
        let ty = (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64;
        assert_eq!(
            modal(ty, 0xf, SOCK_TYPES, SOCK_FLAGS),
            "SOCK_STREAM|SOCK_CLOEXEC"
        );
        let msg = (libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as u64;
        assert_eq!(flags(msg, MSG_FLAGS), "MSG_DONTWAIT|MSG_NOSIGNAL");
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
        assert_eq!(
            fcntl_arg(libc::F_ADD_SEALS as u64, 0xa).as_deref(),
            Some("F_SEAL_SHRINK|F_SEAL_WRITE")
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
