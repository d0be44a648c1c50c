//! SCM_RIGHTS: guest descriptors are sentry files, which the host cannot
//! carry. The sender's sentry parks the files in a sandbox-wide table
//! under a fresh host "token" (a memfd, whose inode is its own) and sends
//! the token with the bytes as a host SCM_RIGHTS message; the receiver's
//! sentry gets the token, takes the files out by its identity and closes
//! it. The host kernel so keeps Linux's rules of which bytes carry the
//! rights and where a stream read stops.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::errno::Errno;
use crate::vfs::File;

/// Linux's `SCM_MAX_FD`: most descriptors one message carries.
pub const MAX_FDS: usize = 253;

/// A token's identity: its host `st_dev` and `st_ino`.
type Key = (u64, u64);
/// Files in flight, by the token that stands for them.
type Table = HashMap<Key, Vec<Arc<dyn File>>>;

fn in_flight() -> MutexGuard<'static, Table> {
    static T: OnceLock<Mutex<Table>> = OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn key_of(token: BorrowedFd<'_>) -> Result<Key, Errno> {
    let st = rustix::fs::fstat(token)?;
    Ok((st.st_dev, st.st_ino))
}

/// Park `files` under a new token, which the caller sends.
pub fn attach(files: Vec<Arc<dyn File>>) -> Result<OwnedFd, Errno> {
    let token = rustix::fs::memfd_create("rvisor-scm-rights", rustix::fs::MemfdFlags::CLOEXEC)?;
    in_flight().insert(key_of(token.as_fd())?, files);
    Ok(token)
}

/// The files a received token stands for: taken out of the table, or
/// copied for MSG_PEEK (the host hands a peeker a duplicate of the
/// token, and the files stay for the real receive).
pub fn take(token: &OwnedFd, peek: bool) -> Vec<Arc<dyn File>> {
    let Ok(key) = key_of(token.as_fd()) else {
        return Vec::new();
    };
    let mut t = in_flight();
    let found = if peek {
        t.get(&key).cloned()
    } else {
        t.remove(&key)
    };
    found.unwrap_or_default()
}

/// Drop the files of a token that was never sent.
pub fn forget(token: &OwnedFd) {
    drop(take(token, false));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::eventfd::EventFd;

    #[test]
    fn files_come_back_once_and_stay_for_a_peek() {
        let f: Arc<dyn File> = Arc::new(EventFd::new(0, false, true).unwrap());
        let token = attach(vec![f.clone(), f.clone()]).unwrap();
        assert_eq!(take(&token, true).len(), 2);
        let got = take(&token, false);
        assert_eq!(got.len(), 2);
        assert!(Arc::ptr_eq(&got[0], &f));
        assert!(take(&token, false).is_empty());
        let other = attach(vec![f]).unwrap();
        forget(&other);
        assert!(take(&other, false).is_empty());
    }
}
