//! The KVM platform's host side.
//!
//! For now: [`probe()`], which finds out once at start-up what this host's
//! `/dev/kvm` can do (PVM or not, where a user-mode `SYSCALL` lands), and
//! [`measure_exit_round_trip`] for benchmarks. The raw KVM plumbing lives in
//! small private modules: `ram` (guest memory), `layout` (tables as bytes),
//! `code` (guest instructions), `cpuid` (hypervisor leaves) and `vm` (one
//! VM with one vCPU).

mod code;
mod cpuid;
mod layout;
pub mod probe;
mod ram;
mod vm;

pub use probe::{measure_exit_round_trip, probe, HostKvmInfo, ProbeError, SyscallEntry, PVM_MSRS};
pub use ram::{GuestRam, GuestRamError};
pub use vm::VmError;
