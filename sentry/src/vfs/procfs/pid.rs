//! /proc/PID: a process's directory. Its files are generated from what the
//! `ProcSource` reports; `exe`, `cwd`, `root` and `fd/N` are links whose
//! targets are guest paths (or `pipe:[ino]`-style names for files without
//! one), computed at lookup.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{
    dir_inode, link_ino, link_inode, maps, node_dtype, node_inode, stat, ProcNode, ProcSource,
    ProcessInfo,
};
use crate::errno::Errno;
use crate::vfs::inode::Inode;

/// The generated files of /proc/PID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidFile {
    Cmdline,
    Comm,
    Environ,
    Limits,
    Maps,
    Mounts,
    Stat,
    Statm,
    Status,
}

impl PidFile {
    /// Permission bits, as Linux gives them (environ is the owner's only).
    pub fn mode(self) -> u32 {
        match self {
            PidFile::Environ => 0o400,
            _ => 0o444,
        }
    }
}

/// What one name of /proc/PID is.
#[derive(Clone, Copy)]
enum Kind {
    File(PidFile),
    /// A link; its inode number's low bits.
    Link(u64),
    Fd,
    FdInfo,
    Task,
}

/// The names of /proc/PID, in Linux's order.
const ENTRIES: [(&str, Kind); 15] = [
    ("fd", Kind::Fd),
    ("fdinfo", Kind::FdInfo),
    ("task", Kind::Task),
    ("environ", Kind::File(PidFile::Environ)),
    ("limits", Kind::File(PidFile::Limits)),
    ("comm", Kind::File(PidFile::Comm)),
    ("cmdline", Kind::File(PidFile::Cmdline)),
    ("stat", Kind::File(PidFile::Stat)),
    ("statm", Kind::File(PidFile::Statm)),
    ("maps", Kind::File(PidFile::Maps)),
    ("mounts", Kind::File(PidFile::Mounts)),
    ("cwd", Kind::Link(5)),
    ("root", Kind::Link(6)),
    ("exe", Kind::Link(7)),
    ("status", Kind::File(PidFile::Status)),
];

/// Inode numbers of fd links: above every other per-pid number.
const FD_LINK_BASE: u64 = 0x10_0000;

fn process(pid: i32, procs: &dyn ProcSource) -> Result<ProcessInfo, Errno> {
    procs.process(pid).ok_or(Errno::ENOENT)
}

/// Entry `name` of `dir`, one of process `pid`'s directories.
pub fn lookup(
    dir: ProcNode,
    pid: i32,
    name: &[u8],
    procs: &dyn ProcSource,
) -> Result<Arc<Inode>, Errno> {
    let p = process(pid, procs)?;
    let (uid, gid) = (p.uids[1], p.gids[1]);
    match dir {
        ProcNode::Pid(_) => {
            let (_, kind) = ENTRIES
                .iter()
                .find(|(n, _)| n.as_bytes() == name)
                .ok_or(Errno::ENOENT)?;
            Ok(match *kind {
                Kind::File(f) => node_inode(ProcNode::PidFile(pid, f), uid, gid),
                Kind::Link(sub) => {
                    let target = match sub {
                        5 => p.cwd,
                        6 => b"/".to_vec(),
                        _ => p.exe,
                    };
                    link_inode(link_ino(pid, sub), target, uid, gid)
                }
                Kind::Fd => dir_inode(ProcNode::FdDir(pid), uid, gid),
                Kind::FdInfo => dir_inode(ProcNode::FdInfoDir(pid), uid, gid),
                Kind::Task => dir_inode(ProcNode::TaskDir(pid), uid, gid),
            })
        }
        ProcNode::FdDir(_) | ProcNode::FdInfoDir(_) => {
            let fd = parse_fd(name).ok_or(Errno::ENOENT)?;
            let entry = procs
                .fds(pid)
                .into_iter()
                .find(|e| e.fd == fd)
                .ok_or(Errno::ENOENT)?;
            if dir == ProcNode::FdDir(pid) {
                let ino = link_ino(pid, FD_LINK_BASE + fd as u64);
                // Linux gives each link the permissions of the open mode.
                let inode = link_inode(ino, entry.target, uid, gid);
                inode.meta().mode = libc::S_IFLNK | fd_link_mode(entry.flags);
                Ok(inode)
            } else {
                Ok(node_inode(ProcNode::FdInfo(pid, fd), uid, gid))
            }
        }
        ProcNode::TaskDir(_) => match super::parse_pid(name) {
            Some(tid) if p.tids.contains(&tid) => Ok(dir_inode(ProcNode::Pid(tid), uid, gid)),
            _ => Err(Errno::ENOENT),
        },
        _ => Err(Errno::ENOTDIR),
    }
}

/// `lrwx------` for a read-write fd, `lr-x------` read-only, `l-wx------`.
fn fd_link_mode(flags: u32) -> u32 {
    match flags as i32 & libc::O_ACCMODE {
        libc::O_RDONLY => 0o500,
        libc::O_WRONLY => 0o300,
        _ => 0o700,
    }
}

/// A descriptor number as /proc names it: decimal, no sign, no leading zero.
pub(super) fn parse_fd(name: &[u8]) -> Option<i32> {
    if name.len() > 1 && name[0] == b'0' {
        return None;
    }
    std::str::from_utf8(name)
        .ok()?
        .parse()
        .ok()
        .filter(|&f| f >= 0)
}

/// The entries of process `pid`'s directory `dir`.
pub fn list(
    dir: ProcNode,
    pid: i32,
    procs: &dyn ProcSource,
) -> Result<Vec<(u64, u8, Vec<u8>)>, Errno> {
    let p = process(pid, procs)?;
    Ok(match dir {
        ProcNode::Pid(_) => ENTRIES
            .iter()
            .map(|&(name, kind)| {
                let (ino, dt) = match kind {
                    Kind::File(f) => {
                        let n = ProcNode::PidFile(pid, f);
                        (n.ino(), node_dtype(n))
                    }
                    Kind::Link(sub) => (link_ino(pid, sub), libc::DT_LNK),
                    Kind::Fd => (ProcNode::FdDir(pid).ino(), libc::DT_DIR),
                    Kind::FdInfo => (ProcNode::FdInfoDir(pid).ino(), libc::DT_DIR),
                    Kind::Task => (ProcNode::TaskDir(pid).ino(), libc::DT_DIR),
                };
                (ino, dt, name.as_bytes().to_vec())
            })
            .collect(),
        ProcNode::FdDir(_) => procs
            .fds(pid)
            .into_iter()
            .map(|e| {
                let ino = link_ino(pid, FD_LINK_BASE + e.fd as u64);
                (ino, libc::DT_LNK, e.fd.to_string().into_bytes())
            })
            .collect(),
        ProcNode::FdInfoDir(_) => procs
            .fds(pid)
            .into_iter()
            .map(|e| {
                let n = ProcNode::FdInfo(pid, e.fd);
                (n.ino(), libc::DT_REG, e.fd.to_string().into_bytes())
            })
            .collect(),
        ProcNode::TaskDir(_) => p
            .tids
            .iter()
            .map(|&t| {
                (
                    ProcNode::Pid(t).ino(),
                    libc::DT_DIR,
                    t.to_string().into_bytes(),
                )
            })
            .collect(),
        _ => return Err(Errno::ENOTDIR),
    })
}

/// The text of file `f` of process `pid`.
pub fn contents(pid: i32, f: PidFile, procs: &dyn ProcSource) -> Result<Vec<u8>, Errno> {
    let p = process(pid, procs)?;
    Ok(match f {
        PidFile::Cmdline => procs.cmdline(pid),
        PidFile::Environ => procs.environ(pid),
        PidFile::Comm => {
            let mut c = p.comm.clone();
            c.push(b'\n');
            c
        }
        PidFile::Limits => limits(&p).into_bytes(),
        PidFile::Maps => maps::format(&procs.maps(pid)).into_bytes(),
        PidFile::Mounts => mounts().into_bytes(),
        PidFile::Stat => stat::stat(pid, &p, &procs.maps(pid)).into_bytes(),
        PidFile::Statm => stat::statm(&p, &procs.maps(pid)).into_bytes(),
        PidFile::Status => status(pid, &p, &procs.maps(pid), procs.fds(pid).len()).into_bytes(),
    })
}

/// /proc/PID/fdinfo/FD: position, flags (octal, with `O_CLOEXEC`), mount.
pub fn fdinfo(pid: i32, fd: i32, procs: &dyn ProcSource) -> Result<Vec<u8>, Errno> {
    let e = procs
        .fds(pid)
        .into_iter()
        .find(|e| e.fd == fd)
        .ok_or(Errno::ENOENT)?;
    Ok(format!(
        "pos:\t{}\nflags:\t0{:o}\nmnt_id:\t0\nino:\t0\n",
        e.pos, e.flags
    )
    .into_bytes())
}

/// The sandbox's mount table, in /proc/mounts' format.
fn mounts() -> String {
    [
        "overlay / overlay rw,relatime 0 0",
        "tmpfs /tmp tmpfs rw,nosuid,nodev 0 0",
        "devfs /dev tmpfs rw,nosuid,mode=755 0 0",
        "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
    ]
    .iter()
    .fold(String::new(), |mut s, l| {
        s.push_str(l);
        s.push('\n');
        s
    })
}

/// Sizes in KiB that status's Vm* lines show, summed over the mappings.
#[derive(Default)]
pub(super) struct VmSizes {
    pub total: u64,
    pub data: u64,
    pub stack: u64,
    pub exe: u64,
}

pub(super) fn vm_sizes(maps: &[super::Mapping]) -> VmSizes {
    let mut s = VmSizes::default();
    for m in maps {
        let kb = (m.end - m.start) / 1024;
        s.total += kb;
        if m.name == b"[stack]" {
            s.stack += kb;
        } else if m.exec && m.ino != 0 {
            s.exe += kb;
        } else if m.write && !m.shared {
            s.data += kb;
        }
    }
    s
}

/// Capabilities a process of these effective ids holds: root's full set
/// (through CAP_LAST_CAP, 40), nothing otherwise.
fn caps(euid: u32) -> u64 {
    if euid == 0 {
        (1 << 41) - 1
    } else {
        0
    }
}

/// /proc/PID/status, line for line as Linux 6.x prints it.
fn status(pid: i32, p: &ProcessInfo, maps: &[super::Mapping], nfds: usize) -> String {
    let vm = vm_sizes(maps);
    let rss = p.rss_pages * 4;
    let mut s = String::new();
    let name = String::from_utf8_lossy(&p.comm);
    let ids = |v: [u32; 4]| format!("{}\t{}\t{}\t{}", v[0], v[1], v[2], v[3]);
    let _ = writeln!(s, "Name:\t{name}");
    let _ = writeln!(s, "Umask:\t{:04o}", p.umask);
    let _ = writeln!(s, "State:\t{}", state_name(p.state));
    let _ = writeln!(s, "Tgid:\t{}\nNgid:\t0\nPid:\t{pid}", p.tgid);
    let _ = writeln!(s, "PPid:\t{}\nTracerPid:\t0", p.ppid);
    let _ = writeln!(s, "Uid:\t{}\nGid:\t{}", ids(p.uids), ids(p.gids));
    // FDSize is the descriptor table's capacity: a multiple of 64.
    let _ = writeln!(s, "FDSize:\t{}", nfds.max(1).next_multiple_of(64));
    let _ = writeln!(s, "Groups:\t{} ", p.gids[0]);
    let _ = writeln!(s, "NStgid:\t{}\nNSpid:\t{pid}", p.tgid);
    let _ = writeln!(s, "NSpgid:\t{}\nNSsid:\t{}", p.pgid, p.sid);
    let _ = writeln!(s, "Kthread:\t0");
    let kb = |s: &mut String, name: &str, v: u64| {
        let _ = writeln!(s, "{name}:\t{v:8} kB");
    };
    kb(&mut s, "VmPeak", vm.total);
    kb(&mut s, "VmSize", vm.total);
    kb(&mut s, "VmLck", 0);
    kb(&mut s, "VmPin", 0);
    kb(&mut s, "VmHWM", rss);
    kb(&mut s, "VmRSS", rss);
    kb(&mut s, "RssAnon", rss);
    kb(&mut s, "RssFile", 0);
    kb(&mut s, "RssShmem", 0);
    kb(&mut s, "VmData", vm.data);
    kb(&mut s, "VmStk", vm.stack);
    kb(&mut s, "VmExe", vm.exe);
    kb(&mut s, "VmLib", 0);
    kb(&mut s, "VmPTE", 0);
    kb(&mut s, "VmSwap", 0);
    kb(&mut s, "HugetlbPages", 0);
    let _ = writeln!(s, "CoreDumping:\t0\nTHP_enabled:\t1");
    let _ = writeln!(s, "untag_mask:\t0xffffffffffffffff");
    let _ = writeln!(s, "Threads:\t{}", p.tids.len());
    let sigq = p.rlimits[libc::RLIMIT_SIGPENDING as usize].cur;
    let _ = writeln!(s, "SigQ:\t0/{sigq}");
    let _ = writeln!(s, "SigPnd:\t{:016x}\nShdPnd:\t{:016x}", p.sig_pending, 0);
    let _ = writeln!(s, "SigBlk:\t{:016x}", p.sig_blocked);
    let _ = writeln!(s, "SigIgn:\t{:016x}", p.sig_ignored);
    let _ = writeln!(s, "SigCgt:\t{:016x}", p.sig_caught);
    let cap = caps(p.uids[1]);
    let _ = writeln!(s, "CapInh:\t{:016x}\nCapPrm:\t{cap:016x}", 0);
    let _ = writeln!(s, "CapEff:\t{cap:016x}\nCapBnd:\t{:016x}", caps(0));
    let _ = writeln!(s, "CapAmb:\t{:016x}", 0);
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(p.no_new_privs));
    // The sentry's own seccomp filter is not the guest's business.
    let _ = writeln!(s, "Seccomp:\t0\nSeccomp_filters:\t0");
    let _ = writeln!(s, "Speculation_Store_Bypass:\tthread vulnerable");
    let _ = writeln!(s, "SpeculationIndirectBranch:\tconditional enabled");
    let _ = writeln!(s, "Cpus_allowed:\t1\nCpus_allowed_list:\t0");
    let _ = writeln!(s, "Mems_allowed:\t1\nMems_allowed_list:\t0");
    let _ = writeln!(s, "voluntary_ctxt_switches:\t0");
    let _ = writeln!(s, "nonvoluntary_ctxt_switches:\t0");
    s
}

/// State letter and the word status spells out.
pub(super) fn state_name(state: u8) -> &'static str {
    match state {
        b'R' => "R (running)",
        b'S' => "S (sleeping)",
        b'D' => "D (disk sleep)",
        b'T' => "T (stopped)",
        b't' => "t (tracing stop)",
        b'X' => "X (dead)",
        b'Z' => "Z (zombie)",
        _ => "R (running)",
    }
}

/// /proc/PID/limits: Linux's table, "unlimited" for infinity.
fn limits(p: &ProcessInfo) -> String {
    const ROWS: [(&str, &str, u32); 16] = [
        ("Max cpu time", "seconds", libc::RLIMIT_CPU),
        ("Max file size", "bytes", libc::RLIMIT_FSIZE),
        ("Max data size", "bytes", libc::RLIMIT_DATA),
        ("Max stack size", "bytes", libc::RLIMIT_STACK),
        ("Max core file size", "bytes", libc::RLIMIT_CORE),
        ("Max resident set", "bytes", libc::RLIMIT_RSS),
        ("Max processes", "processes", libc::RLIMIT_NPROC),
        ("Max open files", "files", libc::RLIMIT_NOFILE),
        ("Max locked memory", "bytes", libc::RLIMIT_MEMLOCK),
        ("Max address space", "bytes", libc::RLIMIT_AS),
        ("Max file locks", "locks", libc::RLIMIT_LOCKS),
        ("Max pending signals", "signals", libc::RLIMIT_SIGPENDING),
        ("Max msgqueue size", "bytes", libc::RLIMIT_MSGQUEUE),
        ("Max nice priority", "", libc::RLIMIT_NICE),
        ("Max realtime priority", "", libc::RLIMIT_RTPRIO),
        ("Max realtime timeout", "us", libc::RLIMIT_RTTIME),
    ];
    let value = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (name, unit, r) in ROWS {
        let l = p.rlimits[r as usize];
        let _ = write!(s, "{name:<25} {:<20} {:<20} ", value(l.cur), value(l.max));
        // A limit without a unit ends right after the hard limit's padding.
        if !unit.is_empty() {
            let _ = write!(s, "{unit:<10}");
        }
        s.push('\n');
    }
    s
}
