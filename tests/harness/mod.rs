//! Machinery shared by the guest tests: building the C guests, finding out
//! which platforms this host can run, running a guest natively or under
//! rvisor, and comparing the two.
//!
//! The central check is [`assert_same_as_native`]: the host kernel is the
//! reference implementation of Linux, so a guest must print the same bytes
//! and exit with the same status under every rvisor platform as it does
//! when run directly.

mod build;
mod files;
mod platform;
mod run;

pub use build::guest;
pub use files::{case_dir, elf32_executable, write_executable};
pub use platform::available_platforms;
pub use run::{rvisor_binary, Outcome, Run};

/// Runs `run` natively and under every available platform, asserts that
/// stdout, stderr and the exit status are identical everywhere, and returns
/// the native outcome so the caller can also check that the guest did what
/// it should (an identical wrong answer must not pass).
#[track_caller]
pub fn assert_same_as_native(run: &Run) -> Outcome {
    let native = run.native();
    for platform in available_platforms() {
        let sandboxed = run.rvisor(platform, &[]);
        assert_same(
            &native,
            &sandboxed,
            &format!("{run} on --platform {platform}"),
        );
    }
    native
}

/// Fails with a readable account of where `sandboxed` departs from `native`.
#[track_caller]
pub fn assert_same(native: &Outcome, sandboxed: &Outcome, what: &str) {
    let mut differences = Vec::new();
    if native.status != sandboxed.status {
        differences.push(format!(
            "exit status: native {}, rvisor {}",
            native.status, sandboxed.status
        ));
    }
    for (stream, n, s) in [
        ("stdout", &native.stdout, &sandboxed.stdout),
        ("stderr", &native.stderr, &sandboxed.stderr),
    ] {
        if n != s {
            differences.push(format!("{stream}: {}", first_difference(n, s)));
        }
    }
    assert!(
        differences.is_empty(),
        "{what}: rvisor differs from native:\n  {}\n--- native ---\n{native}\n--- rvisor ---\n{sandboxed}",
        differences.join("\n  ")
    );
}

/// Describes the first line on which two outputs differ.
fn first_difference(native: &[u8], sandboxed: &[u8]) -> String {
    let native = String::from_utf8_lossy(native);
    let sandboxed = String::from_utf8_lossy(sandboxed);
    let mut n_lines = native.split_inclusive('\n');
    let mut s_lines = sandboxed.split_inclusive('\n');
    let mut line = 1;
    loop {
        match (n_lines.next(), s_lines.next()) {
            (None, None) => return "they differ only in bytes that are not UTF-8".into(),
            (n, s) if n != s => {
                return format!(
                    "line {line}: native {:?}, rvisor {:?}",
                    n.unwrap_or("(end of output)"),
                    s.unwrap_or("(end of output)")
                )
            }
            _ => line += 1,
        }
    }
}
