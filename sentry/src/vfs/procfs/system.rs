//! The system part of /proc: files about the machine rather than a process.
//! The machine looks like the host (as `uname` and `sysinfo` already tell
//! the guest), so memory, load, uptime and CPU details are the host's, read
//! when the file is opened; the counts of processes are the sandbox's.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{link_inode, node_dtype, node_inode, ProcNode, ProcSource};
use crate::errno::Errno;
use crate::vfs::inode::Inode;

/// What one system entry is.
#[derive(Clone, Copy)]
pub enum Sys {
    Dir,
    File(Gen),
    Link(&'static str),
}

/// The generated files.
#[derive(Clone, Copy)]
pub enum Gen {
    Cpuinfo,
    Meminfo,
    Version,
    Uptime,
    Loadavg,
    Stat,
    Filesystems,
    Hostname,
    Osrelease,
    Ostype,
    KernelVersion,
    /// A fixed value (a tunable the sandbox does not let anyone change).
    Fixed(&'static str),
}

/// A path below /proc and what it is.
#[derive(Clone, Copy)]
pub struct Entry(pub &'static str, pub Sys);

impl Entry {
    pub fn is_dir(&self) -> bool {
        matches!(self.1, Sys::Dir)
    }

    pub fn mode(&self) -> u32 {
        0o444
    }

    /// The directory holding it ("" for /proc itself) and its name.
    fn split(&self) -> (&'static str, &'static str) {
        self.0.rsplit_once('/').unwrap_or(("", self.0))
    }
}

pub const ENTRIES: [Entry; 20] = [
    Entry("cpuinfo", Sys::File(Gen::Cpuinfo)),
    Entry("filesystems", Sys::File(Gen::Filesystems)),
    Entry("loadavg", Sys::File(Gen::Loadavg)),
    Entry("meminfo", Sys::File(Gen::Meminfo)),
    Entry("mounts", Sys::Link("self/mounts")),
    Entry("stat", Sys::File(Gen::Stat)),
    Entry("uptime", Sys::File(Gen::Uptime)),
    Entry("version", Sys::File(Gen::Version)),
    Entry("sys", Sys::Dir),
    Entry("sys/fs", Sys::Dir),
    Entry("sys/fs/nr_open", Sys::File(Gen::Fixed("1048576"))),
    Entry("sys/kernel", Sys::Dir),
    Entry("sys/kernel/hostname", Sys::File(Gen::Hostname)),
    Entry("sys/kernel/osrelease", Sys::File(Gen::Osrelease)),
    Entry("sys/kernel/ostype", Sys::File(Gen::Ostype)),
    Entry("sys/kernel/pid_max", Sys::File(Gen::Fixed("4194304"))),
    Entry("sys/kernel/version", Sys::File(Gen::KernelVersion)),
    Entry("sys/vm", Sys::Dir),
    Entry("sys/vm/overcommit_memory", Sys::File(Gen::Fixed("0"))),
    Entry("sys/vm/max_map_count", Sys::File(Gen::Fixed("65530"))),
];

fn dir_path(parent: Option<usize>) -> &'static str {
    parent.map_or("", |p| ENTRIES[p].0)
}

/// Entry `name` of system directory `parent` (`None`: /proc itself).
pub fn lookup(parent: Option<usize>, name: &[u8]) -> Result<Arc<Inode>, Errno> {
    let dir = dir_path(parent);
    let i = ENTRIES
        .iter()
        .position(|e| e.split() == (dir, std::str::from_utf8(name).unwrap_or("")))
        .ok_or(Errno::ENOENT)?;
    Ok(match ENTRIES[i].1 {
        Sys::Link(target) => link_inode(ProcNode::System(i).ino(), target.into(), 0, 0),
        _ => node_inode(ProcNode::System(i), 0, 0),
    })
}

/// The system entries of directory `parent`.
pub fn list(parent: Option<usize>) -> Vec<(u64, u8, Vec<u8>)> {
    let dir = dir_path(parent);
    (0..ENTRIES.len())
        .filter(|&i| ENTRIES[i].split().0 == dir)
        .map(|i| {
            let n = ProcNode::System(i);
            let dt = match ENTRIES[i].1 {
                Sys::Link(_) => libc::DT_LNK,
                _ => node_dtype(n),
            };
            (n.ino(), dt, ENTRIES[i].split().1.as_bytes().to_vec())
        })
        .collect()
}

/// The text of system file `i`.
pub fn contents(i: usize, procs: &dyn ProcSource) -> Result<Vec<u8>, Errno> {
    let Sys::File(generator) = ENTRIES[i].1 else {
        return Err(Errno::EISDIR);
    };
    let uname = rustix::system::uname();
    let line = |b: &[u8]| {
        let mut v = b.to_vec();
        v.push(b'\n');
        v
    };
    Ok(match generator {
        // The host's CPUs: the guest runs on them, and `cpuid` (on
        // systrap/ptrace) reports them too.
        Gen::Cpuinfo => std::fs::read("/proc/cpuinfo").map_err(|_| Errno::EIO)?,
        Gen::Meminfo => meminfo().into_bytes(),
        Gen::Version => version().into_bytes(),
        Gen::Uptime => uptime().into_bytes(),
        Gen::Loadavg => loadavg(procs).into_bytes(),
        Gen::Stat => stat(procs).into_bytes(),
        Gen::Filesystems => b"nodev\tproc\nnodev\ttmpfs\nnodev\toverlay\n".to_vec(),
        Gen::Hostname => line(uname.nodename().to_bytes()),
        Gen::Osrelease => line(uname.release().to_bytes()),
        Gen::Ostype => line(b"Linux"),
        Gen::KernelVersion => line(uname.version().to_bytes()),
        Gen::Fixed(v) => line(v.as_bytes()),
    })
}

/// /proc/meminfo: the host's memory (what `sysinfo` reports), each line a
/// name padded to 16 columns and a value in kB 8 wide.
fn meminfo() -> String {
    let h = rustix::system::sysinfo();
    let kb = |v: u64| v * u64::from(h.mem_unit) / 1024;
    let rows = [
        ("MemTotal", kb(h.totalram)),
        ("MemFree", kb(h.freeram)),
        ("MemAvailable", kb(h.freeram + h.bufferram)),
        ("Buffers", kb(h.bufferram)),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", kb(h.totalswap)),
        ("SwapFree", kb(h.freeswap)),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", kb(h.sharedram)),
        ("Committed_AS", 0),
    ];
    let mut s = String::new();
    for (name, v) in rows {
        let _ = writeln!(s, "{:<16}{v:8} kB", format!("{name}:"));
    }
    s
}

/// /proc/version: the kernel `uname` reports (the host's release and
/// version, whose behaviour rvisor follows), built by rvisor.
fn version() -> String {
    let u = rustix::system::uname();
    format!(
        "Linux version {} (rvisor) {}\n",
        u.release().to_string_lossy(),
        u.version().to_string_lossy()
    )
}

/// Seconds since the host booted, with hundredths.
pub fn boot_seconds() -> (u64, u64) {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    (t.tv_sec as u64, t.tv_nsec as u64 / 10_000_000)
}

/// /proc/uptime: seconds since boot, and idle seconds (none counted).
fn uptime() -> String {
    let (s, cs) = boot_seconds();
    format!("{s}.{cs:02} 0.00\n")
}

/// /proc/loadavg: the host's load, the sandbox's processes.
fn loadavg(procs: &dyn ProcSource) -> String {
    let h = rustix::system::sysinfo();
    let load = |l: u64| {
        let x = l * 100 / (1 << 16);
        format!("{}.{:02}", x / 100, x % 100)
    };
    let n = procs.tgids().len();
    let last = procs.tgids().last().copied().unwrap_or(0);
    format!(
        "{} {} {} 1/{n} {last}\n",
        load(h.loads[0]),
        load(h.loads[1]),
        load(h.loads[2])
    )
}

/// /proc/stat, minimal: CPU time lines (zeros: the sandbox does not count
/// it yet), the boot time, process counts.
fn stat(procs: &dyn ProcSource) -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let zeros = " 0 0 0 0 0 0 0 0 0 0";
    let mut s = format!("cpu {zeros}\n");
    for c in 0..cpus {
        let _ = writeln!(s, "cpu{c}{zeros}");
    }
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec as u64;
    let btime = now.saturating_sub(boot_seconds().0);
    let n = procs.tgids().len();
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {btime}\nprocesses {n}\nprocs_running 1\nprocs_blocked 0\n"
    );
    s.push_str("softirq 0 0 0 0 0 0 0 0 0 0 0\n");
    s
}
