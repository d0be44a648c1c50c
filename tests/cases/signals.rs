//! CPU exceptions that kill the guest: the status is 128 + the signal, as a
//! shell reports it, and output written before the fault is not lost. Then
//! handlers, timers, restarts, and SIGCHLD under a storm of children.

use crate::harness::{assert_same_as_native, guest, Run};

fn assert_killed(program: &str, status: i32, last_words: &str) {
    let native = assert_same_as_native(&Run::new(guest(program)));
    assert_eq!(native.status, status, "{program}: {native}");
    assert_eq!(native.stdout_text(), last_words, "{program}");
    assert!(native.stderr.is_empty(), "{native}");
}

#[test]
fn null_store_is_sigsegv() {
    assert_killed("segv", 128 + 11, "about to store through NULL\n");
}

#[test]
fn divide_by_zero_is_sigfpe() {
    assert_killed("divzero", 128 + 8, "about to divide by zero\n");
}

#[test]
fn ud2_is_sigill() {
    assert_killed("ud2", 128 + 4, "about to execute ud2\n");
}

#[test]
fn broken_pipe_write_is_sigpipe() {
    assert_killed(
        "sigpipe",
        128 + 13,
        "ignored: write returned -1 (Broken pipe)\n",
    );
}

#[test]
fn handlers_run_and_return() {
    let native = assert_same_as_native(&Run::new(guest("signal_handlers")));
    assert_eq!(native.status, 128 + 15, "{native}");
    assert!(
        native.stdout_text().contains("recovered from SIGSEGV"),
        "{native}"
    );
    assert!(
        native.stdout_text().contains("after unblock: hits=3"),
        "{native}"
    );
}

#[test]
fn timers_interrupt_sleeps() {
    let native = assert_same_as_native(&Run::new(guest("timers")));
    assert_eq!(native.status, 128 + 14, "{native}");
    assert!(
        native.stdout_text().contains("interval timer: alarms=6"),
        "{native}"
    );
}

/// POSIX timers with musl and with glibc (whose SIGEV_THREAD runs the
/// callbacks on a helper thread it wakes with SIGEV_THREAD_ID signals).
#[test]
fn posix_timers_match_native() {
    for program in ["posix_timers", "posix_timers_glibc"] {
        let native = assert_same_as_native(&Run::new(guest(program)));
        assert_eq!(native.status, 0, "{native}");
        let out = native.stdout_text();
        for line in [
            "unknown clock: EINVAL",
            "CLOCK_MONOTONIC_RAW: EOPNOTSUPP",
            "SIGEV_THREAD_ID of another process: EINVAL",
            "bad id pointer: EFAULT",
            "settime nsec 1e9: EINVAL",
            "delete again: EINVAL",
            "one-shot fired: 1, after >= 15 ms: yes, SI_TIMER: yes, value: yes, id: yes",
            "expired one-shot reads as disarmed: yes",
            "armed for 10 s: left in (9, 10]: yes, interval 0.5 s: yes",
            "default sigevent: SIGALRM fired: 1, value is the id: yes",
            "one signal: yes, si_overrun >= 5: yes, timer_getoverrun agrees: yes, \
             nothing more pending: yes",
            "next expiry after the take: yes",
            "pending before delete: yes, taken after delete: EAGAIN",
            "CLOCK_REALTIME absolute +30 ms: fired 1, after >= 25 ms: yes",
            "absolute time in the past: fired 1, at once: yes",
            "SIGEV_NONE: nothing sent: yes, expired: yes",
            "SIGEV_THREAD_ID: fired 1, in that thread: yes",
            "SIGEV_THREAD: 3 callbacks: yes, argument passed: yes, not on the main thread: yes",
            "fork: the child's timer_gettime of the parent's timer: EINVAL",
            "exec: the timer made before exec: EINVAL",
            "the parent's timer after the fork: ok",
        ] {
            assert!(
                out.contains(line),
                "{program}: missing {line:?} in {native}"
            );
        }
    }
}

/// timerfd: blocking and non-blocking reads, periodic expirations, poll
/// and epoll readiness, absolute times and Linux's errors.
#[test]
fn timerfds_match_native() {
    let native = assert_same_as_native(&Run::new(guest("timerfd")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "expirations 1, waited >= 25 ms: yes",
        "periodic 5 ms over 60 ms: at least 5 expirations: yes",
        "interval 5 ms: yes, next within 5 ms: yes",
        "nonblocking read of a disarmed timer: EAGAIN",
        "poll sees it: 1",
        "epoll sees it: 1",
        "short read: EINVAL",
        "CPU-time clock: EINVAL",
        "not a timerfd: EINVAL",
        "bad pointer: EFAULT",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

#[test]
fn spinning_guest_is_interrupted_for_a_signal() {
    let native = assert_same_as_native(&Run::new(guest("spin_alarm")));
    assert_eq!(native.stdout_text(), "woke from spin\n", "{native}");
}

#[test]
fn interrupted_reads_restart_or_fail_like_linux() {
    let native = assert_same_as_native(&Run::new(guest("restart")));
    assert!(
        native.stdout_text().contains("read with SA_RESTART: 1 'x'"),
        "{native}"
    );
}

#[test]
fn sigchld_handler_reaps_200_children_and_masks_hold_signals() {
    let native = assert_same_as_native(&Run::new(guest("sigchld_stress")));
    let out = native.stdout_text();
    assert_eq!(native.status, 0, "{native}");
    assert!(!out.contains("FAIL"), "{native}");
    for line in [
        "read across SIGCHLD: 1 'L' (OK)",
        "reaped 202 children, exit code sum 5978 (expected 5978)",
        "after unblocking: SIGUSR1 ran 1 more, SIGRTMIN 3 times",
        "handler order: <>2",
        "failures: 0",
    ] {
        assert!(
            out.contains(&format!("{line}\n")),
            "missing {line:?} in {native}"
        );
    }
}

#[test]
fn sigqueue_carries_values_to_another_process() {
    let native = assert_same_as_native(&Run::new(guest("sigqueue")));
    assert_eq!(native.status, 0, "{native}");
    assert_eq!(
        native.stdout_text(),
        "child: 3 signals, values 42 43 44, SI_QUEUE from the parent: yes\n\
         posing as kill: -1 Operation not permitted\nchild exit 0\n",
        "{native}"
    );
}
