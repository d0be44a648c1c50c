//! Linux error numbers, the one currency of failure at the system-call
//! boundary. Module errors convert into an `Errno` in one place each.

use std::fmt;

/// A Linux errno value (positive).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno(libc::$name);)*

            /// The symbolic name, for logs and `--strace`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $(libc::$name => stringify!($name),)*
                    512 => "ERESTARTSYS",
                    513 => "ERESTARTNOINTR",
                    514 => "ERESTARTNOHAND",
                    516 => "ERESTART_RESTARTBLOCK",
                    _ => "E?",
                }
            }
        }
    };
}

errnos!(
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    EDOM,
    ERANGE,
    EDEADLK,
    ENAMETOOLONG,
    ENOLCK,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    ENODATA,
    EOVERFLOW,
    EOPNOTSUPP,
    ETIMEDOUT,
    ENOTSOCK,
    ECONNREFUSED,
    EAFNOSUPPORT,
    ESOCKTNOSUPPORT,
    EPROTONOSUPPORT,
    EPROTOTYPE,
    ENOPROTOOPT,
    EISCONN,
    ENOTCONN,
    EADDRINUSE,
    ECONNRESET,
    EDESTADDRREQ,
    EMSGSIZE,
    ENOBUFS,
    ELIBBAD,
);

/// Kernel-internal codes a blocking call returns when a signal interrupts
/// it; the guest never sees them. Signal delivery turns them into EINTR or
/// a restart of the call, by Linux's rules (`kernel::signal_delivery`).
impl Errno {
    /// Restart if the handler has SA_RESTART (or no handler runs).
    pub const ERESTARTSYS: Errno = Errno(512);
    /// Restart always, after any handler (FUTEX_LOCK_PI).
    pub const ERESTARTNOINTR: Errno = Errno(513);
    /// Restart only if no handler runs (poll, select, pause, sigsuspend).
    pub const ERESTARTNOHAND: Errno = Errno(514);
    /// Like ERESTARTNOHAND, for sleeps that restart with the time left.
    pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

    /// Whether this is one of the restart codes above.
    pub fn is_restart(self) -> bool {
        matches!(self.0, 512..=514 | 516)
    }
}

impl Errno {
    /// The value a system call returns in `rax` for this error.
    pub fn to_return(self) -> u64 {
        (-(self.0 as i64)) as u64
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl Errno {
    /// The host's description of the error ("No such file or directory").
    pub fn description(self) -> String {
        let text = std::io::Error::from_raw_os_error(self.0).to_string();
        // std appends " (os error N)" to strerror's text.
        match text.split_once(" (os error") {
            Some((head, _)) => head.to_string(),
            None => text,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.name())
    }
}

impl std::error::Error for Errno {}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Self {
        Errno(e.raw_os_error())
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Self {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

/// What a system-call handler returns: the non-negative result, or an errno.
pub type SysResult = Result<u64, Errno>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_returns_negative_value() {
        assert_eq!(Errno::ENOSYS.to_return() as i64, -38);
        assert_eq!(Errno::EFAULT.name(), "EFAULT");
        assert_eq!(
            Errno::ENOENT.to_string(),
            "No such file or directory (ENOENT)"
        );
    }
}
