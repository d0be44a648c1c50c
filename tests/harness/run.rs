//! Running a program natively or under rvisor, with a deadline.

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The whole environment a guest sees. Runs start from an empty environment
/// so that output cannot depend on who runs the tests or where.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("HOME", "/nonexistent"),
    ("LANG", "C"),
    ("RVISOR_TEST_VAR", "two words=with an equals sign"),
];

pub fn rvisor_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rvisor"))
}

/// What a finished program did.
#[derive(Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The exit status as a shell reports it: the exit code, or 128 + N
    /// for death by signal N.
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl fmt::Display for Outcome {
    /// Status and both streams, each cut to a readable length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LIMIT: usize = 3000;
        writeln!(f, "status {}", self.status)?;
        for (name, text) in [
            ("stdout", self.stdout_text()),
            ("stderr", self.stderr_text()),
        ] {
            let cut = text
                .char_indices()
                .nth(LIMIT)
                .map_or(text.len(), |(i, _)| i);
            writeln!(f, "{name} ({} bytes):\n{}", text.len(), &text[..cut])?;
            if cut < text.len() {
                writeln!(f, "[... cut ...]")?;
            }
        }
        Ok(())
    }
}

/// A program invocation that can be carried out natively or under rvisor
/// with identical arguments, working directory, environment and stdin.
#[derive(Clone)]
pub struct Run {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    stdin: Vec<u8>,
    timeout: Duration,
    /// Variables added to `ENVIRONMENT`.
    env: Vec<(OsString, OsString)>,
}

impl Run {
    pub fn new(program: impl AsRef<Path>) -> Self {
        Run {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            cwd: PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
            stdin: Vec::new(),
            // Generous: ptrace costs ~15 µs per system call and a loaded CI
            // machine may be slow, but a hung sandbox must still fail.
            timeout: Duration::from_secs(60),
            env: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = dir.as_ref().to_owned();
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = data.into();
        self
    }

    /// Add `key=value` to the program's environment.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs the program directly on the host.
    pub fn native(&self) -> Outcome {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        self.execute(command, &self.to_string())
    }

    /// Runs `rvisor run --platform PLATFORM FLAGS... -- PROGRAM ARGS...`.
    pub fn rvisor(&self, platform: &str, flags: &[&str]) -> Outcome {
        let mut command = Command::new(rvisor_binary());
        command
            .args(["run", "--platform", platform])
            .args(flags)
            .arg("--")
            .arg(&self.program)
            .args(&self.args);
        let flags: String = flags.iter().map(|flag| format!("{flag} ")).collect();
        let what = format!("rvisor run --platform {platform} {flags}-- {self}");
        self.execute(command, &what)
    }

    fn execute(&self, mut command: Command, what: &str) -> Outcome {
        command
            .env_clear()
            .envs(ENVIRONMENT.iter().copied())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(if self.stdin.is_empty() {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));

        if let Some(mut pipe) = child.stdin.take() {
            let data = self.stdin.clone();
            // A program may exit without reading everything: ignore EPIPE.
            thread::spawn(move || pipe.write_all(&data));
        }
        let stdout = drain(child.stdout.take().expect("stdout is piped"));
        let stderr = drain(child.stderr.take().expect("stderr is piped"));

        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the program") {
                break status;
            }
            if Instant::now() > deadline {
                // Only the process we started; anything it left behind is
                // reported by the pipe check below on the next run.
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {:?}", self.timeout);
            }
            thread::sleep(Duration::from_millis(2));
        };

        // The pipes reach end-of-file when every holder has exited. If they
        // stay open, some process the program started outlived it, which is
        // a bug in its own right (and would hang the test if we just waited).
        let collect = |output: mpsc::Receiver<Vec<u8>>, stream: &str| {
            output.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| {
                panic!("{what} exited, but its {stream} stayed open: did it leave a process behind?")
            })
        };
        Outcome {
            status: shell_status(status),
            stdout: collect(stdout, "stdout"),
            stderr: collect(stderr, "stderr"),
        }
    }
}

impl fmt::Display for Run {
    /// The invocation as a shell command line (roughly quoted), for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program.display())?;
        for arg in &self.args {
            write!(f, " {:?}", arg)?;
        }
        write!(f, " (in {})", self.cwd.display())
    }
}

/// Reads a pipe to its end on a thread of its own, so that a program
/// filling one pipe while we read the other cannot deadlock.
fn drain(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut data = Vec::new();
        let _ = pipe.read_to_end(&mut data);
        let _ = sender.send(data);
    });
    receiver
}

fn shell_status(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => panic!("{status:?} is neither an exit nor a signal"),
    }
}
