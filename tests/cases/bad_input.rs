//! Programs rvisor must refuse: one line on stderr and the shell's status
//! (126 for "cannot execute", 127 for "not found"), never a panic. These run
//! under rvisor only; the host kernel's answers are not exit statuses.

use std::fs;
use std::path::Path;

use crate::harness::{
    available_platforms, case_dir, elf32_executable, guest, write_executable, Run,
};

fn assert_refused(program: &Path, cwd: &Path, status: i32) {
    for platform in available_platforms() {
        let outcome = Run::new(program).cwd(cwd).rvisor(platform, &[]);
        let what = format!("rvisor run --platform {platform} -- {}", program.display());
        let stderr = outcome.stderr_text();
        assert_eq!(outcome.status, status, "{what}:\n{outcome}");
        assert!(outcome.stdout.is_empty(), "{what}:\n{outcome}");
        assert!(!stderr.contains("panicked"), "{what} panicked:\n{outcome}");
        assert!(
            stderr.ends_with('\n') && stderr.lines().count() == 1 && !stderr.trim().is_empty(),
            "{what} should explain itself in exactly one line on stderr:\n{outcome}"
        );
    }
}

#[test]
fn text_file_is_refused() {
    let dir = case_dir("bad_text");
    let program = dir.join("notes.txt");
    write_executable(&program, b"this is not a program\njust text\n");
    assert_refused(&program, &dir, 126);
}

#[test]
fn empty_file_is_refused() {
    let dir = case_dir("bad_empty");
    let program = dir.join("empty");
    write_executable(&program, b"");
    assert_refused(&program, &dir, 126);
}

#[test]
fn truncated_elf_is_refused() {
    let dir = case_dir("bad_truncated");
    let whole = fs::read(guest("hello")).unwrap();
    // The 64-byte ELF header survives, the program headers after it do not.
    let program = dir.join("truncated");
    write_executable(&program, &whole[..200]);
    assert!(
        goblin::elf::Elf::parse(&whole[..200]).is_err(),
        "200 bytes should not parse"
    );
    assert_refused(&program, &dir, 126);
}

#[test]
fn elf32_is_refused() {
    let dir = case_dir("bad_elf32");
    let bytes = elf32_executable();
    let elf = goblin::elf::Elf::parse(&bytes).expect("the crafted ELF32 file is well formed");
    assert!(!elf.is_64 && elf.program_headers.len() == 1);
    let program = dir.join("i386");
    write_executable(&program, &bytes);
    assert_refused(&program, &dir, 126);
}

#[test]
fn missing_program_is_127() {
    let dir = case_dir("bad_missing");
    assert_refused(Path::new("/nonexistent/program"), &dir, 127);
    assert_refused(Path::new("no-such-program"), &dir, 127);
    assert_refused(Path::new("./no-such-program"), &dir, 127);
}

#[test]
fn script_with_a_missing_interpreter_is_not_found() {
    let dir = case_dir("bad_interpreter");
    let program = dir.join("script.sh");
    write_executable(&program, b"#!/nonexistent/interpreter\necho never\n");
    assert_refused(&program, &dir, 127);
}

#[test]
fn scripts_running_scripts_too_deep_are_refused() {
    let dir = case_dir("script_loop");
    let program = dir.join("loop.sh");
    // A script whose interpreter is itself: Linux gives up (ELOOP).
    let text = format!("#!{}\n", program.display());
    write_executable(&program, text.as_bytes());
    assert_refused(&program, &dir, 126);
}
