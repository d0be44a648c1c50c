//! Where bound sockets are found by name. Both tables are the sentry's
//! and sandbox-wide: an abstract name is a key here, a path name is a
//! socket inode of the sentry's file tree whose inode number keys the
//! second table. Entries are weak: a closed socket is gone, and its path
//! inode (which stays, as on Linux) then refuses connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::errno::Errno;
use crate::vfs::File;

type Table<K> = Mutex<HashMap<K, Weak<dyn File>>>;

fn abstract_names() -> &'static Table<Vec<u8>> {
    static T: std::sync::OnceLock<Table<Vec<u8>>> = std::sync::OnceLock::new();
    T.get_or_init(Default::default)
}

fn path_inodes() -> &'static Table<u64> {
    static T: std::sync::OnceLock<Table<u64>> = std::sync::OnceLock::new();
    T.get_or_init(Default::default)
}

fn lock<K>(t: &Table<K>) -> std::sync::MutexGuard<'_, HashMap<K, Weak<dyn File>>> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// Take abstract name `name` for `sock` (a `UnixSocket`); EADDRINUSE if a live socket has it.
pub fn bind_abstract(name: &[u8], sock: &Arc<dyn File>) -> Result<(), Errno> {
    let mut t = lock(abstract_names());
    if t.get(name).is_some_and(|w| w.strong_count() > 0) {
        return Err(Errno::EADDRINUSE);
    }
    t.insert(name.to_vec(), Arc::downgrade(sock));
    Ok(())
}

/// The socket bound to abstract name `name`.
pub fn find_abstract(name: &[u8]) -> Option<Arc<dyn File>> {
    lock(abstract_names()).get(name).and_then(Weak::upgrade)
}

/// Record that socket inode `ino` (just made by bind) names `sock`.
pub fn bind_inode(ino: u64, sock: &Arc<dyn File>) {
    lock(path_inodes()).insert(ino, Arc::downgrade(sock));
}

/// The socket a path's inode names.
pub fn find_inode(ino: u64) -> Option<Arc<dyn File>> {
    lock(path_inodes()).get(&ino).and_then(Weak::upgrade)
}

/// Forget the names of a socket being closed: an abstract name is free
/// again at once, as on Linux.
pub fn release(abstract_name: Option<&[u8]>, ino: Option<u64>) {
    if let Some(n) = abstract_name {
        let mut t = lock(abstract_names());
        if t.get(n).is_some_and(|w| w.strong_count() == 0) {
            t.remove(n);
        }
    }
    if let Some(i) = ino {
        let mut t = lock(path_inodes());
        if t.get(&i).is_some_and(|w| w.strong_count() == 0) {
            t.remove(&i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::UnixSocket;

    fn socket() -> Arc<dyn File> {
        Arc::new(UnixSocket::unconnected(libc::SOCK_STREAM, false))
    }

    #[test]
    fn abstract_names_are_taken_once_and_freed_with_the_socket() {
        let name = b"names-test-abstract";
        let a = socket();
        bind_abstract(name, &a).unwrap();
        let b = socket();
        assert_eq!(bind_abstract(name, &b), Err(Errno::EADDRINUSE));
        assert!(Arc::ptr_eq(&find_abstract(name).unwrap(), &a));
        drop(a);
        assert!(find_abstract(name).is_none());
        bind_abstract(name, &b).unwrap();
    }
}
