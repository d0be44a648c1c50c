//! splice, tee and vmsplice: moving bytes to and from pipes without the
//! guest copying them. Guest pipes are host pipes, so between two host
//! streams (pipes, sockets) the host's own splice and tee do the work;
//! between a pipe and a memory file the sentry copies, never taking from
//! a pipe more than it can then put down (a pipe that polls writable takes
//! PIPE_BUF bytes whole). vmsplice is writev or readv on the pipe.

use std::sync::Arc;

use rustix::event::PollFlags;
use rustix::pipe::SpliceFlags;

use super::fd_arg;
use super::io::{guest_nonblocking, sys_readv, sys_writev, wait_for_stream, MAX_RW_COUNT};
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;
use crate::vfs::File;

const SPLICE_F_NONBLOCK: u64 = 2;
const KNOWN_FLAGS: u64 = 0xf;
/// What a pipe that polls writable surely takes in one write.
const PIPE_BUF: usize = 4096;
/// Most bytes one call moves between a pipe and a file.
const CHUNK: usize = 64 * 1024;

fn is_pipe(file: &Arc<dyn File>) -> Result<bool, Errno> {
    Ok(file.stat()?.file_type() == libc::S_IFIFO)
}

/// EBADF for an O_PATH descriptor or one opened only for `refused`
/// (O_WRONLY for an input, O_RDONLY for an output).
fn open_for(file: &Arc<dyn File>, refused: i32) -> Result<(), Errno> {
    let flags = file.status_flags()?;
    if flags & libc::O_PATH as u32 != 0 || flags as i32 & libc::O_ACCMODE == refused {
        return Err(Errno::EBADF);
    }
    Ok(())
}

fn readable(file: &Arc<dyn File>) -> Result<(), Errno> {
    open_for(file, libc::O_WRONLY)
}

fn writable(file: &Arc<dyn File>) -> Result<(), Errno> {
    open_for(file, libc::O_RDONLY)
}

/// An offset argument: NULL, or a non-negative `loff_t` (EINVAL).
fn read_offset(task: &Task, ptr: u64) -> Result<Option<u64>, Errno> {
    match ptr {
        0 => Ok(None),
        p => match task.mm.read_val::<i64>(p)? {
            o if o < 0 => Err(Errno::EINVAL),
            o => Ok(Some(o as u64)),
        },
    }
}

/// Whether a transfer touching `pipes` must not block: SPLICE_F_NONBLOCK
/// or a pipe opened O_NONBLOCK.
fn nonblocking(flags: u64, pipes: &[&Arc<dyn File>]) -> Result<bool, Errno> {
    if flags & SPLICE_F_NONBLOCK != 0 {
        return Ok(true);
    }
    for p in pipes {
        if guest_nonblocking(p)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Run `attempt` (never blocking on the host) until it moves something,
/// waiting for `input` to be readable and `output` writable in between
/// unless the call must not block.
fn host_loop(
    task: &mut Task,
    input: &Arc<dyn File>,
    output: &Arc<dyn File>,
    nonblock: bool,
    mut attempt: impl FnMut() -> Result<usize, Errno>,
) -> SysResult {
    loop {
        match attempt() {
            Err(Errno::EAGAIN) if !nonblock => {
                wait_for_stream(task, input, PollFlags::IN)?;
                wait_for_stream(task, output, PollFlags::OUT)?;
            }
            r => return r.map(|n| n as u64),
        }
    }
}

pub(super) fn sys_splice(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [in_fd, in_off, out_fd, out_off, len, flags] = a;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let input = task.fds.get(fd_arg(in_fd))?;
    let output = task.fds.get(fd_arg(out_fd))?;
    readable(&input)?;
    writable(&output)?;
    let (in_pipe, out_pipe) = (is_pipe(&input)?, is_pipe(&output)?);
    if !in_pipe && !out_pipe {
        return Err(Errno::EINVAL);
    }
    if (in_pipe && in_off != 0) || (out_pipe && out_off != 0) {
        return Err(Errno::ESPIPE);
    }
    if output.status_flags()? & libc::O_APPEND as u32 != 0 {
        return Err(Errno::EINVAL);
    }
    let (in_at, out_at) = (read_offset(task, in_off)?, read_offset(task, out_off)?);
    let len = len.min(MAX_RW_COUNT) as usize;
    if len == 0 {
        return Ok(0);
    }
    let pipes: Vec<&Arc<dyn File>> = [(&input, in_pipe), (&output, out_pipe)]
        .into_iter()
        .filter(|(_, p)| *p)
        .map(|(f, _)| f)
        .collect();
    let nonblock = nonblocking(flags, &pipes)?;
    if let (Some(i), Some(o)) = (input.host_stream(), output.host_stream()) {
        // Two host streams: the host moves the bytes.
        let (i, o) = (i.try_clone_to_owned()?, o.try_clone_to_owned()?);
        return host_loop(task, &input, &output, nonblock, || {
            Ok(rustix::pipe::splice(
                &i,
                None,
                &o,
                None,
                len,
                SpliceFlags::NONBLOCK,
            )?)
        });
    }
    let moved = if in_pipe {
        pipe_to_file(task, &input, &output, out_at, len, nonblock)?
    } else {
        file_to_pipe(task, &input, &output, in_at, len, nonblock)?
    };
    for (ptr, at) in [(in_off, in_at), (out_off, out_at)] {
        if let Some(at) = at {
            task.mm.write_val(ptr, &((at + moved) as i64))?;
        }
    }
    Ok(moved)
}

/// From a pipe into a memory file (at `at`, or its offset).
fn pipe_to_file(
    task: &mut Task,
    pipe: &Arc<dyn File>,
    file: &Arc<dyn File>,
    at: Option<u64>,
    len: usize,
    nonblock: bool,
) -> SysResult {
    let mut buf = vec![0u8; len.min(CHUNK)];
    let n = host_loop(task, pipe, file, nonblock, || pipe.read(&mut buf))? as usize;
    let mut done = 0;
    while done < n {
        let k = match at {
            Some(o) => file.pwrite(&buf[done..n], o + done as u64)?,
            None => file.write(&buf[done..n])?,
        };
        if k == 0 {
            break;
        }
        done += k;
    }
    Ok(done as u64)
}

/// From a memory file (at `at`, or its offset) into a pipe, PIPE_BUF at a
/// time so that nothing read is left without a place in the pipe.
fn file_to_pipe(
    task: &mut Task,
    file: &Arc<dyn File>,
    pipe: &Arc<dyn File>,
    at: Option<u64>,
    len: usize,
    nonblock: bool,
) -> SysResult {
    let mut done = 0usize;
    let mut buf = [0u8; PIPE_BUF];
    while done < len.min(CHUNK) {
        if !nonblock && done == 0 {
            wait_for_stream(task, pipe, PollFlags::OUT)?;
        }
        let want = (len - done).min(PIPE_BUF);
        let n = match at {
            Some(o) => file.pread(&mut buf[..want], o + done as u64)?,
            None => file.read(&mut buf[..want])?,
        };
        if n == 0 {
            break;
        }
        match pipe.write(&buf[..n]) {
            Ok(k) => {
                done += k;
                if k < n && at.is_none() {
                    let _ = file.seek(-((n - k) as i64), libc::SEEK_CUR);
                }
                if k < n {
                    break;
                }
            }
            Err(e) => {
                if at.is_none() {
                    let _ = file.seek(-(n as i64), libc::SEEK_CUR);
                }
                if done == 0 {
                    return Err(e);
                }
                break;
            }
        }
    }
    Ok(done as u64)
}

/// tee(fd_in, fd_out, len, flags): copy from one pipe into another,
/// leaving the bytes in the first.
pub(super) fn sys_tee(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [in_fd, out_fd, len, flags, ..] = a;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let input = task.fds.get(fd_arg(in_fd))?;
    let output = task.fds.get(fd_arg(out_fd))?;
    readable(&input)?;
    writable(&output)?;
    if !is_pipe(&input)? || !is_pipe(&output)? {
        return Err(Errno::EINVAL);
    }
    let (Some(i), Some(o)) = (input.host_stream(), output.host_stream()) else {
        return Err(Errno::EINVAL);
    };
    let (i, o) = (i.try_clone_to_owned()?, o.try_clone_to_owned()?);
    let len = len.min(MAX_RW_COUNT) as usize;
    if len == 0 {
        return Ok(0);
    }
    let nonblock = nonblocking(flags, &[&input, &output])?;
    host_loop(task, &input, &output, nonblock, || {
        Ok(rustix::pipe::tee(&i, &o, len, SpliceFlags::NONBLOCK)?)
    })
}

/// vmsplice(fd, iov, nr_segs, flags): writev into a pipe's write end, or
/// readv from its read end.
pub(super) fn sys_vmsplice(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [fd, iov, nr, flags, ..] = a;
    if flags & !KNOWN_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let file = task.fds.get(fd_arg(fd))?;
    if !is_pipe(&file)? {
        return Err(Errno::EBADF);
    }
    let mode = file.status_flags()? as i32 & libc::O_ACCMODE;
    let args = [fd, iov, nr, 0, 0, 0];
    match mode {
        libc::O_WRONLY => sys_writev(task, args),
        libc::O_RDONLY => sys_readv(task, args),
        _ => Err(Errno::EBADF),
    }
}
