//! `--strace` logs system calls to stderr without disturbing the guest.

use crate::harness::{available_platforms, guest, Run};

#[test]
fn strace_shows_the_write() {
    let run = Run::new(guest("hello"));
    let native = run.native();
    assert_eq!(native.status, 0, "{native}");
    for platform in available_platforms() {
        let traced = run.rvisor(platform, &["--strace"]);
        assert_eq!(traced.status, 0, "{traced}");
        assert_eq!(
            traced.stdout, native.stdout,
            "--strace changed stdout:\n{traced}"
        );
        // strace's format: name(arguments) = result, maybe padded before `=`.
        let stderr = traced.stderr_text();
        let shows_write = |line: &str| {
            line.starts_with("write(1, \"hello")
                && line.rsplit_once('=').is_some_and(|(call, result)| {
                    call.trim_end().ends_with(')') && result.trim() == "13"
                })
        };
        assert!(
            stderr.lines().any(shows_write),
            "expected a line like `write(1, \"hello, world\\n\", 13) = 13` on {platform}:\n{traced}"
        );
    }
}

#[test]
fn strace_names_the_other_processes_and_threads() {
    // A forked child's calls carry its pid, as `strace -f` shows them; the
    // first process's do not.
    let run = Run::new("/bin/busybox").args(["sh", "-c", "/bin/busybox echo child-ran; exit 4"]);
    for platform in available_platforms() {
        let traced = run.rvisor(platform, &["--strace"]);
        assert_eq!(traced.status, 4, "{traced}");
        assert_eq!(traced.stdout_text(), "child-ran\n", "{traced}");
        let stderr = traced.stderr_text();
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("[pid 2] write(1, \"child-ran\\n\", 10) = 10")),
            "the child's write should carry its pid on {platform}:\n{traced}"
        );
        assert!(
            stderr.lines().any(|l| l.starts_with("exit_group(4)")),
            "the first process's calls carry no pid on {platform}:\n{traced}"
        );
    }
}

#[test]
fn strace_decodes_socket_calls() {
    let run = Run::new(guest("unix_sockets"));
    for platform in available_platforms() {
        let traced = run.rvisor(platform, &["--strace"]);
        assert_eq!(traced.status, 0, "{traced}");
        let stderr = traced.stderr_text();
        for start in [
            "socketpair(AF_UNIX, SOCK_STREAM, 0, [",
            "socket(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK, 0) = ",
            "bind(3, {sa_family=AF_UNIX, sun_path=\"/tmp/rvisor-unix-test-",
            "bind(3, {sa_family=AF_UNIX, sun_path=@\"rvisor-unix-test-",
            "accept4(3, ",
            "sendto(3, \"x\", 1, MSG_NOSIGNAL, NULL, 0) = -1 EPIPE",
            "getsockopt(3, SOL_SOCKET, SO_PEERCRED, ",
            "shutdown(3, SHUT_WR) = 0",
        ] {
            assert!(
                stderr.lines().any(|l| l.contains(start)),
                "no line with {start:?} on {platform}:\n{traced}"
            );
        }
    }
}
