//! The stub: a host process with nothing in its address space but one code
//! page and the guest memory the sentry maps into it.
//!
//! One stub per platform, the template, is forked from the sentry. The child
//! makes itself traceable, closes every file descriptor, and jumps to the
//! stub page, whose code unmaps everything else (the sentry's image, heap,
//! stacks, vDSO) and stops itself. Every other stub is a fork of the
//! template (`template.rs`), so it starts just as clean. From then on a stub
//! only ever executes guest code (under PTRACE_SYSEMU, so no guest system
//! call reaches the host) or system calls the sentry injects at
//! `syscall_addr` (`syscall; int3`).

use std::io;

use libc::pid_t;
use ring0::abi::Regs;

use crate::platform::{PlatformError, Result};

use super::sys;

// The stub code is position independent and uses no stack: it is copied to
// a fixed page and runs after the child's stack has been unmapped.
//
// On entry: rdi = start of the pages to keep, rsi = their end, rdx = the end
// of the user address space.
core::arch::global_asm!(
    ".pushsection .text.rvisor_stub,\"ax\",@progbits",
    ".balign 16",
    ".globl rvisor_stub_start",
    "rvisor_stub_start:",
    "mov r12, rdi",
    "mov r13, rsi",
    "mov r14, rdx",
    "mov eax, 11", // munmap(0, keep_start)
    "xor edi, edi",
    "mov rsi, r12",
    "syscall",
    "mov eax, 11", // munmap(keep_end, user_end - keep_end)
    "mov rdi, r13",
    "mov rsi, r14",
    "sub rsi, r13",
    "syscall",
    "mov eax, 39", // getpid
    "syscall",
    "mov edi, eax",
    "mov esi, 19", // kill(self, SIGSTOP): the tracer takes over here
    "mov eax, 62",
    "syscall",
    ".globl rvisor_stub_syscall",
    "rvisor_stub_syscall:",
    "syscall",
    "int3",
    "jmp rvisor_stub_syscall",
    // An injected clone() of a new stub thread: the caller traps back to
    // the tracer as above; the new thread, untraced until its own tracer
    // seizes it, waits in pause() (it needs no stack).
    ".globl rvisor_stub_clone",
    "rvisor_stub_clone:",
    "syscall",
    "test rax, rax",
    "jz 2f",
    "int3",
    "2:",
    "mov eax, 34",
    "syscall",
    "jmp 2b",
    // An injected fork() of the template stub (see `template.rs`). The
    // template is traced only for the request, with PTRACE_O_TRACEFORK, so
    // the child starts traced by the requester and never runs this code;
    // the template, detached at its fork event, goes back to waiting.
    ".globl rvisor_stub_fork",
    "rvisor_stub_fork:",
    "syscall",
    "test rax, rax",
    "jz 4f",
    "jns 3f",
    "int3", // fork failed: the template is still traced, report it
    // The template waits here, untraced, for the next request.
    ".globl rvisor_stub_pause",
    "rvisor_stub_pause:",
    "3:",
    "mov eax, 34", // pause
    "syscall",
    "jmp 3b",
    // A child whose tracer vanished before taking it over.
    "4:",
    "mov eax, 231", // exit_group(1)
    "mov edi, 1",
    "syscall",
    // Injected batches (see `address_space.rs`): r12 = the batch table, r13
    // = its number of entries, each a system call number and six
    // arguments. They run in order; the trap comes after the last, or at
    // the first that fails (r13 then counts those not done, rax holds the
    // error). An rdi or r8 argument of -2 stands for the first call's
    // result: the memory file's descriptor, when the first entry opens it.
    ".globl rvisor_stub_batch",
    "rvisor_stub_batch:",
    "mov r15, -1",
    "5:",
    "test r13, r13",
    "jz 6f",
    "mov rax, qword ptr [r12]",
    "mov rdi, qword ptr [r12 + 8]",
    "mov rsi, qword ptr [r12 + 16]",
    "mov rdx, qword ptr [r12 + 24]",
    "mov r10, qword ptr [r12 + 32]",
    "mov r8, qword ptr [r12 + 40]",
    "mov r9, qword ptr [r12 + 48]",
    "cmp rdi, -2",
    "cmove rdi, r15",
    "cmp r8, -2",
    "cmove r8, r15",
    "syscall",
    "cmp rax, -4095",
    "jae 6f",
    "cmp r15, -1",
    "cmove r15, rax",
    "add r12, 56",
    "dec r13",
    "jmp 5b",
    "6:",
    "int3",
    ".globl rvisor_stub_end",
    "rvisor_stub_end:",
    ".popsection",
);

extern "C" {
    static rvisor_stub_start: u8;
    static rvisor_stub_syscall: u8;
    static rvisor_stub_clone: u8;
    static rvisor_stub_fork: u8;
    static rvisor_stub_pause: u8;
    static rvisor_stub_batch: u8;
    static rvisor_stub_end: u8;
}

/// Addresses of the stub code's start, its `syscall` pair and its end.
fn stub_symbols() -> (usize, usize, usize) {
    (
        &raw const rvisor_stub_start as usize,
        &raw const rvisor_stub_syscall as usize,
        &raw const rvisor_stub_end as usize,
    )
}

/// End of the x86-64 user address space with 4-level paging.
const USER_END: u64 = 0x7fff_ffff_f000;
const PAGE: usize = 4096;
/// Where in the stub page the memory-file path string lives.
const PATH_OFFSET: usize = 2048;
/// The stub's pages: the code page, then the batch table's page.
const STUB_LEN: usize = 2 * PAGE;
/// Bytes of one batch entry: a system call number and six arguments.
pub const BATCH_ENTRY: usize = 7 * 8;
/// Most entries one batch holds.
pub const BATCH_MAX: usize = PAGE / BATCH_ENTRY;
/// A batch argument standing for the descriptor its first entry opened.
pub const BATCH_FIRST_RESULT: u64 = -2i64 as u64;

/// The pages holding the stub code and the batch table, mapped at a fixed
/// address in the sentry and, through fork, in every stub. Guest memory
/// must stay below them. The table page is read-only in the stub (its
/// guest code cannot change a batch); the sentry fills it through
/// /proc/PID/mem, which may write read-only private pages.
pub struct StubPage {
    addr: u64,
}

impl StubPage {
    /// Map the stub page as high as possible and fill it with the stub code
    /// and `path` (the memory file as the stub can open it).
    pub fn new(path: &[u8]) -> Result<Self> {
        let (start, syscall_at, end) = stub_symbols();
        let code_len = end - start;
        if code_len > PATH_OFFSET || path.len() + 1 > PAGE - PATH_OFFSET || syscall_at < start {
            return Err(PlatformError::Protocol("stub page layout overflow".into()));
        }
        // Try high addresses first; the sentry's own stack and libraries may
        // already occupy some of them.
        for i in 0..256u64 {
            let want = USER_END - 0xf000 - i * (1 << 32);
            // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping,
            // so no Rust object can be aliased; we check the result address.
            let p = unsafe {
                libc::mmap(
                    want as *mut libc::c_void,
                    STUB_LEN,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                continue;
            }
            if p as u64 != want {
                // SAFETY: unmapping the pages the kernel just gave us.
                unsafe { libc::munmap(p, STUB_LEN) };
                continue;
            }
            let page = p.cast::<u8>();
            // SAFETY: `page` is a fresh, writable, PAGE-byte mapping; the
            // code range lies inside our text section and fits (checked above).
            unsafe {
                std::ptr::copy_nonoverlapping(start as *const u8, page, code_len);
                std::ptr::copy_nonoverlapping(path.as_ptr(), page.add(PATH_OFFSET), path.len());
                *page.add(PATH_OFFSET + path.len()) = 0;
            }
            // SAFETY: changing the protection of our own pages: code, then
            // the (still empty) table.
            let protected = unsafe {
                libc::mprotect(p, PAGE, libc::PROT_READ | libc::PROT_EXEC) == 0
                    && libc::mprotect(page.add(PAGE).cast(), PAGE, libc::PROT_READ) == 0
            };
            if !protected {
                let e = io::Error::last_os_error();
                // SAFETY: unmapping our own pages.
                unsafe { libc::munmap(p, STUB_LEN) };
                return Err(PlatformError::host("mprotect", e));
            }
            return Ok(StubPage { addr: want });
        }
        Err(PlatformError::Unavailable(
            "ptrace",
            "no free address for the stub page".into(),
        ))
    }

    /// Lowest address of the stub page: guest mappings must end below it.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Address of the `syscall; int3` pair used to inject system calls.
    pub fn syscall_addr(&self) -> u64 {
        let (start, syscall_at, _) = stub_symbols();
        self.addr + (syscall_at - start) as u64
    }

    /// Address of the `syscall` that clones a new stub thread (see the
    /// assembly above).
    pub fn clone_addr(&self) -> u64 {
        let (start, _, _) = stub_symbols();
        self.addr + (&raw const rvisor_stub_clone as usize - start) as u64
    }

    /// Address of the `syscall` that forks the template stub.
    pub fn fork_addr(&self) -> u64 {
        let (start, _, _) = stub_symbols();
        self.addr + (&raw const rvisor_stub_fork as usize - start) as u64
    }

    /// Address of the loop where the untraced template waits.
    pub fn pause_addr(&self) -> u64 {
        let (start, _, _) = stub_symbols();
        self.addr + (&raw const rvisor_stub_pause as usize - start) as u64
    }

    /// Address of the code running a batch table (see the assembly).
    pub fn batch_addr(&self) -> u64 {
        let (start, _, _) = stub_symbols();
        self.addr + (&raw const rvisor_stub_batch as usize - start) as u64
    }

    /// Address of the batch table page.
    pub fn table_addr(&self) -> u64 {
        self.addr + PAGE as u64
    }

    /// Address of the NUL-terminated memory-file path inside the page.
    pub fn path_addr(&self) -> u64 {
        self.addr + PATH_OFFSET as u64
    }

    /// Fork the template stub from the sentry (see `template.rs`) and leave
    /// it untraced, waiting in `pause_addr`. Its parent-death signal fires
    /// when the calling thread exits. Returns its pid and registers, the
    /// base for every system call injected into it or its copies.
    pub fn spawn_template(&self) -> Result<(pid_t, Regs)> {
        let parent = std::process::id() as pid_t;
        // SAFETY: the child only makes raw system calls (no allocation, no
        // locks) before jumping to the stub page, as required after fork in a
        // multi-threaded process.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(PlatformError::host("fork", io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked child; see `child_enter_stub`.
            unsafe { child_enter_stub(parent, self.addr) }
        }
        let fail = |e: PlatformError| {
            sys::kill_and_reap(pid);
            Err(e)
        };
        match sys::wait(pid) {
            Ok(sys::WaitStatus::Stopped(libc::SIGSTOP)) => {}
            Ok(other) => {
                return fail(PlatformError::StubDied(format!(
                    "stub failed to start: {other:?}"
                )))
            }
            Err((call, e)) => return fail(PlatformError::host(call, e)),
        }
        let mut regs = Regs::default();
        if let Err((call, e)) = sys::get_regs(pid, &mut regs) {
            return fail(PlatformError::host(call, e));
        }
        // No system call to restart: injected calls start from here.
        regs.orig_rax = u64::MAX;
        let waiting = Regs {
            rip: self.pause_addr(),
            ..regs
        };
        if let Err((call, e)) = sys::set_regs(pid, &waiting).and_then(|()| sys::detach(pid)) {
            return fail(PlatformError::host(call, e));
        }
        Ok((pid, regs))
    }
}

impl Drop for StubPage {
    fn drop(&mut self) {
        // SAFETY: unmapping the pages this object owns; stubs have their
        // own copies through fork.
        unsafe { libc::munmap(self.addr as *mut libc::c_void, STUB_LEN) };
    }
}

extern "C" {
    // glibc (2.35+) publishes where it registered the thread's rseq area:
    // at this offset from the thread pointer, this many bytes long.
    static __rseq_offset: isize;
    static __rseq_size: u32;
}

/// glibc's rseq signature on x86.
const RSEQ_SIG: u32 = 0x5305_3053;
const RSEQ_FLAG_UNREGISTER: u32 = 1;
/// The length glibc registers, whatever `__rseq_size` reports.
const RSEQ_AREA_LEN: u32 = 32;

/// Undo glibc's rseq registration for the calling thread. Returns whether
/// the thread is now unregistered.
///
/// # Safety
/// Only reads glibc's exported rseq symbols and the thread pointer.
unsafe fn unregister_rseq() -> bool {
    // SAFETY: the symbols are plain integers glibc initialises before main;
    // fs:0 holds the thread pointer on x86-64 Linux.
    unsafe {
        let size = __rseq_size;
        if size == 0 {
            return true;
        }
        let tp: usize;
        core::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags));
        let area = tp.wrapping_add_signed(__rseq_offset);
        [RSEQ_AREA_LEN, size].iter().any(|&len| {
            libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0
        })
    }
}

/// Child side of `spawn_template`: become a clean, traced stub. Never returns.
///
/// # Safety
/// Must only be called in a child just forked from the sentry, with
/// `stub_addr` the address of a mapped `StubPage`.
unsafe fn child_enter_stub(parent: pid_t, stub_addr: u64) -> ! {
    // SAFETY: raw system calls with integer arguments or pointers to
    // locals; on failure the child exits at once. The final jump enters the
    // stub page, which the caller guarantees is mapped.
    unsafe {
        // Die with the sentry thread that traces us.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent {
            libc::_exit(100);
        }
        // The template's children are reaped by their tracers; the
        // template must not keep them as zombies.
        if libc::signal(libc::SIGCHLD, libc::SIG_IGN) == libc::SIG_ERR {
            libc::_exit(104);
        }
        // Leave the caller's session so terminal job-control signals meant
        // for the sentry do not stop the stub.
        libc::setsid();
        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
            libc::_exit(101);
        }
        // The forking thread's rseq registration survives fork and points
        // into memory the stub is about to unmap; the kernel would then kill
        // the stub with SIGSEGV on its next preemption.
        if !unregister_rseq() {
            libc::_exit(103);
        }
        // No host file descriptor survives into the stub.
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            libc::_exit(102);
        }
        // Unblock everything so interrupts reach the tracer as stops.
        let empty: u64 = 0;
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &raw const empty,
            0usize,
            8usize,
        );
        core::arch::asm!(
            "jmp {entry}",
            entry = in(reg) stub_addr,
            in("rdi") stub_addr,
            in("rsi") stub_addr + STUB_LEN as u64,
            in("rdx") USER_END,
            options(noreturn),
        );
    }
}
