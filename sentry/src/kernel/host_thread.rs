//! Host threads for guest tasks, kept for reuse. Creating a host thread
//! (its stack mapping, the clone, unmapping the stack when it ends) is a
//! sizeable part of a guest fork; a thread whose task has ended waits to
//! run the next one instead.
//!
//! A task's thread leaves nothing behind for the next task: its platform
//! context and address space are dropped on it before it goes idle (so a
//! ptrace stub it traced is already reaped).

use std::ffi::CString;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

type Job = Box<dyn FnOnce() + Send>;

/// Idle threads kept at most; a thread finishing a task beyond that ends.
const MAX_IDLE: usize = 32;

/// One idle thread's mailbox.
#[derive(Default)]
struct Slot {
    job: Mutex<Option<Job>>,
    ready: Condvar,
}

fn idle() -> &'static Mutex<Vec<Arc<Slot>>> {
    static IDLE: OnceLock<Mutex<Vec<Arc<Slot>>>> = OnceLock::new();
    IDLE.get_or_init(Mutex::default)
}

/// Run `job` on a host thread named `name` (for host tools: the name shows
/// in `ps -L` and `/proc`), reusing an idle one if there is one.
pub fn spawn(name: String, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let name = CString::new(name).unwrap_or_default();
    let job: Job = Box::new(move || {
        let _ = rustix::thread::set_name(&name);
        job();
    });
    let slot = idle().lock().unwrap_or_else(|e| e.into_inner()).pop();
    if let Some(slot) = slot {
        *slot.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        slot.ready.notify_one();
        return Ok(());
    }
    std::thread::Builder::new()
        .name("rvisor-task".into())
        .spawn(move || serve(job))
        .map(drop)
}

/// A pool thread: run `job`, then wait idle for the next.
fn serve(mut job: Job) {
    let slot = Arc::new(Slot::default());
    loop {
        job();
        {
            let mut idle = idle().lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(slot.clone());
        }
        let mut next = slot.job.lock().unwrap_or_else(|e| e.into_inner());
        job = loop {
            match next.take() {
                Some(j) => break j,
                None => next = slot.ready.wait(next).unwrap_or_else(|e| e.into_inner()),
            }
        };
    }
}
