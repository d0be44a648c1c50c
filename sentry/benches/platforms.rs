//! Platform benchmark: `cargo bench -p sentry --bench platforms [-- NAME...]`.
//!
//! Measures, natively and under each available rvisor platform, what a
//! guest pays for the two things the platform sits in the middle of:
//!
//! * a system-call round trip (`tests/guests/getppid_loop.c`), and
//! * first-touch page faults over 64 MiB (`tests/guests/touch_pages.c`).
//!
//! The guests time themselves with CLOCK_MONOTONIC, so rvisor's start-up is
//! not counted. Everything is pinned to CPU 0 because cross-CPU wake-ups
//! cost tens of microseconds on our machines and would swamp the numbers.
//! Each measurement is repeated and the median reported. Optional NAME
//! arguments (`native`, `ptrace`, `kvm`) restrict the rows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPEATS: usize = 5;
/// Aim each getppid run at about this long, whatever one call costs.
const TARGET_RUN: Duration = Duration::from_millis(300);
const TOUCH_MIB: u32 = 64;
/// A run that takes longer than this is hung, not slow.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How to run a guest: natively, or under rvisor with a platform.
enum Runner {
    Native,
    Rvisor(&'static str),
}

/// Medians for one row of the table.
struct Row {
    name: String,
    result: Result<(f64, f64), String>, // (ns per getppid, ms for the touch)
}

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--")) // cargo passes --bench
        .collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| f == name);

    pin_to_cpu0();
    let guests = build_guests();
    let mut runners = vec![("native".to_owned(), Ok(Runner::Native))];
    for platform in ["ptrace", "kvm"] {
        runners.push((
            platform.to_owned(),
            platform_usable(platform).map(|()| Runner::Rvisor(platform)),
        ));
    }

    let mut rows = Vec::new();
    for (name, runner) in runners.into_iter().filter(|(name, _)| wanted(name)) {
        eprintln!("measuring {name}...");
        let result = runner.and_then(|runner| measure(&runner, &guests));
        rows.push(Row { name, result });
    }
    print_table(&rows);
}

fn measure(runner: &Runner, guests: &Path) -> Result<(f64, f64), String> {
    let getppid = guests.join("getppid_loop");
    // A short calibration run decides how many calls fill TARGET_RUN.
    let calibration = run_guest(runner, &getppid, &["2000".into()], "ns_per_call")?;
    let calls = (TARGET_RUN.as_nanos() as f64 / calibration).clamp(2000.0, 5e6) as u64;
    let ns_per_call = median(REPEATS, || {
        run_guest(runner, &getppid, &[calls.to_string()], "ns_per_call")
    })?;

    let touch = guests.join("touch_pages");
    let ns_total = median(REPEATS, || {
        run_guest(runner, &touch, &[TOUCH_MIB.to_string()], "ns_total")
    })?;
    Ok((ns_per_call, ns_total / 1e6))
}

fn median(repeats: usize, mut sample: impl FnMut() -> Result<f64, String>) -> Result<f64, String> {
    let mut samples = (0..repeats)
        .map(|_| sample())
        .collect::<Result<Vec<f64>, String>>()?;
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Runs one guest and returns the number it printed after `key`.
fn run_guest(runner: &Runner, program: &Path, args: &[String], key: &str) -> Result<f64, String> {
    let mut command = match runner {
        Runner::Native => Command::new(program),
        Runner::Rvisor(platform) => {
            let mut command = Command::new(rvisor());
            command
                .args(["run", "--platform", platform, "--"])
                .arg(program);
            command
        }
    };
    command
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    // The guests print one line, which fits in the pipe, so waiting before
    // reading cannot deadlock; the deadline keeps a hung sandbox from
    // hanging the benchmark.
    let deadline = Instant::now() + RUN_TIMEOUT;
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("no answer within {RUN_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = stdout
        .lines()
        .find_map(|line| line.strip_prefix(key)?.trim().parse::<f64>().ok());
    match value {
        Some(value) if output.status.success() => Ok(value),
        _ => Err(format!(
            "failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .next()
                .unwrap_or("no output")
        )),
    }
}

fn print_table(rows: &[Row]) {
    let native = rows
        .iter()
        .find(|r| r.name == "native")
        .and_then(|r| r.result.clone().ok());
    let ratio = |value: f64, base: Option<f64>| {
        base.map_or("-".to_owned(), |b| format!("{:.1}x", value / b))
    };
    println!(
        "{:<8} {:>14} {:>10} {:>18} {:>10}",
        "platform",
        "getppid ns",
        "vs native",
        format!("{TOUCH_MIB} MiB touch ms"),
        "vs native"
    );
    for row in rows {
        match &row.result {
            Ok((ns, ms)) => println!(
                "{:<8} {:>14.1} {:>10} {:>18.1} {:>10}",
                row.name,
                ns,
                ratio(*ns, native.map(|n| n.0)),
                ms,
                ratio(*ms, native.map(|n| n.1))
            ),
            Err(reason) => println!("{:<8} skipped: {reason}", row.name),
        }
    }
}

/// Pins this process, and so every child it starts, to CPU 0.
fn pin_to_cpu0() {
    let mut cpus = rustix::thread::CpuSet::new();
    cpus.set(0);
    if let Err(err) = rustix::thread::sched_setaffinity(None, &cpus) {
        eprintln!("warning: cannot pin to CPU 0 ({err}); numbers will be noisy");
    }
}

/// `cargo bench` builds the package's binaries (in the bench profile)
/// before its benchmarks and tells us where through this variable.
fn rvisor() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rvisor"))
}

fn platform_usable(platform: &str) -> Result<(), String> {
    if platform == "kvm" && !Path::new("/dev/kvm").exists() {
        return Err("/dev/kvm does not exist".into());
    }
    let output = Command::new(rvisor())
        .arg("platforms")
        .output()
        .map_err(|e| format!("cannot run rvisor: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.starts_with(&format!("{platform}:")))
        .ok_or_else(|| format!("`rvisor platforms` does not list {platform}"))?;
    if line[platform.len() + 1..]
        .trim_start()
        .starts_with("available")
    {
        Ok(())
    } else {
        Err(line.to_owned())
    }
}

/// Compiles the two benchmark guests with musl-gcc (see scripts/setup.sh).
fn build_guests() -> PathBuf {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-guests");
    std::fs::create_dir_all(&out).expect("create the guest directory");
    for name in ["getppid_loop", "touch_pages"] {
        let status = Command::new("musl-gcc")
            .args(["-static", "-O2", "-o"])
            .arg(out.join(name))
            .arg(sources.join(format!("{name}.c")))
            .status()
            .unwrap_or_else(|e| panic!("cannot run musl-gcc ({e}); run scripts/setup.sh"));
        assert!(status.success(), "musl-gcc failed on {name}.c");
    }
    out
}
