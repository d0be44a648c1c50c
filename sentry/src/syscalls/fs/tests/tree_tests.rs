//! The calls that change the tree, through the system-call table: every
//! change shows to the guest and none reaches the host.

use super::*;

fn path(task: &mut Task, s: &str) -> u64 {
    cstr(task, s)
}

/// The names getdents64 gives for directory `dir`, sorted, without `.`
/// and `..`.
fn names(task: &mut Task, dir: &str) -> Vec<String> {
    let fd = open(task, dir, libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
    let buf = alloc(task, 4096, Access::READ | Access::WRITE);
    let mut out = Vec::new();
    loop {
        let n = sys(task, libc::SYS_getdents64, &[fd, buf, 4096]).unwrap() as usize;
        if n == 0 {
            break;
        }
        let bytes = guest_bytes(task, buf, n);
        let mut at = 0;
        while at < n {
            let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
            let name = &bytes[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&c| c == 0).unwrap()];
            let name = String::from_utf8(name.to_vec()).unwrap();
            if name != "." && name != ".." {
                out.push(name);
            }
            at += reclen;
        }
    }
    sys(task, libc::SYS_close, &[fd]).unwrap();
    out.sort();
    out
}

fn write_file(task: &mut Task, p: &str, bytes: &[u8], flags: i32) -> Result<(), Errno> {
    let fd = open(task, p, flags)?;
    let buf = alloc(
        task,
        bytes.len().max(1) as u64,
        Access::READ | Access::WRITE,
    );
    task.mm.copy_out(buf, bytes).unwrap();
    assert_eq!(
        sys(task, libc::SYS_write, &[fd, buf, bytes.len() as u64]),
        Ok(bytes.len() as u64)
    );
    sys(task, libc::SYS_close, &[fd]).unwrap();
    Ok(())
}

fn read_file(task: &mut Task, p: &str) -> Result<Vec<u8>, Errno> {
    let fd = open(task, p, libc::O_RDONLY)?;
    let buf = alloc(task, 1 << 16, Access::READ | Access::WRITE);
    let n = sys(task, libc::SYS_read, &[fd, buf, 1 << 16])?;
    sys(task, libc::SYS_close, &[fd]).unwrap();
    Ok(guest_bytes(task, buf, n as usize))
}

fn stat(task: &mut Task, p: &str, nr: i64) -> Result<crate::vfs::stat::GuestStat, Errno> {
    let a = path(task, p);
    let buf = alloc(task, 144, Access::READ | Access::WRITE);
    sys(task, nr, &[a, buf])?;
    Ok(task.mm.read_val(buf).unwrap())
}

/// Every file below `dir` with its contents or link target, to compare
/// the host tree before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let bytes = if meta.file_type().is_symlink() {
                fs::read_link(&p)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_dir() {
                stack.push(p.clone());
                Vec::new()
            } else {
                fs::read(&p).unwrap()
            };
            out.push((p.display().to_string(), bytes, meta.permissions().mode()));
        }
    }
    out.sort();
    out
}

/// `<tmp>/root` with a file, a directory and a link, and a secret beside it.
fn tree() -> (TempDir, std::path::PathBuf) {
    let t = TempDir::new("sys-tree");
    let root = t.0.join("root");
    fs::create_dir_all(root.join("sub/deep")).unwrap();
    fs::write(root.join("data"), "data").unwrap();
    fs::write(root.join("sub/a"), "a").unwrap();
    fs::write(root.join("sub/b"), "b").unwrap();
    symlink("data", root.join("link")).unwrap();
    fs::write(t.0.join("secret"), "secret").unwrap();
    (t, root)
}

#[test]
fn writes_creates_renames_and_deletes_stay_in_memory() {
    let (t, root) = tree();
    let before = snapshot(&t.0);
    let task = &mut task_in(&root, "/");
    let rw = libc::O_RDWR;
    let creat = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;

    // Copy-up: writing a host file changes only the guest's view.
    write_file(task, "/data", b"DA", rw).unwrap();
    assert_eq!(read_file(task, "/data").unwrap(), b"DAta");
    assert_eq!(read_file(task, "/link").unwrap(), b"DAta");
    let d = path(task, "/data");
    assert_eq!(sys(task, libc::SYS_truncate, &[d, 2]), Ok(0));
    assert_eq!(read_file(task, "/data").unwrap(), b"DA");

    // Create, rename over an existing file, unlink.
    write_file(task, "/sub/new", b"new", creat).unwrap();
    let (new, a, b) = (
        path(task, "/sub/new"),
        path(task, "/sub/a"),
        path(task, "/sub/b"),
    );
    assert_eq!(sys(task, libc::SYS_rename, &[new, a]), Ok(0));
    assert_eq!(read_file(task, "/sub/a").unwrap(), b"new");
    assert_eq!(sys(task, libc::SYS_unlink, &[b]), Ok(0));
    assert_eq!(read_file(task, "/sub/b"), Err(Errno::ENOENT));
    assert_eq!(sys(task, libc::SYS_unlink, &[b]), Err(Errno::ENOENT));
    // Readdir merges the layers minus whiteouts.
    assert_eq!(names(task, "/sub"), ["a", "deep"]);
    // A lower name removed and made again is a new, empty directory.
    let deep = path(task, "/sub/deep");
    assert_eq!(sys(task, libc::SYS_rmdir, &[deep]), Ok(0));
    assert_eq!(sys(task, libc::SYS_mkdir, &[deep, 0o700]), Ok(0));
    assert_eq!(names(task, "/sub/deep"), Vec::<String>::new());
    let st = stat(task, "/sub/deep", libc::SYS_stat).unwrap();
    assert_eq!(st.mode, libc::S_IFDIR | 0o700 & !0o022);

    // Directories: ENOTEMPTY, EEXIST, into itself EINVAL.
    let sub = path(task, "/sub");
    assert_eq!(sys(task, libc::SYS_rmdir, &[sub]), Err(Errno::ENOTEMPTY));
    assert_eq!(
        sys(task, libc::SYS_mkdir, &[sub, 0o755]),
        Err(Errno::EEXIST)
    );
    let inside = path(task, "/sub/deep/x");
    assert_eq!(
        sys(task, libc::SYS_rename, &[sub, inside]),
        Err(Errno::EINVAL)
    );
    let moved = path(task, "/moved");
    assert_eq!(sys(task, libc::SYS_rename, &[sub, moved]), Ok(0));
    assert_eq!(names(task, "/moved"), ["a", "deep"]);
    assert_eq!(read_file(task, "/moved/a").unwrap(), b"new");
    assert_eq!(
        stat(task, "/sub", libc::SYS_stat).err(),
        Some(Errno::ENOENT)
    );

    // Symbolic and hard links.
    let (tgt, l) = (path(task, "moved/a"), path(task, "/l"));
    assert_eq!(sys(task, libc::SYS_symlink, &[tgt, l]), Ok(0));
    assert_eq!(read_file(task, "/l").unwrap(), b"new");
    let buf = alloc(task, 64, Access::READ | Access::WRITE);
    assert_eq!(sys(task, libc::SYS_readlink, &[l, buf, 64]), Ok(7));
    let (ma, h) = (path(task, "/moved/a"), path(task, "/hard"));
    assert_eq!(sys(task, libc::SYS_link, &[ma, h]), Ok(0));
    assert_eq!(stat(task, "/hard", libc::SYS_stat).unwrap().nlink, 2);
    write_file(task, "/hard", b"HARD", libc::O_WRONLY).unwrap();
    assert_eq!(read_file(task, "/moved/a").unwrap(), b"HARD");
    let m = path(task, "/moved");
    assert_eq!(sys(task, libc::SYS_link, &[m, h]), Err(Errno::EEXIST));
    let h2 = path(task, "/h2");
    assert_eq!(sys(task, libc::SYS_link, &[m, h2]), Err(Errno::EPERM));

    // Metadata.
    assert_eq!(sys(task, libc::SYS_chmod, &[h, 0o4711]), Ok(0));
    assert_eq!(
        stat(task, "/moved/a", libc::SYS_stat).unwrap().mode,
        libc::S_IFREG | 0o4711
    );
    assert_eq!(sys(task, libc::SYS_umask, &[0o077]), Ok(0o022));
    let ms = path(task, "/masked");
    assert!(sys(task, libc::SYS_creat, &[ms, 0o666]).is_ok());
    let st = stat(task, "/masked", libc::SYS_stat).unwrap();
    assert_eq!(st.mode & 0o777, 0o600);
    let times = alloc(task, 32, Access::READ | Access::WRITE);
    task.mm.write_val(times, &[5i64, 6, 7, 8]).unwrap();
    let fdcwd = libc::AT_FDCWD as u64;
    assert_eq!(
        sys(task, libc::SYS_utimensat, &[fdcwd, ms, times, 0]),
        Ok(0)
    );
    let st = stat(task, "/masked", libc::SYS_stat).unwrap();
    assert_eq!(
        (st.atime, st.atime_nsec, st.mtime, st.mtime_nsec),
        (5, 6, 7, 8)
    );

    // The host tree is exactly as it was.
    assert_eq!(snapshot(&t.0), before);
}

#[test]
fn mounts_devices_and_statfs() {
    let (t, root) = tree();
    let before = snapshot(&t.0);
    let task = &mut task_in(&root, "/");
    let creat = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
    // /tmp is tmpfs, whatever the host has.
    write_file(task, "/tmp/x", b"tmp", creat).unwrap();
    assert_eq!(names(task, "/tmp"), ["x"]);
    let (x, y) = (path(task, "/tmp/x"), path(task, "/y"));
    assert_eq!(sys(task, libc::SYS_rename, &[x, y]), Err(Errno::EXDEV));
    assert_eq!(sys(task, libc::SYS_link, &[x, y]), Err(Errno::EXDEV));
    let tmp = path(task, "/tmp");
    assert_eq!(sys(task, libc::SYS_unlink, &[x]), Ok(0));
    assert_eq!(sys(task, libc::SYS_rmdir, &[tmp]), Err(Errno::EBUSY));
    let buf = alloc(task, 120, Access::READ | Access::WRITE);
    assert_eq!(sys(task, libc::SYS_statfs, &[tmp, buf]), Ok(0));
    assert_eq!(task.mm.read_val::<i64>(buf), Ok(0x0102_1994));
    let r = path(task, "/");
    assert_eq!(sys(task, libc::SYS_statfs, &[r, buf]), Ok(0));
    assert_eq!(task.mm.read_val::<i64>(buf), Ok(0x794c_7630));
    assert_ne!(
        stat(task, "/tmp", libc::SYS_stat).unwrap().dev,
        stat(task, "/", libc::SYS_stat).unwrap().dev
    );
    // A program written to /tmp can be loaded.
    let fd = open(task, "/tmp/prog", creat).unwrap();
    sys(task, libc::SYS_fchmod, &[fd, 0o755]).unwrap();
    let exe = task.fs.open_executable(b"/tmp/prog", &*task).unwrap();
    assert_eq!((exe.bytes, exe.path), (Vec::new(), b"/tmp/prog".to_vec()));
    // /dev's devices.
    write_file(task, "/dev/null", b"gone", libc::O_WRONLY).unwrap();
    assert_eq!(read_file(task, "/dev/null").unwrap(), b"");
    let fd = open(task, "/dev/zero", libc::O_RDONLY).unwrap();
    let b = alloc(task, 8, Access::READ | Access::WRITE);
    task.mm.copy_out(b, &[1; 8]).unwrap();
    assert_eq!(sys(task, libc::SYS_read, &[fd, b, 8]), Ok(8));
    assert_eq!(guest_bytes(task, b, 8), [0; 8]);
    let full = open(task, "/dev/full", libc::O_WRONLY).unwrap();
    assert_eq!(
        sys(task, libc::SYS_write, &[full, b, 8]),
        Err(Errno::ENOSPC)
    );
    assert_eq!(snapshot(&t.0), before);
}

#[test]
fn guest_links_never_lead_out_of_the_root() {
    let (t, root) = tree();
    let secret = t.0.join("secret");
    let task = &mut task_in(&root, "/");
    for (target, name) in [
        ("../secret", "/up"),
        ("/../secret", "/abs"),
        (secret.to_str().unwrap(), "/host"),
        ("/sub/../../../secret", "/dots"),
    ] {
        let (tp, np) = (path(task, target), path(task, name));
        assert_eq!(sys(task, libc::SYS_symlink, &[tp, np]), Ok(0), "{name}");
        assert_eq!(read_file(task, name), Err(Errno::ENOENT), "{name}");
    }
    // Creating through such a link makes a file inside the root.
    let creat = libc::O_CREAT | libc::O_WRONLY;
    write_file(task, "/abs", b"mine", creat).unwrap();
    // (The host path of the secret names nothing in the guest's tree:
    // its /tmp is tmpfs.)
    assert_eq!(write_file(task, "/host", b"x", creat), Err(Errno::ENOENT));
    assert_eq!(read_file(task, "/secret").unwrap(), b"mine");
    for name in ["/up", "/dots"] {
        assert_eq!(read_file(task, name).unwrap(), b"mine", "{name}");
    }
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
    // Loops end in ELOOP.
    let (a, b) = (path(task, "/loop_a"), path(task, "/loop_b"));
    sys(task, libc::SYS_symlink, &[b, a]).unwrap();
    sys(task, libc::SYS_symlink, &[a, b]).unwrap();
    assert_eq!(read_file(task, "/loop_a"), Err(Errno::ELOOP));
    let selfp = path(task, "/self");
    sys(task, libc::SYS_symlink, &[selfp, selfp]).unwrap();
    assert_eq!(
        stat(task, "/self/x", libc::SYS_stat).err(),
        Some(Errno::ELOOP)
    );
    assert_eq!(
        open(task, "/self", libc::O_RDONLY | libc::O_NOFOLLOW),
        Err(Errno::ELOOP)
    );
    assert!(!root.join("secret").exists());
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
}
