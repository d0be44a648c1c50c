//! Memory management and copy-in/copy-out of system-call arguments.

use std::time::Duration;

use crate::harness::{assert_same_as_native, guest, Run};

/// Three rounds of 256 MiB through mmap, mremap, mprotect, munmap, brk and
/// malloc, each verified word by word.
#[test]
fn mem_stress() {
    let run = Run::new(guest("mem_stress")).timeout(Duration::from_secs(600));
    let native = assert_same_as_native(&run);
    assert_eq!(native.status, 0, "{native}");
    assert!(native.stdout_text().ends_with("failures 0\n"), "{native}");
}

/// Invalid pointers in system-call arguments get EFAULT, never a crash of
/// the guest or of the sentry.
#[test]
fn bad_pointers_get_efault() {
    let native = assert_same_as_native(&Run::new(guest("bad_pointer")));
    let stdout = native.stdout_text();
    assert_eq!(native.status, 0, "{native}");
    assert!(stdout.ends_with("survived\n"), "{native}");
    assert!(
        stdout.contains("the data survived the failed reads: yes\n"),
        "{native}"
    );
    assert!(stdout.contains("ENAMETOOLONG"), "{native}");
    assert!(stdout.matches(" -1 EFAULT\n").count() >= 20, "{native}");
}

#[test]
fn shared_anonymous_memory_and_futexes_work_across_fork() {
    let native = assert_same_as_native(&Run::new(guest("shared_memory")));
    assert_eq!(native.status, 0, "{native}");
    assert_eq!(
        native.stdout_text(),
        "parent woken by the child's futex wake: yes\n\
         child's write to shared memory seen: yes\n\
         child's write to private memory seen: no\n\
         child saw the parent's data and its later write: yes\n\
         maps shows it shared: yes\n",
        "{native}"
    );
}

/// MAP_SHARED mappings of a file in /tmp are the file's pages: stores reach
/// read() and every other mapping (forked or independent), writes reach the
/// mappings, a page past the end raises SIGBUS, and the data stays in the
/// file after munmap.
#[test]
fn shared_file_mappings_are_the_file() {
    let native = assert_same_as_native(&Run::new(guest("mapped_file")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    assert!(!out.contains(": no\n"), "{native}");
    assert!(
        out.contains("read past the end: SIGBUS code 2\n")
            && out.contains("write past the end: SIGBUS code 2\n"),
        "{native}"
    );
    assert!(out.ends_with("done\n"), "{native}");
}

/// memfd_create: a nameless memory file, its fd link, mappings shared with
/// a child, and seals enforced with Linux's errnos.
#[test]
fn memfds_match_linux() {
    let native = assert_same_as_native(&Run::new(guest("memfd")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "memfd_create: 0\n",
        "cloexec: 1\n",
        "link: /memfd:test (deleted)\n",
        "read back: memfd\n",
        "fstat: reg 1 mode 0777 size 11 nlink 0\n",
        "size after ftruncate: 8192\n",
        "seen through the first: HEllo\n",
        "read sees the mapping: via map\n",
        "child's store in the file: from child\n",
        "private store stays private: HE E\n",
        "F_ADD_SEALS (no ALLOW_SEALING): EPERM\n",
        "F_GET_SEALS on a pipe: EINVAL\n",
        "add via read-only fd: EPERM\n",
        "shrink: EPERM\n",
        "grow: EPERM\n",
        "write past end: EPERM\n",
        "add WRITE while mapped writable: EBUSY\n",
        "add WRITE after munmap: 0\n",
        "write (WRITE): EPERM\n",
        "mmap shared writable (WRITE): EPERM\n",
        "mprotect it writable: EACCES\n",
        "F_GET_SEALS: 15\n",
        "add after SEAL: EPERM\n",
        "old mapping still writes: F\n",
        "mmap writable (FUTURE_WRITE): EPERM\n",
        "NOEXEC_SEAL seals: 32\n",
        "250-byte name: EINVAL\n",
        "bad name pointer: EFAULT\n",
        "running from a memfd\nmemfd program exit: 7\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// mlock and friends, mincore, membarrier and personality: their checks
/// and answers, compared with native.
#[test]
fn memory_hints_match_native() {
    let native = assert_same_as_native(&Run::new(guest("mem_hints")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "mlock inside a page: 0",
        "mlock2 bad flag: EINVAL",
        "mlock over a hole: ENOMEM",
        "mlockall MCL_ONFAULT alone: EINVAL",
        "touched pages resident: yes",
        "mincore unaligned: EINVAL",
        "mincore over a hole: ENOMEM",
        "mincore bad vector: EFAULT",
        "PRIVATE_EXPEDITED unregistered: EPERM",
        "PRIVATE_EXPEDITED: 0",
        "query again: 262144",
        "child inherits: 262144",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// NUMA policies: the sandbox is one node, as a host without NUMA.
#[test]
fn memory_policies_match_native() {
    let native = assert_same_as_native(&Run::new(guest("mempolicy")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    if out.contains("skipped") {
        eprintln!("this host has more than one NUMA node: nothing compared");
        return;
    }
    for line in [
        "get mask maxnode 0: -1 EINVAL",
        "mode 0 mask 1",
        "node 0",
        "F_NODE alone: -1 EINVAL",
        "F_ADDR unmapped: -1 EFAULT",
        "mode 2 mask 1",
        "set bind 1: -1 EINVAL",
        "set default with mask: -1 EINVAL",
        "mbind unmapped: -1 EFAULT",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}
