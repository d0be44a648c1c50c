//! Everything that executes in guest supervisor mode, and the ABI it shares
//! with the host. `no_std`, so the same definitions are unit-tested on the
//! host and linked into the guest-side code unchanged.
//!
//! The tables and the guest<->VMM ABI of the KVM platform:
//! - [`gdt`]: Linux-compatible selectors, descriptors, IA32_STAR.
//! - [`idt`]: gate encoding, IST and DPL policy, the 256-entry table.
//! - [`tss`]: the 64-bit TSS (RSP0, IST stacks, no I/O bitmap).
//! - [`vcpu_page`]: the per-vCPU page the stubs and the VMM share, with the
//!   field offsets the entry assembly uses.
//! - [`entry`]: where the entry points sit, SYSCALL configuration and the
//!   SYSCALL quirk of our hosts.
//! - [`exit`]: the exit port and exit reasons.
//! - [`resume`]: how the VMM sends a vCPU back to user mode.
//! - [`msr`]: MSR numbers and the EFER ring0 runs with.
//! - [`text`]: the entry stubs and the return to user mode (`global_asm!`),
//!   copied by the VMM into the guest.
#![no_std]

pub mod abi;
pub mod entry;
pub mod exit;
pub mod gdt;
pub mod idt;
pub mod msr;
pub mod resume;
pub mod text;
pub mod tss;
pub mod vcpu_page;
