//! Processes: fork, wait, execve (of programs and #! scripts), pipes
//! between processes, busybox shell scripts that fork, copy-on-write
//! memory after fork, and children sharing memory (vfork, CLONE_VM).

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{assert_same_as_native, case_dir, guest, Run};

#[test]
fn fork_wait_and_exec() {
    let dir = case_dir("fork_exec");
    let script = dir.join("script.sh");
    let program = guest("fork_exec");
    fs::write(&script, format!("#!{} exec-child\n", program.display())).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let native = assert_same_as_native(&Run::new(&program).args([script.to_str().unwrap()]));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "child sees its parent: yes",
        "exit status 7",
        "killed by signal 15",
        "parent read: through the pipe",
        "exec'd child exit status 42",
        "script exit status 42",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// vfork, clone(CLONE_VM) and posix_spawn, whose children share the
/// parent's memory, with both libcs.
#[test]
fn children_sharing_memory_match_native() {
    for name in ["vfork", "vfork_glibc"] {
        let native = assert_same_as_native(&Run::new(guest(name)));
        assert_eq!(native.status, 0, "{name}: {native}");
        let out = native.stdout_text();
        for line in [
            "vfork: parent sees 42, child finished first: yes, status 3, reaped: yes",
            "vfork+exec: parent sees 7, then 7; exec'd child status 8",
            "clone(CLONE_VM): child wrote 1234, status 5, own pid: yes",
            "__WCLONE wait: found, status 5, child wrote 1234",
            "CLONE_SIGHAND without CLONE_VM: Invalid argument",
            "after a CLONE_FILES|CLONE_SIGHAND child exec'd (status 8): close-on-exec file open, handler kept",
            "CLONE_VM child ran on after its parent exited: counted to 1000",
            "vfork parent killed while waiting: signal 9; its child ran on",
            "posix_spawn of this program: ok, status 4",
            "posix_spawn of a missing program: No such file or directory",
            "posix_spawnp of a missing name: No such file or directory",
            "children left: none",
        ] {
            assert!(out.contains(line), "{name}: missing {line:?} in {native}");
        }
    }
}

#[test]
fn busybox_shell_pipelines_and_subshells() {
    let dir = case_dir("busybox_pipelines");
    let data = dir.join("data.txt");
    fs::write(&data, "pear\napple\nfig\napple\n").unwrap();
    let script = format!(
        "bb=/bin/busybox; $bb cat {d} | $bb sort | $bb uniq -c | $bb sort -rn | $bb head -1; \
         x=$($bb wc -l < {d}); echo \"lines: $x\"; \
         (exit 5); echo \"status $?\"; \
         for i in 1 2 3; do echo $i; done | $bb tail -1",
        d = data.display()
    );
    let native = assert_same_as_native(&Run::new("/bin/busybox").args(["sh", "-c", &script]));
    assert_eq!(native.status, 0, "{native}");
    assert!(native.stdout_text().contains("lines: 4"), "{native}");
}

#[test]
fn process_limit_stops_a_fork_bomb() {
    for platform in crate::harness::available_platforms() {
        let out = Run::new(guest("fork_bomb")).rvisor(platform, &["--max-processes", "16"]);
        assert_eq!(out.status, 0, "{platform}: {out}");
        assert_eq!(
            out.stdout_text(),
            "forked 15 children, then: Resource temporarily unavailable\nreaped 15 killed children\n",
            "{platform}: {out}"
        );
    }
}

#[test]
fn dynamically_linked_programs_run_through_their_interpreter() {
    let program = guest("hello_dynamic");
    let bytes = fs::read(&program).unwrap();
    let elf = goblin::elf::Elf::parse(&bytes).unwrap();
    assert!(elf.interpreter.is_some(), "hello_dynamic should need ld.so");
    let native = assert_same_as_native(&Run::new(&program));
    assert_eq!(native.status, 0, "{native}");
}

#[test]
fn host_bash_runs_a_script_with_pipelines() {
    let dir = case_dir("bash_script");
    let data = dir.join("words.txt");
    fs::write(&data, "b\na\nc\na\n").unwrap();
    let script = format!(
        "set -e; n=$(sort -u {d} | wc -l); echo \"unique: $n\"; \
         for w in $(sort {d}); do printf '%s,' \"$w\"; done; echo; \
         ( cd / && pwd ); trap 'echo bye' EXIT; false || echo recovered",
        d = data.display()
    );
    let native = assert_same_as_native(&Run::new("/bin/bash").args(["-c", &script]));
    assert_eq!(native.status, 0, "{native}");
    assert!(native.stdout_text().contains("unique: 3"), "{native}");
}

#[test]
fn a_script_named_on_the_command_line_runs_through_its_interpreter() {
    let dir = case_dir("run_script");
    let script = dir.join("greet.sh");
    fs::write(
        &script,
        "#!/bin/busybox sh\necho \"args: $# $1 $2\"\necho \"name: ${0##*/}\"\nexit 3\n",
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let native = assert_same_as_native(&Run::new(&script).args(["one", "two"]));
    assert_eq!(native.status, 3, "{native}");
    assert_eq!(native.stdout_text(), "args: 2 one two\nname: greet.sh\n");
}

#[test]
fn forked_memory_is_copy_on_write() {
    let native = assert_same_as_native(&Run::new(guest("fork_cow")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "child 3: exit 0",
        "parent: 0 bytes differ from its own data",
        "forks while a thread writes: 0 children saw it",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
    assert!(!out.contains("exit 1"), "{native}");
}

#[test]
fn pipe_flags_nonblocking_and_whole_blocking_writes() {
    let native = assert_same_as_native(&Run::new(guest("pipe_semantics")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "read end: access 0 nonblock 0",
        "write end: access 1 nonblock 0",
        "read end after F_SETFL: access 0 nonblock 1",
        "empty non-blocking read: -1 (Resource temporarily unavailable)",
        "read after the writer closed: 0",
        "child: one write of 3145728 bytes returned 3145728",
        "parent read 3145728 bytes; writer status 0",
        "interrupted write returned part of it: yes",
        "full pipe, blocking write of one byte: -1 (Interrupted system call)",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// getrusage and the rusage of wait4/waitid: the thread, the process and
/// its reaped children (grandchildren included), and Linux's errors.
#[test]
fn resource_usage_matches_native() {
    let native = assert_same_as_native(&Run::new(guest("rusage")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "RUSAGE_SELF: ok",
        "RUSAGE_THREAD: ok",
        "who 5: EINVAL",
        "bad pointer: EFAULT",
        "resident set > 0: yes",
        "no children reaped yet, no children time: yes",
        "wait4 reaped the child: yes, its CPU time > 0: yes",
        "RUSAGE_CHILDREN now counts it: yes",
        "waitid: ok, its rusage has the grandchild's time: yes, children total grew: yes",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// Nice values and scheduling policies are kept per thread, inherited
/// (SCHED_RESET_ON_FORK honoured) and checked as Linux checks them.
#[test]
fn scheduling_attributes_match_native() {
    let native = assert_same_as_native(&Run::new(guest("sched")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "nice now (raw): 15",
        "set nice 100 (clamped to 19): 0",
        "which 7: EINVAL",
        "no such pid: ESRCH",
        "my own process group (raw): 15",
        "new thread inherits nice (raw 20-nice): 15",
        "thread's nice (raw): 13",
        "main thread unchanged by the thread (raw): 15",
        "child inherits nice (raw): 15",
        "max FIFO: 99",
        "policy now: 3",
        "SCHED_OTHER with priority 5: EINVAL",
        "negative pid: EINVAL",
        "policy with the flag: 1073741829",
        "child of SCHED_IDLE|RESET_ON_FORK keeps IDLE, no flag: 5",
        "affinity with no CPU: EINVAL",
        "CPUs now: 1, CPU 0: yes",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// User and group ids change as Linux's rules allow (saved ids, setfsuid,
/// what /proc shows, who owns a new file). Run as root, every change in
/// the program is allowed and checked line by line; otherwise the same
/// refusals must match native.
#[test]
fn credential_changes_match_native() {
    let native = assert_same_as_native(&Run::new(guest("creds")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    assert!(out.contains("parent unchanged: ok"), "{native}");
    if !rustix::process::geteuid().is_root() {
        return;
    }
    for line in [
        "setresuid(1000, 2000, 0): ok; uids 1000 2000 0, gids 0 0 0",
        "status Uid:\t1000\t2000\t0\t2000",
        "setuid(0) back to the saved id: ok; uids 1000 0 0",
        "setuid(0) after giving all up: EPERM; uids 1000 1000 1000",
        "setreuid(1000, 0): ok; uids 1000 0 0",
        "setreuid(-1, 1000) to the real id: ok; uids 1000 1000 0",
        "setreuid(-1, 0) now: EPERM; uids 7 7 7",
        "setfsuid(-1) returns the current: 1234",
        "file made after setfsuid: owner 1234 group 4321",
        "setregid(-1, 100): ok; uids 0 0 0, gids 300 100 100",
        "setgid(-1): EINVAL",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// execveat: relative to a directory descriptor, AT_EMPTY_PATH (fexecve),
/// AT_SYMLINK_NOFOLLOW and the errors, compared with native.
#[test]
fn execveat_matches_native() {
    let native = assert_same_as_native(&Run::new(guest("execveat")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "ran: absolute path",
        "ran: relative to dirfd",
        "ran: fexecve",
        "empty path without AT_EMPTY_PATH: ENOENT",
        "unknown flag: EINVAL",
        "relative to a file descriptor: ENOTDIR",
        "bad descriptor: EBADF",
        "AT_SYMLINK_NOFOLLOW on a symlink: ELOOP",
        "ran: through a symlink",
        "missing program: ENOENT",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// pidfds: pidfd_open, readiness at exit (poll, epoll), pidfd_send_signal,
/// waitid(P_PIDFD) with and without PIDFD_NONBLOCK, CLONE_PIDFD through
/// clone and clone3, pidfd_getfd, and Linux's errors.
#[test]
fn pidfds_match_native() {
    let native = assert_same_as_native(&Run::new(guest("pidfd")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "pidfd_open of a thread: ENOENT",
        "no such process: ESRCH",
        "close-on-exec: yes",
        "link: anon_inode:[pidfd]",
        "read: EINVAL",
        "posing as kill with siginfo: EPERM",
        "poll after exit: 1, POLLIN: yes",
        "epoll after exit: 1, data 5",
        "signal to the zombie: ok",
        "killed by signal 15: yes",
        "signal after reaping: ESRCH",
        "waitid on a non-pidfd: EBADF",
        "waitid on a PIDFD_NONBLOCK pidfd of a running child: EAGAIN",
        "exit status 5",
        "clone3: pidfd set: yes, parent tid set: yes",
        "clone3 child's status by its pidfd: 7",
        "clone child's status by its pidfd: 8",
        "read through it: hi",
        "pidfd_getfd after it ended: ESRCH",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}
