//! [`GuestNonblock`]: the guest's O_NONBLOCK of a file whose host
//! descriptor is always non-blocking (eventfds, timerfds, pidfds): the
//! sentry keeps the flag and decides whether a guest call waits.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct GuestNonblock(AtomicBool);

impl GuestNonblock {
    pub fn new(nonblock: bool) -> Self {
        GuestNonblock(AtomicBool::new(nonblock))
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// F_GETFL of a read-write file with this flag.
    pub fn status_flags(&self) -> u32 {
        let nonblock = if self.get() {
            libc::O_NONBLOCK as u32
        } else {
            0
        };
        libc::O_RDWR as u32 | nonblock
    }

    /// F_SETFL: only O_NONBLOCK is the file's to change.
    pub fn set_from(&self, flags: u32) {
        self.0
            .store(flags & libc::O_NONBLOCK as u32 != 0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_takes_only_o_nonblock() {
        let n = GuestNonblock::new(false);
        assert_eq!(n.status_flags(), libc::O_RDWR as u32);
        n.set_from(libc::O_NONBLOCK as u32 | libc::O_APPEND as u32);
        assert!(n.get());
        assert_eq!(n.status_flags(), (libc::O_RDWR | libc::O_NONBLOCK) as u32);
    }
}
