//! Loading a program into a fresh address space, for the sandbox's first
//! process and for `execve`.

use std::sync::Arc;

use vmm::{Platform, Regs};

use super::Task;
use crate::errno::Errno;
use crate::loader::{
    build_stack, load_elf, load_interpreter, parse_elf, ElfInfo, LoadError, StackSpec,
};
use crate::mm::{Layout, MemoryManager};
use crate::vfs::open::Executable;
use crate::vfs::procfs::{ImageLayout, ProcSource};
use crate::vfs::FsContext;

/// A program in its own address space, ready to run.
pub struct LoadedProgram {
    pub mm: MemoryManager,
    pub regs: Regs,
    pub layout: ImageLayout,
}

#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Platform(#[from] vmm::PlatformError),
}

/// The program interpreter (ld.so) of a dynamically linked program.
pub struct Interpreter<'a> {
    pub bytes: &'a [u8],
    pub elf: &'a ElfInfo,
}

/// Map `bytes` (parsed as `elf`), its interpreter if it has one, and its
/// initial stack into a new address space of `platform` (for execve: one
/// replacing the caller's address space `replacing`, which the platform
/// may recycle).
pub fn load_program(
    platform: &dyn Platform,
    replacing: Option<&dyn vmm::AddressSpace>,
    bytes: &[u8],
    elf: &ElfInfo,
    interp: Option<Interpreter<'_>>,
    spec: &StackSpec,
) -> Result<LoadedProgram, ProgramError> {
    let asp = match replacing {
        Some(old) => platform.new_address_space_replacing(old)?,
        None => platform.new_address_space()?,
    };
    let layout = Layout::for_max_address(platform.max_user_address());
    let mut mm = MemoryManager::new(platform.memory_file().clone(), asp, layout);
    let mut image = load_elf(&mut mm, bytes, elf)?;
    mm.set_brk_start(image.end);
    // With an interpreter, it runs first and finds the program through
    // the auxiliary vector (AT_PHDR, AT_ENTRY, AT_BASE).
    let mut start = image.entry;
    if let Some(i) = interp {
        let ld = load_interpreter(&mut mm, i.bytes, i.elf)?;
        image.interp_base = ld.bias;
        start = ld.entry;
    }
    let stack = build_stack(&mut mm, &image, spec)?;
    Ok(LoadedProgram {
        mm,
        regs: Regs::new_user(start, stack.rsp),
        layout: ImageLayout {
            start_stack: stack.rsp,
            arg_start: stack.args.0,
            arg_end: stack.args.1,
            env_start: stack.env.0,
            env_end: stack.env.1,
            ..ImageLayout::default()
        },
    })
}

/// Give `task` the identity of the program it now runs: `execfn` as the
/// caller named it (its name), `exe` the canonical path (/proc/PID/exe).
pub fn set_identity(task: &mut Task, execfn: &[u8], exe: &[u8], layout: ImageLayout) {
    let base = execfn.rsplit(|&c| c == b'/').next().unwrap_or(execfn);
    task.set_comm(base.iter().take(15).copied().collect());
    task.exe = String::from_utf8_lossy(exe).into_owned();
    task.image = layout;
}

/// Longest `#!` line Linux reads.
const BINPRM_BUF_SIZE: usize = 256;
/// How many interpreters may chain (`#!` scripts run by `#!` scripts).
const MAX_INTERPRETERS: usize = 4;

/// The program `execve` loads after following `#!` lines.
pub struct ResolvedProgram {
    pub exe: Executable,
    /// AT_EXECFN: the path the program was found by.
    pub execfn: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
}

/// `#!interpreter [arg]` scripts, as `execve` runs them: while `exe` is a
/// script, run its interpreter with the optional argument and the script's
/// path (`execfn`) in front of the remaining arguments.
pub fn follow_interpreters(
    fs: &FsContext,
    procs: &dyn ProcSource,
    mut exe: Executable,
    mut execfn: Vec<u8>,
    mut argv: Vec<Vec<u8>>,
) -> Result<ResolvedProgram, Errno> {
    for _ in 0..MAX_INTERPRETERS {
        if !exe.bytes.starts_with(b"#!") {
            break;
        }
        let line = &exe.bytes[2..exe.bytes.len().min(BINPRM_BUF_SIZE)];
        let line = line.split(|&c| c == b'\n').next().unwrap_or(line);
        let line: Vec<u8> = line
            .iter()
            .copied()
            .skip_while(|c| *c == b' ' || *c == b'\t')
            .collect();
        let end = line
            .iter()
            .rposition(|c| *c != b' ' && *c != b'\t')
            .map_or(0, |i| i + 1);
        let line = &line[..end];
        if line.is_empty() {
            return Err(Errno::ENOEXEC);
        }
        let split = line.iter().position(|c| *c == b' ' || *c == b'\t');
        let (interp, arg) = match split {
            Some(i) => (
                line[..i].to_vec(),
                Some(line[i + 1..].trim_ascii().to_vec()),
            ),
            None => (line.to_vec(), None),
        };
        let mut new_argv = vec![interp.clone()];
        new_argv.extend(arg.filter(|a| !a.is_empty()));
        new_argv.push(execfn.clone());
        new_argv.extend(argv.into_iter().skip(1));
        argv = new_argv;
        exe = fs.open_executable(&interp, procs)?;
        execfn = interp;
    }
    if exe.bytes.starts_with(b"#!") {
        // Too many scripts in a row (Linux: ELOOP).
        return Err(Errno::ELOOP);
    }
    Ok(ResolvedProgram { exe, execfn, argv })
}

/// `execve`: replace the task's program. Errors leave the task untouched.
pub fn execve(
    task: &mut Task,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
) -> Result<(), Errno> {
    let platform: Arc<dyn Platform> = task.platform.clone().ok_or(Errno::ENOSYS)?;
    let exe = task.fs.open_executable(path, task)?;
    let ResolvedProgram { exe, execfn, argv } =
        follow_interpreters(&task.fs, task, exe, path.to_vec(), argv)?;
    let elf = parse_elf(&exe.bytes).map_err(|_| Errno::ENOEXEC)?;
    let ld = match &elf.interp {
        Some(path) => Some(read_interpreter(&task.fs, task, path)?),
        None => None,
    };
    let interp = ld.as_ref().map(|(bytes, elf)| Interpreter { bytes, elf });
    let spec = StackSpec {
        argv: &argv,
        envp: &envp,
        execfn: &execfn,
        creds: task.creds,
    };
    let old_asp = task.mm.lock().address_space();
    let loaded = load_program(
        platform.as_ref(),
        Some(old_asp.as_ref()),
        &exe.bytes,
        &elf,
        interp,
        &spec,
    );
    // The old address space goes with the old memory manager below.
    drop(old_asp);
    let loaded = loaded.map_err(|e| match e {
        ProgramError::Load(LoadError::Memory(errno)) => errno,
        ProgramError::Load(_) => Errno::ENOEXEC,
        ProgramError::Platform(_) => Errno::ENOMEM,
    })?;

    // Past the point of no return: the old image is gone, and so are the
    // process's other threads.
    if task.group.len() > 1 {
        end_other_threads(task)?;
    }
    // Linux's exec_mm_release, in the old memory: robust futexes are let
    // go, and clear_child_tid is cleared and woken if another process
    // (a CLONE_VM parent) goes on using that memory.
    if !task.mm.is_shared() {
        task.clear_child_tid = 0;
    }
    super::thread::release_futexes(task, false);
    task.mm = crate::mm::SharedMm::new(loaded.mm);
    // A vfork child has let go of its parent's memory: the parent runs on.
    task.vfork_release = None;
    task.regs = loaded.regs;
    set_identity(task, &execfn, &exe.path, loaded.layout);
    // Before close-on-exec files close: a parent that sees them close
    // must find the child exec'd (setpgid's EACCES).
    task.procs.mark_execed(task.tgid);
    // A table or actions shared with another process (CLONE_FILES,
    // CLONE_SIGHAND) become this one's own before they change.
    task.fds.unshare();
    task.fds.close_on_exec();
    task.signals.actions.unshare();
    // Caught signals revert to their defaults; ignored ones stay ignored.
    task.signals.actions.update(|actions| {
        for action in actions.iter_mut() {
            if action.handler > 1 {
                *action = Default::default();
            }
        }
    });
    // POSIX timers do not survive exec (itimers do).
    if let Some(timers) = task.group.existing_posix_timers() {
        timers.clear();
    }
    // The saved and file-system ids take the effective ones (no set-id
    // program runs in the sandbox with other ids).
    let c = &mut task.creds;
    (c.suid, c.fsuid, c.sgid, c.fsgid) = (c.euid, c.euid, c.egid, c.egid);
    task.signals.altstack = Default::default();
    task.signals.altstack.flags = super::signal::SS_DISABLE;
    task.rseq = None;
    task.robust_list = (0, 0);
    task.clear_child_tid = 0;
    task.publish_facts();
    Ok(())
}

/// `execve` in a process with several threads: the others end, and the
/// caller takes the process's first thread's place (and id), as Linux's
/// de_thread does.
fn end_other_threads(task: &mut Task) -> Result<(), Errno> {
    if !task.group.begin_exec(task.tid) {
        // The process is already exiting; this thread ends with it.
        return Err(Errno::EAGAIN);
    }
    task.group.wait_alone(task.tid);
    if task.tid != task.tgid {
        task.procs.remove_thread(task.tid);
        task.procs.set_inbox(task.tgid, task.inbox.clone());
    }
    task.group.finish_exec(task.tid, task.tgid);
    task.tid = task.tgid;
    Ok(())
}

/// Read and check the interpreter a program names (ELIBBAD if it is not a
/// loadable shared object).
pub fn read_interpreter(
    fs: &FsContext,
    procs: &dyn ProcSource,
    path: &[u8],
) -> Result<(Vec<u8>, ElfInfo), Errno> {
    let exe = fs.open_executable(path, procs)?;
    let elf = parse_elf(&exe.bytes).map_err(|_| Errno::ELIBBAD)?;
    Ok((exe.bytes, elf))
}
