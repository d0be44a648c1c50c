//! AF_UNIX sockets that stay inside the sandbox.
//!
//! A connected socket is one end of a host socketpair of the same type,
//! non-blocking on the host (the guest's O_NONBLOCK is the sentry's), so
//! data, message boundaries, shutdown and poll/epoll readiness are the
//! host kernel's. Names never reach the host: a path name is a socket
//! inode in the sentry's file tree and an abstract name an entry of a
//! sandbox-wide table (`names`); `connect` finds the listener there and
//! hands it one end of a fresh host socketpair (`listener`). No host
//! socket is ever bound or connected by name, so the guest cannot reach
//! a host service.

pub mod addr;
pub mod listener;
pub mod names;
pub mod rights;
pub mod socket;

pub use addr::UnixAddr;
pub use socket::{PeerCred, Received, UnixSocket};
