//! /proc through `proc_reader` (the process reading its own entries) and
//! busybox applets that read /proc.

use crate::harness::{assert_same_as_native, guest, Run};

#[test]
fn a_process_reads_its_own_proc_entries() {
    let run = Run::new(guest("proc_reader"));
    let native = assert_same_as_native(&run);
    let stdout = native.stdout_text();
    assert_eq!(native.status, 0, "{native}");
    for expected in [
        "cmdline is argv: yes\n",
        "comm: proc_reader\n",
        "exe is the program: yes\n",
        "maps: [stack] holds a local: yes\n",
        "Name:\tproc_reader\n",
        "stat fields: 52\n",
        "fd link names the opened file: yes\n",
        "statfs says proc: yes\n",
        "failures 0\n",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from\n{stdout}"
        );
    }
}

#[test]
fn threads_and_other_processes_in_proc() {
    let native = assert_same_as_native(&Run::new(guest("proc_threads")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "thread-self in a thread names it: yes",
        "/proc/self/task: 4 threads: proc_threads worker-0 worker-1 worker-2; states RSSS",
        "Threads: 4",
        "stat num_threads: 4",
        "thread-self in main names it: yes",
        "after join: 1 task, Threads: 1",
        "child stat: pid yes, comm kid, ppid is me: yes, pgrp its own: yes, session mine: yes, tty_nr 0, threads 1, state S",
        "child status: Name kid: yes, PPid is me: yes, NSpgid its own: yes, NSsid mine: yes, Threads 1",
        "child comm: kid",
        "child cmdline is mine: yes",
        "stopped child state T",
        "killed child, not reaped: state Z, comm kid",
        "reaped child: /proc/PID is ENOENT",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

#[test]
fn a_leader_that_left_stays_a_zombie_thread() {
    let native = assert_same_as_native(&Run::new(guest("leader_exit")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "task dir: 2 entries, leader listed: yes",
        "leader task state: Z",
        "process state: Z",
        "status State: Z (zombie)",
        "status Threads: 2",
        "worker task state: R",
        "parent: waitpid WNOHANG while a thread runs: 0",
        "parent: child state Z",
        "parent: reaped: yes, exit 5",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}
