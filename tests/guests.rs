//! Integration tests that run real Linux programs under rvisor.
//!
//! Each case runs a program natively and under every available platform
//! (see `harness::available_platforms`) and, with a few rvisor-only
//! exceptions, asserts identical stdout, stderr and exit status. The
//! programs are the C guests in `tests/guests/`, compiled on first use, and
//! the host's static busybox. `scripts/setup.sh` installs what they need.

mod cases;
mod harness;
