//! hostfs: the host tree under `--root`, passed through read-only.
//!
//! Every lookup is one `openat2(root, path, RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)`: the host kernel walks the guest's absolute path
//! as if `root` were `/`, so `..` stops at the root and symbolic links,
//! absolute or relative, resolve inside it. Nothing here ever names a host
//! path the guest wrote in any other way.
//!
//! Opening for writing answers as Linux does on a read-only mount (EROFS,
//! after the checks that come first there: EEXIST, EISDIR, ENOTDIR, ELOOP,
//! EACCES, ENOENT). Host descriptors are always close-on-exec and never
//! become the sentry's controlling terminal.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{openat2, AtFlags, Mode, OFlags, ResolveFlags, StatxFlags};

use crate::errno::Errno;
use crate::vfs::host_file::HostFile;
use crate::vfs::path::{clean, has_trailing_slash, join, split_last};
use crate::vfs::stat::{GuestStat, GuestStatx};

/// How every lookup resolves: confined to the root, no /proc magic links.
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// `__O_TMPFILE`, the bit that `O_TMPFILE` adds to `O_DIRECTORY`.
pub(crate) const O_TMPFILE_BIT: i32 = 0o20000000;

/// The kernel's `O_LARGEFILE` on x86-64 (libc's constant is 0 there).
const O_LARGEFILE: i32 = 0o100000;

/// Flags of a read-only `open` that reach the host unchanged. Anything
/// else the guest passes is either handled by the sentry (`O_CLOEXEC`),
/// refused (the writing ones) or meaningless here.
const PASSED_FLAGS: i32 = libc::O_NONBLOCK
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_APPEND
    | libc::O_NOATIME
    | O_LARGEFILE
    | libc::O_DIRECT
    | libc::O_SYNC
    | libc::O_DSYNC;

/// procfs's `f_type`: host procfs describes the sentry, not the guest.
pub(crate) const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The character devices a read-only tree still lets the guest write, as
/// a read-only mount does: /dev/null, /dev/zero, /dev/full, /dev/random and
/// /dev/urandom. Writing them changes nothing anyone else sees.
pub fn harmless_device(mode: u32, rdev: u64) -> bool {
    mode & libc::S_IFMT == libc::S_IFCHR
        && libc::major(rdev) == 1
        && matches!(libc::minor(rdev), 3 | 5 | 7 | 8 | 9)
}

/// Does an `open` with these flags ask to write or create?
pub fn wants_write(flags: i32) -> bool {
    flags & libc::O_PATH == 0
        && (flags & libc::O_ACCMODE != libc::O_RDONLY
            || flags & (libc::O_CREAT | libc::O_TRUNC | O_TMPFILE_BIT) != 0)
}

/// Flag combinations `open` rejects before looking at the path.
pub(crate) fn check_open_flags(flags: i32) -> Result<(), Errno> {
    if flags & libc::O_PATH != 0 {
        return Ok(());
    }
    if flags & O_TMPFILE_BIT != 0 {
        // O_TMPFILE needs O_DIRECTORY, excludes O_CREAT, and must write.
        let mask = O_TMPFILE_BIT | libc::O_DIRECTORY | libc::O_CREAT;
        if flags & mask != libc::O_TMPFILE || flags & libc::O_ACCMODE == libc::O_RDONLY {
            return Err(Errno::EINVAL);
        }
    } else if flags & (libc::O_CREAT | libc::O_DIRECTORY) == libc::O_CREAT | libc::O_DIRECTORY {
        // Refused since Linux 6.4.
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The host tree under the sandbox root.
pub struct HostFs {
    root: OwnedFd,
    /// Canonical host path of the root, to map host paths back to guest ones.
    root_host: PathBuf,
}

impl HostFs {
    pub fn new(root: &Path) -> Result<Self, Errno> {
        let root_host = root.canonicalize()?;
        let root = rustix::fs::open(
            &root_host,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(HostFs { root, root_host })
    }

    /// `openat2` below the root. `path` is an absolute guest path (a
    /// relative one is taken from the root as well).
    fn openat2(&self, path: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut flags = flags | OFlags::CLOEXEC;
        if !flags.contains(OFlags::PATH) {
            // openat2 allows nothing more with O_PATH.
            flags |= OFlags::NOCTTY;
        }
        // EAGAIN: a rename on the host raced with the walk; try again.
        for _ in 0..16 {
            match openat2(&self.root, path, flags, Mode::empty(), RESOLVE) {
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => continue,
                r => return Ok(r?),
            }
        }
        Err(Errno::EAGAIN)
    }

    /// An `O_PATH` descriptor for `path`, following a final symbolic link
    /// if `follow`.
    pub fn lookup(&self, path: &[u8], follow: bool) -> Result<OwnedFd, Errno> {
        let mut flags = OFlags::PATH;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        self.openat2(path, flags)
    }

    fn lookup_dir(&self, path: &[u8]) -> Result<OwnedFd, Errno> {
        self.openat2(path, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// `open(path, flags)`; `O_CLOEXEC` is the caller's business.
    pub fn open(&self, path: &[u8], flags: i32) -> Result<HostFile, Errno> {
        check_open_flags(flags)?;
        if flags & libc::O_PATH != 0 {
            // Linux ignores every other flag with O_PATH.
            let keep = flags & (libc::O_DIRECTORY | libc::O_NOFOLLOW);
            return self.open_host(path, OFlags::PATH | OFlags::from_bits_retain(keep as u32));
        }
        if wants_write(flags) {
            return self.open_for_write(path, flags);
        }
        let host = OFlags::RDONLY | OFlags::from_bits_retain((flags & PASSED_FLAGS) as u32);
        let file = self.open_host(path, host)?;
        if rustix::fs::fstatfs(file.host_fd())?.f_type as i64 == PROC_SUPER_MAGIC {
            // The host's /proc would show the sentry's own insides.
            return Err(Errno::EACCES);
        }
        Ok(file)
    }

    fn open_host(&self, path: &[u8], flags: OFlags) -> Result<HostFile, Errno> {
        let fd = self.openat2(path, flags)?;
        let st = rustix::fs::fstat(&fd)?;
        let writable = harmless_device(st.st_mode, st.st_rdev);
        Ok(HostFile::from_tree(
            fd,
            path.to_vec(),
            st.st_mode & libc::S_IFMT,
            writable,
        ))
    }

    /// An open that would write or create. The tree is read-only, so this
    /// fails as Linux fails on a read-only mount (EROFS, after the checks
    /// that come first there), except for the harmless character devices
    /// that Linux lets one write on such a mount too.
    fn open_for_write(&self, path: &[u8], flags: i32) -> Result<HostFile, Errno> {
        self.write_open_error(path, flags)?;
        let keep = flags & (libc::O_ACCMODE | PASSED_FLAGS);
        let file = self.open_host(path, OFlags::from_bits_retain(keep as u32))?;
        let st = rustix::fs::fstat(file.host_fd())?;
        // The check looked at the same path, but make sure of what we got.
        if !harmless_device(st.st_mode, st.st_rdev) {
            return Err(Errno::EROFS);
        }
        Ok(file)
    }

    /// Why an open that would write or create fails; `Ok` if `path` is a
    /// device that may be opened for writing anyway.
    fn write_open_error(&self, path: &[u8], flags: i32) -> Result<(), Errno> {
        if flags & O_TMPFILE_BIT != 0 {
            // An unnamed file in directory `path`.
            self.lookup_dir(path)?;
            return Err(Errno::EROFS);
        }
        let creat = flags & libc::O_CREAT != 0;
        let excl = creat && flags & libc::O_EXCL != 0;
        let follow = flags & libc::O_NOFOLLOW == 0 && !excl;
        let mut path = path.to_vec();
        // Each round follows one dangling symbolic link, as creating
        // through one creates its target; Linux gives up after 40.
        for _ in 0..40 {
            let fd = match self.lookup(&path, follow) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if creat => {
                    if follow {
                        if let Ok(target) = self.readlink(&path) {
                            path = join(split_last(&path).0, &target);
                            continue;
                        }
                    }
                    if has_trailing_slash(&path) {
                        return Err(Errno::EISDIR);
                    }
                    self.lookup_dir(split_last(&path).0)?;
                    return Err(Errno::EROFS);
                }
                Err(e) => return Err(e),
            };
            if excl {
                return Err(Errno::EEXIST);
            }
            let st = rustix::fs::fstat(&fd)?;
            let kind = st.st_mode & libc::S_IFMT;
            if kind == libc::S_IFLNK {
                return Err(Errno::ELOOP);
            }
            if kind == libc::S_IFDIR {
                return Err(Errno::EISDIR);
            }
            if flags & libc::O_DIRECTORY != 0 {
                return Err(Errno::ENOTDIR);
            }
            // Permission comes first, then the read-only mount.
            let mut mode = libc::W_OK;
            if flags & libc::O_ACCMODE != libc::O_WRONLY {
                mode |= libc::R_OK;
            }
            return match crate::host::access_fd(fd.as_fd(), mode as u32, true) {
                Err(e) if e != Errno::EROFS => Err(e),
                _ if harmless_device(st.st_mode, st.st_rdev) => Ok(()),
                _ => Err(Errno::EROFS),
            };
        }
        Err(Errno::ELOOP)
    }

    pub fn stat(&self, path: &[u8], follow: bool) -> Result<GuestStat, Errno> {
        let fd = self.lookup(path, follow)?;
        Ok(GuestStat::from(&rustix::fs::fstat(&fd)?))
    }

    pub fn statx(
        &self,
        path: &[u8],
        follow: bool,
        mask: u32,
        sync: u32,
    ) -> Result<GuestStatx, Errno> {
        let fd = self.lookup(path, follow)?;
        let flags = AtFlags::EMPTY_PATH | AtFlags::from_bits_retain(sync);
        let sx = rustix::fs::statx(&fd, c"", flags, StatxFlags::from_bits_retain(mask))?;
        Ok(GuestStatx::from(&sx))
    }

    /// `faccessat`: the host checks R_OK/X_OK (and W_OK permission); a file
    /// that passes W_OK is still on a read-only tree, so EROFS.
    pub fn access(&self, path: &[u8], mode: u32, follow: bool, eaccess: bool) -> Result<(), Errno> {
        let fd = self.lookup(path, follow)?;
        if mode == libc::F_OK as u32 {
            return Ok(());
        }
        crate::host::access_fd(fd.as_fd(), mode, eaccess)?;
        if mode & libc::W_OK as u32 != 0 {
            let st = rustix::fs::fstat(&fd)?;
            if !harmless_device(st.st_mode, st.st_rdev) {
                return Err(Errno::EROFS);
            }
        }
        Ok(())
    }

    /// The target of symbolic link `path`; EINVAL if it is not one.
    pub fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let fd = self.lookup(path, false)?;
        if rustix::fs::fstat(&fd)?.st_mode & libc::S_IFMT != libc::S_IFLNK {
            return Err(Errno::EINVAL);
        }
        Ok(rustix::fs::readlinkat(&fd, c"", Vec::new())?.into_bytes())
    }

    /// For `chdir`: check `path` is a directory the caller may search and
    /// return its canonical guest path (symbolic links and `..` resolved).
    pub fn canonical_dir(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let fd = self.lookup_dir(path)?;
        crate::host::access_fd(fd.as_fd(), libc::X_OK as u32, true)?;
        Ok(self.guest_path_of(&fd).unwrap_or_else(|| clean(path)))
    }

    /// Where the host says `fd` is, as a guest path: its host path with the
    /// root's taken off. `None` if the host cannot say (no /proc) or the
    /// file is not below the root.
    fn guest_path_of(&self, fd: &OwnedFd) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let host = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let rel = host.strip_prefix(&self.root_host).ok()?;
        let mut out = b"/".to_vec();
        out.extend_from_slice(rel.as_os_str().as_bytes());
        Some(out)
    }

    /// Whether the file `fd` is on a procfs: the host's /proc describes
    /// the sentry, so the guest never sees into it.
    pub fn is_procfs(fd: &OwnedFd) -> bool {
        rustix::fs::fstatfs(fd).is_ok_and(|s| s.f_type == PROC_SUPER_MAGIC)
    }

    /// The whole of regular file `path` (the overlay's copy-up).
    pub fn read_file(&self, path: &[u8]) -> Result<Vec<u8>, Errno> {
        let fd = self.openat2(path, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let mut f = std::fs::File::from(fd);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut bytes)?;
        Ok(bytes)
    }

    /// The entries of directory `path` as (inode, `DT_*` type, name),
    /// without `.` and `..`.
    pub fn list_dir(&self, path: &[u8]) -> Result<Vec<(u64, u8, Vec<u8>)>, Errno> {
        let fd = self.openat2(path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = crate::host::getdents64(fd.as_fd(), &mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            let mut at = 0;
            // linux_dirent64: ino u64, off i64, reclen u16, type u8, name.
            while at + 19 <= n {
                let ino = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap_or_default());
                let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
                let kind = buf[at + 18];
                if reclen == 0 || at + reclen > n {
                    break;
                }
                let name = &buf[at + 19..at + reclen];
                let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
                if name != b"." && name != b".." {
                    out.push((ino, kind, name.to_vec()));
                }
                at += reclen;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::vfs::file::File;

    /// A scratch directory removed when dropped.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "rvisor-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const OUTSIDE: &str = "outside the root\n";
    const INSIDE: &str = "inside the root\n";

    /// `<tmp>/outside.txt`, `<tmp>/etc/hostname` and a root `<tmp>/root`
    /// whose symbolic links all point out of it if followed on the host.
    fn sandbox() -> (TempDir, HostFs) {
        let t = TempDir::new("hostfs");
        let root = t.0.join("root");
        fs::create_dir_all(root.join("sub/deeper")).unwrap();
        fs::create_dir_all(t.0.join("etc")).unwrap();
        fs::write(t.0.join("outside.txt"), OUTSIDE).unwrap();
        fs::write(t.0.join("etc/hostname"), OUTSIDE).unwrap();
        fs::write(root.join("data.txt"), INSIDE).unwrap();
        fs::write(root.join("sub/deeper/file"), INSIDE).unwrap();
        let outside = t.0.join("outside.txt");
        symlink(&outside, root.join("escape")).unwrap();
        symlink("/etc/hostname", root.join("hostname")).unwrap();
        symlink("../../..", root.join("up")).unwrap();
        symlink("../outside.txt", root.join("rel_escape")).unwrap();
        symlink(&t.0, root.join("parent_dir")).unwrap();
        symlink("data.txt", root.join("link")).unwrap();
        symlink("/data.txt", root.join("abs_link")).unwrap();
        symlink("sub/deeper", root.join("deeper_link")).unwrap();
        symlink("/nonexistent/target", root.join("dangling")).unwrap();
        symlink("sub/not-yet", root.join("dangling_ok")).unwrap();
        let fs = HostFs::new(&root).unwrap();
        (t, fs)
    }

    fn read_all(f: &HostFile) -> String {
        let mut buf = vec![0u8; 4096];
        let n = f.read(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let (t, fs) = sandbox();
        let outside = t.0.join("outside.txt");
        let outside = outside.to_str().unwrap();
        let attempts = [
            "/escape".to_string(),
            "/hostname".to_string(),
            "/up/outside.txt".to_string(),
            "/up/etc/hostname".to_string(),
            "/rel_escape".to_string(),
            "/parent_dir/outside.txt".to_string(),
            "/../outside.txt".to_string(),
            "/../../../../../../etc/hostname".to_string(),
            "/sub/../../outside.txt".to_string(),
            "/sub/deeper/../../../outside.txt".to_string(),
            "../outside.txt".to_string(),
            outside.to_string(),
            format!("/up/up/up{outside}"),
            "/proc/self/root/etc/hostname".to_string(),
        ];
        for path in &attempts {
            for flags in [
                libc::O_RDONLY,
                libc::O_PATH,
                libc::O_RDONLY | libc::O_NOFOLLOW,
            ] {
                match fs.open(path.as_bytes(), flags) {
                    Err(e) => assert!(
                        [Errno::ENOENT, Errno::ELOOP].contains(&e),
                        "{path}: unexpected {e}"
                    ),
                    Ok(f) => panic!("{path} opened (flags {flags:#o}): {:?}", f.stat()),
                }
            }
            assert!(fs.stat(path.as_bytes(), true).is_err(), "{path}");
            assert!(fs.read_file(path.as_bytes()).is_err(), "{path}");
        }
        // `up` itself resolves to the root, which is fine.
        let up = fs.open(b"/up/data.txt", libc::O_RDONLY).unwrap();
        assert_eq!(read_all(&up), INSIDE);
        // The host file is really there, so the failures above were
        // confinement.
        assert_eq!(std::fs::read_to_string(outside).unwrap(), OUTSIDE);
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let (_t, fs) = sandbox();
        for path in [
            "/link",
            "/abs_link",
            "/sub/../data.txt",
            "/../data.txt",
            "/./data.txt",
        ] {
            let f = fs.open(path.as_bytes(), libc::O_RDONLY).unwrap();
            assert_eq!(read_all(&f), INSIDE, "{path}");
        }
        let f = fs.open(b"/deeper_link/file", libc::O_RDONLY).unwrap();
        assert_eq!(read_all(&f), INSIDE);
        assert_eq!(fs.readlink(b"/link").unwrap(), b"data.txt");
        assert_eq!(fs.readlink(b"/data.txt"), Err(Errno::EINVAL));
        assert_eq!(fs.readlink(b"/missing"), Err(Errno::ENOENT));
        assert_eq!(fs.stat(b"/link", false).unwrap().file_type(), libc::S_IFLNK);
        assert_eq!(fs.stat(b"/link", true).unwrap().size, INSIDE.len() as i64);
        assert_eq!(fs.stat(b"/dangling", true), Err(Errno::ENOENT));
        assert!(fs.stat(b"/dangling", false).is_ok());
    }

    #[test]
    fn open_flags_follow_linux() {
        let (_t, fs) = sandbox();
        let err = |path: &str, flags: i32| fs.open(path.as_bytes(), flags).err();
        assert_eq!(err("/data.txt", libc::O_RDONLY), None);
        assert_eq!(err("/data.txt", libc::O_RDONLY | libc::O_APPEND), None);
        assert_eq!(
            err("/data.txt", libc::O_RDONLY | libc::O_DIRECTORY),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(err("/data.txt/", libc::O_RDONLY), Some(Errno::ENOTDIR));
        assert_eq!(err("/sub", libc::O_RDONLY | libc::O_DIRECTORY), None);
        assert_eq!(
            err("/link", libc::O_RDONLY | libc::O_NOFOLLOW),
            Some(Errno::ELOOP)
        );
        assert_eq!(err("/link", libc::O_PATH | libc::O_NOFOLLOW), None);
        // O_PATH ignores the writing flags.
        assert_eq!(
            err("/data.txt", libc::O_PATH | libc::O_RDWR | libc::O_TRUNC),
            None
        );
        assert_eq!(err("/missing", libc::O_RDONLY), Some(Errno::ENOENT));
        assert_eq!(err("", libc::O_RDONLY), Some(Errno::ENOENT));
        let f = fs.open(b"/sub", libc::O_RDONLY).unwrap();
        assert_eq!(f.dir_path(), Some(&b"/sub"[..]));
        assert_eq!(f.read(&mut [0; 8]), Err(Errno::EISDIR));
    }

    #[test]
    fn writing_gets_the_read_only_answers() {
        let (_t, fs) = sandbox();
        let err = |path: &str, flags: i32| fs.open(path.as_bytes(), flags).err();
        let creat = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC;
        for (path, flags, want) in [
            ("/data.txt", libc::O_WRONLY, Errno::EROFS),
            ("/data.txt", libc::O_RDWR, Errno::EROFS),
            ("/data.txt", libc::O_RDONLY | libc::O_TRUNC, Errno::EROFS),
            ("/data.txt", creat, Errno::EROFS),
            ("/link", libc::O_WRONLY, Errno::EROFS),
            ("/data.txt", creat | libc::O_EXCL, Errno::EEXIST),
            ("/link", creat | libc::O_EXCL, Errno::EEXIST),
            ("/link", libc::O_WRONLY | libc::O_NOFOLLOW, Errno::ELOOP),
            ("/new.txt", creat, Errno::EROFS),
            ("/sub/new.txt", creat | libc::O_EXCL, Errno::EROFS),
            ("/new.txt", libc::O_WRONLY, Errno::ENOENT),
            ("/nodir/new.txt", creat, Errno::ENOENT),
            ("/data.txt/new.txt", creat, Errno::ENOTDIR),
            ("/newdir/", creat, Errno::EISDIR),
            ("/sub", libc::O_WRONLY, Errno::EISDIR),
            ("/sub", libc::O_CREAT | libc::O_RDONLY, Errno::EISDIR),
            ("/sub", libc::O_CREAT | libc::O_DIRECTORY, Errno::EINVAL),
            (
                "/data.txt",
                libc::O_WRONLY | libc::O_DIRECTORY,
                Errno::ENOTDIR,
            ),
            ("/sub", libc::O_TMPFILE | libc::O_RDWR, Errno::EROFS),
            ("/data.txt", libc::O_TMPFILE | libc::O_RDWR, Errno::ENOTDIR),
            ("/sub", libc::O_TMPFILE | libc::O_RDONLY, Errno::EINVAL),
            ("/escape", creat, Errno::ENOENT),
            ("/dangling", creat, Errno::ENOENT),
            ("/dangling_ok", creat, Errno::EROFS),
            ("/dangling_ok", creat | libc::O_NOFOLLOW, Errno::ELOOP),
            ("/dangling_ok", creat | libc::O_EXCL, Errno::EEXIST),
            ("/../escape-new", creat, Errno::EROFS),
        ] {
            assert_eq!(err(path, flags), Some(want), "open {path} flags {flags:#o}");
        }
        // Nothing was created or truncated, inside or outside the root.
        assert_eq!(
            fs.stat(b"/data.txt", true).unwrap().size,
            INSIDE.len() as i64
        );
        assert_eq!(fs.stat(b"/new.txt", true), Err(Errno::ENOENT));
        assert_eq!(fs.stat(b"/escape-new", true), Err(Errno::ENOENT));
    }

    #[test]
    fn wants_write_classifies_flags() {
        assert!(!wants_write(libc::O_RDONLY));
        assert!(!wants_write(
            libc::O_RDONLY | libc::O_APPEND | libc::O_NONBLOCK
        ));
        assert!(!wants_write(libc::O_PATH | libc::O_RDWR | libc::O_CREAT));
        assert!(wants_write(libc::O_WRONLY));
        assert!(wants_write(libc::O_RDWR));
        assert!(wants_write(libc::O_ACCMODE));
        assert!(wants_write(libc::O_RDONLY | libc::O_CREAT));
        assert!(wants_write(libc::O_RDONLY | libc::O_TRUNC));
        assert!(wants_write(libc::O_TMPFILE | libc::O_WRONLY));
    }

    #[test]
    fn access_checks_the_host_then_says_read_only() {
        let (t, fs) = sandbox();
        fs::set_permissions(t.0.join("root/data.txt"), fs::Permissions::from_mode(0o644)).unwrap();
        let r = libc::R_OK as u32;
        let w = libc::W_OK as u32;
        let x = libc::X_OK as u32;
        assert_eq!(fs.access(b"/data.txt", r, true, false), Ok(()));
        assert_eq!(fs.access(b"/data.txt", 0, true, false), Ok(()));
        assert_eq!(fs.access(b"/data.txt", w, true, false), Err(Errno::EROFS));
        assert_eq!(fs.access(b"/data.txt", x, true, false), Err(Errno::EACCES));
        assert_eq!(fs.access(b"/sub", x, true, false), Ok(()));
        assert_eq!(fs.access(b"/missing", r, true, false), Err(Errno::ENOENT));
        assert_eq!(fs.access(b"/dangling", 0, true, false), Err(Errno::ENOENT));
        assert_eq!(fs.access(b"/dangling", 0, false, false), Ok(()));
        assert_eq!(fs.access(b"/escape", 0, true, false), Err(Errno::ENOENT));
    }

    #[test]
    fn canonical_dir_resolves_links_and_dots() {
        let (_t, fs) = sandbox();
        assert_eq!(fs.canonical_dir(b"/deeper_link").unwrap(), b"/sub/deeper");
        assert_eq!(fs.canonical_dir(b"/sub/./deeper/..").unwrap(), b"/sub");
        assert_eq!(fs.canonical_dir(b"/../..").unwrap(), b"/");
        assert_eq!(fs.canonical_dir(b"/up").unwrap(), b"/");
        assert_eq!(fs.canonical_dir(b"/data.txt"), Err(Errno::ENOTDIR));
        assert_eq!(fs.canonical_dir(b"/parent_dir"), Err(Errno::ENOENT));
    }

    #[test]
    fn harmless_devices_are_writable() {
        let fs = HostFs::new(Path::new("/")).unwrap();
        let creat = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
        for flags in [libc::O_WRONLY, libc::O_RDWR, creat] {
            let f = fs.open(b"/dev/null", flags).unwrap();
            assert_eq!(f.write(b"discarded"), Ok(9));
            assert_eq!(f.access(libc::W_OK as u32, false), Ok(()));
        }
        let f = fs.open(b"/dev/zero", libc::O_RDWR).unwrap();
        let mut buf = [1u8; 4];
        assert_eq!((f.read(&mut buf), buf), (Ok(4), [0; 4]));
        assert_eq!(
            fs.access(b"/dev/null", libc::W_OK as u32, true, false),
            Ok(())
        );
        assert_eq!(
            fs.open(b"/dev/null", creat | libc::O_EXCL).err(),
            Some(Errno::EEXIST)
        );
        // Not every device: the rest stay read-only.
        assert!(harmless_device(libc::S_IFCHR, libc::makedev(1, 3)));
        assert!(
            !harmless_device(libc::S_IFCHR, libc::makedev(1, 1)),
            "/dev/mem"
        );
        assert!(
            !harmless_device(libc::S_IFCHR, libc::makedev(5, 0)),
            "/dev/tty"
        );
        assert!(!harmless_device(libc::S_IFBLK, libc::makedev(1, 3)));
        assert!(!harmless_device(libc::S_IFREG, libc::makedev(1, 3)));
    }

    #[test]
    fn host_procfs_is_refused() {
        let fs = HostFs::new(Path::new("/")).unwrap();
        for path in ["/proc/self/status", "/proc/self/mem", "/proc/version"] {
            assert_eq!(
                fs.open(path.as_bytes(), libc::O_RDONLY).err(),
                Some(Errno::EACCES),
                "{path}"
            );
        }
        // Magic links are not followed at all.
        assert_eq!(fs.stat(b"/proc/self/exe", true).err(), Some(Errno::ELOOP));
    }
}
