//! The ptrace platform against real stub processes: system calls, page
//! faults and exceptions come back as the right events, and mappings made
//! through the address space are what the guest sees.

use std::sync::Arc;

use vmm::ptrace::PtracePlatform;
use vmm::{Access, Event, MemoryFile, Platform, Regs, Vector, PAGE_SIZE};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x80_0000;

fn platform() -> PtracePlatform {
    let mf = Arc::new(MemoryFile::new(16 << 20).unwrap());
    PtracePlatform::new(mf).unwrap()
}

/// Put `code` in a fresh page mapped read+exec at CODE.
fn load_code(p: &PtracePlatform, asp: &mut dyn vmm::AddressSpace, code: &[u8]) {
    let mf = p.memory_file();
    let page = mf.allocate(PAGE_SIZE).unwrap();
    mf.write(page.offset, code).unwrap();
    asp.map_file(CODE, page, Access::READ | Access::EXEC)
        .unwrap();
}

#[test]
fn syscall_fault_and_exception_events() {
    let p = platform();
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    #[rustfmt::skip]
    let code = [
        0xb8, 0x27, 0x00, 0x00, 0x00,             // mov eax, 39 (getpid)
        0x0f, 0x05,                               // syscall
        0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x80, 0x00, // mov [0x800000], rax
        0x0f, 0x0b,                               // ud2
    ];
    load_code(&p, asp.as_mut(), &code);
    let mut regs = Regs::new_user(CODE, 0);

    assert_eq!(ctx.switch(asp.as_mut(), &mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    assert_eq!(
        regs.rip,
        CODE + 7,
        "rip points past the syscall instruction"
    );
    regs.rax = 0x1234;

    // The store faults: nothing is mapped at DATA yet.
    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    assert!(matches!(ev, Event::PageFault { addr: DATA, .. }), "{ev:?}");

    // Map it and the store goes through, leaving the sentry's result there.
    let data = p.memory_file().allocate(PAGE_SIZE).unwrap();
    asp.map_file(DATA, data, Access::READ | Access::WRITE)
        .unwrap();
    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    assert!(
        matches!(
            ev,
            Event::Exception {
                vector: Vector::INVALID_OPCODE,
                ..
            }
        ),
        "{ev:?}"
    );
    let mut word = [0u8; 8];
    p.memory_file().read(data.offset, &mut word).unwrap();
    assert_eq!(u64::from_ne_bytes(word), 0x1234);
}

#[test]
fn write_to_read_only_page_faults_and_unmap_removes_pages() {
    let p = platform();
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    #[rustfmt::skip]
    let code = [
        0x8b, 0x04, 0x25, 0x00, 0x00, 0x80, 0x00, // mov eax, [0x800000]
        0x89, 0x04, 0x25, 0x00, 0x00, 0x80, 0x00, // mov [0x800000], eax
    ];
    load_code(&p, asp.as_mut(), &code);
    let data = p.memory_file().allocate(PAGE_SIZE).unwrap();
    asp.map_file(DATA, data, Access::READ).unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    assert!(matches!(ev, Event::PageFault { addr: DATA, .. }), "{ev:?}");
    assert_eq!(regs.rip, CODE + 7, "the read succeeded, the write faulted");

    asp.unmap(DATA, PAGE_SIZE).unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    assert!(matches!(ev, Event::PageFault { addr: DATA, .. }), "{ev:?}");
    assert_eq!(regs.rip, CODE, "the read faults once the page is gone");
}

#[test]
fn privileged_instruction_is_a_general_protection_fault() {
    let p = platform();
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    load_code(&p, asp.as_mut(), &[0xf4]); // hlt
    let mut regs = Regs::new_user(CODE, 0);
    assert_general_protection(ctx.switch(asp.as_mut(), &mut regs).unwrap());
}

#[test]
fn stub_has_no_file_descriptors() {
    let p = platform();
    let asp = p.new_address_space().unwrap();
    let pid = asp_pid(asp.as_ref());
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert_eq!(fds, 0, "stub {pid} holds host file descriptors");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    // Only the stub's code page and its read-only batch table (and the
    // kernel's fixed vsyscall page) remain.
    let lines: Vec<&str> = maps.lines().filter(|l| !l.contains("[vsyscall]")).collect();
    assert_eq!(lines.len(), 2, "unexpected mappings in the stub:\n{maps}");
    assert!(lines[0].contains(" r-xp "), "code page: {maps}");
    assert!(lines[1].contains(" r--p "), "batch table: {maps}");
}

fn asp_pid(asp: &dyn vmm::AddressSpace) -> i32 {
    (asp as &dyn std::any::Any)
        .downcast_ref::<vmm::ptrace::PtraceAddressSpace>()
        .map(|a| a.pid())
        .expect("a ptrace address space")
}

#[test]
fn failed_mapping_batch_is_an_error_and_leaves_no_descriptor() {
    let p = platform();
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    load_code(&p, asp.as_mut(), &[0xf4]);
    // A misaligned address: the stub's mmap says EINVAL in mid-batch,
    // after the memory file was opened.
    let data = p.memory_file().allocate(PAGE_SIZE).unwrap();
    asp.map_file(DATA + 1, data, Access::READ).unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    let err = ctx.switch(asp.as_mut(), &mut regs).unwrap_err();
    assert!(err.to_string().contains("errno 22"), "{err}");
    let pid = asp_pid(asp.as_ref());
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    assert_eq!(fds, 0, "stub {pid} kept the memory file open");
    // The mappings before the failure are in place: the code runs.
    assert_general_protection(ctx.switch(asp.as_mut(), &mut regs).unwrap());
}

fn assert_general_protection(ev: Event) {
    assert!(
        matches!(
            ev,
            Event::Exception {
                vector: Vector::GENERAL_PROTECTION,
                ..
            }
        ),
        "{ev:?}"
    );
}
