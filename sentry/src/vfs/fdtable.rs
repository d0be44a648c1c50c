//! A task's file descriptor table: small integers naming open files, each
//! with its own close-on-exec flag. The threads of a process share one
//! table (`share`); `fork` gives the child a copy (`duplicate`). Every
//! method locks the table for its own length only.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::errno::Errno;
use crate::vfs::file::File;
use crate::vfs::host_file::HostFile;

/// Linux's `sysctl fs.nr_open` default: no fd is ever this large or larger,
/// whatever RLIMIT_NOFILE says.
pub const NR_OPEN: u64 = 1 << 20;

#[derive(Clone)]
struct Entry {
    file: Arc<dyn File>,
    cloexec: bool,
}

/// Open files by descriptor number. Cloning it (for `fork`) shares the open
/// files, as Linux's `dup_fd` does.
#[derive(Default)]
pub struct FdTable {
    entries: Arc<Mutex<BTreeMap<i32, Entry>>>,
}

/// A descriptor table, if it still lives (for /proc).
#[derive(Clone, Default)]
pub struct WeakFdTable(Weak<Mutex<BTreeMap<i32, Entry>>>);

impl WeakFdTable {
    pub fn upgrade(&self) -> Option<FdTable> {
        self.0.upgrade().map(|entries| FdTable { entries })
    }
}

impl FdTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same table, for a thread created with CLONE_FILES.
    pub fn share(&self) -> Self {
        FdTable {
            entries: self.entries.clone(),
        }
    }

    /// A handle that does not keep the table (and its files) alive.
    pub fn downgrade(&self) -> WeakFdTable {
        WeakFdTable(Arc::downgrade(&self.entries))
    }

    /// A copy of the table, as `fork` gives the child.
    pub fn duplicate(&self) -> Self {
        FdTable {
            entries: Arc::new(Mutex::new(self.lock().clone())),
        }
    }

    /// Make this table the caller's own if another task shares it
    /// (`execve` after CLONE_FILES, as Linux's unshare_files).
    pub fn unshare(&mut self) {
        if Arc::strong_count(&self.entries) > 1 {
            *self = self.duplicate();
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<i32, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Guest fds 0, 1 and 2 on duplicates of the sentry's own standard
    /// streams, so that the guest closing them leaves the sentry's alone. A
    /// stream the sentry does not have stays closed for the guest too.
    pub fn with_host_stdio() -> Self {
        let t = Self::new();
        let streams = [
            rustix::stdio::stdin(),
            rustix::stdio::stdout(),
            rustix::stdio::stderr(),
        ];
        for (fd, stream) in streams.into_iter().enumerate() {
            match rustix::io::fcntl_dupfd_cloexec(stream.as_fd(), 3) {
                Ok(dup) => match HostFile::from_stream(dup) {
                    Ok(file) => {
                        t.install_at(fd as i32, Arc::new(file), false);
                    }
                    Err(e) => tracing::warn!("host fd {fd} unusable ({e}): closed for the guest"),
                },
                Err(e) => tracing::debug!("host fd {fd} not open ({e}): closed for the guest"),
            }
        }
        t
    }

    /// The open file `fd` refers to; EBADF if none.
    pub fn get(&self, fd: i32) -> Result<Arc<dyn File>, Errno> {
        self.lock()
            .get(&fd)
            .map(|e| e.file.clone())
            .ok_or(Errno::EBADF)
    }

    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        self.lock().get(&fd).map(|e| e.cloexec).ok_or(Errno::EBADF)
    }

    pub fn set_cloexec(&self, fd: i32, cloexec: bool) -> Result<(), Errno> {
        let mut entries = self.lock();
        let e = entries.get_mut(&fd).ok_or(Errno::EBADF)?;
        e.cloexec = cloexec;
        Ok(())
    }

    /// The lowest free descriptor that is at least `min`.
    pub fn lowest_free(&self, min: i32) -> i32 {
        lowest_free_in(&self.lock(), min)
    }

    /// Install `file` at the lowest free descriptor `>= min`; EMFILE if that
    /// is not below `limit` (the task's RLIMIT_NOFILE).
    pub fn install(
        &self,
        file: Arc<dyn File>,
        cloexec: bool,
        min: i32,
        limit: u64,
    ) -> Result<i32, Errno> {
        let mut entries = self.lock();
        let fd = lowest_free_in(&entries, min);
        if fd as u64 >= limit.min(NR_OPEN) {
            return Err(Errno::EMFILE);
        }
        entries.insert(fd, Entry { file, cloexec });
        Ok(fd)
    }

    /// Put `file` at exactly `fd` (dup2/dup3), returning what was there. The
    /// caller has checked `fd` against the limit.
    pub fn install_at(&self, fd: i32, file: Arc<dyn File>, cloexec: bool) -> Option<Arc<dyn File>> {
        self.lock()
            .insert(fd, Entry { file, cloexec })
            .map(|e| e.file)
    }

    /// Close `fd`: the file itself goes when its last descriptor does.
    pub fn remove(&self, fd: i32) -> Result<Arc<dyn File>, Errno> {
        self.lock().remove(&fd).map(|e| e.file).ok_or(Errno::EBADF)
    }

    /// Close every close-on-exec descriptor (at `execve`).
    pub fn close_on_exec(&self) {
        let closed: Vec<Entry> = {
            let mut entries = self.lock();
            let gone = entries
                .iter()
                .filter(|(_, e)| e.cloexec)
                .map(|(&fd, _)| fd)
                .collect::<Vec<_>>();
            gone.iter().filter_map(|fd| entries.remove(fd)).collect()
        };
        // Files are released outside the lock.
        drop(closed);
    }

    /// `close_range`: close every descriptor in `first..=last`, or with
    /// `cloexec_only` mark them close-on-exec instead.
    pub fn close_range(&self, first: i32, last: i32, cloexec_only: bool) {
        let closed: Vec<Entry> = {
            let mut entries = self.lock();
            if cloexec_only {
                for (_, e) in entries.range_mut(first..=last) {
                    e.cloexec = true;
                }
                Vec::new()
            } else {
                let gone: Vec<i32> = entries.range(first..=last).map(|(&fd, _)| fd).collect();
                gone.iter().filter_map(|fd| entries.remove(fd)).collect()
            }
        };
        // Files are released outside the lock.
        drop(closed);
    }

    /// The open descriptors, in order.
    pub fn fds(&self) -> std::vec::IntoIter<i32> {
        self.lock().keys().copied().collect::<Vec<_>>().into_iter()
    }
}

/// The lowest descriptor of `entries` not in use that is at least `min`.
fn lowest_free_in(entries: &BTreeMap<i32, Entry>, min: i32) -> i32 {
    let mut want = min.max(0);
    for &fd in entries.range(want..).map(|(fd, _)| fd) {
        if fd != want {
            break;
        }
        want += 1;
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::stat::GuestStat;

    struct Dummy(u32);

    impl File for Dummy {
        fn stat(&self) -> Result<GuestStat, Errno> {
            Ok(GuestStat {
                ino: u64::from(self.0),
                ..Default::default()
            })
        }

        fn status_flags(&self) -> Result<u32, Errno> {
            Ok(0)
        }
    }

    fn dummy(n: u32) -> Arc<dyn File> {
        Arc::new(Dummy(n))
    }

    fn ino(t: &FdTable, fd: i32) -> u64 {
        t.get(fd).unwrap().stat().unwrap().ino
    }

    #[test]
    fn allocates_the_lowest_free_descriptor() {
        let t = FdTable::new();
        assert_eq!(t.install(dummy(0), false, 0, 64), Ok(0));
        assert_eq!(t.install(dummy(1), false, 0, 64), Ok(1));
        assert_eq!(t.install(dummy(2), false, 0, 64), Ok(2));
        t.remove(1).unwrap();
        assert_eq!(t.install(dummy(3), false, 0, 64), Ok(1));
        assert_eq!(ino(&t, 1), 3);
        assert_eq!(t.install(dummy(4), false, 10, 64), Ok(10));
        assert_eq!(t.install(dummy(5), false, 10, 64), Ok(11));
        assert_eq!(t.install(dummy(6), false, 0, 64), Ok(3));
        assert_eq!(t.fds().collect::<Vec<_>>(), [0, 1, 2, 3, 10, 11]);
    }

    #[test]
    fn shared_tables_see_each_other_and_duplicates_do_not() {
        let t = FdTable::new();
        let shared = t.share();
        let copy = t.duplicate();
        assert_eq!(shared.install(dummy(7), false, 0, 64), Ok(0));
        assert_eq!(ino(&t, 0), 7);
        assert!(matches!(copy.get(0), Err(Errno::EBADF)));
        t.remove(0).unwrap();
        assert!(matches!(shared.get(0), Err(Errno::EBADF)));
    }

    #[test]
    fn respects_the_limit() {
        let t = FdTable::new();
        for i in 0..3 {
            assert_eq!(t.install(dummy(i), false, 0, 3), Ok(i as i32));
        }
        assert_eq!(t.install(dummy(9), false, 0, 3), Err(Errno::EMFILE));
        assert_eq!(t.install(dummy(9), false, 5, 3), Err(Errno::EMFILE));
        assert_eq!(t.install(dummy(9), false, 0, u64::MAX).unwrap(), 3);
    }

    #[test]
    fn install_at_replaces_and_bad_fds_are_ebadf() {
        let t = FdTable::new();
        assert!(t.install_at(5, dummy(1), true).is_none());
        let old = t.install_at(5, dummy(2), false).unwrap();
        assert_eq!(old.stat().unwrap().ino, 1);
        assert_eq!(ino(&t, 5), 2);
        assert_eq!(t.cloexec(5), Ok(false));
        assert!(matches!(t.get(4), Err(Errno::EBADF)));
        assert!(matches!(t.remove(4), Err(Errno::EBADF)));
        assert_eq!(t.set_cloexec(4, true), Err(Errno::EBADF));
        assert_eq!(t.cloexec(-1), Err(Errno::EBADF));
    }

    #[test]
    fn close_on_exec_closes_only_flagged_fds() {
        let t = FdTable::new();
        t.install(dummy(0), false, 0, 64).unwrap();
        t.install(dummy(1), true, 0, 64).unwrap();
        t.install(dummy(2), false, 0, 64).unwrap();
        t.set_cloexec(2, true).unwrap();
        t.set_cloexec(1, false).unwrap();
        t.close_on_exec();
        assert_eq!(t.fds().collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn dup_shares_the_file() {
        let t = FdTable::new();
        let f = dummy(7);
        t.install(f.clone(), false, 0, 64).unwrap();
        t.install(t.get(0).unwrap(), true, 0, 64).unwrap();
        assert!(Arc::ptr_eq(&t.get(0).unwrap(), &t.get(1).unwrap()));
        t.remove(0).unwrap();
        assert_eq!(ino(&t, 1), 7);
        // Our handle, the table's fd 1.
        assert_eq!(Arc::strong_count(&f), 2);
    }

    #[test]
    fn guest_stdio_is_a_duplicate_of_the_hosts() {
        let t = FdTable::with_host_stdio();
        let t2 = t.duplicate();
        // Closing the guest's stderr leaves the sentry's usable.
        assert!(t2.remove(2).is_ok());
        drop(t);
        drop(t2);
        assert!(rustix::io::fcntl_getfd(rustix::stdio::stderr()).is_ok());
    }
}
