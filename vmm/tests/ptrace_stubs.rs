//! Stub processes of the ptrace platform: forked from the platform's
//! template stub, each is as clean as the template, works from the thread
//! that created it, and no stub or template outlives its tracer, the
//! platform or the sentry.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vmm::ptrace::PtracePlatform;
use vmm::{Access, AddressSpace, Event, MemoryFile, Platform, Regs, PAGE_SIZE};

const CODE: u64 = 0x40_0000;

fn platform() -> PtracePlatform {
    let mf = Arc::new(MemoryFile::new(16 << 20).unwrap());
    PtracePlatform::new(mf).unwrap()
}

fn asp_pid(asp: &dyn AddressSpace) -> i32 {
    (asp as &dyn std::any::Any)
        .downcast_ref::<vmm::ptrace::PtraceAddressSpace>()
        .map(|a| a.pid())
        .expect("a ptrace address space")
}

/// Field `n` (1-based, as in proc(5)) of /proc/`pid`/stat, if it exists.
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it do not.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3).map(str::to_owned)
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: i32) -> bool {
    stat_field(pid, 3).is_some_and(|state| state != "Z")
}

fn parent(pid: i32) -> i32 {
    stat_field(pid, 4).unwrap().parse().unwrap()
}

fn wait_gone(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(Instant::now() < deadline, "still running: {pids:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run `getpid` in a fresh address space on the calling thread.
fn run_getpid(p: &PtracePlatform, asp: &mut dyn AddressSpace) {
    let mf = p.memory_file();
    let page = mf.allocate(PAGE_SIZE).unwrap();
    // mov eax, 39; syscall
    mf.write(page.offset, &[0xb8, 0x27, 0, 0, 0, 0x0f, 0x05])
        .unwrap();
    asp.map_file(CODE, page, Access::READ | Access::EXEC)
        .unwrap();
    let mut ctx = p.new_context().unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    assert_eq!(ctx.switch(asp, &mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
}

#[test]
fn stubs_are_clean_forks_of_one_template() {
    let p = platform();
    let asps: Vec<_> = (0..3).map(|_| p.new_address_space().unwrap()).collect();
    let pids: Vec<i32> = asps.iter().map(|a| asp_pid(a.as_ref())).collect();
    let template = parent(pids[0]);
    assert_eq!(
        parent(template),
        std::process::id() as i32,
        "the template is the sentry's child"
    );
    for &pid in &pids {
        assert_eq!(parent(pid), template, "stub {pid} is the template's child");
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        assert_eq!(fds, 0, "stub {pid} holds host file descriptors");
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        // The stub's code page and its batch table.
        let lines = maps.lines().filter(|l| !l.contains("[vsyscall]")).count();
        assert_eq!(lines, 2, "unexpected mappings in stub {pid}:\n{maps}");
    }
    drop(asps);
    wait_gone(&pids);
    assert!(alive(template), "the template serves the next request");
    drop(p);
    wait_gone(&[template]);
}

#[test]
fn stubs_made_on_other_threads_run_there() {
    let p = Arc::new(platform());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let mut asp = p.new_address_space().unwrap();
                    run_getpid(&p, asp.as_mut());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn stub_dies_with_its_tracer_thread() {
    let p = Arc::new(platform());
    let p2 = p.clone();
    let pid = std::thread::spawn(move || {
        let asp = p2.new_address_space().unwrap();
        let pid = asp_pid(asp.as_ref());
        // Never dropped: only the thread's exit (PTRACE_O_EXITKILL) ends it.
        std::mem::forget(asp);
        pid
    })
    .join()
    .unwrap();
    wait_gone(&[pid]);
}

const HELPER_ENV: &str = "RVISOR_STUB_HELPER";

/// Not a test on its own: the process `nothing_outlives_the_sentry` starts
/// and kills.
#[test]
fn helper_sentry() {
    if std::env::var_os(HELPER_ENV).is_none() {
        return;
    }
    let p = Arc::new(platform());
    let mine = p.new_address_space().unwrap();
    let p2 = p.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let asp = p2.new_address_space().unwrap();
        tx.send(asp_pid(asp.as_ref())).unwrap();
        std::thread::sleep(Duration::from_secs(60));
    });
    let other = rx.recv().unwrap();
    let first = asp_pid(mine.as_ref());
    println!("stub-pids {} {first} {other}", parent(first));
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn nothing_outlives_the_sentry() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_sentry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pids = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // The harness prints the test's name on the same line.
        if let Some((_, rest)) = line.split_once("stub-pids ") {
            pids = rest.split(' ').map(|p| p.parse().unwrap()).collect();
            break;
        }
    }
    assert_eq!(pids.len(), 3, "the helper reported its stubs");
    assert!(pids.iter().all(|&p| alive(p)));
    child.kill().unwrap();
    child.wait().unwrap();
    wait_gone(&pids);
}

#[test]
fn execve_reuses_the_stub_emptied() {
    let p = platform();
    let mut old = p.new_address_space().unwrap();
    run_getpid(&p, old.as_mut());
    let pid = asp_pid(old.as_ref());
    let mut new = p.new_address_space_replacing(old.as_ref()).unwrap();
    assert_eq!(asp_pid(new.as_ref()), pid, "the same stub, emptied");
    drop(old);
    assert!(alive(pid), "the new address space keeps the stub");
    // The old code page is gone: running it faults.
    let mut ctx = p.new_context().unwrap();
    let mut regs = Regs::new_user(CODE, 0);
    let ev = ctx.switch(new.as_mut(), &mut regs).unwrap();
    assert!(matches!(ev, Event::PageFault { addr: CODE, .. }), "{ev:?}");
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    // Only the stub's code page and its batch table.
    let lines = maps.lines().filter(|l| !l.contains("[vsyscall]")).count();
    assert_eq!(lines, 2, "old mappings left in the stub:\n{maps}");
    run_getpid(&p, new.as_mut());
    drop(new);
    wait_gone(&[pid]);
}

#[test]
fn execve_from_another_thread_gets_a_new_stub() {
    let p = Arc::new(platform());
    let old: Arc<dyn AddressSpace> = Arc::from(p.new_address_space().unwrap());
    let pid = asp_pid(old.as_ref());
    let (p2, old2) = (p.clone(), old.clone());
    let other = std::thread::spawn(move || {
        let new = p2.new_address_space_replacing(old2.as_ref()).unwrap();
        asp_pid(new.as_ref())
    })
    .join()
    .unwrap();
    assert_ne!(other, pid, "only the stub's tracer may recycle it");
    assert!(alive(pid));
}
