//! What this host's KVM can do, measured once at start-up.
//!
//! [`probe`] opens `/dev/kvm`, checks the API, looks for `kvm_pvm` and the
//! PVM guest ABI, and runs a few tiny 64-bit guests (the private modules
//! `layout` and `code` hold their tables and instructions) to learn where a
//! user-mode `SYSCALL` lands and whether user-mode exceptions reach the guest
//! IDT. It takes a few milliseconds and never waits on the guest for long:
//! every run is bounded by a handful of VM exits.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use kvm_bindings::{CpuId, KVM_API_VERSION, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, Kvm};

use super::code;
use super::cpuid::hypervisor_leaves;
use super::layout::*;
use super::vm::{ExceptionReport, Stop, TinyVm, VmError};

/// The PVM MSR block, `PVM_VIRTUAL_MSR_BASE` and up (research/pvm.md §5.3).
pub const PVM_MSRS: std::ops::RangeInclusive<u32> = 0x4b56_4df0..=0x4b56_4df8;
/// PVM MSRs every ABI revision has: LINEAR_ADDRESS_RANGE, VCPU_STRUCT, EVENT_ENTRY.
const PVM_ESSENTIAL_MSRS: [u32; 3] = [0x4b56_4df0, 0x4b56_4df1, 0x4b56_4df4];
/// VM exits a probe scenario may take before it counts as hung.
const MAX_EXITS: u32 = 8;

/// Errors of the probe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No `/dev/kvm`.
    #[error("/dev/kvm is not present")]
    NotPresent,
    /// `/dev/kvm` exists but may not be opened read-write.
    #[error("permission denied opening /dev/kvm")]
    PermissionDenied,
    /// Opening `/dev/kvm` failed otherwise.
    #[error("opening /dev/kvm: {0}")]
    Open(#[source] kvm_ioctls::Error),
    /// `KVM_GET_API_VERSION` is not the one KVM has had since 2.6.22.
    #[error("KVM API version {0}, expected {KVM_API_VERSION}")]
    ApiVersion(i32),
    /// A capability the KVM platform needs is missing.
    #[error("KVM lacks {0}")]
    MissingCapability(&'static str),
    /// `KVM_GET_SUPPORTED_CPUID` failed.
    #[error("KVM_GET_SUPPORTED_CPUID: {0}")]
    SupportedCpuid(#[source] kvm_ioctls::Error),
    /// Building or running a probe guest failed.
    #[error("probe guest: {0}")]
    Vm(#[from] VmError),
    /// A probe guest stopped in a way that fits no known behaviour.
    #[error("{scenario}: unexpected outcome {outcome}")]
    Unexpected {
        /// Which probe.
        scenario: &'static str,
        /// How its guest stopped.
        outcome: String,
    },
}

/// Where a `SYSCALL` executed in guest user mode lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyscallEntry {
    /// Standard x86-64: at LSTAR, in ring 0.
    Supervisor,
    /// At LSTAR but still at CPL 3 (`kvm_pvm` in native mode): ring 0 must
    /// catch it by other means, e.g. a supervisor-only page at LSTAR.
    UserModeQuirk,
}

impl fmt::Display for SyscallEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Supervisor => "user-mode SYSCALL enters LSTAR at CPL0 (standard)",
            Self::UserModeQuirk => "user-mode SYSCALL stays at CPL3 (quirk path)",
        })
    }
}

/// What this host's KVM can do, as [`probe`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKvmInfo {
    /// `KVM_GET_API_VERSION`.
    pub api_version: i32,
    /// `KVM_CAP_MAX_VCPUS`.
    pub max_vcpus: usize,
    /// The `kvm_pvm` module is loaded (`/sys/module/kvm_pvm`, `/proc/modules`).
    pub pvm_module: bool,
    /// Vendor signature of CPUID leaf 0x4000_0000 in `KVM_GET_SUPPORTED_CPUID`.
    pub hypervisor_signature: Option<String>,
    /// CPUID leaf 0x4000_0002 says "PVM".
    pub pvm_cpuid_leaf: bool,
    /// How many of the nine PVM MSRs `KVM_GET_MSRS` accepts.
    pub pvm_msrs_accepted: u8,
    /// The PVM guest ABI is usable: the MSRs every revision has are accepted.
    pub pvm_abi: bool,
    /// Where a user-mode `SYSCALL` lands.
    pub syscall_entry: SyscallEntry,
    /// With [`SyscallEntry::UserModeQuirk`]: whether a supervisor-only page at
    /// LSTAR turns the entry into a #PF with CR2 = LSTAR from CPL 3, which
    /// ring 0 can recognise as a system call. `None` on standard hosts.
    pub quirk_lstar_fetch_faults: Option<bool>,
    /// A `ud2` in guest user mode reaches the guest IDT as #UD from CPL 3.
    pub user_exceptions_reach_idt: bool,
}

impl fmt::Display for HostKvmInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pvm_module, self.pvm_abi) {
            (true, true) => f.write_str("kvm_pvm with PVM guest ABI")?,
            (true, false) => f.write_str("kvm_pvm without PVM guest ABI")?,
            (false, true) => f.write_str("KVM with PVM guest ABI")?,
            (false, false) => f.write_str("KVM")?,
        }
        write!(f, "; {}", self.syscall_entry)?;
        match self.quirk_lstar_fetch_faults {
            Some(true) => f.write_str(", caught as #PF at a supervisor-only LSTAR")?,
            Some(false) => f.write_str(", NOT caught by a supervisor-only LSTAR")?,
            None => {}
        }
        if !self.user_exceptions_reach_idt {
            f.write_str("; user-mode exceptions do NOT reach the guest IDT")?;
        }
        Ok(())
    }
}

/// Probes `/dev/kvm`. Takes a few milliseconds; call it once and keep the answer.
pub fn probe() -> Result<HostKvmInfo, ProbeError> {
    let (kvm, cpuid) = open()?;
    let leaves = hypervisor_leaves(cpuid.as_slice());

    // Scenario 1: user-mode `syscall` with a user-accessible `hlt` at LSTAR.
    let mut vm = TinyVm::new(&kvm, &cpuid, &[LSTAR_CODE])?;
    let mut pvm_msrs_accepted = 0u8;
    let mut essential = 0;
    for index in PVM_MSRS {
        if vm.msr_readable(index)? {
            pvm_msrs_accepted += 1;
            essential += usize::from(PVM_ESSENTIAL_MSRS.contains(&index));
        }
    }
    let stop = run_user(&mut vm, &code::USER_SYSCALL, &code::LSTAR_HLT)?;
    let syscall_entry =
        classify_syscall(&stop).ok_or_else(|| unexpected("SYSCALL probe", &stop))?;

    // Scenario 2: user-mode `ud2`.
    let mut vm = TinyVm::new(&kvm, &cpuid, &[])?;
    let stop = run_user(&mut vm, &code::USER_UD2, &code::LSTAR_HLT)?;
    let user_exceptions_reach_idt =
        classify_user_exception(&stop).ok_or_else(|| unexpected("user exception probe", &stop))?;

    // Scenario 3, quirk hosts only: the same `syscall`, LSTAR supervisor-only.
    let quirk_lstar_fetch_faults = match syscall_entry {
        SyscallEntry::Supervisor => None,
        SyscallEntry::UserModeQuirk => {
            let mut vm = TinyVm::new(&kvm, &cpuid, &[])?;
            let stop = run_user(&mut vm, &code::USER_SYSCALL, &code::LSTAR_HLT)?;
            Some(is_lstar_fetch_fault(&stop))
        }
    };

    let info = HostKvmInfo {
        api_version: kvm.get_api_version(),
        max_vcpus: kvm.get_max_vcpus(),
        pvm_module: pvm_module_loaded(Path::new("/sys/module/kvm_pvm"), Path::new("/proc/modules")),
        hypervisor_signature: leaves.signature,
        pvm_cpuid_leaf: leaves.pvm_leaf,
        pvm_msrs_accepted,
        pvm_abi: essential == PVM_ESSENTIAL_MSRS.len(),
        syscall_entry,
        quirk_lstar_fetch_faults,
        user_exceptions_reach_idt,
    };
    tracing::debug!(?info, "KVM probe");
    Ok(info)
}

/// Measures one VM exit to this process and back: the mean time of `n`
/// `KVM_RUN`s over a ring-0 loop of `out` instructions (after one warm-up run).
pub fn measure_exit_round_trip(n: u32) -> Result<Duration, ProbeError> {
    let (kvm, cpuid) = open()?;
    let mut vm = TinyVm::new(&kvm, &cpuid, &[])?;
    vm.write(KERNEL_CODE, &code::EXIT_LOOP)?;
    vm.start_at(KERNEL_CODE)?;
    vm.tick()?;
    let t = Instant::now();
    for _ in 0..n {
        vm.tick()?;
    }
    Ok(t.elapsed().checked_div(n).unwrap_or_default())
}

/// Measures one guest user-mode exception handled in guest ring 0 and back
/// to user mode with no VM exit: the mean time per `ud2` of a user loop whose
/// #UD handler skips the instruction and `iretq`s. With
/// [`measure_exit_round_trip`] it gives the floor of a system call on hosts
/// where user-mode SYSCALL stays at CPL 3 (one trap into ring 0, one exit).
pub fn measure_user_trap_round_trip(n: u32) -> Result<Duration, ProbeError> {
    let (kvm, cpuid) = open()?;
    let mut vm = TinyVm::new(&kvm, &cpuid, &[])?;
    let ud = STUBS + (6 * STUB_SIZE) as u64;
    vm.write(ud, &code::UD_SKIP_HANDLER)?;
    let t = Instant::now();
    let stop = run_user(
        &mut vm,
        &code::user_loop(n.max(1), code::UD2),
        &code::LSTAR_HLT,
    )?;
    let elapsed = t.elapsed();
    match stop {
        // The final user-mode `hlt`: every `ud2` was handled.
        Stop::Exception(ExceptionReport { vector: 13, .. }) => {
            Ok(elapsed.checked_div(n.max(1)).unwrap_or_default())
        }
        other => Err(unexpected("user trap loop", &other)),
    }
}

/// Measures the least a system call can cost with this design on a host
/// where user-mode SYSCALL stays at CPL 3: a user `syscall` faulting at the
/// supervisor-only LSTAR page, ring 0's stub exiting, and the VMM sending
/// the vCPU straight back to user mode, with no sentry work at all. `None`
/// on hosts where SYSCALL enters ring 0 (the loop never faults).
pub fn measure_syscall_floor(n: u32) -> Result<Option<Duration>, ProbeError> {
    let (kvm, cpuid) = open()?;
    let mut vm = TinyVm::new(&kvm, &cpuid, &[])?;
    vm.write(
        KERNEL_CODE,
        &code::enter_user_via_sysret(USER_CODE as u32, USER_STACK_TOP as u32),
    )?;
    vm.write(USER_CODE, &code::user_loop(n.max(1), code::SYSCALL))?;
    vm.write(LSTAR_CODE, &code::LSTAR_HLT)?;
    vm.start_at(KERNEL_CODE)?;
    let t = Instant::now();
    let served = vm.serve_syscalls()?;
    let elapsed = t.elapsed();
    Ok((served == u64::from(n.max(1))).then(|| elapsed.checked_div(n.max(1)).unwrap_or_default()))
}

/// Opens `/dev/kvm`, checks the API version and capabilities, and fetches
/// the supported CPUID (which the probe guests also get).
fn open() -> Result<(Kvm, CpuId), ProbeError> {
    let kvm = Kvm::new().map_err(|e| match e.errno() {
        libc::ENOENT | libc::ENODEV | libc::ENXIO => ProbeError::NotPresent,
        libc::EACCES | libc::EPERM => ProbeError::PermissionDenied,
        _ => ProbeError::Open(e),
    })?;
    let version = kvm.get_api_version();
    if version != KVM_API_VERSION as i32 {
        return Err(ProbeError::ApiVersion(version));
    }
    for (cap, name) in [
        (Cap::UserMemory, "KVM_CAP_USER_MEMORY"),
        (Cap::ImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"),
        (Cap::ExtCpuid, "KVM_CAP_EXT_CPUID"),
        (Cap::SyncRegs, "KVM_CAP_SYNC_REGS"),
    ] {
        if !kvm.check_extension(cap) {
            return Err(ProbeError::MissingCapability(name));
        }
    }
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(ProbeError::SupportedCpuid)?;
    Ok((kvm, cpuid))
}

/// Lays out a scenario (`user` at [`USER_CODE`], `lstar` at [`LSTAR_CODE`],
/// ring 0 entering user mode with `sysretq`) and runs it.
fn run_user(vm: &mut TinyVm, user: &[u8], lstar: &[u8]) -> Result<Stop, VmError> {
    vm.write(
        KERNEL_CODE,
        &code::enter_user_via_sysret(USER_CODE as u32, USER_STACK_TOP as u32),
    )?;
    vm.write(USER_CODE, user)?;
    vm.write(LSTAR_CODE, lstar)?;
    vm.start_at(KERNEL_CODE)?;
    vm.run_until_stop(MAX_EXITS)
}

fn unexpected(scenario: &'static str, stop: &Stop) -> ProbeError {
    ProbeError::Unexpected {
        scenario,
        outcome: format!("{stop:x?}"),
    }
}

/// Scenario 1's outcome: `hlt` at LSTAR exited in ring 0, or raised #GP at CPL 3
/// (#PF if the LSTAR page is supervisor-only). Anything else: `None`.
fn classify_syscall(stop: &Stop) -> Option<SyscallEntry> {
    match *stop {
        Stop::Halted { rip, cs } if (LSTAR_CODE..=LSTAR_CODE + 1).contains(&rip) && cs & 3 == 0 => {
            Some(SyscallEntry::Supervisor)
        }
        Stop::Exception(e) if e.vector == 13 && e.rip == LSTAR_CODE && e.cs & 3 == 3 => {
            Some(SyscallEntry::UserModeQuirk)
        }
        _ if is_lstar_fetch_fault(stop) => Some(SyscallEntry::UserModeQuirk),
        _ => None,
    }
}

/// A user-mode fetch fault at LSTAR: #PF, CR2 = RIP = LSTAR, from CPL 3, with
/// the error code's user bit set.
fn is_lstar_fetch_fault(stop: &Stop) -> bool {
    matches!(*stop, Stop::Exception(e)
        if e.vector == 14
            && e.rip == LSTAR_CODE
            && e.cr2 == LSTAR_CODE
            && e.cs & 3 == 3
            && e.error_code & 4 != 0)
}

/// Scenario 2's outcome: #UD from user mode at the `ud2` reached the IDT
/// (`true`; the frame also shows SYSRET's user SS), or the guest died without reaching it (`false`).
fn classify_user_exception(stop: &Stop) -> Option<bool> {
    match *stop {
        Stop::Exception(e)
            if e.vector == 6
                && e.rip == USER_CODE
                && e.cs == u64::from(USER_CS)
                && e.ss == u64::from(USER_DS) =>
        {
            Some(true)
        }
        Stop::Shutdown => Some(false),
        _ => None,
    }
}

/// Whether `kvm_pvm` is loaded: its sysfs directory exists or `/proc/modules` lists it.
fn pvm_module_loaded(sys_module: &Path, proc_modules: &Path) -> bool {
    sys_module.exists()
        || std::fs::read_to_string(proc_modules).is_ok_and(|t| modules_list_has(&t, "kvm_pvm"))
}

/// Whether a `/proc/modules` text lists module `name`.
fn modules_list_has(text: &str, name: &str) -> bool {
    text.lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::super::vm::ExceptionReport;
    use super::*;

    fn exception(vector: u8, rip: u64, cs: u16, cr2: u64, error_code: u64) -> Stop {
        Stop::Exception(ExceptionReport {
            vector,
            error_code,
            rip,
            cs: cs.into(),
            rsp: USER_STACK_TOP,
            ss: USER_DS.into(),
            cr2,
        })
    }

    #[test]
    fn classifies_syscall_outcomes() {
        let halted = Stop::Halted {
            rip: LSTAR_CODE + 1,
            cs: KERNEL_CS,
        };
        assert_eq!(classify_syscall(&halted), Some(SyscallEntry::Supervisor));
        let gp = exception(13, LSTAR_CODE, USER_CS, 0, 0);
        assert_eq!(classify_syscall(&gp), Some(SyscallEntry::UserModeQuirk));
        let pf = exception(14, LSTAR_CODE, USER_CS, LSTAR_CODE, 0x15);
        assert_eq!(classify_syscall(&pf), Some(SyscallEntry::UserModeQuirk));
        assert!(is_lstar_fetch_fault(&pf));
        assert!(!is_lstar_fetch_fault(&gp));
        // SYSCALL unsupported (#UD at the instruction), a halt elsewhere, a triple fault.
        assert_eq!(
            classify_syscall(&exception(6, USER_CODE, USER_CS, 0, 0)),
            None
        );
        assert_eq!(
            classify_syscall(&Stop::Halted {
                rip: USER_CODE,
                cs: KERNEL_CS
            }),
            None
        );
        assert_eq!(classify_syscall(&Stop::Shutdown), None);
        // #PF from ring 0 at LSTAR is not the quirk.
        assert!(!is_lstar_fetch_fault(&exception(
            14, LSTAR_CODE, KERNEL_CS, LSTAR_CODE, 0x11
        )));
    }

    #[test]
    fn classifies_user_exception_outcomes() {
        assert_eq!(
            classify_user_exception(&exception(6, USER_CODE, USER_CS, 0, 0)),
            Some(true)
        );
        assert_eq!(classify_user_exception(&Stop::Shutdown), Some(false));
        assert_eq!(
            classify_user_exception(&exception(13, USER_CODE, USER_CS, 0, 0)),
            None
        );
    }

    #[test]
    fn reads_proc_modules() {
        let text = "kvm_pvm 1234 0 - Live 0x0\nkvm 1000000 1 kvm_pvm, Live 0x0\n";
        assert!(modules_list_has(text, "kvm_pvm"));
        assert!(modules_list_has(text, "kvm"));
        assert!(!modules_list_has(text, "kvm_intel"));
        assert!(!modules_list_has("", "kvm_pvm"));
        let none = Path::new("/nonexistent/rvisor");
        assert!(!pvm_module_loaded(none, none));
    }

    #[test]
    fn display_names_the_paths() {
        let mut info = HostKvmInfo {
            api_version: 12,
            max_vcpus: 2,
            pvm_module: true,
            hypervisor_signature: Some("KVMKVMKVM".into()),
            pvm_cpuid_leaf: false,
            pvm_msrs_accepted: 0,
            pvm_abi: false,
            syscall_entry: SyscallEntry::UserModeQuirk,
            quirk_lstar_fetch_faults: Some(true),
            user_exceptions_reach_idt: true,
        };
        assert_eq!(
            info.to_string(),
            "kvm_pvm without PVM guest ABI; user-mode SYSCALL stays at CPL3 (quirk path), \
             caught as #PF at a supervisor-only LSTAR"
        );
        info.pvm_module = false;
        info.syscall_entry = SyscallEntry::Supervisor;
        info.quirk_lstar_fetch_faults = None;
        assert_eq!(
            info.to_string(),
            "KVM; user-mode SYSCALL enters LSTAR at CPL0 (standard)"
        );
    }
}
