//! Compiles the C guests in `tests/guests/` once per test run.
//!
//! Every `*.c` file becomes a static musl executable of the same name. Two
//! extra builds of `hello.c` use the host's glibc: `hello_glibc` (static, a
//! second libc's start-up code) and `hello_dynamic` (dynamically linked);
//! `threads_glibc`, `vfork_glibc`, `pi_mutex_glibc` and
//! `posix_timers_glibc` are static glibc builds of `threads.c`, `vfork.c`,
//! `pi_mutex.c` and `posix_timers.c`. Outputs go to `CARGO_TARGET_TMPDIR/guests` and
//! are only rebuilt when a source or header is newer.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::time::SystemTime;

/// Where the guest sources live.
const SOURCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/guests");

/// Warnings on, so a guest that relies on undefined behaviour shows it here.
const CFLAGS: &[&str] = &["-O2", "-Wall", "-Wextra"];

/// The path of the built guest program `name`, building all guests first if
/// this test process has not done so yet.
pub fn guest(name: &str) -> PathBuf {
    static OUT_DIR: OnceLock<PathBuf> = OnceLock::new();
    let path = OUT_DIR.get_or_init(build_all).join(name);
    assert!(path.is_file(), "there is no guest program named {name}");
    path
}

/// One compiler invocation.
struct Job {
    compiler: &'static str,
    extra_flags: &'static [&'static str],
    source: PathBuf,
    output: PathBuf,
}

fn build_all() -> PathBuf {
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("guests");
    fs::create_dir_all(&out_dir).expect("create the guest output directory");

    let mut jobs = Vec::new();
    for source in sources_with_extension("c") {
        let name = source.file_stem().expect("a .c file has a stem").to_owned();
        jobs.push(Job {
            compiler: "musl-gcc",
            extra_flags: &["-static"],
            source,
            output: out_dir.join(name),
        });
    }
    let hello = Path::new(SOURCE_DIR).join("hello.c");
    for (output, extra_flags) in [
        ("hello_glibc", &["-static"][..]),
        ("hello_dynamic", &[][..]),
    ] {
        jobs.push(Job {
            compiler: "gcc",
            extra_flags,
            source: hello.clone(),
            output: out_dir.join(output),
        });
    }
    // glibc's threads use clone3, robust lists and rseq, unlike musl's.
    jobs.push(Job {
        compiler: "gcc",
        extra_flags: &["-static", "-pthread"],
        source: Path::new(SOURCE_DIR).join("threads.c"),
        output: out_dir.join("threads_glibc"),
    });
    // glibc's posix_spawn is clone3(CLONE_VM | CLONE_VFORK) reporting exec
    // failures through the memory it shares with the child.
    jobs.push(Job {
        compiler: "gcc",
        extra_flags: &["-static"],
        source: Path::new(SOURCE_DIR).join("vfork.c"),
        output: out_dir.join("vfork_glibc"),
    });
    // glibc's PTHREAD_PRIO_INHERIT and robust PI mutexes are what uses
    // FUTEX_LOCK_PI in practice.
    jobs.push(Job {
        compiler: "gcc",
        extra_flags: &["-static", "-pthread"],
        source: Path::new(SOURCE_DIR).join("pi_mutex.c"),
        output: out_dir.join("pi_mutex_glibc"),
    });
    // glibc's SIGEV_THREAD timers: a helper thread woken by
    // SIGEV_THREAD_ID signals runs the callbacks.
    jobs.push(Job {
        compiler: "gcc",
        extra_flags: &["-static", "-pthread"],
        source: Path::new(SOURCE_DIR).join("posix_timers.c"),
        output: out_dir.join("posix_timers_glibc"),
    });

    // Every guest includes the shared headers, so they date every output.
    let headers_changed = sources_with_extension("h")
        .iter()
        .map(|h| modified(h))
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stale: Vec<Job> = jobs
        .into_iter()
        .filter(|job| {
            !job.output.exists()
                || modified(&job.output) < modified(&job.source).max(headers_changed)
        })
        .collect();

    // The compilers are independent: start them all, then collect them.
    let running: Vec<(Job, Child)> = stale
        .into_iter()
        .map(|job| {
            let child = start(&job);
            (job, child)
        })
        .collect();
    let mut failures = Vec::new();
    for (job, child) in running {
        let output = child.wait_with_output().expect("wait for the compiler");
        if output.status.success() {
            fs::rename(temporary(&job.output), &job.output).expect("install the guest");
        } else {
            failures.push(format!(
                "{} {}:\n{}",
                job.compiler,
                job.source.display(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "guest programs failed to compile:\n{}",
        failures.join("\n")
    );
    out_dir
}

/// Starts the compiler. It writes to a temporary name that is renamed into
/// place afterwards, so an interrupted build never leaves a half-written
/// program that looks up to date.
fn start(job: &Job) -> Child {
    Command::new(job.compiler)
        .args(job.extra_flags)
        .args(CFLAGS)
        .arg("-I")
        .arg(SOURCE_DIR)
        .arg("-o")
        .arg(temporary(&job.output))
        .arg(&job.source)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            if err.kind() == ErrorKind::NotFound {
                panic!(
                    "`{}` is not installed; run scripts/setup.sh to install the guest toolchain",
                    job.compiler
                )
            }
            panic!("cannot run {}: {err}", job.compiler)
        })
}

fn temporary(output: &Path) -> PathBuf {
    output.with_extension(format!("tmp{}", std::process::id()))
}

fn sources_with_extension(extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(SOURCE_DIR)
        .expect("read tests/guests")
        .map(|entry| entry.expect("read tests/guests").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    found
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|err| panic!("stat {}: {err}", path.display()))
}
