//! Making a running vCPU return promptly: `immediate_exit` in its `kvm_run`
//! area plus a signal to the thread in `KVM_RUN`.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::sync::{Arc, Once};

use kvm_bindings::kvm_run;

use crate::platform::Interrupter;

/// The signal that interrupts `KVM_RUN`. Its handler does nothing; it is
/// installed without SA_RESTART so the ioctl returns EINTR.
pub(super) fn kick_signal() -> i32 {
    libc::SIGRTMIN() + 3
}

extern "C" fn on_kick(_: libc::c_int) {}

/// Installs the handler of [`kick_signal`] once per process.
pub(super) fn install_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with a handler that does nothing
        // (async-signal-safe) and an empty mask is a valid argument.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(kick_signal(), &sa, std::ptr::null_mut());
        }
    });
}

/// Shared between a context and its interrupters.
#[derive(Default)]
pub(super) struct KickState {
    /// An interrupt was asked for and not yet reported.
    pub(super) pending: AtomicBool,
    /// Thread id in `KVM_RUN` on this context's vCPU, or 0.
    pub(super) tid: AtomicI32,
    /// That vCPU's `kvm_run` area.
    pub(super) run: AtomicPtr<kvm_run>,
}

impl KickState {
    /// Makes the vCPU leave KVM_RUN now if it is in it (or return at once
    /// from the next one), without asking for an interrupt: the run loop
    /// goes back in unless `pending` is set.
    pub(super) fn kick(&self) {
        let s = self;
        let run = s.run.load(Ordering::SeqCst);
        if !run.is_null() {
            // SAFETY: `run` is the kvm_run mapping of the vCPU the context
            // holds while `tid` is set; `immediate_exit` is a byte meant to
            // be written by other threads while KVM_RUN may be running.
            unsafe { std::ptr::addr_of_mut!((*run).immediate_exit).write_volatile(1) };
        }
        let tid = s.tid.load(Ordering::SeqCst);
        if tid != 0 {
            // SAFETY: tgkill with our own pid and a thread id that was in
            // KVM_RUN a moment ago; at worst the thread has moved on and the
            // signal's handler does nothing.
            unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, kick_signal());
            }
        }
    }
}

pub(super) struct KvmInterrupter(pub(super) Arc<KickState>);

impl Interrupter for KvmInterrupter {
    fn interrupt(&self) {
        self.0.pending.store(true, Ordering::SeqCst);
        self.0.kick();
    }
}
