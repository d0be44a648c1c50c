//! The KVM probe against this host's `/dev/kvm`, if it has one.

use std::path::Path;
use std::time::Instant;

use vmm::kvm::{self, ProbeError, SyscallEntry};

fn kvm_present() -> bool {
    if Path::new("/dev/kvm").exists() {
        true
    } else {
        println!("skipping: /dev/kvm not present");
        false
    }
}

#[test]
fn probe_gives_a_definite_consistent_answer() {
    if !kvm_present() {
        return;
    }
    let t = Instant::now();
    let info = match kvm::probe() {
        Err(ProbeError::PermissionDenied) => {
            println!("skipping: /dev/kvm not accessible");
            return;
        }
        r => r.expect("probe"),
    };
    let first = t.elapsed();
    let t = Instant::now();
    let again = kvm::probe().expect("second probe");
    let second = t.elapsed();
    println!("{info}\n{info:#?}\nprobe took {first:?}, then {second:?}");

    assert_eq!(info, again, "the probe measures the same host twice");
    assert_eq!(info.api_version, 12);
    assert!(info.max_vcpus >= 1);
    assert!(
        info.user_exceptions_reach_idt,
        "no KVM platform is possible if user exceptions never reach the guest IDT"
    );
    assert!(info.pvm_msrs_accepted <= 9);
    if info.pvm_abi {
        assert!(info.pvm_msrs_accepted >= 3);
    }
    // The follow-up scenario runs exactly when the quirk was seen.
    assert_eq!(
        info.quirk_lstar_fetch_faults.is_some(),
        info.syscall_entry == SyscallEntry::UserModeQuirk
    );
    // Agrees with what sysfs says, the probe's own source for it.
    if Path::new("/sys/module/kvm_pvm").exists() {
        assert!(info.pvm_module);
    }
    assert!(!info.to_string().is_empty());
    // Generous bound: a few milliseconds alone, but other builds share the CPUs.
    assert!(second.as_secs() < 2, "probe took {second:?}");
}

#[test]
fn exit_round_trip_is_measurable() {
    if !kvm_present() {
        return;
    }
    let rt = match kvm::measure_exit_round_trip(200) {
        Err(ProbeError::PermissionDenied) => {
            println!("skipping: /dev/kvm not accessible");
            return;
        }
        r => r.expect("measure"),
    };
    println!("VM exit round trip: {rt:?}");
    assert!(rt.as_nanos() > 0);
    assert!(rt.as_millis() < 100, "{rt:?} per VM exit");
    assert_eq!(
        kvm::measure_exit_round_trip(0).expect("n = 0"),
        std::time::Duration::ZERO
    );
}

#[test]
fn user_trap_round_trip_is_measurable() {
    if !kvm_present() {
        return;
    }
    let rt = match kvm::measure_user_trap_round_trip(200) {
        Err(ProbeError::PermissionDenied) => {
            println!("skipping: /dev/kvm not accessible");
            return;
        }
        r => r.expect("measure"),
    };
    println!("user trap round trip: {rt:?}");
    assert!(rt.as_nanos() > 0);
    assert!(rt.as_millis() < 100, "{rt:?} per trap");
}

#[test]
fn syscall_floor_is_measurable_where_syscall_stays_in_user_mode() {
    if !kvm_present() {
        return;
    }
    let info = match kvm::probe() {
        Ok(info) => info,
        Err(ProbeError::PermissionDenied) => {
            println!("skipping: /dev/kvm not accessible");
            return;
        }
        Err(e) => panic!("probe: {e}"),
    };
    let floor = kvm::measure_syscall_floor(200).expect("measure");
    println!("system-call floor: {floor:?} ({})", info.syscall_entry);
    match info.syscall_entry {
        kvm::SyscallEntry::UserModeQuirk => {
            let t = floor.expect("every syscall served");
            assert!(t.as_nanos() > 0 && t.as_millis() < 100, "{t:?}");
        }
        kvm::SyscallEntry::Supervisor => assert!(floor.is_none()),
    }
}
