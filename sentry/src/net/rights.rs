//! SCM_RIGHTS: guest descriptors are sentry files, which the host cannot
//! carry. The sender's sentry parks the files in a sandbox-wide table
//! under a fresh host "token" and sends the token with the bytes as a
//! host SCM_RIGHTS message; the receiver's sentry gets the token, takes
//! the files out by its identity and closes it. The host kernel so keeps
//! Linux's rules of which bytes carry the rights and where a stream read
//! stops.
//!
//! The token is the write end of a host pipe whose read end the table
//! keeps: when the host drops a message unread (its socket closed, or a
//! plain read(2) that takes no control data), the write end is gone
//! everywhere and the read end says POLLHUP, so the next `attach` or
//! socket close frees those files, as Linux frees rights that are never
//! received.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustix::event::{poll, PollFd, PollFlags};

use crate::errno::Errno;
use crate::vfs::File;

/// Linux's `SCM_MAX_FD`: most descriptors one message carries.
pub const MAX_FDS: usize = 253;

/// A token's identity: its host `st_dev` and `st_ino` (the pipe's).
type Key = (u64, u64);

/// What a token stands for, and the read end that tells whether it lives.
struct InFlight {
    read_end: OwnedFd,
    files: Vec<Arc<dyn File>>,
}

fn in_flight() -> MutexGuard<'static, HashMap<Key, InFlight>> {
    static T: OnceLock<Mutex<HashMap<Key, InFlight>>> = OnceLock::new();
    T.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn key_of(token: BorrowedFd<'_>) -> Result<Key, Errno> {
    let st = rustix::fs::fstat(token)?;
    Ok((st.st_dev, st.st_ino))
}

/// Take out the entries of tokens no one holds any more. The caller
/// drops them after unlocking: a file may be a socket whose own drop
/// sweeps again.
fn sweep(table: &mut HashMap<Key, InFlight>) -> Vec<InFlight> {
    if table.is_empty() {
        return Vec::new();
    }
    let keys: Vec<Key> = table.keys().copied().collect();
    let mut set: Vec<PollFd<'_>> = keys
        .iter()
        .map(|k| PollFd::new(&table[k].read_end, PollFlags::IN))
        .collect();
    if poll(&mut set, Some(&rustix::time::Timespec::default())).is_err() {
        return Vec::new();
    }
    let dead: Vec<Key> = keys
        .iter()
        .zip(&set)
        .filter(|(_, p)| p.revents().contains(PollFlags::HUP))
        .map(|(k, _)| *k)
        .collect();
    dead.iter().filter_map(|k| table.remove(k)).collect()
}

/// Free the files of messages the host dropped unread; called when a
/// socket closes, which is when the host drops what was queued on it.
pub fn sweep_unreceived() {
    let dead = sweep(&mut in_flight());
    drop(dead);
}

/// Park `files` under a new token, which the caller sends.
pub fn attach(files: Vec<Arc<dyn File>>) -> Result<OwnedFd, Errno> {
    let (read_end, token) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let key = key_of(token.as_fd())?;
    let mut t = in_flight();
    let dead = sweep(&mut t);
    t.insert(key, InFlight { read_end, files });
    drop(t);
    drop(dead);
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
    if peek {
        return t.get(&key).map(|f| f.files.clone()).unwrap_or_default();
    }
    t.remove(&key).map(|f| f.files).unwrap_or_default()
}

/// Drop the files of a token that was never sent.
pub fn forget(token: &OwnedFd) {
    drop(take(token, false));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::eventfd::EventFd;

    fn file() -> Arc<dyn File> {
        Arc::new(EventFd::new(0, false, true).unwrap())
    }

    #[test]
    fn files_come_back_once_and_stay_for_a_peek() {
        let f = file();
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

    #[test]
    fn files_of_a_token_dropped_unread_are_freed() {
        let f = file();
        let token = attach(vec![f.clone()]).unwrap();
        assert_eq!(Arc::strong_count(&f), 2);
        drop(token);
        let live = attach(Vec::new()).unwrap();
        assert_eq!(Arc::strong_count(&f), 1, "the sweep freed it");
        forget(&live);
    }
}
