//! Everything that executes in guest supervisor mode, and the ABI it shares
//! with the host. `no_std`, so the same definitions are unit-tested on the
//! host and linked into the guest-side code unchanged.
#![no_std]

pub mod abi;
