//! The file system calls driven through the system-call table on a task
//! whose guest memory is real (a memory file) but whose address space is
//! never run: no platform needed.

use std::any::Any;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

use vmm::{Access, AddressSpace, FileRange, MemoryFile, Regs, PAGE_SIZE};

use crate::errno::Errno;
use crate::kernel::task::{RLimit, RLIM_NLIMITS};
use crate::kernel::{Credentials, Task};
use crate::mm::{Layout, MemoryManager, Placement, VmaKind};
use crate::syscalls::dispatch;
use crate::vfs::hostfs::tests::TempDir;
use crate::vfs::{FdTable, FsContext};

/// An address space nothing runs in: guest memory lives in the memory
/// file, which is all the system calls touch.
struct Unmapped;

impl AddressSpace for Unmapped {
    fn map_file(&self, _addr: u64, _range: FileRange, _perms: Access) -> vmm::Result<()> {
        Ok(())
    }

    fn unmap(&self, _addr: u64, _len: u64) -> vmm::Result<()> {
        Ok(())
    }

    fn spawn_thread(&self) -> vmm::Result<Box<dyn vmm::ThreadSeed>> {
        Err(vmm::PlatformError::Protocol(
            "no threads in this test".into(),
        ))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn task_in(root: &Path, cwd: &str) -> Task {
    let mf = Arc::new(MemoryFile::new(64 << 20).unwrap());
    let layout = Layout::for_max_address(0x7fff_ffff_f000);
    let creds = Credentials::new(0, 0);
    let rlimits = [RLimit {
        cur: 1024,
        max: 1024,
    }; RLIM_NLIMITS];
    let mm = MemoryManager::new(mf, Box::new(Unmapped), layout);
    let fs = FsContext::new(root, cwd).unwrap();
    let mut task = Task::new(1, Regs::new_user(0, 0), mm, FdTable::new(), fs, creds, b"");
    task.rlimits = rlimits;
    // The table /proc looks the task up in.
    task.procs.add(0, task.inbox.clone(), 0).unwrap();
    task.procs.set_group(1, task.group.clone());
    task
}

/// Make system call `nr` as the guest would.
fn sys(task: &mut Task, nr: i64, args: &[u64]) -> Result<u64, Errno> {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    let r = dispatch(task, nr as u64, a);
    if (r as i64) < 0 && (r as i64) >= -4095 {
        Err(Errno(-(r as i64) as i32))
    } else {
        Ok(r)
    }
}

/// `len` bytes of fresh guest memory with `perms`.
fn alloc(task: &mut Task, len: u64, perms: Access) -> u64 {
    task.mm
        .lock()
        .map_anon(Placement::Hint(0), len, perms, VmaKind::Anon)
        .unwrap()
}

/// A NUL-terminated copy of `s` in guest memory.
fn cstr(task: &mut Task, s: &str) -> u64 {
    let at = alloc(task, s.len() as u64 + 1, Access::READ | Access::WRITE);
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    task.mm.copy_out(at, &bytes).unwrap();
    at
}

fn guest_bytes(task: &mut Task, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    task.mm.copy_in(addr, &mut buf).unwrap();
    buf
}

fn open(task: &mut Task, path: &str, flags: i32) -> Result<u64, Errno> {
    let p = cstr(task, path);
    sys(
        task,
        libc::SYS_openat,
        &[libc::AT_FDCWD as u64, p, flags as u64],
    )
}

/// The kernel's O_LARGEFILE on x86-64 (libc's constant is 0 there).
const O_LARGEFILE: u64 = 0o100000;

/// 10 000 bytes that differ from offset to offset.
fn pattern() -> Vec<u8> {
    (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn reads_stop_where_guest_memory_does() {
    let t = TempDir::new("sys-read");
    fs::write(t.0.join("data"), pattern()).unwrap();
    let task = &mut task_in(&t.0, "/");
    let data = pattern();
    let fd = open(task, "data", libc::O_RDONLY).unwrap();
    let rw = Access::READ | Access::WRITE;
    let area = alloc(task, 3 * PAGE_SIZE, rw);
    let ro = area + PAGE_SIZE;
    task.mm.lock().protect(ro, PAGE_SIZE, Access::READ).unwrap();
    let seek_cur = |task: &mut Task| sys(task, libc::SYS_lseek, &[fd, 0, libc::SEEK_CUR as u64]);

    // Five writable bytes, then a read-only page: a short read.
    assert_eq!(sys(task, libc::SYS_read, &[fd, ro - 5, 100]), Ok(5));
    assert_eq!(guest_bytes(task, ro - 5, 5), data[..5]);
    assert_eq!(seek_cur(task), Ok(5));
    // Nothing writable: EFAULT, and the file offset did not move.
    assert_eq!(sys(task, libc::SYS_read, &[fd, ro, 10]), Err(Errno::EFAULT));
    assert_eq!(sys(task, libc::SYS_read, &[fd, 1, 10]), Err(Errno::EFAULT));
    let kernel = 0xffff_8800_0000_0000;
    assert_eq!(
        sys(task, libc::SYS_read, &[fd, kernel, 10]),
        Err(Errno::EFAULT)
    );
    assert_eq!(
        sys(task, libc::SYS_read, &[fd, area, u64::MAX]),
        Err(Errno::EFAULT)
    );
    assert_eq!(seek_cur(task), Ok(5));
    assert_eq!(sys(task, libc::SYS_read, &[fd, 0, 0]), Ok(0));

    // pread neither uses nor moves the offset.
    assert_eq!(sys(task, libc::SYS_pread64, &[fd, area, 4, 100]), Ok(4));
    assert_eq!(guest_bytes(task, area, 4), data[100..104]);
    assert_eq!(seek_cur(task), Ok(5));
    assert_eq!(
        sys(task, libc::SYS_pread64, &[fd, area, 4, u64::MAX]),
        Err(Errno::EINVAL)
    );

    // A whole read in one go, and the end of the file.
    let big = alloc(task, 16 * PAGE_SIZE, rw);
    assert_eq!(sys(task, libc::SYS_read, &[fd, big, 20_000]), Ok(9_995));
    assert_eq!(guest_bytes(task, big, 9_995), data[5..]);
    assert_eq!(sys(task, libc::SYS_read, &[fd, big, 20_000]), Ok(0));

    // The tree is read-only.
    assert_eq!(
        sys(task, libc::SYS_write, &[fd, area, 1]),
        Err(Errno::EBADF)
    );
    assert_eq!(
        sys(task, libc::SYS_pwrite64, &[fd, area, 1, 0]),
        Err(Errno::EBADF)
    );
    // A bad descriptor comes before a bad buffer.
    assert_eq!(sys(task, libc::SYS_read, &[77, 1, 1]), Err(Errno::EBADF));
}

#[test]
fn vectored_io_fills_buffers_in_order() {
    let t = TempDir::new("sys-readv");
    fs::write(t.0.join("data"), pattern()).unwrap();
    let task = &mut task_in(&t.0, "/");
    let data = pattern();
    let fd = open(task, "data", libc::O_RDONLY).unwrap();
    let rw = Access::READ | Access::WRITE;
    let bufs = alloc(task, 2 * PAGE_SIZE, rw);
    let iov = alloc(task, PAGE_SIZE, rw);
    let write_iov = |task: &mut Task, v: &[(u64, u64)]| {
        let raw: Vec<u64> = v.iter().flat_map(|&(b, l)| [b, l]).collect();
        task.mm.copy_out(iov, bytemuck::cast_slice(&raw)).unwrap();
    };
    write_iov(task, &[(bufs, 1), (bufs + 100, 0), (bufs + 200, 7)]);
    assert_eq!(sys(task, libc::SYS_readv, &[fd, iov, 3]), Ok(8));
    assert_eq!(guest_bytes(task, bufs, 1), data[..1]);
    assert_eq!(guest_bytes(task, bufs + 200, 7), data[1..8]);
    assert_eq!(sys(task, libc::SYS_preadv, &[fd, iov, 3, 50]), Ok(8));
    assert_eq!(guest_bytes(task, bufs + 200, 7), data[51..58]);

    // The second buffer is bad: the first one's bytes are the result.
    write_iov(task, &[(bufs, 3), (1, 4)]);
    assert_eq!(sys(task, libc::SYS_preadv, &[fd, iov, 2, 0]), Ok(3));
    // Outside the user half, or a negative length: the whole call fails.
    write_iov(task, &[(bufs, 3), (0xffff_8800_0000_0000, 4)]);
    assert_eq!(
        sys(task, libc::SYS_readv, &[fd, iov, 2]),
        Err(Errno::EFAULT)
    );
    write_iov(task, &[(bufs, 3), (bufs, u64::MAX)]);
    assert_eq!(
        sys(task, libc::SYS_readv, &[fd, iov, 2]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(task, libc::SYS_readv, &[fd, iov, 1025]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(task, libc::SYS_readv, &[fd, iov, 0]), Ok(0));
    assert_eq!(sys(task, libc::SYS_readv, &[fd, 1, 1]), Err(Errno::EFAULT));
}

#[test]
fn descriptors_follow_the_limit_and_flags() {
    let t = TempDir::new("sys-fds");
    fs::write(t.0.join("f"), "x").unwrap();
    let task = &mut task_in(&t.0, "/");
    task.rlimits[libc::RLIMIT_NOFILE as usize].cur = 4;
    let cloexec = libc::O_RDONLY | libc::O_CLOEXEC;
    assert_eq!(open(task, "f", libc::O_RDONLY), Ok(0));
    assert_eq!(open(task, "/f", cloexec), Ok(1));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[0, libc::F_GETFD as u64]),
        Ok(0)
    );
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[1, libc::F_GETFD as u64]),
        Ok(1)
    );
    assert_eq!(sys(task, libc::SYS_dup, &[1]), Ok(2));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[2, libc::F_GETFD as u64]),
        Ok(0)
    );
    let dupfd = libc::F_DUPFD_CLOEXEC as u64;
    assert_eq!(sys(task, libc::SYS_fcntl, &[0, dupfd, 0]), Ok(3));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[3, libc::F_GETFD as u64]),
        Ok(1)
    );
    assert_eq!(open(task, "f", libc::O_RDONLY), Err(Errno::EMFILE));
    assert_eq!(sys(task, libc::SYS_dup, &[0]), Err(Errno::EMFILE));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[0, dupfd, 4]),
        Err(Errno::EINVAL)
    );
    assert_eq!(sys(task, libc::SYS_dup2, &[0, 4]), Err(Errno::EBADF));
    assert_eq!(sys(task, libc::SYS_close, &[2]), Ok(0));
    assert_eq!(sys(task, libc::SYS_close, &[2]), Err(Errno::EBADF));
    assert_eq!(sys(task, libc::SYS_dup2, &[1, 2]), Ok(2));
    assert_eq!(sys(task, libc::SYS_dup2, &[1, 1]), Ok(1));
    assert_eq!(sys(task, libc::SYS_dup2, &[9, 9]), Err(Errno::EBADF));
    assert_eq!(sys(task, libc::SYS_dup3, &[1, 1, 0]), Err(Errno::EINVAL));
    assert_eq!(sys(task, libc::SYS_dup3, &[1, 2, 1]), Err(Errno::EINVAL));
    let o_cloexec = libc::O_CLOEXEC as u64;
    assert_eq!(sys(task, libc::SYS_dup3, &[0, 2, o_cloexec]), Ok(2));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[2, libc::F_GETFD as u64]),
        Ok(1)
    );
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[2, libc::F_SETFD as u64, 0]),
        Ok(0)
    );
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[2, libc::F_GETFD as u64]),
        Ok(0)
    );
    // dup'ed descriptors share the offset.
    assert_eq!(
        sys(task, libc::SYS_lseek, &[0, 1, libc::SEEK_SET as u64]),
        Ok(1)
    );
    assert_eq!(
        sys(task, libc::SYS_lseek, &[2, 0, libc::SEEK_CUR as u64]),
        Ok(1)
    );
    let getfl = libc::F_GETFL as u64;
    let nonblock = libc::O_NONBLOCK as u64;
    assert_eq!(sys(task, libc::SYS_fcntl, &[0, getfl]), Ok(O_LARGEFILE));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[0, libc::F_SETFL as u64, nonblock]),
        Ok(0)
    );
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[2, getfl]),
        Ok(O_LARGEFILE | nonblock)
    );
    assert_eq!(sys(task, libc::SYS_fcntl, &[0, 12345]), Err(Errno::EINVAL));
    let arg = alloc(task, 8, Access::READ | Access::WRITE);
    assert_eq!(
        sys(task, libc::SYS_ioctl, &[0, libc::TCGETS, arg]),
        Err(Errno::ENOTTY)
    );
    assert_eq!(sys(task, libc::SYS_ioctl, &[0, libc::FIONREAD, arg]), Ok(0));
    assert_eq!(task.mm.read_val::<i32>(arg), Ok(0));
    assert_eq!(
        sys(task, libc::SYS_ioctl, &[0, libc::FIONREAD, 1]),
        Err(Errno::EFAULT)
    );
    assert_eq!(sys(task, libc::SYS_ioctl, &[0, libc::FIOCLEX, 0]), Ok(0));
    assert_eq!(
        sys(task, libc::SYS_fcntl, &[0, libc::F_GETFD as u64]),
        Ok(1)
    );
}

#[test]
fn getdents64_lists_the_directory() {
    let t = TempDir::new("sys-getdents");
    fs::create_dir(t.0.join("d")).unwrap();
    for name in ["a", "bb", "ccc"] {
        fs::write(t.0.join("d").join(name), name).unwrap();
    }
    let task = &mut task_in(&t.0, "/");
    let fd = open(task, "d", libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
    let buf = alloc(task, PAGE_SIZE, Access::READ | Access::WRITE);
    // (Before listing: ext4 then answers EINVAL, the offset being a hash.)
    assert_eq!(sys(task, libc::SYS_read, &[fd, buf, 1]), Err(Errno::EISDIR));
    assert_eq!(
        sys(task, libc::SYS_getdents64, &[fd, buf, 8]),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        sys(task, libc::SYS_getdents64, &[fd, 1, 4096]),
        Err(Errno::EFAULT)
    );
    let n = sys(task, libc::SYS_getdents64, &[fd, buf, PAGE_SIZE]).unwrap() as usize;
    let raw = guest_bytes(task, buf, n);
    let mut names = Vec::new();
    let mut at = 0;
    while at < n {
        // linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
        let reclen = u16::from_ne_bytes([raw[at + 16], raw[at + 17]]) as usize;
        let name = &raw[at + 19..at + reclen];
        let name = &name[..name.iter().position(|&c| c == 0).unwrap()];
        names.push(String::from_utf8(name.to_vec()).unwrap());
        at += reclen;
    }
    names.sort();
    assert_eq!(names, [".", "..", "a", "bb", "ccc"]);
    assert_eq!(
        sys(task, libc::SYS_getdents64, &[fd, buf, PAGE_SIZE]),
        Ok(0)
    );
    // Rewinding lists it again.
    assert_eq!(sys(task, libc::SYS_lseek, &[fd, 0, 0]), Ok(0));
    assert_eq!(
        sys(task, libc::SYS_getdents64, &[fd, buf, PAGE_SIZE]),
        Ok(n as u64)
    );
    let file = open(task, "d/a", libc::O_RDONLY).unwrap();
    assert_eq!(
        sys(task, libc::SYS_getdents64, &[file, buf, PAGE_SIZE]),
        Err(Errno::ENOTDIR)
    );
}

#[test]
fn paths_resolve_from_cwd_and_dirfds_inside_the_root() {
    let t = TempDir::new("sys-paths");
    let root = t.0.join("root");
    fs::create_dir_all(root.join("sub/deep")).unwrap();
    fs::write(root.join("sub/inner"), "inner").unwrap();
    fs::write(t.0.join("outside"), "outside").unwrap();
    symlink("sub/deep", root.join("deeplink")).unwrap();
    symlink("inner", root.join("sub/link")).unwrap();
    let task = &mut task_in(&root, "/sub");
    let rw = Access::READ | Access::WRITE;
    let buf = alloc(task, PAGE_SIZE, rw);

    let dir = open(task, "/sub/deep", libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
    for path in ["../../../outside", "../../../../../outside", "/../outside"] {
        let p = cstr(task, path);
        let openat = sys(task, libc::SYS_openat, &[dir, p, 0]);
        assert_eq!(openat, Err(Errno::ENOENT), "{path}");
    }
    let p = cstr(task, "../inner");
    let inner = sys(task, libc::SYS_openat, &[dir, p, 0]).unwrap();
    assert_eq!(sys(task, libc::SYS_read, &[inner, buf, 100]), Ok(5));
    // A relative path from a file descriptor that is not a directory.
    let p = cstr(task, "x");
    assert_eq!(
        sys(task, libc::SYS_openat, &[inner, p, 0]),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(sys(task, libc::SYS_openat, &[99, p, 0]), Err(Errno::EBADF));
    let abs = cstr(task, "/sub");
    assert!(
        sys(task, libc::SYS_openat, &[99, abs, 0]).is_ok(),
        "dirfd unused"
    );

    // stat: relative to the cwd, through links, on descriptors.
    let st = alloc(task, PAGE_SIZE, rw);
    let size_of = |task: &mut Task| task.mm.read_val::<crate::vfs::stat::GuestStat>(st).unwrap();
    let p = cstr(task, "link");
    assert_eq!(sys(task, libc::SYS_stat, &[p, st]), Ok(0));
    assert_eq!(size_of(task).size, 5);
    assert_eq!(sys(task, libc::SYS_lstat, &[p, st]), Ok(0));
    assert_eq!(size_of(task).file_type(), libc::S_IFLNK);
    let empty = cstr(task, "");
    let at_empty = libc::AT_EMPTY_PATH as u64;
    assert_eq!(
        sys(task, libc::SYS_newfstatat, &[inner, empty, st, at_empty]),
        Ok(0)
    );
    assert_eq!(size_of(task).size, 5);
    assert_eq!(
        sys(task, libc::SYS_newfstatat, &[inner, 0, st, at_empty]),
        Ok(0)
    );
    assert_eq!(
        sys(task, libc::SYS_newfstatat, &[inner, empty, st, 0]),
        Err(Errno::ENOENT)
    );
    assert_eq!(
        sys(task, libc::SYS_newfstatat, &[inner, empty, st, 1]),
        Err(Errno::EINVAL)
    );
    let ro = alloc(task, PAGE_SIZE, Access::READ);
    assert_eq!(sys(task, libc::SYS_stat, &[p, ro]), Err(Errno::EFAULT));
    assert_eq!(sys(task, libc::SYS_fstat, &[inner, ro]), Err(Errno::EFAULT));
    assert_eq!(sys(task, libc::SYS_stat, &[1, st]), Err(Errno::EFAULT));
    let statx_mask = libc::STATX_BASIC_STATS as u64;
    assert_eq!(
        sys(
            task,
            libc::SYS_statx,
            &[inner, empty, at_empty, statx_mask, st]
        ),
        Ok(0)
    );
    let sx = task
        .mm
        .read_val::<crate::vfs::stat::GuestStatx>(st)
        .unwrap();
    assert_eq!(sx.size, 5);

    // readlink cuts to the buffer and adds no NUL.
    assert_eq!(sys(task, libc::SYS_readlink, &[p, buf, 3]), Ok(3));
    assert_eq!(guest_bytes(task, buf, 3), b"inn");
    assert_eq!(
        sys(task, libc::SYS_readlink, &[p, buf, 0]),
        Err(Errno::EINVAL)
    );
    let dot = cstr(task, ".");
    assert_eq!(
        sys(task, libc::SYS_readlink, &[dot, buf, 10]),
        Err(Errno::EINVAL)
    );

    // access: the mode bits decide (the task is root here).
    let r = libc::R_OK as u64;
    let w = libc::W_OK as u64;
    assert_eq!(sys(task, libc::SYS_access, &[p, r]), Ok(0));
    assert_eq!(sys(task, libc::SYS_access, &[p, w]), Ok(0));
    assert_eq!(sys(task, libc::SYS_access, &[p, 8]), Err(Errno::EINVAL));
    assert_eq!(
        sys(task, libc::SYS_faccessat2, &[inner, empty, r, at_empty]),
        Ok(0)
    );

    // getcwd and chdir, which resolves links to the canonical path.
    assert_eq!(sys(task, libc::SYS_getcwd, &[buf, 5]), Ok(5));
    assert_eq!(guest_bytes(task, buf, 5), b"/sub\0");
    assert_eq!(sys(task, libc::SYS_getcwd, &[buf, 4]), Err(Errno::ERANGE));
    assert_eq!(sys(task, libc::SYS_getcwd, &[ro, 100]), Err(Errno::EFAULT));
    let link = cstr(task, "/deeplink");
    assert_eq!(sys(task, libc::SYS_chdir, &[link]), Ok(0));
    assert_eq!(task.fs.cwd(), b"/sub/deep");
    let up = cstr(task, "../../../..");
    assert_eq!(sys(task, libc::SYS_chdir, &[up]), Ok(0));
    assert_eq!(task.fs.cwd(), b"/");
    assert_eq!(sys(task, libc::SYS_chdir, &[p]), Err(Errno::ENOENT));
    assert_eq!(sys(task, libc::SYS_fchdir, &[dir]), Ok(0));
    assert_eq!(task.fs.cwd(), b"/sub/deep");
    assert_eq!(sys(task, libc::SYS_fchdir, &[inner]), Err(Errno::ENOTDIR));

    // Opening for writing works, in memory only.
    let creat = libc::O_CREAT | libc::O_WRONLY;
    assert!(open(task, "/new", creat).is_ok());
    assert!(open(task, "/sub/inner", libc::O_RDWR).is_ok());
    let x = cstr(task, "/x");
    assert!(sys(task, libc::SYS_creat, &[x, 0o644]).is_ok());
    assert!(!root.join("new").exists() && !root.join("x").exists());
    assert_eq!(sys(task, libc::SYS_open, &[1, 0]), Err(Errno::EFAULT));
    let long = cstr(task, &"a".repeat(5000));
    assert_eq!(
        sys(task, libc::SYS_open, &[long, 0]),
        Err(Errno::ENAMETOOLONG)
    );
}

#[test]
fn file_mmap_is_a_copy_of_the_file() {
    let t = TempDir::new("sys-mmap");
    fs::write(t.0.join("data"), pattern()).unwrap();
    fs::create_dir(t.0.join("dir")).unwrap();
    let task = &mut task_in(&t.0, "/");
    let data = pattern();
    let fd = open(task, "data", libc::O_RDONLY).unwrap();
    let prot_r = libc::PROT_READ as u64;
    let private = libc::MAP_PRIVATE as u64;
    let shared = libc::MAP_SHARED as u64;
    let len = 4 * PAGE_SIZE;
    let at = sys(task, libc::SYS_mmap, &[0, len, prot_r, private, fd, 0]).unwrap();
    let bytes = guest_bytes(task, at, len as usize);
    assert_eq!(bytes[..data.len()], data[..]);
    assert!(bytes[data.len()..].iter().all(|&b| b == 0), "zero past EOF");
    // PROT_READ: the guest cannot write it.
    assert_eq!(task.mm.copy_out(at, b"x"), Err(Errno::EFAULT));
    let at = sys(
        task,
        libc::SYS_mmap,
        &[0, PAGE_SIZE, prot_r, shared, fd, PAGE_SIZE],
    )
    .unwrap();
    assert_eq!(guest_bytes(task, at, 16), data[4096..4112]);
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let at = sys(task, libc::SYS_mmap, &[0, PAGE_SIZE, rw, private, fd, 0]).unwrap();
    task.mm.copy_out(at, b"changed").unwrap();
    assert_eq!(
        fs::read(t.0.join("data")).unwrap(),
        data,
        "the file is untouched"
    );

    let mmap = |task: &mut Task, flags: u64, fd: u64| {
        sys(task, libc::SYS_mmap, &[0, PAGE_SIZE, rw, flags, fd, 0])
    };
    assert_eq!(mmap(task, shared, fd), Err(Errno::EACCES));
    assert_eq!(mmap(task, private, 55), Err(Errno::EBADF));
    let dir = open(task, "dir", libc::O_RDONLY).unwrap();
    assert_eq!(mmap(task, private, dir), Err(Errno::ENODEV));
    let path_fd = open(task, "data", libc::O_PATH).unwrap();
    assert_eq!(mmap(task, private, path_fd), Err(Errno::EBADF));
}

#[test]
fn guest_stdio_can_be_closed_without_closing_the_sentrys() {
    let t = TempDir::new("sys-stdio");
    let task = &mut task_in(&t.0, "/");
    task.fds = FdTable::with_host_stdio();
    for fd in 0..3 {
        assert_eq!(
            sys(task, libc::SYS_fcntl, &[fd, libc::F_GETFD as u64]),
            Ok(0)
        );
    }
    assert_eq!(sys(task, libc::SYS_close, &[2]), Ok(0));
    assert_eq!(sys(task, libc::SYS_close, &[1]), Ok(0));
    assert!(rustix::io::fcntl_getfd(rustix::stdio::stderr()).is_ok());
    assert!(rustix::io::fcntl_getfd(rustix::stdio::stdout()).is_ok());
    // The freed numbers are reused lowest first.
    assert_eq!(open(task, "/", libc::O_RDONLY), Ok(1));
}

mod tree_tests;
