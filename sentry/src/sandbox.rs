//! Putting a sandbox together: memory file, platform, file system, the first
//! task, and running it to completion.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vmm::{MemoryFile, Platform};

use crate::errno::Errno;
use crate::kernel::exec::{follow_interpreters, read_interpreter, ResolvedProgram};
use crate::kernel::exec::{load_program, set_identity, Interpreter, ProgramError};
use crate::kernel::process_table::{ProcessTable, INIT_PID};
use crate::kernel::run::{run, RunError};
use crate::kernel::task::{RLimit, RLIM_NLIMITS};
use crate::kernel::terminal_signals;
use crate::kernel::thread::end_thread;
use crate::kernel::{Credentials, ExitStatus, Task};
use crate::loader::{parse_elf, LoadError, StackSpec};
use crate::vfs::open::Executable;
use crate::vfs::procfs::NoProcs;
use crate::vfs::{FdTable, FsContext};

/// Guest memory the sandbox may use at most (the memory file is sparse).
const MEMORY_FILE_SIZE: u64 = 64 << 30;

/// The platforms rvisor knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    Ptrace,
    Kvm,
}

impl PlatformKind {
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Ptrace => "ptrace",
            PlatformKind::Kvm => "kvm",
        }
    }

    pub fn all() -> [PlatformKind; 2] {
        [PlatformKind::Kvm, PlatformKind::Ptrace]
    }

    /// The order in which `rvisor run` tries platforms when none is named:
    /// KVM wherever `/dev/kvm` works, ptrace otherwise. (On nested PVM hosts
    /// ptrace is the cheaper of the two per system call; `rvisor platforms`
    /// says so and `--platform ptrace` picks it.)
    pub fn default_order() -> [PlatformKind; 2] {
        [PlatformKind::Kvm, PlatformKind::Ptrace]
    }
}

pub struct SandboxConfig {
    /// The platform to use; `None` picks the first of
    /// `PlatformKind::default_order()` that works here.
    pub platform: Option<PlatformKind>,
    pub root: PathBuf,
    pub strace: bool,
    /// Most processes the sandbox may hold at once (`--max-processes`).
    pub max_processes: usize,
    /// The program as given on the command line.
    pub program: Vec<u8>,
    /// argv, including argv[0].
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: cannot execute: {1}")]
    NotExecutable(String, Errno),
    #[error("{0}: cannot execute: {1}")]
    BadImage(String, LoadError),
    #[error("platform {0}: {1}")]
    Platform(&'static str, String),
    #[error("cannot set up the sandbox: {0}")]
    Setup(String),
    #[error(transparent)]
    Run(#[from] RunError),
}

impl SandboxError {
    /// The exit status a shell uses for this failure.
    pub fn exit_status(&self) -> i32 {
        match self {
            SandboxError::NotFound(_) => 127,
            // As shells report it: a file that exists but whose
            // interpreter does not is "not found" too.
            SandboxError::NotExecutable(_, Errno::ENOENT) => 127,
            SandboxError::NotExecutable(..) | SandboxError::BadImage(..) => 126,
            _ => 125,
        }
    }
}

/// Create the platform `kind` over `mf`.
pub fn create_platform(
    kind: PlatformKind,
    mf: Arc<MemoryFile>,
) -> Result<Arc<dyn Platform>, SandboxError> {
    let err = |e: vmm::PlatformError| SandboxError::Platform(kind.name(), e.to_string());
    match kind {
        PlatformKind::Ptrace => Ok(Arc::new(vmm::ptrace::PtracePlatform::new(mf).map_err(err)?)),
        PlatformKind::Kvm => Ok(Arc::new(vmm::kvm::KvmPlatform::new(mf).map_err(err)?)),
    }
}

/// The best platform that can be created on this host.
fn first_working_platform(mf: &Arc<MemoryFile>) -> Result<Arc<dyn Platform>, SandboxError> {
    let mut last = None;
    for kind in PlatformKind::default_order() {
        match create_platform(kind, mf.clone()) {
            Ok(p) => return Ok(p),
            Err(e) => {
                tracing::debug!("platform {} not usable: {e}", kind.name());
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(SandboxError::Setup("no platform".into())))
}

/// Check that platform `kind` can run guests here: `Ok` says what the
/// host offers it (empty if nothing worth saying), `Err` why it cannot.
pub fn probe_platform(kind: PlatformKind) -> Result<String, String> {
    let mut detail = String::new();
    if kind == PlatformKind::Kvm {
        let host = vmm::kvm::probe().map_err(|e| e.to_string())?;
        tracing::info!("kvm: {host}");
        if host.syscall_entry == vmm::kvm::SyscallEntry::UserModeQuirk
            && host.quirk_lstar_fetch_faults != Some(true)
        {
            return Err(format!("system calls cannot be caught here; host: {host}"));
        }
        detail = host.to_string();
    }
    let mf = Arc::new(MemoryFile::new(1 << 20).map_err(|e| e.to_string())?);
    let p = create_platform(kind, mf).map_err(|e| e.to_string())?;
    p.new_address_space().map_err(|e| e.to_string())?;
    Ok(detail)
}

/// The guest's initial working directory: the caller's, if it lies inside
/// the root, else the root itself.
fn initial_cwd(root: &Path) -> String {
    let (Ok(root), Ok(cwd)) = (root.canonicalize(), std::env::current_dir()) else {
        return "/".into();
    };
    match cwd.strip_prefix(&root) {
        Ok(rel) => format!("/{}", rel.display()).replace("//", "/"),
        Err(_) => "/".into(),
    }
}

/// A program found for `rvisor run`: the path it was found at (AT_EXECFN),
/// and the file.
struct FoundProgram {
    execfn: Vec<u8>,
    exe: Executable,
}

/// Find and read the program: a path if it has a slash, else searched in
/// the guest's PATH like a shell does.
fn find_program(
    fs: &FsContext,
    program: &[u8],
    envp: &[Vec<u8>],
) -> Result<FoundProgram, SandboxError> {
    let display = String::from_utf8_lossy(program).into_owned();
    let read = |path: &[u8]| match fs.open_executable(path, &NoProcs) {
        Ok(exe) => Ok(FoundProgram {
            execfn: path.to_vec(),
            exe,
        }),
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Err(SandboxError::NotFound(display.clone())),
        Err(e) => Err(SandboxError::NotExecutable(display.clone(), e)),
    };
    if program.contains(&b'/') {
        return read(program);
    }
    let path_var = envp
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    let mut first_error = None;
    for dir in path_var.split(|&c| c == b':').filter(|d| !d.is_empty()) {
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(program);
        match read(&candidate) {
            Ok(found) => return Ok(found),
            Err(SandboxError::NotFound(_)) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(SandboxError::NotFound(display)))
}

fn host_credentials() -> Credentials {
    use rustix::process::{getegid, geteuid, getgid, getuid};
    let (euid, egid) = (geteuid().as_raw(), getegid().as_raw());
    Credentials {
        uid: getuid().as_raw(),
        gid: getgid().as_raw(),
        ..Credentials::new(euid, egid)
    }
}

fn host_rlimits() -> [RLimit; RLIM_NLIMITS] {
    let mut out = [RLimit {
        cur: u64::MAX,
        max: u64::MAX,
    }; RLIM_NLIMITS];
    for (i, slot) in out.iter_mut().enumerate() {
        if let Some(r) = crate::host::getrlimit(i as u32) {
            *slot = r;
        }
    }
    out
}

/// Run the configured program to completion.
pub fn run_sandbox(cfg: &SandboxConfig) -> Result<ExitStatus, SandboxError> {
    // Before any thread starts: the terminal's signals go to one thread.
    let on_terminal = terminal_signals::claim();
    let fs = FsContext::new(&cfg.root, &initial_cwd(&cfg.root))
        .map_err(|e| SandboxError::Setup(format!("root {}: {e}", cfg.root.display())))?;
    let FoundProgram { execfn, exe } = find_program(&fs, &cfg.program, &cfg.envp)?;
    let display = String::from_utf8_lossy(&cfg.program).into_owned();
    // A `#!` script runs through its interpreter, as execve would run it.
    let ResolvedProgram { exe, execfn, argv } =
        follow_interpreters(&fs, &NoProcs, exe, execfn, cfg.argv.clone())
            .map_err(|e| SandboxError::NotExecutable(display.clone(), e))?;
    let elf = parse_elf(&exe.bytes).map_err(|e| SandboxError::BadImage(display.clone(), e))?;
    // The interpreter is found and checked as execve does it.
    let interp_file = match &elf.interp {
        Some(path) => Some(read_interpreter(&fs, &NoProcs, path).map_err(|e| {
            let name = String::from_utf8_lossy(path).into_owned();
            SandboxError::BadImage(display.clone(), LoadError::Dynamic(format!("{name}: {e}")))
        })?),
        None => None,
    };

    let mf = Arc::new(
        MemoryFile::new(MEMORY_FILE_SIZE).map_err(|e| SandboxError::Setup(e.to_string()))?,
    );
    let platform: Arc<dyn Platform> = match cfg.platform {
        Some(kind) => create_platform(kind, mf.clone())?,
        None => first_working_platform(&mf)?,
    };
    let name = platform.name();
    let perr = |e: vmm::PlatformError| SandboxError::Platform(name, e.to_string());

    let creds = host_credentials();
    let spec = StackSpec {
        argv: &argv,
        envp: &cfg.envp,
        execfn: &execfn,
        creds,
    };
    let interp = interp_file
        .as_ref()
        .map(|(bytes, elf)| Interpreter { bytes, elf });
    let loaded = load_program(platform.as_ref(), None, &exe.bytes, &elf, interp, &spec).map_err(
        |e| match e {
            ProgramError::Load(e) => SandboxError::BadImage(display.clone(), e),
            ProgramError::Platform(e) => perr(e),
        },
    )?;

    let procs = ProcessTable::new(cfg.max_processes);
    let fds = FdTable::with_host_stdio();
    let mut task = Task::new(INIT_PID, loaded.regs, loaded.mm, fds, fs, creds, &exe.path);
    // /proc/self/exe shows the canonical path, the name the one used.
    set_identity(&mut task, &execfn, &exe.path, loaded.layout);
    let pid = procs
        .add(0, task.inbox.clone(), creds.uid)
        .map_err(|e| SandboxError::Setup(format!("process table: {e}")))?;
    debug_assert_eq!(pid, INIT_PID);
    procs.set_group(INIT_PID, task.group.clone());
    if on_terminal {
        procs.attach_terminal(INIT_PID);
        terminal_signals::forward(procs.clone());
    }
    task.procs = procs;
    task.platform = Some(platform.clone());
    task.rlimits = host_rlimits();
    task.groups = rustix::process::getgroups()
        .map(|g| g.iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    task.strace = cfg.strace;
    task.publish_facts();
    let mut ctx = platform.new_context().map_err(perr)?;
    let status = run(&mut task, ctx.as_mut())?;
    Ok(match end_thread(&mut task, status) {
        Some(status) => status,
        // Another thread's execve took the process over; it reports.
        None => task.group.wait_final(),
    })
}
