//! Threads: pthreads programs (musl and glibc builds of one source) with
//! mutexes, condition variables, a worker pool, thread-local storage,
//! pthread_kill, pthread_exit and exit() from a thread, priority-inheritance
//! and robust mutexes, compared with native on every platform.

use crate::harness::{assert_same_as_native, guest, Run};

fn check(program: &str) {
    let native = assert_same_as_native(&Run::new(guest(program)));
    assert_eq!(native.status, 7, "{native}");
    let out = native.stdout_text();
    for line in [
        "counter: 160000 (expected 160000), join values and TLS ok: yes, main TLS 0",
        "pool: 500 jobs, sum right",
        "pthread_kill ran the handler in the target thread: yes; tids differ from the pid: yes",
        "pthread_exit value: 42",
        "a thread calls exit(7)",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
    assert!(!out.contains("not reached"), "{native}");
}

#[test]
fn musl_pthreads_match_native() {
    check("threads");
}

#[test]
fn glibc_pthreads_match_native() {
    check("threads_glibc");
}

/// PI mutexes (FUTEX_LOCK_PI/TRYLOCK_PI/UNLOCK_PI), robust ones included;
/// the two libcs word their errors differently, so only the figures and
/// the calls' outcomes are checked beyond matching native.
fn check_pi(program: &str) {
    let native = assert_same_as_native(&Run::new(guest(program)));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "counter 40000 (expected 40000)",
        "LOCK_PI of a free word: ok, word is my id: yes",
        "UNLOCK_PI: ok, word 0",
        "LOCK_PI of a word naming no thread: No such process",
        "UNLOCK_PI of a free word: Operation not permitted",
        "lock after that: ",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

#[test]
fn pi_mutexes_match_native() {
    check_pi("pi_mutex");
    check_pi("pi_mutex_glibc");
}

/// The raw PI futex calls: Linux's errors, deadlines, hand-overs, a
/// signal during the sleep, owners exiting with sleepers queued, and
/// WAIT_REQUEUE_PI/CMP_REQUEUE_PI.
#[test]
fn pi_futex_calls_match_native() {
    let native = assert_same_as_native(&Run::new(guest("pi_futex")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "LOCK_PI of my own: Resource deadlock",
        "UNLOCK_PI of another's: Operation not permitted",
        "TRYLOCK_PI of another's: Resource temporarily unavailable, word marked contended: yes",
        "LOCK_PI2 of another's, 30 ms monotonic deadline: Operation timed out",
        "LOCK_PI of a word naming an exited thread: No such process",
        "LOCK_PI of a word naming the exited first thread: No such process",
        "requeued behind a held lock: 3",
        "waiters that woke owning it: 3, word 0",
        "given a free lock: 1",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
    // Every sleeper got its lock, two of them from an owner that exited.
    assert_eq!(
        out.matches("sleeper's LOCK_PI: ok, word is its id | WAITERS: yes")
            .count(),
        6,
        "{native}"
    );
    assert_eq!(out.matches("yes, OWNER_DIED").count(), 2, "{native}");
}

#[test]
fn signals_fork_and_exec_with_threads_match_native() {
    let native = assert_same_as_native(&Run::new(guest("thread_signals")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "sigwait in a thread took 3 signals for the process",
        "SIGUSR2 from another process ran in the one thread not blocking it: yes",
        "sigtimedwait with nothing pending: -1 Resource temporarily unavailable",
        "fork from a thread: child status 3",
        "a thread spinning in user mode took a signal: yes",
        "exec from a thread: same pid: yes, tid == pid: yes",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

#[test]
fn threads_mapping_and_unmapping_at_once_match_native() {
    let native = assert_same_as_native(&Run::new(guest("thread_stress")));
    assert_eq!(native.status, 0, "{native}");
    assert_eq!(
        native.stdout_text(),
        "mappers: ok\n300 create/join: ok\n",
        "{native}"
    );
}

#[test]
fn a_stop_signal_stops_every_thread() {
    let native = assert_same_as_native(&Run::new(guest("thread_stop")));
    assert_eq!(native.status, 0, "{native}");
    assert_eq!(
        native.stdout_text(),
        "ticking before the stop: yes\nstopped: yes, silent while stopped: yes\n\
         continued: yes, ticking again: yes\nkilled: yes\n",
        "{native}"
    );
}

#[test]
fn threads_share_the_working_directory_and_umask() {
    let native = assert_same_as_native(&Run::new(guest("thread_fs")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "chdir in a thread seen by main: yes",
        "umask set in a thread, main sees 027",
        "fchdir in a thread seen by main: yes",
        "thread's file in main's cwd: yes, mode 600",
        "child changed its own copy: yes; parent's cwd kept: yes, umask 077",
        "after execve: cwd kept: yes, umask 023",
        "cleaned up: yes",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}
