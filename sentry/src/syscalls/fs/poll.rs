//! poll, ppoll, select and pselect6 over the guest's descriptors. Files the
//! sentry holds (memory files, devices, directories) are always ready, as
//! regular files are on Linux; host streams (the caller's terminal, host
//! pipes) are polled on the host. Waits end early with EINTR when a signal
//! arrives.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytemuck::{Pod, Zeroable};
use rustix::event::PollFlags;

use super::{fd_arg, nofile_limit};
use crate::errno::{Errno, SysResult};
use crate::kernel::signal::UNBLOCKABLE;
use crate::kernel::sleep::{poll_host, sleep_until};
use crate::kernel::Task;
use crate::vfs::File;

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct GuestPollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

const POLLIN: i16 = libc::POLLIN;
const POLLPRI: i16 = libc::POLLPRI;
const POLLOUT: i16 = libc::POLLOUT;
const POLLNVAL: i16 = libc::POLLNVAL;
/// What an always-ready file reports for the events asked.
const ALWAYS_READY: i16 = libc::POLLIN | libc::POLLOUT | libc::POLLRDNORM | libc::POLLWRNORM;

/// Fill in `revents` for every entry; returns how many have events. An
/// interrupted wait is restarted unless a handler runs (ERESTARTNOHAND).
fn poll_entries(
    task: &mut Task,
    entries: &mut [GuestPollFd],
    deadline: Option<Instant>,
) -> Result<usize, Errno> {
    poll_entries_once(task, entries, deadline).map_err(|e| {
        if e == Errno::EINTR {
            Errno::ERESTARTNOHAND
        } else {
            e
        }
    })
}

fn poll_entries_once(
    task: &mut Task,
    entries: &mut [GuestPollFd],
    deadline: Option<Instant>,
) -> Result<usize, Errno> {
    let mut ready = 0;
    let mut host: Vec<(usize, Arc<dyn File>)> = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        e.revents = 0;
        if e.fd < 0 {
            continue;
        }
        match task.fds.get(e.fd) {
            Err(_) => e.revents = POLLNVAL,
            Ok(f) if f.host_stream().is_some() => host.push((i, f)),
            Ok(_) => e.revents = e.events & ALWAYS_READY,
        }
        ready += usize::from(e.revents != 0);
    }
    // Something is ready already: only look, do not wait.
    let deadline = if ready > 0 {
        Some(Instant::now())
    } else {
        deadline
    };
    if host.is_empty() {
        if ready == 0 {
            let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32));
            sleep_until(task, until)?;
        }
        return Ok(ready);
    }
    let fds: Vec<(BorrowedFd<'_>, PollFlags)> = host
        .iter()
        .filter_map(|(i, f)| {
            Some((
                f.host_stream()?,
                PollFlags::from_bits_retain(entries[*i].events as u16),
            ))
        })
        .collect();
    let seen = poll_host(task, &fds, deadline)?;
    for ((i, _), r) in host.iter().zip(seen) {
        entries[*i].revents = r.bits() as i16;
        ready += usize::from(!r.is_empty());
    }
    Ok(ready)
}

fn read_entries(task: &mut Task, addr: u64, n: u64) -> Result<Vec<GuestPollFd>, Errno> {
    if n > nofile_limit(task) {
        return Err(Errno::EINVAL);
    }
    let mut entries = vec![GuestPollFd::default(); n as usize];
    task.mm
        .copy_in(addr, bytemuck::cast_slice_mut(&mut entries))?;
    Ok(entries)
}

fn deadline_after(d: Duration) -> Instant {
    Instant::now()
        .checked_add(d)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 32))
}

pub(super) fn sys_poll(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, n, timeout_ms, ..] = a;
    let mut entries = read_entries(task, addr, n)?;
    let timeout_ms = timeout_ms as i32;
    let deadline =
        (timeout_ms >= 0).then(|| deadline_after(Duration::from_millis(timeout_ms as u64)));
    let ready = poll_entries(task, &mut entries, deadline)?;
    task.mm.copy_out(addr, bytemuck::cast_slice(&entries))?;
    Ok(ready as u64)
}

/// `struct timespec` of the `*6` calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

fn read_timeout(task: &mut Task, addr: u64) -> Result<Option<Instant>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let t: Timespec = task.mm.read_val(addr)?;
    if t.sec < 0 || !(0..1_000_000_000).contains(&t.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(deadline_after(Duration::new(
        t.sec as u64,
        t.nsec as u32,
    ))))
}

/// Run `f` with the signal mask at `mask_addr` (if any) in force, as ppoll
/// and pselect6 do: a handler that interrupts sees the temporary mask and
/// its return restores the caller's; otherwise it is restored here.
pub(in crate::syscalls) fn with_sigmask(
    task: &mut Task,
    mask_addr: u64,
    f: impl FnOnce(&mut Task) -> SysResult,
) -> SysResult {
    if mask_addr == 0 {
        return f(task);
    }
    let mask: u64 = task.mm.read_val(mask_addr)?;
    let old = task.signals.mask;
    task.signals.mask = mask & !UNBLOCKABLE;
    let r = f(task);
    if r.is_err_and(|e| e == Errno::EINTR || e.is_restart()) {
        task.signals.saved_mask = Some(old);
    } else {
        task.signals.mask = old;
    }
    r
}

pub(super) fn sys_ppoll(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, n, tsp, sigmask, sigsetsize, _] = a;
    if sigmask != 0 && sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let mut entries = read_entries(task, addr, n)?;
    let deadline = read_timeout(task, tsp)?;
    let ready = with_sigmask(task, sigmask, |task| {
        poll_entries(task, &mut entries, deadline).map(|r| r as u64)
    })?;
    task.mm.copy_out(addr, bytemuck::cast_slice(&entries))?;
    Ok(ready)
}

/// The three descriptor bitmaps of select.
struct FdSets {
    nfds: usize,
    sets: [Option<(u64, Vec<u64>)>; 3],
}

const SET_EVENTS: [i16; 3] = [POLLIN, POLLOUT, POLLPRI];
/// What counts as ready for each set (hang-up and errors make a descriptor
/// readable and writable, as Linux's select reports them).
const SET_READY: [i16; 3] = [
    POLLIN | libc::POLLRDNORM | libc::POLLHUP | libc::POLLERR,
    POLLOUT | libc::POLLWRNORM | libc::POLLERR,
    POLLPRI,
];

fn read_sets(task: &mut Task, nfds: u64, addrs: [u64; 3]) -> Result<FdSets, Errno> {
    if nfds > nofile_limit(task).min(1 << 20) {
        return Err(Errno::EINVAL);
    }
    let nfds = nfds as usize;
    let words = nfds.div_ceil(64);
    let mut sets: [Option<(u64, Vec<u64>)>; 3] = [None, None, None];
    for (slot, &addr) in sets.iter_mut().zip(&addrs) {
        if addr != 0 {
            let mut bits = vec![0u64; words];
            task.mm.copy_in(addr, bytemuck::cast_slice_mut(&mut bits))?;
            // Bits at or past nfds are ignored.
            if !nfds.is_multiple_of(64) {
                if let Some(last) = bits.last_mut() {
                    *last &= (1u64 << (nfds % 64)) - 1;
                }
            }
            *slot = Some((addr, bits));
        }
    }
    Ok(FdSets { nfds, sets })
}

fn select_common(
    task: &mut Task,
    nfds: u64,
    addrs: [u64; 3],
    deadline: Option<Instant>,
) -> SysResult {
    let mut fs = read_sets(task, nfds, addrs)?;
    let mut entries = Vec::new();
    for fd in 0..fs.nfds {
        let (w, b) = (fd / 64, 1u64 << (fd % 64));
        let events = fs
            .sets
            .iter()
            .zip(SET_EVENTS)
            .filter(|(s, _)| s.as_ref().is_some_and(|(_, bits)| bits[w] & b != 0))
            .fold(0, |ev, (_, e)| ev | e);
        if events != 0 {
            task.fds.get(fd_arg(fd as u64))?;
            entries.push(GuestPollFd {
                fd: fd as i32,
                events,
                revents: 0,
            });
        }
    }
    poll_entries(task, &mut entries, deadline)?;
    let mut count = 0u64;
    for set in fs.sets.iter_mut().flatten() {
        set.1.iter_mut().for_each(|w| *w = 0);
    }
    for e in &entries {
        let (w, b) = ((e.fd / 64) as usize, 1u64 << (e.fd % 64));
        for ((set, asked), ready) in fs.sets.iter_mut().zip(SET_EVENTS).zip(SET_READY) {
            if let Some((_, bits)) = set {
                if e.events & asked != 0 && e.revents & ready != 0 {
                    bits[w] |= b;
                    count += 1;
                }
            }
        }
    }
    for (addr, bits) in fs.sets.iter().flatten() {
        task.mm.copy_out(*addr, bytemuck::cast_slice(bits))?;
    }
    Ok(count)
}

/// `struct timeval`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct Timeval {
    sec: i64,
    usec: i64,
}

pub(super) fn sys_select(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [nfds, r, w, e, tvp, _] = a;
    let deadline = if tvp == 0 {
        None
    } else {
        let tv: Timeval = task.mm.read_val(tvp)?;
        if tv.sec < 0 || !(0..1_000_000).contains(&tv.usec) {
            return Err(Errno::EINVAL);
        }
        Some(deadline_after(Duration::new(
            tv.sec as u64,
            tv.usec as u32 * 1000,
        )))
    };
    let result = select_common(task, nfds, [r, w, e], deadline);
    // Linux's select reports the time left in the timeval.
    if let Some(d) = deadline {
        let left = d.saturating_duration_since(Instant::now());
        let tv = Timeval {
            sec: left.as_secs() as i64,
            usec: i64::from(left.subsec_micros()),
        };
        task.mm.write_val(tvp, &tv)?;
    }
    result
}

pub(super) fn sys_pselect6(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [nfds, r, w, e, tsp, sig] = a;
    let deadline = read_timeout(task, tsp)?;
    // The sixth argument points at { const sigset_t *ss; size_t ss_len; }.
    let mask_addr = if sig == 0 {
        0
    } else {
        let [ss, len]: [u64; 2] = task.mm.read_val(sig)?;
        if ss != 0 && len != 8 {
            return Err(Errno::EINVAL);
        }
        ss
    };
    with_sigmask(task, mask_addr, |task| {
        select_common(task, nfds, [r, w, e], deadline)
    })
}
