//! The mount table: which file system a directory of the tree is covered
//! by. The sandbox has four: the overlay on `/`, tmpfs on `/tmp`, devfs on
//! `/dev`, procfs on `/proc`. Each has its own `st_dev` and `statfs` magic.

use std::collections::HashMap;
use std::sync::Arc;

use crate::vfs::inode::Inode;

/// The kinds of file system the sentry mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsKind {
    Overlay,
    Tmpfs,
    Devfs,
    Procfs,
}

impl FsKind {
    /// The device number of the one mount of this kind: anonymous devices
    /// (major 0), as Linux gives memory file systems.
    pub fn dev(self) -> u64 {
        libc::makedev(
            0,
            match self {
                FsKind::Overlay => 40,
                FsKind::Tmpfs => 41,
                FsKind::Devfs => 42,
                FsKind::Procfs => 43,
            },
        )
    }

    /// `statfs`'s `f_type`.
    pub fn magic(self) -> i64 {
        match self {
            FsKind::Overlay => 0x794c_7630,               // OVERLAYFS_SUPER_MAGIC
            FsKind::Tmpfs | FsKind::Devfs => 0x0102_1994, // TMPFS_MAGIC
            FsKind::Procfs => 0x9fa0,                     // PROC_SUPER_MAGIC
        }
    }

    pub fn of_dev(dev: u64) -> Option<FsKind> {
        [
            FsKind::Overlay,
            FsKind::Tmpfs,
            FsKind::Devfs,
            FsKind::Procfs,
        ]
        .into_iter()
        .find(|k| k.dev() == dev)
    }
}

/// Mount points (by the identity of the directory covered) and the roots
/// that cover them. Identity is the inode itself, not (dev, ino): host
/// directories of different host file systems share the overlay's dev and
/// may share an inode number (the host's /dev and /proc are both 1).
#[derive(Default)]
pub struct Mounts {
    covered: HashMap<usize, (Arc<Inode>, Arc<Inode>)>,
}

/// The key of a mount point: its address, stable while the tree holds it
/// (and the table itself holds it too).
fn key(node: &Inode) -> usize {
    std::ptr::from_ref(node) as usize
}

impl Mounts {
    /// Cover directory `point` with file system root `root`.
    pub fn mount(&mut self, point: &Arc<Inode>, root: Arc<Inode>) {
        self.covered.insert(key(point), (point.clone(), root));
    }

    /// What a walk that reaches `node` sees: the root mounted on it, or it.
    pub fn cross(&self, node: Arc<Inode>) -> Arc<Inode> {
        match self.covered.get(&key(&node)) {
            Some((_, root)) => root.clone(),
            None => node,
        }
    }

    /// Whether `node` is the root of a mounted file system (which cannot
    /// be removed or renamed: EBUSY).
    pub fn is_mount_root(&self, node: &Arc<Inode>) -> bool {
        self.covered.values().any(|(_, r)| Arc::ptr_eq(r, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::inode::Meta;

    #[test]
    fn crossing_a_mount_point_gives_the_mounted_root() {
        let meta = Meta::new(libc::S_IFDIR | 0o755, 0, 0);
        let point = Inode::new_dir(FsKind::Overlay.dev(), meta, None);
        let root = Inode::new_dir(FsKind::Tmpfs.dev(), meta, None);
        let other = Inode::new_dir(FsKind::Overlay.dev(), meta, None);
        let mut m = Mounts::default();
        m.mount(&point, root.clone());
        assert!(Arc::ptr_eq(&m.cross(point.clone()), &root));
        assert!(Arc::ptr_eq(&m.cross(other.clone()), &other));
        assert!(m.is_mount_root(&root));
        assert!(!m.is_mount_root(&point));
        assert_eq!(FsKind::of_dev(root.dev), Some(FsKind::Tmpfs));
        assert_ne!(FsKind::Overlay.magic(), FsKind::Tmpfs.magic());
    }
}
