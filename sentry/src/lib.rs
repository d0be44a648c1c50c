//! The sentry: rvisor's application kernel. It implements the Linux system
//! call interface for guest programs that a `vmm` platform runs.
//!
//! Only `host` talks to the host kernel with raw calls; everything else is
//! safe code.
#![deny(unsafe_code)]

pub mod errno;
#[allow(unsafe_code)]
pub mod host;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod net;
pub mod sandbox;
pub mod syscalls;
pub mod vfs;

pub use errno::{Errno, SysResult};
