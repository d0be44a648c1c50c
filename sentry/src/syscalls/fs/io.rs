//! Moving bytes: read, write, readv, writev, pread64, pwrite64, preadv,
//! pwritev, sendfile, copy_file_range, getdents64. Each goes through one bounded sentry buffer
//! (`vfs::with_io_buffer`), so a call moves at most `MAX_IO` bytes, and
//! stops where guest memory stops being accessible, as Linux does.

use std::sync::Arc;

use rustix::event::PollFlags;
use vmm::Access;

use super::{accessible_len, fd_arg, user_range_ok};
use crate::errno::{Errno, SysResult};
use crate::kernel::sleep::sleep_until;
use crate::kernel::{tty_jobs, Task};
use crate::vfs::{with_io_buffer, File, MAX_IO};

/// Most iovecs one call takes (`UIO_MAXIOV`).
const IOV_MAX: u64 = 1024;
/// Most bytes one call transfers on Linux (`MAX_RW_COUNT`).
pub(super) const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !(vmm::PAGE_SIZE - 1);

/// `struct iovec`.
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct IoVec {
    base: u64,
    len: u64,
}

/// Before a blocking read or write of a host stream (a terminal, a host
/// pipe), wait until the host says it would not block, so a signal can end
/// the wait with EINTR instead of being stuck behind the host call.
pub(super) fn wait_for_stream(
    task: &mut Task,
    file: &Arc<dyn File>,
    events: PollFlags,
) -> Result<(), Errno> {
    let Some(fd) = file.host_stream() else {
        return Ok(());
    };
    if guest_nonblocking(file)? {
        return Ok(());
    }
    crate::kernel::sleep::wait_host_ready(task, fd, events)
}

pub(super) fn guest_nonblocking(file: &Arc<dyn File>) -> Result<bool, Errno> {
    Ok(file.status_flags()? & libc::O_NONBLOCK as u32 != 0)
}

/// Move bytes to or from a file the guest may use in blocking mode.
///
/// A host stream that never blocks on the host (the sentry's own pipes) is
/// tried first and waited for only when it says EAGAIN: a guest pipe
/// transfer is then one host call. Other host streams are waited for first
/// (`wait_for_stream`), and again when their host descriptor, kept
/// non-blocking (an eventfd's), says EAGAIN because another process took
/// the data first; the short sleep keeps a stream that polls ready but
/// cannot take this write (an eventfd near overflow) from spinning a CPU.
fn stream_transfer(
    task: &mut Task,
    file: &Arc<dyn File>,
    events: PollFlags,
    mut transfer: impl FnMut(&mut Task) -> SysResult,
) -> SysResult {
    if let Some(e) = file.refuses_io() {
        return Err(e);
    }
    if file.host_never_blocks() {
        loop {
            match transfer(task) {
                Err(Errno::EAGAIN) if !guest_nonblocking(file)? => {
                    wait_for_stream(task, file, events)?;
                }
                r => return r,
            }
        }
    }
    loop {
        if let Some(tty) = file.terminal() {
            tty_jobs::before_io(task, tty, events == PollFlags::IN)?;
        }
        wait_for_stream(task, file, events)?;
        match transfer(task) {
            Err(Errno::EAGAIN) if file.host_stream().is_some() && !guest_nonblocking(file)? => {
                let soon = std::time::Instant::now() + std::time::Duration::from_millis(2);
                sleep_until(task, soon).map_err(|_| Errno::ERESTARTSYS)?;
            }
            r => return r,
        }
    }
}

/// Write `buf` to `file` as the guest's write(2) does. On a host stream
/// that never blocks on the host, a blocking guest's write goes on after a
/// partial write until all of `buf` is in, as a blocking pipe write does on
/// Linux; a signal while it waits for room ends it with the count written
/// so far (ERESTARTSYS if nothing was).
fn write_stream(task: &mut Task, file: &Arc<dyn File>, buf: &[u8]) -> Result<usize, Errno> {
    if !file.host_never_blocks() || guest_nonblocking(file)? {
        return file.write(buf);
    }
    let mut done = 0;
    loop {
        match file.write(&buf[done..]) {
            Ok(n) => {
                done += n;
                if done == buf.len() {
                    return Ok(done);
                }
            }
            Err(Errno::EAGAIN) => {}
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done),
        }
        if let Err(e) = wait_for_stream(task, file, PollFlags::OUT) {
            return if done == 0 { Err(e) } else { Ok(done) };
        }
    }
}

/// A read into (`access` WRITE) or a write from (READ) one guest buffer on
/// a stream that never blocks on the host (a guest pipe): the host moves
/// the bytes straight between the pipe and guest memory, with no sentry
/// copy. `None` for other files, which take the copying path.
fn direct_transfer(
    task: &mut Task,
    file: &Arc<dyn File>,
    addr: u64,
    len: u64,
    access: Access,
) -> Option<SysResult> {
    if !file.host_never_blocks() || len == 0 {
        return None;
    }
    let fd = file.host_stream()?;
    if !user_range_ok(task, addr, len) {
        return Some(Err(Errno::EFAULT));
    }
    let len = len.min(MAX_IO as u64) as usize;
    let mut mm = task.mm.lock();
    let moved = mm.host_transfer(addr, len, access, |mf, pieces| {
        if access.contains(Access::WRITE) {
            mf.read_from_fd(fd, pieces)
        } else {
            mf.write_to_fd(fd, pieces)
        }
    });
    Some(moved.map(|n| n as u64))
}

/// `direct_transfer` for a write, which for a blocking guest goes on after
/// a partial write until all is in, as `write_stream` does (and, with no
/// sentry buffer in the way, whatever the size: a blocking pipe write on
/// Linux returns only when all of it is in).
fn direct_write(task: &mut Task, file: &Arc<dyn File>, addr: u64, len: u64) -> Option<SysResult> {
    let len = len.min(MAX_RW_COUNT);
    let mut done = 0;
    loop {
        match direct_transfer(task, file, addr + done, len - done, Access::READ)? {
            Ok(n) => done += n,
            Err(Errno::EAGAIN) if done > 0 || !matches!(guest_nonblocking(file), Ok(true)) => {}
            Err(e) if done == 0 => return Some(Err(e)),
            Err(_) => return Some(Ok(done)),
        }
        if done == len || matches!(guest_nonblocking(file), Ok(true)) {
            return Some(Ok(done));
        }
        if let Err(e) = wait_for_stream(task, file, PollFlags::OUT) {
            return Some(if done == 0 { Err(e) } else { Ok(done) });
        }
    }
}

pub(super) fn sys_read(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    stream_transfer(task, &file, PollFlags::IN, |task| {
        if let Some(r) = direct_transfer(task, &file, a[1], a[2], Access::WRITE) {
            return r;
        }
        read_to_guest(task, &[(a[1], a[2])], |buf| file.read(buf))
    })
}

pub(super) fn sys_write(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    stream_transfer(task, &file, PollFlags::OUT, |task| {
        if let Some(r) = direct_write(task, &file, a[1], a[2]) {
            return r;
        }
        write_from_guest(task, &[(a[1], a[2])], |task, buf| {
            write_stream(task, &file, buf)
        })
    })
}

pub(super) fn sys_pread64(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let offset = a[3];
    read_to_guest(task, &[(a[1], a[2])], |buf| file.pread(buf, offset))
}

pub(super) fn sys_pwrite64(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let offset = a[3];
    write_from_guest(task, &[(a[1], a[2])], |_, buf| file.pwrite(buf, offset))
}

pub(super) fn sys_readv(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let iov = read_iovecs(task, a[1], a[2])?;
    stream_transfer(task, &file, PollFlags::IN, |task| {
        read_to_guest(task, &iov, |buf| file.read(buf))
    })
}

pub(super) fn sys_writev(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let iov = read_iovecs(task, a[1], a[2])?;
    stream_transfer(task, &file, PollFlags::OUT, |task| {
        write_from_guest(task, &iov, |task, buf| write_stream(task, &file, buf))
    })
}

/// preadv(fd, iov, iovcnt, pos_l, pos_h): on x86-64 `pos_l` is the whole
/// offset.
pub(super) fn sys_preadv(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let iov = read_iovecs(task, a[1], a[2])?;
    let offset = a[3];
    read_to_guest(task, &iov, |buf| file.pread(buf, offset))
}

pub(super) fn sys_pwritev(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let iov = read_iovecs(task, a[1], a[2])?;
    let offset = a[3];
    write_from_guest(task, &iov, |_, buf| file.pwrite(buf, offset))
}

/// The RWF_* flags of preadv2/pwritev2 the sandbox takes: RWF_HIPRI,
/// RWF_DSYNC and RWF_SYNC, which change nothing for memory files. Others
/// (RWF_NOWAIT, RWF_APPEND, ...) are EOPNOTSUPP, as for a file that does
/// not support them; unknown bits too, as on Linux.
fn check_rwf(flags: u64) -> Result<(), Errno> {
    const RWF_HIPRI: u64 = 1;
    const RWF_DSYNC: u64 = 2;
    const RWF_SYNC: u64 = 4;
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

/// preadv2(fd, iov, iovcnt, pos_l, pos_h, flags): offset -1 reads at the
/// file offset, as readv.
pub(super) fn sys_preadv2(task: &mut Task, a: [u64; 6]) -> SysResult {
    check_rwf(a[5])?;
    match a[3] as i64 {
        -1 => sys_readv(task, a),
        o if o < 0 => Err(Errno::EINVAL),
        _ => sys_preadv(task, a),
    }
}

/// pwritev2: offset -1 writes at the file offset, as writev.
pub(super) fn sys_pwritev2(task: &mut Task, a: [u64; 6]) -> SysResult {
    check_rwf(a[5])?;
    match a[3] as i64 {
        -1 => sys_writev(task, a),
        o if o < 0 => Err(Errno::EINVAL),
        _ => sys_pwritev(task, a),
    }
}

/// getdents64(fd, dirent, count): the host's `linux_dirent64` records are
/// the guest's, so they pass through; the host says EINVAL if `count` is
/// too small for the next entry.
pub(super) fn sys_getdents64(task: &mut Task, a: [u64; 6]) -> SysResult {
    let file = task.fds.get(fd_arg(a[0]))?;
    let (addr, count) = (a[1], u64::from(a[2] as u32));
    let room = if user_range_ok(task, addr, count) {
        accessible_len(task, addr, count.min(MAX_IO as u64) as usize, Access::WRITE)
    } else {
        0
    };
    if room == 0 && count > 0 {
        return Err(Errno::EFAULT);
    }
    with_io_buffer(room, |buf| {
        let n = file.getdents64(buf)?;
        task.mm.copy_out(addr, &buf[..n])?;
        Ok(n as u64)
    })
}

/// Read the guest's iovec array: EINVAL for too many or a negative length,
/// EFAULT for an unreadable array or a segment outside the user half.
fn read_iovecs(task: &mut Task, addr: u64, count: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![IoVec::default(); count as usize];
    task.mm.copy_in(addr, bytemuck::cast_slice_mut(&mut raw))?;
    let mut total = 0u64;
    let mut out = Vec::with_capacity(raw.len());
    for v in raw {
        if v.len > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let len = v.len.min(MAX_RW_COUNT - total);
        if len > 0 && !user_range_ok(task, v.base, len) {
            return Err(Errno::EFAULT);
        }
        total += len;
        out.push((v.base, len));
    }
    Ok(out)
}

/// The part of `segments` a transfer uses: at most `MAX_IO` bytes, ending
/// at the first byte guest memory does not allow `access` to. Also says
/// whether any bytes were asked for at all (nothing usable then means
/// EFAULT).
fn usable(task: &mut Task, segments: &[(u64, u64)], access: Access) -> (Vec<(u64, usize)>, bool) {
    let mut out = Vec::new();
    let mut budget = MAX_IO;
    let mut asked = false;
    for &(addr, len) in segments {
        if len == 0 {
            continue;
        }
        asked = true;
        if !user_range_ok(task, addr, len) {
            // Linux's access_ok fails the whole call.
            return (Vec::new(), true);
        }
        if budget == 0 {
            break;
        }
        let want = len.min(budget as u64) as usize;
        let got = accessible_len(task, addr, want, access);
        if got > 0 {
            out.push((addr, got));
            budget -= got;
        }
        if got < want {
            break;
        }
    }
    (out, asked)
}

/// Read with `op` into guest memory `segments`, in order.
fn read_to_guest(
    task: &mut Task,
    segments: &[(u64, u64)],
    mut op: impl FnMut(&mut [u8]) -> Result<usize, Errno>,
) -> SysResult {
    let (usable, asked) = usable(task, segments, Access::WRITE);
    let total: usize = usable.iter().map(|&(_, n)| n).sum();
    if total == 0 && asked {
        // Errors the file gives for any read (EBADF, EISDIR, ...) come
        // before the guest's bad buffer; a zero-byte read consumes nothing.
        op(&mut [])?;
        return Err(Errno::EFAULT);
    }
    with_io_buffer(total, |buf| {
        let got = op(buf)?;
        let mut done = 0;
        for (addr, len) in usable {
            if done == got {
                break;
            }
            let n = len.min(got - done);
            task.mm.copy_out(addr, &buf[done..done + n])?;
            done += n;
        }
        Ok(got as u64)
    })
}

/// Write guest memory `segments`, in order, with `op`.
fn write_from_guest(
    task: &mut Task,
    segments: &[(u64, u64)],
    op: impl FnOnce(&mut Task, &[u8]) -> Result<usize, Errno>,
) -> SysResult {
    let (usable, asked) = usable(task, segments, Access::READ);
    let total: usize = usable.iter().map(|&(_, n)| n).sum();
    if total == 0 && asked {
        op(task, &[])?;
        return Err(Errno::EFAULT);
    }
    with_io_buffer(total, |buf| {
        let mut done = 0;
        for (addr, len) in usable {
            task.mm.copy_in(addr, &mut buf[done..done + len])?;
            done += len;
        }
        Ok(op(task, buf)? as u64)
    })
}

/// sendfile(out_fd, in_fd, offset, count): copy from one file to another
/// through the sentry's buffer, at most `MAX_IO` bytes a call. With an
/// offset pointer, `in_fd`'s own offset stays put and `*offset` advances.
pub(super) fn sys_sendfile(task: &mut Task, a: [u64; 6]) -> SysResult {
    let (out_fd, in_fd, off_ptr, count) = (fd_arg(a[0]), fd_arg(a[1]), a[2], a[3]);
    let input = task.fds.get(in_fd)?;
    let in_flags = input.status_flags()?;
    if in_flags & libc::O_PATH as u32 != 0 || access_mode(in_flags) == libc::O_WRONLY {
        return Err(Errno::EBADF);
    }
    let output = task.fds.get(out_fd)?;
    let out_flags = output.status_flags()?;
    if out_flags & libc::O_PATH as u32 != 0 || access_mode(out_flags) == libc::O_RDONLY {
        return Err(Errno::EBADF);
    }
    if out_flags & libc::O_APPEND as u32 != 0 {
        return Err(Errno::EINVAL);
    }
    let offset = match off_ptr {
        0 => None,
        p => match task.mm.read_val::<i64>(p)? {
            o if o < 0 => return Err(Errno::EINVAL),
            o => Some(o),
        },
    };
    let count = count.min(MAX_RW_COUNT) as usize;
    if count == 0 {
        return Ok(0);
    }
    // The sentry's own pipes never block on the host: wait for them here
    // as a blocking sendfile would.
    for (file, events) in [(&input, PollFlags::IN), (&output, PollFlags::OUT)] {
        if file.host_never_blocks() {
            wait_for_stream(task, file, events)?;
        }
    }
    let done = with_io_buffer(count, |buf| -> Result<usize, Errno> {
        let n = match offset {
            Some(o) => input.pread(buf, o as u64)?,
            None => input.read(buf)?,
        };
        let mut done = 0;
        let mut error = None;
        while done < n {
            match output.write(&buf[done..n]) {
                Ok(0) => break,
                Ok(k) => done += k,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if offset.is_none() && done < n {
            // Give back what was read but could not be written.
            let _ = input.seek(-((n - done) as i64), libc::SEEK_CUR);
        }
        match error {
            Some(e) if done == 0 => Err(e),
            _ => Ok(done),
        }
    })?;
    if let Some(o) = offset {
        task.mm.write_val(off_ptr, &(o + done as i64))?;
    }
    Ok(done as u64)
}

fn access_mode(flags: u32) -> i32 {
    flags as i32 & libc::O_ACCMODE
}

/// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags): like
/// sendfile, but either side may have an offset pointer, and both must be
/// regular files.
pub(super) fn sys_copy_file_range(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [in_fd, in_off, out_fd, out_off, len, flags] = a;
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let input = task.fds.get(fd_arg(in_fd))?;
    let output = task.fds.get(fd_arg(out_fd))?;
    let (in_flags, out_flags) = (input.status_flags()?, output.status_flags()?);
    let path = libc::O_PATH as u32;
    if in_flags & path != 0
        || out_flags & path != 0
        || access_mode(in_flags) == libc::O_WRONLY
        || access_mode(out_flags) == libc::O_RDONLY
    {
        return Err(Errno::EBADF);
    }
    if out_flags & libc::O_APPEND as u32 != 0 {
        return Err(Errno::EBADF);
    }
    let (ist, ost) = (input.stat()?, output.stat()?);
    if ist.is_dir() || ost.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !ist.is_regular() || !ost.is_regular() {
        return Err(Errno::EINVAL);
    }
    let read_off = |task: &mut Task, p: u64| -> Result<Option<u64>, Errno> {
        if p == 0 {
            return Ok(None);
        }
        match task.mm.read_val::<i64>(p)? {
            o if o < 0 => Err(Errno::EINVAL),
            o => Ok(Some(o as u64)),
        }
    };
    let ioff = read_off(task, in_off)?;
    let ooff = read_off(task, out_off)?;
    let len = len.min(MAX_RW_COUNT) as usize;
    if len == 0 {
        return Ok(0);
    }
    let done = with_io_buffer(len, |buf| -> Result<usize, Errno> {
        let n = match ioff {
            Some(o) => input.pread(buf, o)?,
            None => input.read(buf)?,
        };
        let written = match ooff {
            Some(o) => output.pwrite(&buf[..n], o)?,
            None => output.write(&buf[..n])?,
        };
        if ioff.is_none() && written < n {
            let _ = input.seek(-((n - written) as i64), libc::SEEK_CUR);
        }
        Ok(written)
    })?;
    for (ptr, off) in [(in_off, ioff), (out_off, ooff)] {
        if let Some(o) = off {
            task.mm.write_val(ptr, &((o + done as u64) as i64))?;
        }
    }
    Ok(done as u64)
}
