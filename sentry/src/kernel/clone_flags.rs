//! What a `clone` call asks for: Linux's checks of the flag combination
//! (copy_process's), and which kind of task it makes.

use crate::errno::Errno;

/// The low byte of clone's flags: the signal a child process sends its
/// parent when it exits (`CSIGNAL`).
const CSIGNAL: u64 = 0xff;

/// Namespace flags, which the sandbox does not implement.
const NAMESPACES: i32 = libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP;

/// A checked `clone` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloneRequest {
    /// The flags without the exit signal.
    pub flags: i32,
    /// For a new process: the signal it sends its parent when it exits
    /// (0: none).
    pub exit_signal: i32,
}

impl CloneRequest {
    /// Check clone's raw `flags` word as Linux does: a thread shares the
    /// signal actions, which need a shared address space (EINVAL
    /// otherwise); CLONE_FS does not go with a new mount or user
    /// namespace. Namespaces themselves are not implemented (ENOSYS is
    /// reported only for combinations Linux would accept).
    pub fn parse(raw: u64) -> Result<CloneRequest, Errno> {
        let flags = (raw & !CSIGNAL) as i32;
        let has = |f: i32| flags & f == f;
        if (has(libc::CLONE_NEWNS) || has(libc::CLONE_NEWUSER)) && has(libc::CLONE_FS) {
            return Err(Errno::EINVAL);
        }
        if has(libc::CLONE_THREAD) && !has(libc::CLONE_SIGHAND) {
            return Err(Errno::EINVAL);
        }
        if has(libc::CLONE_SIGHAND) && !has(libc::CLONE_VM) {
            return Err(Errno::EINVAL);
        }
        if has(libc::CLONE_THREAD) && flags & (libc::CLONE_NEWUSER | libc::CLONE_NEWPID) != 0 {
            return Err(Errno::EINVAL);
        }
        // clone() returns the pidfd where CLONE_PARENT_SETTID would write.
        if has(libc::CLONE_PIDFD) && has(libc::CLONE_PARENT_SETTID) {
            return Err(Errno::EINVAL);
        }
        if flags & NAMESPACES != 0 {
            tracing::warn!("clone with new namespaces ({flags:#x}) is not supported");
            return Err(Errno::ENOSYS);
        }
        Ok(CloneRequest {
            flags,
            // A thread sends no signal of its own; numbers past the last
            // signal send none either (Linux drops them).
            exit_signal: if has(libc::CLONE_THREAD) || raw & CSIGNAL > 64 {
                0
            } else {
                (raw & CSIGNAL) as i32
            },
        })
    }

    pub fn has(self, flag: i32) -> bool {
        self.flags & flag == flag
    }

    /// A new thread of the caller's process rather than a new process.
    pub fn is_thread(self) -> bool {
        self.has(libc::CLONE_THREAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: i32, sig: i32) -> Result<CloneRequest, Errno> {
        CloneRequest::parse(flags as u32 as u64 | sig as u64)
    }

    #[test]
    fn linux_flag_rules() {
        let vm = libc::CLONE_VM;
        let sighand = libc::CLONE_SIGHAND;
        let thread = libc::CLONE_THREAD;
        assert_eq!(parse(sighand, 0), Err(Errno::EINVAL), "SIGHAND needs VM");
        assert_eq!(
            parse(thread | vm, 0),
            Err(Errno::EINVAL),
            "THREAD needs SIGHAND"
        );
        assert_eq!(
            parse(libc::CLONE_NEWNS | libc::CLONE_FS, 0),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            parse(libc::CLONE_PIDFD | libc::CLONE_PARENT_SETTID, 0),
            Err(Errno::EINVAL)
        );
        assert_eq!(parse(libc::CLONE_NEWPID, 0), Err(Errno::ENOSYS));
        assert!(parse(vm | sighand, libc::SIGCHLD).is_ok());
        assert!(parse(thread | vm | sighand, 0).unwrap().is_thread());
    }

    #[test]
    fn the_low_byte_is_the_exit_signal_of_a_process_only() {
        let vfork = libc::CLONE_VM | libc::CLONE_VFORK;
        let r = parse(vfork, libc::SIGCHLD).unwrap();
        assert_eq!((r.flags, r.exit_signal), (vfork, libc::SIGCHLD));
        assert_eq!(parse(0, 0).unwrap().exit_signal, 0);
        assert_eq!(parse(0, 100).unwrap().exit_signal, 0);
        let t = libc::CLONE_THREAD | libc::CLONE_VM | libc::CLONE_SIGHAND;
        assert_eq!(parse(t, libc::SIGCHLD).unwrap().exit_signal, 0);
    }
}
