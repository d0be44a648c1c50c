//! Whole shell scripts (`tests/scripts/`) that use what scripts use:
//! pipelines, redirections, subshells, command substitution, traps,
//! background jobs, and the usual tools (find, xargs, sort, grep, sed, awk,
//! tar). Each runs on data made here and must behave as it does natively.

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::{assert_same_as_native, case_dir, Run};

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/scripts");

/// A small tree for the scripts to search, archive and compare.
fn make_data(case: &str) -> PathBuf {
    let data = case_dir(case).join("data");
    fs::create_dir_all(data.join("sub/deep")).unwrap();
    fs::write(
        data.join("fruit.txt"),
        "apple 3\nbanana 1\ncherry 2\napple 5\n",
    )
    .unwrap();
    fs::write(data.join("sub/a.txt"), "needle one\nhay\n").unwrap();
    fs::write(data.join("sub/deep/b.txt"), "hay\nneedle two\n").unwrap();
    data
}

#[track_caller]
fn assert_lines_in_order(out: &str, lines: &[&str]) {
    let mut rest = out;
    for line in lines {
        let at = rest
            .find(&format!("{line}\n"))
            .unwrap_or_else(|| panic!("missing {line:?} (in order) in:\n{out}"));
        rest = &rest[at + line.len()..];
    }
}

#[test]
fn busybox_sh_script() {
    let data = make_data("busybox_tour");
    let script = Path::new(SCRIPTS).join("busybox_tour.sh");
    let run = Run::new("/bin/busybox")
        .arg("sh")
        .arg(&script)
        .arg(&data)
        .cwd(data.parent().unwrap());
    let native = assert_same_as_native(&run);
    assert_eq!((native.status, native.stderr_text()), (0, String::new()));
    assert_lines_in_order(
        &native.stdout_text(),
        &[
            "apple 8",
            "ls status 1",
            "to-stderr",
            "to-stdout",
            "x=inner status=3",
            "sum=55",
            "wait p1: 0",
            "wait p2: 7",
            "bg1",
            "got USR1",
            "after kill",
            "./sub/deep/b.txt:needle two",
            "./sub/deep/b.txt",
            "trees equal",
            "end",
            "exit trap: done",
        ],
    );
}

#[test]
fn bash_script() {
    const BASH: &str = "/bin/bash-static";
    assert!(
        Path::new(BASH).is_file(),
        "{BASH} is missing; run scripts/setup.sh to install bash-static"
    );
    let data = make_data("bash_tour");
    let script = Path::new(SCRIPTS).join("bash_tour.bash");
    let run = Run::new(BASH)
        .arg(&script)
        .arg(&data)
        .cwd(data.parent().unwrap());
    let native = assert_same_as_native(&run);
    assert_eq!((native.status, native.stderr_text()), (3, String::new()));
    assert_lines_in_order(
        &native.stdout_text(),
        &[
            "fruits: 4 first=apple last=apple",
            "apple=8",
            "3:big",
            "kind still unset: unset",
            "a b c d ",
            "process substitution ok",
            "mapfile: 2 needle two",
            "subshell status 4",
            "wait p2 9",
            "usr1=2",
            "apple,banana,cherry",
            "trees equal",
            "exit trap: status 3",
        ],
    );
}
