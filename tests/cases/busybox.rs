//! Applets of the host's static busybox that need no fork: a real program
//! nobody wrote for these tests.

use std::fs;
use std::sync::Once;

use crate::harness::{assert_same_as_native, case_dir, Run};

/// Debian's busybox-static package; the dynamically linked `busybox`
/// package installs the same path, so check which one this is.
const BUSYBOX: &str = "/bin/busybox";

fn busybox() -> Run {
    static CHECKED: Once = Once::new();
    CHECKED.call_once(|| {
        let bytes = fs::read(BUSYBOX).unwrap_or_else(|e| {
            panic!("{BUSYBOX}: {e}; run scripts/setup.sh to install busybox-static")
        });
        let elf = goblin::elf::Elf::parse(&bytes).expect("busybox is an ELF file");
        assert!(
            elf.is_64 && elf.interpreter.is_none(),
            "{BUSYBOX} is not a static 64-bit program; install busybox-static (scripts/setup.sh)"
        );
    });
    Run::new(BUSYBOX)
}

#[test]
fn echo() {
    let native = assert_same_as_native(&busybox().args(["echo", "hello", "from", "busybox"]));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (0, "hello from busybox\n")
    );
}

#[test]
fn cat_file() {
    let dir = case_dir("busybox_cat");
    let text: String = (1..=500)
        .map(|i| format!("{i} bottles of beer on the wall\n"))
        .collect();
    fs::write(dir.join("song.txt"), &text).unwrap();
    let native = assert_same_as_native(&busybox().args(["cat", "song.txt"]).cwd(&dir));
    assert_eq!((native.status, native.stdout_text()), (0, text));
}

#[test]
fn wc_lines() {
    let dir = case_dir("busybox_wc");
    fs::write(dir.join("lines.txt"), "one\ntwo\nthree\n").unwrap();
    let native = assert_same_as_native(&busybox().args(["wc", "-l", "lines.txt"]).cwd(&dir));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (0, "3 lines.txt\n")
    );
}

/// Input from the caller's stdin.
#[test]
fn wc_lines_from_stdin() {
    let native = assert_same_as_native(&busybox().args(["wc", "-l"]).stdin("a\nb\nc\nd\n"));
    assert_eq!((native.status, native.stdout_text().trim()), (0, "4"));
}

/// Known answer: SHA-256 of "abc" from FIPS 180-2.
#[test]
fn sha256sum() {
    let dir = case_dir("busybox_sha256sum");
    fs::write(dir.join("abc"), "abc").unwrap();
    let native = assert_same_as_native(&busybox().args(["sha256sum", "abc"]).cwd(&dir));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (
            0,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  abc\n"
        )
    );
}

/// Half a megabyte of output through many writes.
#[test]
fn seq() {
    let native = assert_same_as_native(&busybox().args(["seq", "1", "100000"]));
    let stdout = native.stdout_text();
    assert_eq!(native.status, 0);
    assert_eq!(stdout.lines().count(), 100_000);
    assert!(stdout.starts_with("1\n2\n") && stdout.ends_with("\n100000\n"));
}

#[test]
fn shell_builtins_with_redirection() {
    let dir = case_dir("busybox_sh_read");
    let file = dir.join("line.txt");
    fs::write(&file, "first line\nsecond\n").unwrap();
    // `read` polls its redirected input; no fork is involved.
    let script = format!("read a < {}; echo \"got: $a\"; exit 3", file.display());
    let native = assert_same_as_native(&busybox().args(["sh", "-c", &script]));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (3, "got: first line\n")
    );
}

#[test]
fn id_reports_the_callers_identity() {
    let native = assert_same_as_native(&busybox().args(["id"]));
    assert_eq!(native.status, 0, "{native}");
    assert!(native.stdout_text().starts_with("uid="), "{native}");
}

#[test]
fn proc_self_exe_is_the_canonical_path() {
    // /bin may be a symlink (merged /usr): the link shows the real file.
    let native = assert_same_as_native(&busybox().args(["readlink", "/proc/self/exe"]));
    assert_eq!(native.status, 0, "{native}");
}
