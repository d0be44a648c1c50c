//! [`KvmContext`]: a guest thread on the KVM platform. The calling sentry
//! thread enters guest mode on the context's vCPU ("bluepill") and comes
//! back with the next event.
//!
//! Each context owns one vCPU for its whole life (KVM keeps that vCPU's
//! FPU/SSE/AVX state, so it is preserved across events for free); the vCPU
//! goes back to the machine's pool when the context is dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kvm_ioctls::VcpuExit;
use ring0::abi::{Regs, Vector, PF_INSTRUCTION, PF_WRITE};
use ring0::resume::{prepare_user_return, Resume};

use crate::platform::{
    downcast, Access, AddressSpace, Context, Event, Interrupter, PlatformError, Result, ThreadSeed,
};

use super::address_space::KvmAddressSpace;
use super::kick::{install_handler, KickState, KvmInterrupter};
use super::layout_r0::TEXT_BASE;
use super::machine::{kvm_err, Machine};
use super::trap::{self, Trap};
use super::vcpu::Vcpu;

pub struct KvmContext {
    vcpu: Option<Vcpu>,
    kick: Arc<KickState>,
    /// (address space id, generation) the vCPU's CR3 was last loaded for;
    /// ids start at 1.
    loaded: (u64, u64),
}

impl KvmContext {
    pub(super) fn new(machine: &Arc<Machine>) -> Result<Self> {
        install_handler();
        let kick = Arc::new(KickState::default());
        machine.gate.register(&kick);
        Ok(KvmContext {
            vcpu: Some(machine.take_vcpu()?),
            kick,
            loaded: (0, 0),
        })
    }
}

impl Drop for KvmContext {
    fn drop(&mut self) {
        if let Some(v) = self.vcpu.take() {
            if !v.parked_in_user {
                v.machine.clone().put_vcpu(v);
            }
        }
    }
}

/// A new thread's context: a vCPU of the same machine, taken on the thread
/// that runs it.
pub(super) struct KvmThreadSeed(pub(super) Arc<Machine>);

impl ThreadSeed for KvmThreadSeed {
    fn into_context(self: Box<Self>) -> Result<Box<dyn Context>> {
        Ok(Box::new(KvmContext::new(&self.0)?))
    }
}

/// The access a #PF error code describes.
fn fault_access(code: u64) -> Access {
    if code & PF_INSTRUCTION != 0 {
        Access::EXEC
    } else if code & PF_WRITE != 0 {
        Access::WRITE
    } else {
        Access::READ
    }
}

/// Stages CR3 (when the vCPU last ran another address space, which may be
/// gone by now: ring0 cannot touch its stack until CR3 is right) and the
/// user FS/GS bases, if they differ from what the vCPU has. Nothing is
/// staged when nothing changed: KVM resets its MMU context on every SREGS
/// write that changes CR3.
fn load_sregs(v: &mut Vcpu, cr3: Option<u64>, regs: &Regs) {
    if cr3.is_none() && v.fs_base == regs.fs_base && v.gs_base == regs.gs_base {
        return;
    }
    let s = v.stage_sregs();
    if let Some(cr3) = cr3 {
        s.cr3 = cr3;
    }
    s.fs.base = regs.fs_base;
    s.gs.base = regs.gs_base;
    v.fs_base = regs.fs_base;
    v.gs_base = regs.gs_base;
}

impl Context for KvmContext {
    fn switch(&mut self, asp: &dyn AddressSpace, regs: &mut Regs) -> Result<Event> {
        let asp = downcast::<KvmAddressSpace>(asp)?;
        if self.kick.pending.swap(false, Ordering::SeqCst) {
            return Ok(Event::Interrupted);
        }
        let v = self
            .vcpu
            .as_mut()
            .ok_or_else(|| PlatformError::Protocol("context has no vCPU".into()))?;
        v.machine.sync_shadow()?;
        let mut resume = match prepare_user_return(regs) {
            Ok(r) => r - Resume::SYSRET,
            Err(e) => {
                tracing::debug!("cannot return to user mode: {e}");
                return Ok(Event::Exception {
                    vector: Vector::GENERAL_PROTECTION,
                    code: 0,
                    addr: 0,
                });
            }
        };
        let generation = asp.generation.load(Ordering::Acquire);
        let want = (asp.id, generation);
        let new_cr3 = (self.loaded.0 != asp.id).then(|| asp.cr3());
        if new_cr3.is_none() && self.loaded.1 != generation {
            // Same tables, changed entries: ring0 reloads CR3 to flush.
            resume |= Resume::LOAD_CR3;
        }
        load_sregs(v, new_cr3, regs);
        if v.parked_in_user {
            resume_parked(v, regs, resume.contains(Resume::LOAD_CR3), asp.cr3());
        } else {
            trap::prepare_return(v, regs, resume.contains(Resume::LOAD_CR3))?;
        }
        self.loaded = want;
        let event = run(v, &self.kick, regs);
        if event.is_err() {
            // The vCPU's state is unknown; never reuse it.
            self.vcpu = None;
        }
        Ok(int_n_fixup(event?, asp, regs))
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(KvmInterrupter(self.kick.clone()))
    }

    fn fpu_state(&mut self) -> Result<Vec<u8>> {
        let v = self.vcpu.as_ref().ok_or_else(no_vcpu)?;
        let xsave = v.fd.get_xsave().map_err(kvm_err("KVM_GET_XSAVE"))?;
        Ok(xsave.region.iter().flat_map(|w| w.to_ne_bytes()).collect())
    }

    fn set_fpu_state(&mut self, image: &[u8]) -> Result<()> {
        let v = self.vcpu.as_ref().ok_or_else(no_vcpu)?;
        let mut xsave = kvm_bindings::kvm_xsave::default();
        if image.len() > xsave.region.len() * 4 {
            return Err(PlatformError::Protocol(
                "XSAVE image larger than KVM's".into(),
            ));
        }
        for (word, bytes) in xsave.region.iter_mut().zip(image.chunks(4)) {
            let mut b = [0u8; 4];
            b[..bytes.len()].copy_from_slice(bytes);
            *word = u32::from_ne_bytes(b);
        }
        // SAFETY: `xsave` is a whole legacy `kvm_xsave` (4 KiB); the guest's
        // CPUID enables no component (AMX) that needs KVM_SET_XSAVE2's larger
        // buffer, so the kernel reads nothing past it.
        unsafe { v.fd.set_xsave(&xsave) }.map_err(kvm_err("KVM_SET_XSAVE"))
    }
}

fn no_vcpu() -> PlatformError {
    PlatformError::Protocol("context has no vCPU".into())
}

/// On hosts where `int N` from user mode raises #UD (PVM), gives the event
/// Linux would: #GP with the gate's error code for a DPL-0 vector, the
/// vector itself (as a trap, RIP past the instruction) for `int3`, `into`'s
/// vector 4 and `int 0x80`.
fn int_n_fixup(event: Event, asp: &KvmAddressSpace, regs: &mut Regs) -> Event {
    let Event::Exception {
        vector: Vector::INVALID_OPCODE,
        ..
    } = event
    else {
        return event;
    };
    let mut insn = [0u8; 2];
    if asp.read_user(regs.rip, &mut insn).is_none() || insn[0] != 0xcd {
        return event;
    }
    let vector = Vector(insn[1]);
    if ring0::idt::dpl_for(vector) == 3 {
        regs.rip += 2;
        Event::Exception {
            vector,
            code: 0,
            addr: regs.rip,
        }
    } else {
        Event::Exception {
            vector: Vector::GENERAL_PROTECTION,
            code: u64::from(insn[1]) * 8 + 2,
            addr: 0,
        }
    }
}

/// Continues a vCPU that was stopped in user mode by a signal.
fn resume_parked(v: &mut Vcpu, regs: &Regs, load_cr3: bool, cr3: u64) {
    if load_cr3 {
        v.stage_sregs().cr3 = cr3;
    }
    v.stage_regs(trap::kvm_regs_from(regs, regs.rip, regs.rsp, regs.eflags));
    v.parked_in_user = false;
}

/// The calling thread's id, asked of the host once per thread (every
/// switch needs it, for kicks).
fn current_tid() -> i32 {
    thread_local! {
        // SAFETY: gettid has no preconditions.
        static TID: i32 = unsafe { libc::gettid() };
    }
    TID.with(|t| *t)
}

/// KVM_RUN until ring0 reports an event or a kick stops the vCPU.
fn run(v: &mut Vcpu, kick: &KickState, regs: &mut Regs) -> Result<Event> {
    let tid = current_tid();
    kick.run.store(v.run_area(), Ordering::SeqCst);
    kick.tid.store(tid, Ordering::SeqCst);
    let result = run_loop(v, kick, regs);
    kick.tid.store(0, Ordering::SeqCst);
    kick.run.store(std::ptr::null_mut(), Ordering::SeqCst);
    result
}

fn run_loop(v: &mut Vcpu, kick: &KickState, regs: &mut Regs) -> Result<Event> {
    let machine = v.machine.clone();
    loop {
        machine.gate.enter();
        let exit = v.fd.run();
        machine.gate.leave();
        match exit {
            Ok(VcpuExit::Hlt) => return ring0_event(v, regs),
            Ok(other) => {
                let what = format!("{other:?}");
                let r = v.fd.get_regs().ok();
                return Err(PlatformError::Protocol(format!(
                    "unexpected VM exit {what}; registers {r:x?}"
                )));
            }
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                v.fd.set_kvm_immediate_exit(0);
                if v.has_staged() {
                    // KVM takes staged registers before it looks at
                    // `immediate_exit` or signals, and then overwrites the
                    // sync area with the vCPU's state; if it ever did not,
                    // the staged values are gone.
                    return Err(PlatformError::Protocol(
                        "KVM_RUN returned without taking the staged registers".into(),
                    ));
                }
                if !kick.pending.load(Ordering::SeqCst) {
                    continue;
                }
                if v.sregs().cs.dpl != 3 || v.regs().rip == ring0::entry::lstar(TEXT_BASE) {
                    // In ring0, or caught between a user `syscall` and the
                    // fault that fetching at LSTAR raises on hosts where
                    // SYSCALL stays at CPL 3 (the registers then hold the
                    // syscall's state, not user state): let it reach its
                    // exit first.
                    continue;
                }
                kick.pending.store(false, Ordering::SeqCst);
                let r = *v.regs();
                *regs = trap::regs_from_kvm(&r, regs, r.rip, r.rsp, r.rflags);
                v.parked_in_user = true;
                return Ok(Event::Interrupted);
            }
            Err(e) => return Err(kvm_err("KVM_RUN")(e)),
        }
    }
}

/// Reads the trap ring0 stopped at and turns it into an event.
fn ring0_event(v: &mut Vcpu, regs: &mut Regs) -> Result<Event> {
    Ok(match trap::read_trap(v, regs)? {
        Trap::Syscall => Event::Syscall,
        Trap::Vector(Vector::PAGE_FAULT, code) => Event::PageFault {
            addr: trap::cr2(v),
            access: fault_access(code),
        },
        Trap::Vector(vector, code) if vector.is_exception() || vector == Vector::INT80 => {
            Event::Exception {
                vector,
                code,
                addr: if matches!(vector, Vector::GENERAL_PROTECTION | Vector::STACK_SEGMENT) {
                    0
                } else {
                    regs.rip
                },
            }
        }
        Trap::Vector(..) => Event::Interrupted,
    })
}
