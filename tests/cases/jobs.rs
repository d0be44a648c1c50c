//! Process groups, sessions, job control, waitid, eventfd and epoll: each
//! guest checks Linux's answers itself and must print what it prints
//! natively.

use crate::harness::{assert_same_as_native, available_platforms, guest, Run};

/// Runs guest `name` natively and on every platform; returns its stdout.
fn same_as_native(name: &str) -> String {
    let native = assert_same_as_native(&Run::new(guest(name)));
    assert_eq!(native.status, 0, "{native}");
    native.stdout_text()
}

#[test]
fn process_groups_and_sessions() {
    let out = same_as_native("pgrp");
    for line in [
        "setpgid(0, -1): EINVAL",
        "setpgid(reaped, 0): ESRCH",
        "child leads its group: yes",
        "setpgid(child, reaped pid): EPERM",
        "setpgid(exec'd child): EACCES",
        "child: setsid again: EPERM",
        "setpgid(child in another session): EPERM",
        "reaped leader: signal 15, member: signal 15",
        "kill(-pgid, 0) when empty: ESRCH",
        "waitpid(0) reaps the member: yes, exit 3",
        "waitpid(-other group): yes, exit 9",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn waitid_variants() {
    let out = same_as_native("waitid");
    for line in [
        "no options: EINVAL",
        "running, WNOHANG: signo 0, code 0, status 0, pid 0",
        "WNOWAIT: signo SIGCHLD, code CLD_EXITED, status 5, pid the child",
        "only stops asked: ECHILD",
        "P_PGID of its group: signo SIGCHLD, code CLD_KILLED, status 15",
        "WSTOPPED: signo SIGCHLD, code CLD_STOPPED, status 19",
        "WCONTINUED: signo SIGCHLD, code CLD_CONTINUED, status 18",
        "exit: signo SIGCHLD, code CLD_EXITED, status 6",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn stop_and_continue() {
    let out = same_as_native("job_control");
    for line in [
        "after SIGSTOP: stopped by 19",
        "SIGCHLD: CLD_STOPPED status 19",
        "a stopped child writes nothing: yes",
        "after SIGCONT: continued",
        "SIGCHLD: CLD_CONTINUED status 18",
        "stopped, SIGTERM pending: waitpid says 0",
        "stopped, then SIGKILL: killed by 9",
        "SIGTSTP then SIGCONT while blocked: exited 0",
        "SIGCHLD after a stop with SA_NOCLDSTOP: 0",
        "SIGCHLD: 1, CLD_EXITED status 4",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn eventfd_and_epoll() {
    let out = same_as_native("eventfd_epoll");
    for line in [
        "write past max: EAGAIN",
        "semaphore read 3: EAGAIN 0",
        "blocking read got 5 from the child",
        "read interrupted: EINTR",
        "ADD regular file: EPERM",
        "100 ms timeout: 0 events, waited >= 90 ms: yes",
        "edge, not again: 0",
        "oneshot disarmed: 0",
        "woken by the child: 1 [data 2: IN]",
        "writer closed: 1 [data 8: HUP]",
        "inner ready: 1 [data 9: IN]",
        "SIGALRM during wait: -1 EINTR",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

#[test]
fn busybox_shell_background_jobs() {
    // ash reports a job killed by a signal ("Terminated") only if it is
    // reaped by this very `wait`; whether the child died and SIGCHLD
    // arrived before the shell reached `wait` is a race, natively too, so
    // that report is discarded and only the status is compared.
    let script = "sleep 0.2 & p=$!; echo started; wait $p; echo \"waited $?\"; \
                  sleep 10 & k=$!; kill $k; wait $k 2>/dev/null; echo \"killed $?\"; \
                  (exit 3) & wait $!; echo \"subshell $?\"; \
                  sleep 5 & kill %1; wait; echo \"all done $?\"; \
                  sleep 0.1 & sleep 0.2 & wait; echo \"two jobs waited\"";
    let native = assert_same_as_native(&Run::new("/bin/busybox").args(["sh", "-c", script]));
    assert_eq!(native.status, 0, "{native}");
    assert_eq!(
        native.stdout_text(),
        "started\nwaited 0\nkilled 143\nsubshell 3\nall done 0\ntwo jobs waited\n",
        "{native}"
    );
}

#[test]
fn strace_decodes_epoll_and_waitid() {
    for platform in available_platforms() {
        let traced = Run::new(guest("waitid")).rvisor(platform, &["--strace"]);
        assert_eq!(traced.status, 0, "{traced}");
        let err = traced.stderr_text();
        assert!(
            err.contains("waitid(P_PID, ") && err.contains("WEXITED|WNOWAIT"),
            "{platform}: {traced}"
        );
        let traced = Run::new(guest("eventfd_epoll")).rvisor(platform, &["--strace"]);
        let err = traced.stderr_text();
        assert!(
            err.contains("epoll_ctl(")
                && err.contains("EPOLL_CTL_ADD")
                && err.contains("{events=EPOLLIN|EPOLLET, data=0x3}"),
            "{platform}: {traced}"
        );
        assert!(
            err.contains("eventfd2(0, EFD_NONBLOCK|EFD_CLOEXEC)"),
            "{platform}: {traced}"
        );
    }
}
