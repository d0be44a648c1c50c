//! /proc/PID/stat and /proc/PID/statm: one line of numbers each, in the
//! order `fs/proc/array.c` prints them.

use std::fmt::Write as _;

use super::pid::vm_sizes;
use super::{Mapping, ProcessInfo};

/// Linux's `PF_RANDOMIZE`, which every ordinary process has in field 9.
const PF_RANDOMIZE: u64 = 0x0040_0000;

/// /proc/PID/stat: 52 space-separated fields, the name in parentheses.
pub fn stat(pid: i32, p: &ProcessInfo, maps: &[Mapping]) -> String {
    let vm = vm_sizes(maps);
    let l = &p.layout;
    let rsslim = p.rlimits[libc::RLIMIT_RSS as usize].cur;
    let mut s = String::new();
    // 1-3: pid, (comm), state.
    let _ = write!(
        s,
        "{pid} ({}) {}",
        String::from_utf8_lossy(&p.comm),
        p.state as char
    );
    // 4-8: ppid, pgrp, session, tty_nr, tpgid.
    let _ = write!(s, " {} {} {} 0 -1", p.ppid, p.pgid, p.sid);
    // 9-17: flags, minflt, cminflt, majflt, cmajflt, utime, stime, cutime, cstime.
    let _ = write!(s, " {PF_RANDOMIZE} 0 0 0 0 0 0 0 0");
    // 18-22: priority, nice, num_threads, itrealvalue, starttime.
    let _ = write!(s, " 20 0 {} 0 {}", p.tids.len(), p.start_ticks);
    // 23-25: vsize (bytes), rss (pages), rsslim.
    let _ = write!(s, " {} {} {rsslim}", vm.total * 1024, p.rss_pages);
    // 26-30: startcode, endcode, startstack, kstkesp, kstkeip (hidden: 0).
    let _ = write!(s, " {} {} {} 0 0", l.start_code, l.end_code, l.start_stack);
    // 31-34: pending, blocked, ignored, caught signals (obsolete decimal sets).
    let _ = write!(
        s,
        " {} {} {} {}",
        p.sig_pending, p.sig_blocked, p.sig_ignored, p.sig_caught
    );
    // 35-44: wchan, nswap, cnswap, exit_signal, processor, rt_priority,
    // policy, delayacct_blkio_ticks, guest_time, cguest_time.
    let _ = write!(s, " 0 0 0 {} 0 0 0 0 0 0", libc::SIGCHLD);
    // 45-52: start_data, end_data, start_brk, arg_start, arg_end,
    // env_start, env_end, exit_code.
    let _ = writeln!(
        s,
        " {} {} {} {} {} {} {} 0",
        l.start_data, l.end_data, l.start_brk, l.arg_start, l.arg_end, l.env_start, l.env_end
    );
    s
}

/// /proc/PID/statm: size, resident, shared, text, lib, data, dt (pages).
pub fn statm(p: &ProcessInfo, maps: &[Mapping]) -> String {
    let vm = vm_sizes(maps);
    let text = p.layout.end_code.saturating_sub(p.layout.start_code) / 4096;
    let data = (vm.data + vm.stack) / 4;
    format!("{} {} 0 {text} 0 {data} 0\n", vm.total / 4, p.rss_pages)
}
