//! Platform benchmark: `cargo bench -p sentry --bench platforms [-- NAME...]`.
//!
//! Measures, natively and under each available rvisor platform, what a
//! guest pays for the things the platform and the sentry sit in the middle
//! of (the cases are in `cases.rs`):
//!
//! * a system-call round trip (`tests/guests/getppid_loop.c`),
//! * first-touch page faults over 64 MiB (`touch_pages.c`),
//! * a child's whole life, fork + exit + wait (`fork_wait_loop.c`), and
//!   with an execve of a small static program (`fork_exec_loop.c`),
//! * a one-byte round trip between two processes over pipes
//!   (`pipe_pingpong.c`) and 64 KiB-write pipe throughput
//!   (`pipe_throughput.c`),
//!
//! and prints them side by side with gVisor's figures from issue 4 and
//! whether each platform is within the target of half runsc's cost
//! (`table.rs`).
//!
//! The guests time themselves with CLOCK_MONOTONIC, so rvisor's start-up is
//! not counted. Everything is pinned to CPU 0 (as `taskset -c 0` would)
//! because cross-CPU wake-ups cost tens of microseconds on our machines and
//! would swamp the numbers. Each measurement is repeated and the median
//! reported. Optional NAME arguments (`native`, `ptrace`, `kvm`) restrict
//! the columns.

mod cases;
mod table;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cases::{Case, Count, CASES, TARGET_RUN};
use table::Column;

const REPEATS: usize = 5;
/// A run that takes longer than this is hung, not slow.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// How to run a guest: natively, or under rvisor with a platform.
enum Runner {
    Native,
    Rvisor(&'static str),
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

    let mut columns = Vec::new();
    for (name, runner) in runners.into_iter().filter(|(name, _)| wanted(name)) {
        let results = CASES
            .iter()
            .map(|case| {
                eprintln!("measuring {name}: {}...", case.name);
                let runner = runner.as_ref().map_err(Clone::clone)?;
                measure(runner, &guests, case)
            })
            .collect();
        columns.push(Column { name, results });
    }
    table::print(&columns);
    if wanted("kvm") {
        print_kvm_floor();
    }
}

/// What this host's KVM charges for the two steps every kvm system call
/// takes where user-mode SYSCALL stays at CPL 3 (one user-mode trap into
/// ring 0, one VM exit), measured now, in this process, pinned like the
/// rest: the floor under the kvm getppid figure above.
fn print_kvm_floor() {
    const N: u32 = 20_000;
    let trap = median(REPEATS, || {
        vmm::kvm::measure_user_trap_round_trip(N)
            .map(|d| d.as_nanos() as f64)
            .map_err(|e| e.to_string())
    });
    let exit = median(REPEATS, || {
        vmm::kvm::measure_exit_round_trip(N)
            .map(|d| d.as_nanos() as f64)
            .map_err(|e| e.to_string())
    });
    let path = median(REPEATS, || match vmm::kvm::measure_syscall_floor(N) {
        Ok(Some(d)) => Ok(d.as_nanos() as f64),
        Ok(None) => Err("SYSCALL enters ring 0 on this host".into()),
        Err(e) => Err(e.to_string()),
    });
    match (trap, exit) {
        (Ok(trap), Ok(exit)) => println!(
            "\nkvm on this host: user trap into ring 0 and back {:.1} us, VM exit and \
             back {:.1} us (sum {:.1} us)",
            trap / 1e3,
            exit / 1e3,
            (trap + exit) / 1e3
        ),
        (Err(e), _) | (_, Err(e)) => println!("\nkvm steps: not measured ({e})"),
    }
    match path {
        Ok(ns) => println!(
            "kvm system-call floor (user syscall -> #PF at LSTAR -> exit -> straight \
             back, no sentry work): {:.1} us",
            ns / 1e3
        ),
        Err(e) => println!("kvm system-call floor: not measured ({e})"),
    }
}

/// The median nanoseconds of one case, as its guest reports them.
fn measure(runner: &Runner, guests: &Path, case: &Case) -> Result<f64, String> {
    let program = guests.join(case.guest);
    let count = match case.count {
        Count::Fixed(arg) => arg,
        Count::Calibrated { min, max } => {
            let one = run_guest(runner, &program, &[min.to_string()], case.key)?;
            ((TARGET_RUN.as_nanos() as f64 / one) as u64).clamp(min, max)
        }
    };
    median(REPEATS, || {
        run_guest(runner, &program, &[count.to_string()], case.key)
    })
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

/// Compiles the benchmark guests with musl-gcc (see scripts/setup.sh).
fn build_guests() -> PathBuf {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-guests");
    std::fs::create_dir_all(&out).expect("create the guest directory");
    for name in CASES.iter().map(|case| case.guest) {
        let status = Command::new("musl-gcc")
            .args(["-static", "-O2", "-I"])
            .arg(&sources)
            .arg("-o")
            .arg(out.join(name))
            .arg(sources.join(format!("{name}.c")))
            .status()
            .unwrap_or_else(|e| panic!("cannot run musl-gcc ({e}); run scripts/setup.sh"));
        assert!(status.success(), "musl-gcc failed on {name}.c");
    }
    out
}
