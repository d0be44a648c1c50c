//! devfs, mounted on /dev: the character devices a program expects, served
//! by the sentry (nothing of the host's /dev shows), and `tty`, the
//! caller's terminal, when the sentry has one. Otherwise an ordinary
//! in-memory directory (`/dev/shm` is one), so the guest may add to it.

use std::sync::Arc;

use crate::errno::Errno;
use crate::vfs::inode::{next_ino, Body, Device, Entry, Inode, Meta};
use crate::vfs::mount::FsKind;

/// (name, device, major, minor) as Linux numbers them.
const DEVICES: [(&str, Device, u32, u32); 6] = [
    ("null", Device::Null, 1, 3),
    ("zero", Device::Zero, 1, 5),
    ("full", Device::Full, 1, 7),
    ("random", Device::Random, 1, 8),
    ("urandom", Device::Urandom, 1, 9),
    ("tty", Device::Tty, 5, 0),
];

/// (name, target) of /dev's symbolic links.
const LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// The root of a fresh devfs.
pub fn new() -> Arc<Inode> {
    let dev = FsKind::Devfs.dev();
    let root = Inode::new_dir(dev, Meta::new(libc::S_IFDIR | 0o755, 0, 0), None);
    let shm = Inode::new_dir(dev, Meta::new(libc::S_IFDIR | 0o1777, 0, 0), None);
    let mut entries = root.dir_mut().expect("a new directory");
    entries.entries.insert(b"shm".to_vec(), Entry::Node(shm));
    for (name, device, major, minor) in DEVICES {
        if device == Device::Tty && open_tty().is_err() {
            continue;
        }
        let mut meta = Meta::new(libc::S_IFCHR | 0o666, 0, 0);
        meta.rdev = libc::makedev(major, minor);
        let node = Inode::new(next_ino(), dev, meta, Body::Device(device));
        entries
            .entries
            .insert(name.as_bytes().to_vec(), Entry::Node(node));
    }
    // The links every Linux /dev has (udev makes them): the caller's
    // descriptors, through procfs.
    for (name, target) in LINKS {
        let meta = Meta::new(libc::S_IFLNK | 0o777, 0, 0);
        let body = Body::Symlink(target.as_bytes().to_vec());
        let node = Inode::new(next_ino(), dev, meta, body);
        entries
            .entries
            .insert(name.as_bytes().to_vec(), Entry::Node(node));
    }
    drop(entries);
    root
}

/// The caller's terminal: the host's `/dev/tty`, which is the controlling
/// terminal of the sentry's session if it has one.
pub fn open_tty() -> Result<std::os::fd::OwnedFd, Errno> {
    use rustix::fs::{Mode, OFlags};
    Ok(rustix::fs::open(
        "/dev/tty",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Read from a sentry device (not `tty`).
pub fn read(device: Device, buf: &mut [u8]) -> Result<usize, Errno> {
    match device {
        Device::Null => Ok(0),
        Device::Zero | Device::Full => {
            buf.fill(0);
            Ok(buf.len())
        }
        Device::Random | Device::Urandom => Ok(rustix::rand::getrandom(
            buf,
            rustix::rand::GetRandomFlags::empty(),
        )?),
        Device::Tty => Err(Errno::EIO),
    }
}

/// Write to a sentry device (not `tty`): everything but /dev/full takes it.
pub fn write(device: Device, buf: &[u8]) -> Result<usize, Errno> {
    match device {
        Device::Full => Err(Errno::ENOSPC),
        Device::Tty => Err(Errno::EIO),
        _ => Ok(buf.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_behave_like_linux() {
        let mut buf = [7u8; 16];
        assert_eq!(read(Device::Null, &mut buf), Ok(0));
        assert_eq!(read(Device::Zero, &mut buf), Ok(16));
        assert_eq!(buf, [0; 16]);
        assert_eq!(read(Device::Urandom, &mut buf), Ok(16));
        assert_eq!(write(Device::Null, b"abc"), Ok(3));
        assert_eq!(write(Device::Full, b"abc"), Err(Errno::ENOSPC));
        let root = new();
        let d = root.dir().unwrap();
        for name in [
            "null", "zero", "full", "random", "urandom", "shm", "fd", "stdout",
        ] {
            assert!(d.entries.contains_key(name.as_bytes()), "{name}");
        }
        assert_eq!(root.dev, FsKind::Devfs.dev());
    }
}
