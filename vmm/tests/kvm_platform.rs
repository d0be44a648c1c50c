//! The KVM platform against real vCPUs: system calls, page faults and
//! exceptions come back as the right events, mappings made through the
//! address space are what the guest sees, and user code cannot reach ring0
//! or leave the sandbox. Skipped (with a message) where /dev/kvm is absent.

use std::sync::Arc;

use vmm::kvm::KvmPlatform;
use vmm::{Access, AddressSpace, Context, Event, MemoryFile, Platform, Regs, Vector, PAGE_SIZE};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x80_0000;

fn platform() -> Option<KvmPlatform> {
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("skipping: /dev/kvm does not exist");
        return None;
    }
    let mf = Arc::new(MemoryFile::new(1 << 30).unwrap());
    Some(KvmPlatform::new(mf).unwrap())
}

/// Put `code` in a fresh page mapped read+exec at CODE.
fn load_code(p: &KvmPlatform, asp: &mut dyn AddressSpace, code: &[u8]) {
    let mf = p.memory_file();
    let page = mf.allocate(PAGE_SIZE).unwrap();
    mf.write(page.offset, code).unwrap();
    asp.map_file(CODE, page, Access::READ | Access::EXEC)
        .unwrap();
}

#[test]
fn syscall_fault_and_exception_events() {
    let Some(p) = platform() else { return };
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
    regs.rbx = 0x1111;
    regs.r15 = 0x2222;

    assert_eq!(ctx.switch(asp.as_mut(), &mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    assert_eq!(
        regs.rip,
        CODE + 7,
        "rip points past the syscall instruction"
    );
    assert_eq!((regs.rbx, regs.r15), (0x1111, 0x2222));
    assert_eq!(regs.rcx, CODE + 7);
    regs.rax = 0x1234;

    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    assert_eq!(
        ev,
        Event::PageFault {
            addr: DATA,
            access: Access::WRITE
        }
    );
    assert_eq!(regs.rip, CODE + 7);

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
    assert_eq!((regs.rbx, regs.r15), (0x1111, 0x2222));
    let mut word = [0u8; 8];
    p.memory_file().read(data.offset, &mut word).unwrap();
    assert_eq!(u64::from_ne_bytes(word), 0x1234);
}

#[test]
fn write_to_read_only_page_faults_and_unmap_removes_pages() {
    let Some(p) = platform() else { return };
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
    assert_eq!(
        ev,
        Event::PageFault {
            addr: DATA,
            access: Access::WRITE
        }
    );
    assert_eq!(regs.rip, CODE + 7, "the read succeeded, the write faulted");

    asp.unmap(DATA, PAGE_SIZE).unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    assert_eq!(
        ev,
        Event::PageFault {
            addr: DATA,
            access: Access::READ
        }
    );
    assert_eq!(regs.rip, CODE, "the read faults once the page is gone");
}

#[test]
fn fs_base_and_registers_survive_round_trips() {
    let Some(p) = platform() else { return };
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    #[rustfmt::skip]
    let code = [
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, // mov rax, fs:[0]
        0x0f, 0x05,                                           // syscall
    ];
    load_code(&p, asp.as_mut(), &code);
    let data = p.memory_file().allocate(PAGE_SIZE).unwrap();
    p.memory_file()
        .write(data.offset, &0xfeed_u64.to_le_bytes())
        .unwrap();
    asp.map_file(DATA, data, Access::READ).unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    regs.fs_base = DATA;
    assert_eq!(ctx.switch(asp.as_mut(), &mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 0xfeed);
    assert_eq!(regs.fs_base, DATA);
}

/// Runs `code` (at CODE) in a fresh address space and returns its event.
fn run_code(p: &KvmPlatform, code: &[u8]) -> (Event, Regs) {
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    load_code(p, asp.as_mut(), code);
    let mut regs = Regs::new_user(CODE, 0);
    let ev = ctx.switch(asp.as_mut(), &mut regs).unwrap();
    (ev, regs)
}

fn is_vector(ev: Event, want: Vector) -> bool {
    matches!(ev, Event::Exception { vector, .. } if vector == want)
}

#[test]
fn user_code_cannot_reach_ring0() {
    let Some(p) = platform() else { return };
    let gp = Vector::GENERAL_PROTECTION;
    #[rustfmt::skip]
    let privileged: [(&str, &[u8]); 8] = [
        ("hlt", &[0xf4]),
        ("cli", &[0xfa]),
        ("wrmsr", &[0x0f, 0x30]),
        ("mov cr3, rax", &[0x0f, 0x22, 0xd8]),
        ("lgdt [0]", &[0x0f, 0x01, 0x14, 0x25, 0, 0, 0, 0]),
        ("out 0x3f0, eax", &[0xba, 0xf0, 0x03, 0, 0, 0xef]),
        ("swapgs", &[0x0f, 0x01, 0xf8]),
        ("int 0x20", &[0xcd, 0x20]),
    ];
    for (what, code) in privileged {
        let (ev, _) = run_code(&p, code);
        assert!(is_vector(ev, gp), "{what}: {ev:?}");
    }
    // ring0's text (the LSTAR page), its data, and a non-canonical address.
    #[rustfmt::skip]
    let reads: [(&str, &[u8], u64); 3] = [
        ("read ring0 text", &[0x48, 0xb8, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x48, 0x8b, 0x00], 0xffff_ff80_0000_0000),
        ("read vCPU page", &[0x48, 0xb8, 0, 0x60, 0x10, 0, 0x80, 0xff, 0xff, 0xff, 0x48, 0x8b, 0x00], 0xffff_ff80_0010_6000),
        ("write ring0 text", &[0x48, 0xb8, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0x48, 0x89, 0x00], 0xffff_ff80_0000_0000),
    ];
    for (what, code, addr) in reads {
        let (ev, _) = run_code(&p, code);
        assert!(
            matches!(ev, Event::PageFault { addr: a, .. } if a == addr),
            "{what}: {ev:?}"
        );
    }
    // A jump to LSTAR with IF set is a fault, not a forged system call.
    let jmp = [0x48, 0xb8, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 0xe0];
    let (ev, _) = run_code(&p, &jmp);
    assert_eq!(
        ev,
        Event::PageFault {
            addr: 0xffff_ff80_0000_0000,
            access: Access::EXEC
        }
    );
    let noncanonical = [0x48, 0xb8, 0, 0, 0, 0, 0, 0x80, 0, 0, 0x48, 0x8b, 0x00];
    let (ev, _) = run_code(&p, &noncanonical);
    assert!(is_vector(ev, gp), "non-canonical read: {ev:?}");
    // int3, ud2, divide by zero.
    assert!(is_vector(run_code(&p, &[0xcc]).0, Vector::BREAKPOINT));
    assert!(is_vector(
        run_code(&p, &[0x0f, 0x0b]).0,
        Vector::INVALID_OPCODE
    ));
    let div = [0x31, 0xc9, 0xf7, 0xf1]; // xor ecx, ecx; div ecx
    assert!(is_vector(run_code(&p, &div).0, Vector::DIVIDE_ERROR));
    // The sandbox still works.
    let (ev, _) = run_code(&p, &[0x0f, 0x05]);
    assert_eq!(ev, Event::Syscall);
}

#[test]
fn interrupter_stops_a_spinning_guest() {
    let Some(p) = platform() else { return };
    let mut asp = p.new_address_space().unwrap();
    let mut ctx = p.new_context().unwrap();
    load_code(&p, asp.as_mut(), &[0xeb, 0xfe, 0x0f, 0x05]); // jmp .; syscall
    let kick = ctx.interrupter();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        kick.interrupt();
    });
    let mut regs = Regs::new_user(CODE, 0);
    assert_eq!(
        ctx.switch(asp.as_mut(), &mut regs).unwrap(),
        Event::Interrupted
    );
    t.join().unwrap();
    assert_eq!(regs.rip, CODE);
    regs.rip = CODE + 2;
    assert_eq!(ctx.switch(asp.as_mut(), &mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.rip, CODE + 4);
}

#[allow(dead_code)]
fn _uses(_: &dyn Context) {}
