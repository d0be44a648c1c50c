//! The writable tree: a guest changes files and sees its changes exactly
//! as on Linux (`fs_writer`, compared with a native run), and nothing it
//! does reaches the host tree or leads out of `--root` (`fs_leak`).
//! Extended attributes behave as on Linux (`xattr`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::{assert_same_as_native, available_platforms, case_dir, guest, Run};

#[test]
fn creating_renaming_and_deleting_match_linux() {
    let dir = case_dir("writable_fs");
    let native = assert_same_as_native(&Run::new(guest("fs_writer")).cwd(&dir));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for expected in [
        "cat b: \"hello\"\n",
        "stat b: type 10 mode 0644 size 5 nlink 2\n",
        "readlink s: \"b\"\n",
        "open loop1: ELOOP\n",
        "cat made-through-link: \"via link\"\n",
        "rename d d/x: EINVAL\n",
        "rmdir d (full): ENOTEMPTY\n",
        "renameat2 EXCHANGE: 0\n",
        "cat copy-dst: \"2344\"\n",
        "stat masked: type 10 mode 0600 size 0 nlink 1\n",
        "times: 1000000000.5 1234567890.0\n",
        "rmdir work: 0\n",
        "done\n",
    ] {
        assert!(
            out.contains(expected),
            "fs_writer should print {expected:?}:\n{native}"
        );
    }
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "fs_writer cleans up"
    );
}

/// Every path below `dir` with its type, mode and contents or link target.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.is_symlink() {
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if meta.is_dir() {
                todo.push(path.clone());
                Vec::new()
            } else {
                fs::read(&path).unwrap()
            };
            out.push((path, meta.permissions().mode(), bytes));
        }
    }
    out.sort();
    out
}

/// What the guest could change outside the case directory: the names in
/// `/` and `/etc`, and the files it renames or deletes there.
fn host_state() -> (Vec<String>, Vec<String>, Vec<Option<Vec<u8>>>) {
    let names = |d: &str| {
        let mut v: Vec<String> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let files = ["/etc/passwd", "/etc/hostname"].map(|p| fs::read(p).ok());
    (names("/"), names("/etc"), files.to_vec())
}

#[test]
fn nothing_the_guest_changes_reaches_the_host() {
    let dir = case_dir("writable_fs_leak");
    fs::create_dir_all(dir.join("emptydir")).unwrap();
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("keep.txt"), "keep").unwrap();
    fs::write(dir.join("old.txt"), "old").unwrap();
    fs::write(dir.join("victim.txt"), "victim").unwrap();
    fs::write(dir.join("sub/inner"), "inner").unwrap();
    let before = (snapshot(&dir), host_state());
    let dir_arg = dir.to_str().expect("the target directory is UTF-8");
    for platform in available_platforms() {
        let run = Run::new(guest("fs_leak"))
            .args(["change", dir_arg])
            .rvisor(platform, &[]);
        assert_eq!(run.status, 0, "{run}");
        let out = run.stdout_text();
        let mut steps = 0;
        for line in out.lines() {
            steps += 1;
            // /etc/hostname may not exist on the host.
            let optional = line.contains("/etc/hostname");
            assert!(
                line.ends_with(": OK") || optional,
                "on {platform}, a change failed inside the sandbox: {line}\n{run}"
            );
        }
        assert!(steps >= 25, "fs_leak stopped early on {platform}:\n{run}");
        assert!(
            before == (snapshot(&dir), host_state()),
            "the host changed after fs_leak on {platform}"
        );
    }
}

#[test]
fn guest_links_do_not_lead_out_of_the_root() {
    let case = case_dir("writable_fs_escape");
    let root = case.join("root");
    fs::create_dir_all(&root).unwrap();
    fs::copy(guest("fs_leak"), root.join("fs_leak")).unwrap();
    let outside = case.join("outside.txt");
    fs::write(&outside, "secret").unwrap();
    let before = snapshot(&case);
    let root_flag = root.to_str().expect("the target directory is UTF-8");
    let outside_arg = outside.to_str().unwrap();
    for platform in available_platforms() {
        let run = Run::new("/fs_leak")
            .args(["escape", outside_arg])
            .cwd(&root)
            .rvisor(platform, &["--root", root_flag]);
        assert_eq!(run.status, 0, "{run}");
        let out = run.stdout_text();
        assert!(
            !out.contains("OPENED"),
            "on {platform}, a host file outside the root opened:\n{run}"
        );
        for expected in [
            "open l_abs: ENOENT\n",
            "open l_up: ENOENT\n",
            "open l_dots: ENOENT\n",
            "open l_up_abs: ENOENT\n",
            "open outside path: ENOENT\n",
            // The guest's `..` of `/` is `/`: this is its own file.
            "write /../outside.txt: OK\n",
            "/outside.txt is gone again: OK\n",
        ] {
            assert!(
                out.contains(expected),
                "on {platform}, expected {expected:?}:\n{run}"
            );
        }
        assert!(before == snapshot(&case), "the host changed on {platform}");
        assert_eq!(fs::read(&outside).unwrap(), b"secret");
    }
}

/// A shared writable mapping of a host file maps the guest's copy: stores
/// are read back through the file, and the host file never changes.
#[test]
fn shared_mappings_of_host_files_change_only_the_guests_copy() {
    let dir = case_dir("writable_fs_mapped");
    let file = dir.join("host.txt");
    fs::write(&file, "host data").unwrap();
    let file_arg = file.to_str().expect("the target directory is UTF-8");
    for platform in available_platforms() {
        let run = Run::new(guest("mapped_file"))
            .args(["host", file_arg])
            .rvisor(platform, &[]);
        assert_eq!(run.status, 0, "{run}");
        assert_eq!(
            run.stdout_text(),
            "mapped: host data\n\
             read back: GUESTdata\n\
             read-only mapping: GUESTdata\n\
             mprotect to writable: refused\n",
            "on {platform}:\n{run}"
        );
        assert_eq!(fs::read(&file).unwrap(), b"host data", "on {platform}");
    }
}

/// Extended attributes in /tmp (the host's ext4 natively, the sandbox's
/// in-memory tmpfs under rvisor): the same answers either way.
#[test]
fn extended_attributes_match_linux() {
    let native = assert_same_as_native(&Run::new(guest("xattr")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "get user.color (length): 4",
        "get user.color: blue",
        "get into 2 bytes: ERANGE",
        "create existing: EEXIST",
        "replace missing: ENODATA",
        "after replace: red",
        "list: user.color user.empty",
        "list into 3 bytes: ERANGE",
        "256-byte name: ERANGE",
        "bare user.: EINVAL",
        "unknown namespace: EOPNOTSUPP",
        "65537-byte value: E2BIG",
        "lset user.* on the symlink: EPERM",
        "flist: user.color user.empty user.fd",
        "fget on O_PATH: EBADF",
        "fset on a pipe: EPERM",
        "get on a procfs file: EOPNOTSUPP",
        "bad value pointer: EFAULT",
        "remove again: ENODATA",
        "recreated file's list: 0",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// Named pipes made with mkfifo in /tmp: blocking and non-blocking opens,
/// EOF, EPIPE and SIGPIPE, poll, and an open ended by a signal.
#[test]
fn fifos_match_linux() {
    let native = assert_same_as_native(&Run::new(guest("fifo")));
    assert_eq!(native.status, 0, "{native}");
    let out = native.stdout_text();
    for line in [
        "mkfifo: 0\n",
        "mkfifo again: EEXIST\n",
        "stat: fifo 1 mode 0640 size 0\n",
        "mknod stat: fifo 1\n",
        "nonblocking writer, no reader: ENXIO\n",
        "read, no writer yet: 0\n",
        "fd link is the path: 1\n",
        "read, empty: EAGAIN\n",
        "poll reader, data: 1 IN\n",
        "read after writer closed: \"abc\" then EOF\n",
        "poll reader, writer gone: 1 HUP\n",
        "write, reader gone: EPIPE\n",
        "writer with default SIGPIPE: killed by signal 13\n",
        "reader got: \"hello\" then EOF\n",
        "blocking writer: 0\n",
        "data outlives the first end: \"kept\" then EOF\n",
        "reopened fifo is empty: EAGAIN\n",
        "open interrupted (no SA_RESTART): EINTR\n",
        "restarted reader got: \"late\" then EOF\n",
        "rmdir: 0\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in {native}");
    }
}

/// A shell script's FIFO: busybox mkfifo, `ls -l` showing `p`, and a
/// background writer feeding a reader through it.
#[test]
fn shell_pipes_through_a_fifo() {
    let script = "d=$(mktemp -d) && mkfifo $d/p && ls -l $d/p | cut -c1 && \
                  { printf 'a\\nb\\n' > $d/p & } && sort -r < $d/p && wait && rm -r $d";
    let native = assert_same_as_native(&Run::new("/bin/busybox").args(["sh", "-c", script]));
    assert_eq!(
        (native.status, native.stdout_text().as_str()),
        (0, "p\nb\na\n"),
        "{native}"
    );
}
