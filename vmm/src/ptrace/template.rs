//! The template stub: a clean stub that new stubs are forked from.
//!
//! Forking the sentry for every new address space is expensive (a large,
//! multi-threaded process; copy-on-write faults back in the sentry; the
//! child then unmaps everything). Instead each platform forks the sentry
//! once, into the template, and every new stub is a fork of the template,
//! which holds nothing but the stub page.
//!
//! The template waits untraced in a `pause()` loop. A thread that needs a
//! stub seizes it (with PTRACE_O_TRACEFORK), injects `fork`, and detaches
//! it at the fork event. The child starts life traced by that same thread,
//! which is the one that will run it (a tracee only obeys its tracer
//! thread), so there is no hand-off between threads and no window in which
//! the child runs untraced. If its tracer vanishes before setting
//! PTRACE_O_EXITKILL, the child runs on to the stub code's `exit_group`.
//!
//! The template is forked by a keeper thread that lives as long as the
//! platform, because its parent-death signal fires when the thread that
//! forked it exits. Stubs forked from it do not depend on it: fork clears
//! the parent-death signal, and EXITKILL binds them to their tracer.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use libc::pid_t;
use ring0::abi::Regs;

use crate::platform::{PlatformError, Result};

use super::stub::StubPage;
use super::sys::{self, WaitStatus};

pub(super) struct StubTemplate {
    pid: pid_t,
    base_regs: Regs,
    fork_addr: u64,
    pause_addr: u64,
    /// Serialises requests: one thread at a time traces the template.
    lock: Mutex<()>,
    /// Dropping the sender ends the keeper thread, which kills the template.
    keeper: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

fn host((call, e): (&'static str, std::io::Error)) -> PlatformError {
    PlatformError::host(call, e)
}

impl StubTemplate {
    pub(super) fn new(stub: Arc<StubPage>) -> Result<Self> {
        let (fork_addr, pause_addr) = (stub.fork_addr(), stub.pause_addr());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let keeper = std::thread::Builder::new()
            .name("rvisor-stubs".into())
            .stack_size(64 << 10)
            .spawn(move || {
                let spawned = stub.spawn_template();
                let pid = spawned.as_ref().ok().map(|&(pid, _)| pid);
                let _ = ready_tx.send(spawned);
                if let Some(pid) = pid {
                    // Returns when the sender is dropped.
                    let _ = stop_rx.recv();
                    sys::kill_and_reap(pid);
                }
            })
            .map_err(|e| PlatformError::host("spawn keeper thread", e))?;
        let (pid, base_regs) = match ready_rx.recv() {
            Ok(Ok(spawned)) => spawned,
            Ok(Err(e)) => {
                let _ = keeper.join();
                return Err(e);
            }
            Err(_) => {
                let _ = keeper.join();
                return Err(PlatformError::Protocol("stub keeper thread died".into()));
            }
        };
        Ok(StubTemplate {
            pid,
            base_regs,
            fork_addr,
            pause_addr,
            lock: Mutex::new(()),
            keeper: Some((stop_tx, keeper)),
        })
    }

    /// The template's registers, a base for injecting system calls into
    /// it and its copies (same code, same segments).
    pub(super) fn base_regs(&self) -> Regs {
        self.base_regs
    }

    /// Fork a new stub, traced by the calling thread with
    /// PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL and stopped.
    pub(super) fn fork_stub(&self) -> Result<pid_t> {
        let child = {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            sys::seize_and_interrupt(self.pid, libc::PTRACE_O_TRACEFORK).map_err(host)?;
            let forked = self.inject_fork();
            // Back to waiting: at a fork event the template finishes the
            // call and jumps to the pause loop; elsewhere it is sent there.
            if !matches!(forked, Ok(Some(_))) {
                let waiting = Regs {
                    rip: self.pause_addr,
                    ..self.base_regs
                };
                let _ = sys::set_regs(self.pid, &waiting);
            }
            let _ = sys::detach(self.pid);
            match forked? {
                Some(child) => child,
                None => return Err(PlatformError::Protocol("template stub cannot fork".into())),
            }
        };
        let started = match sys::wait_event(child) {
            Ok((WaitStatus::Stopped(_), _)) => {
                sys::set_options(child, libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL)
                    .map_err(host)
            }
            Ok(other) => Err(PlatformError::StubDied(format!(
                "new stub {child}: {other:?}"
            ))),
            Err(e) => Err(host(e)),
        };
        if let Err(e) = started {
            sys::kill_and_reap(child);
            return Err(e);
        }
        Ok(child)
    }

    /// Make the seized template fork: the child's pid, or `None` if fork
    /// failed (the template then stops at the `int3` after it).
    fn inject_fork(&self) -> Result<Option<pid_t>> {
        // The first stop is the interrupt's (or any signal's): either will
        // do to set registers.
        match sys::wait(self.pid).map_err(host)? {
            WaitStatus::Stopped(_) => {}
            other => return Err(PlatformError::StubDied(format!("template: {other:?}"))),
        }
        let regs = Regs {
            rip: self.fork_addr,
            rax: libc::SYS_fork as u64,
            ..self.base_regs
        };
        sys::set_regs(self.pid, &regs).map_err(host)?;
        sys::resume(self.pid, libc::PTRACE_CONT).map_err(host)?;
        loop {
            match sys::wait_event(self.pid).map_err(host)? {
                (WaitStatus::Stopped(libc::SIGTRAP), libc::PTRACE_EVENT_FORK) => {
                    let child = sys::event_msg(self.pid).map_err(host)?;
                    return Ok(Some(child as pid_t));
                }
                (WaitStatus::Stopped(libc::SIGTRAP), 0) => return Ok(None),
                // Another signal came first: drop it.
                (WaitStatus::Stopped(_), _) => {
                    sys::resume(self.pid, libc::PTRACE_CONT).map_err(host)?
                }
                (other, _) => return Err(PlatformError::StubDied(format!("template: {other:?}"))),
            }
        }
    }
}

impl Drop for StubTemplate {
    fn drop(&mut self) {
        if let Some((stop, keeper)) = self.keeper.take() {
            drop(stop);
            let _ = keeper.join();
        }
    }
}
