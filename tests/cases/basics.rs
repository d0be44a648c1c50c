//! Program start-up and exit: output, argv, environment, auxv, exit codes.

use crate::harness::{assert_same_as_native, guest, Run};

const HELLO_OUTPUT: &str = "hello, world\nhello again, through stdio\n";

#[test]
fn hello_musl() {
    let native = assert_same_as_native(&Run::new(guest("hello")));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (0, HELLO_OUTPUT)
    );
    assert!(native.stderr.is_empty(), "{native}");
}

/// glibc's static start-up does more than musl's (IRELATIVE relocations,
/// TLS set-up, CPU feature probing), so it is worth a run of its own.
#[test]
fn hello_glibc() {
    let native = assert_same_as_native(&Run::new(guest("hello_glibc")));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (0, HELLO_OUTPUT)
    );
    assert!(native.stderr.is_empty(), "{native}");
}

#[test]
fn args_environment_and_auxv() {
    let run = Run::new(guest("args_env")).args(["one", "two words", "", "--flag=x", "ünïcödé"]);
    let native = assert_same_as_native(&run);
    let stdout = native.stdout_text();
    assert_eq!(native.status, 0, "{native}");
    for expected in [
        "argc 6\n",
        "argv[2] \"two words\" (9 bytes)\n",
        "argv[3] \"\" (0 bytes)\n",
        "envc 4\n",
        "env RVISOR_TEST_VAR=two words=with an equals sign\n",
        "env RVISOR_TEST_UNSET=(unset)\n",
        "AT_PAGESZ 4096\n",
        "AT_SECURE 0\n",
        "AT_ENTRY is _start: yes\n",
        "AT_RANDOM bytes not all zero: yes\n",
    ] {
        assert!(
            stdout.contains(expected),
            "args_env should print {expected:?}:\n{native}"
        );
    }
    // Every yes/no fact the guest checks about itself must hold.
    assert!(!stdout.contains(": no\n"), "{native}");
}

/// A relative PROGRAM is resolved against the current directory, and the
/// guest sees it as given in argv[0] and AT_EXECFN.
#[test]
fn relative_program_path() {
    let program = guest("args_env");
    let run = Run::new("./args_env").cwd(program.parent().expect("guests live in a directory"));
    let native = assert_same_as_native(&run);
    assert_eq!(native.status, 0, "{native}");
    assert!(
        native.stdout_text().contains("argv[0] \"./args_env\""),
        "{native}"
    );
    assert!(
        native.stdout_text().contains("AT_EXECFN \"./args_env\""),
        "{native}"
    );
}

/// Every exit status 0..=255 comes through, and exit() keeps only the low
/// eight bits of larger or negative values.
#[test]
fn every_exit_code() {
    let program = guest("exit_code");
    let wrapped = [(256, 0), (257, 1), (-1, 255)];
    for (code, status) in (0..=255).map(|c| (c, c)).chain(wrapped) {
        let native = assert_same_as_native(&Run::new(&program).arg(code.to_string()));
        assert_eq!(native.status, status, "exit({code})");
        assert!(
            native.stdout.is_empty() && native.stderr.is_empty(),
            "{native}"
        );
    }
}
