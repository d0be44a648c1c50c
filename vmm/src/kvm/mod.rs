//! The KVM platform's host side.
//!
//! For now: [`probe()`], which finds out once at start-up what this host's
//! `/dev/kvm` can do (PVM or not, where a user-mode `SYSCALL` lands), and
//! [`measure_exit_round_trip`] for benchmarks. The raw KVM plumbing lives in
//! small private modules: `ram` (guest memory), `layout` (tables as bytes),
//! `code` (guest instructions), `cpuid` (hypervisor leaves) and `vm` (one
//! VM with one vCPU).

mod address_space;
mod code;
mod context;
mod cpuid;
mod frames;
mod guest_cpuid;
mod guest_gate;
mod guest_phys;
mod kick;
mod layout;
mod layout_r0;
mod machine;
mod platform;
pub mod probe;
mod ram;
mod trap;
mod vcpu;
mod vm;

pub use address_space::KvmAddressSpace;
pub use context::KvmContext;
pub use platform::KvmPlatform;

pub use probe::{
    measure_exit_round_trip, measure_syscall_floor, measure_user_trap_round_trip, probe,
    HostKvmInfo, ProbeError, SyscallEntry, PVM_MSRS,
};
pub use ram::{GuestRam, GuestRamError};
pub use vm::VmError;
