//! The platforms every case runs on, and which of them this host can run.
//!
//! A platform that is not available is skipped with a visible reason rather
//! than failed or `#[ignore]`d: the same test suite then passes on a laptop
//! without KVM and exercises KVM wherever it works.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use super::run::{rvisor_binary, Run};

struct Platform {
    name: &'static str,
    /// `Ok` if the platform can run guests here, otherwise why not.
    usable: fn() -> Result<(), String>,
}

const PLATFORMS: &[Platform] = &[
    // PTRACE_SYSEMU needs nothing beyond ptrace, which tests may always use.
    Platform {
        name: "ptrace",
        usable: || Ok(()),
    },
    Platform {
        name: "kvm",
        usable: kvm_usable,
    },
];

/// The names of the platforms to run on. Each unavailable platform is
/// reported as `skipping NAME: REASON` in the test's own output, and once
/// per test process on the real stderr, where libtest does not hide it.
pub fn available_platforms() -> Vec<&'static str> {
    static VERDICTS: OnceLock<Vec<(&'static str, Result<(), String>)>> = OnceLock::new();
    let verdicts = VERDICTS.get_or_init(|| {
        let verdicts: Vec<_> = PLATFORMS.iter().map(|p| (p.name, (p.usable)())).collect();
        for (name, verdict) in &verdicts {
            if let Err(reason) = verdict {
                // Deliberately not eprintln!: that would be captured.
                let _ = writeln!(std::io::stderr(), "skipping {name}: {reason}");
            }
        }
        verdicts
    });

    let mut available = Vec::new();
    for (name, verdict) in verdicts {
        match verdict {
            Ok(()) => available.push(*name),
            Err(reason) => eprintln!("skipping {name}: {reason}"),
        }
    }
    assert!(
        !available.is_empty(),
        "no platform is available, so nothing would be tested"
    );
    available
}

fn kvm_usable() -> Result<(), String> {
    if !Path::new("/dev/kvm").exists() {
        return Err("/dev/kvm does not exist".into());
    }
    rvisor_says_available("kvm")
}

/// Asks `rvisor platforms`, which prints one `NAME: available` or
/// `NAME: unavailable (REASON)` line per platform.
fn rvisor_says_available(name: &str) -> Result<(), String> {
    let outcome = Run::new(rvisor_binary())
        .arg("platforms")
        .timeout(Duration::from_secs(30))
        .native();
    if outcome.status != 0 {
        return Err(format!("`rvisor platforms` failed:\n{outcome}"));
    }
    let prefix = format!("{name}:");
    let stdout = outcome.stdout_text();
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&prefix))
        .ok_or_else(|| format!("`rvisor platforms` does not mention {name}"))?;
    // "available" may be followed by details; "unavailable" never matches.
    if line[prefix.len()..].trim_start().starts_with("available") {
        Ok(())
    } else {
        Err(format!("`rvisor platforms` says \"{line}\""))
    }
}
