//! File-system calls through `file_reader`: reading a file several ways,
//! listing a directory, symbolic links, access(), getcwd and error names.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::harness::{assert_same_as_native, case_dir, guest, Run};

/// Text long enough to need several of file_reader's 1000-byte reads.
fn sample_text() -> String {
    (1..=80)
        .map(|i| format!("line {i:02}: the quick brown fox jumps over the lazy dog\n"))
        .collect()
}

/// A directory with one of each kind of entry file_reader reports.
fn populate(dir: &Path) {
    fs::write(dir.join("data.txt"), sample_text()).unwrap();
    fs::write(dir.join("empty"), "").unwrap();
    fs::create_dir(dir.join("subdir")).unwrap();
    fs::write(dir.join("subdir/inner"), "inner\n").unwrap();
    symlink("data.txt", dir.join("link")).unwrap();
    symlink("/nonexistent/target", dir.join("dangling")).unwrap();
}

#[test]
fn read_list_and_inspect_relative_paths() {
    let dir = case_dir("files_relative");
    populate(&dir);
    let run = Run::new(guest("file_reader"))
        .args(["data.txt", ".", "link"])
        .cwd(&dir);
    let native = assert_same_as_native(&run);
    let stdout = native.stdout_text();
    assert_eq!(native.status, 0, "{native}");
    for expected in [
        &format!("size {}\n", sample_text().len()),
        &sample_text(),
        "  dangling d_type=l lstat=l\n",
        "  subdir d_type=d lstat=d\n",
        "stat missing file: ENOENT\n",
        "stat below a regular file: ENOTDIR\n",
        "read on a directory: EISDIR\n",
        &format!("getcwd: {}\n", dir.display()),
        "readlink: \"data.txt\" (8 bytes)\n",
        "failures 0\n",
    ] {
        assert!(
            stdout.contains(expected),
            "file_reader should print {expected:?}:\n{native}"
        );
    }
}

#[test]
fn read_list_and_inspect_absolute_paths() {
    let dir = case_dir("files_absolute");
    populate(&dir);
    let run = Run::new(guest("file_reader")).args([
        dir.join("subdir/inner"),
        dir.join("subdir"),
        dir.join("link"),
    ]);
    let native = assert_same_as_native(&run);
    assert_eq!(native.status, 0, "{native}");
    assert!(native.stdout_text().contains("inner\n"), "{native}");
    assert!(native.stdout_text().contains("failures 0\n"), "{native}");
}

#[test]
fn read_empty_file() {
    let dir = case_dir("files_empty");
    populate(&dir);
    let native = assert_same_as_native(&Run::new(guest("file_reader")).arg("empty").cwd(&dir));
    assert_eq!(native.status, 0, "{native}");
    assert!(
        native.stdout_text().starts_with("size 0\nread 0 bytes"),
        "{native}"
    );
}

/// 300 KiB of arbitrary bytes: hundreds of reads, and output that is not
/// text, which must pass through byte for byte.
#[test]
fn read_large_binary_file() {
    let dir = case_dir("files_large");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let bytes: Vec<u8> = (0..300 * 1024)
        .map(|_| {
            // xorshift64: cheap, deterministic noise.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    fs::write(dir.join("noise.bin"), &bytes).unwrap();
    let native = assert_same_as_native(&Run::new(guest("file_reader")).arg("noise.bin").cwd(&dir));
    assert_eq!(native.status, 0, "{native}");
    assert!(
        native.stdout.windows(bytes.len()).any(|w| w == bytes),
        "contents are printed"
    );
    assert!(native.stdout_text().ends_with("failures 0\n"), "{native}");
}

#[test]
fn open_missing_file() {
    let dir = case_dir("files_missing");
    let native =
        assert_same_as_native(&Run::new(guest("file_reader")).arg("missing.txt").cwd(&dir));
    assert_eq!(native.status, 1, "{native}");
    assert!(native.stdout.is_empty(), "{native}");
    assert_eq!(native.stderr_text(), "open missing.txt: ENOENT\n");
}

/// close_range closes or marks ranges (its own table first with
/// CLOSE_RANGE_UNSHARE); the sync calls and fallocate check their
/// arguments, and fallocate grows a file.
#[test]
fn close_range_sync_and_fallocate_match_native() {
    let native = assert_same_as_native(&Run::new(guest("close_range")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "11 open, 12 closed, 14 closed, 15 open",
        "15 cloexec, 16 cloexec, 17 open",
        "first > last: EINVAL",
        "16 cloexec, 17 closed, 19 closed",
        "syncfs bad fd: EBADF",
        "sync_file_range on a pipe: ESPIPE",
        "sync_file_range negative offset: EINVAL",
        "fallocate 0..8192: ok",
        "PUNCH_HOLE without KEEP_SIZE: EOPNOTSUPP",
        "read-only descriptor: EBADF",
        "pipe: ESPIPE",
        "/dev/null: ENODEV",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// preadv2/pwritev2 (offset -1, flags), utime/utimes/futimesat and
/// rt_tgsigqueueinfo, compared with native.
#[test]
fn vectored_io_v2_old_time_calls_and_thread_sigqueue_match_native() {
    let native = assert_same_as_native(&Run::new(guest("misc_calls")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "read: hello world",
        "preadv2 unknown flag: EOPNOTSUPP",
        "read: world, offset now 11",
        "atime 1000000 mtime 2000000",
        "atime 3000000.500000000 mtime 4000000.250000000",
        "utimes usec 1e6: EINVAL",
        "handler saw value 77, SI_QUEUE: yes, in me: yes",
        "posing as kill to another process: EPERM",
        "bad info pointer: EFAULT",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// splice between files and pipes and pipe to pipe, tee, vmsplice.
#[test]
fn splice_tee_and_vmsplice_match_native() {
    let native = assert_same_as_native(&Run::new(guest("splice")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "offset now 10",
        "got 456789",
        "file offset now 3",
        "got 012",
        "file: 0123456789abcdefXYZ",
        "empty pipe, SPLICE_F_NONBLOCK: EAGAIN",
        "two files: EINVAL",
        "offset on the pipe side: ESPIPE",
        "write end as input: EBADF",
        "blocking splice waits for data: 4",
        "got vmsplice",
        "vmsplice on a file: EBADF",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}
