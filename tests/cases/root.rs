//! `--root DIR`: the guest's `/` is DIR, and no path, `..` chain or
//! symbolic link leads out of it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::harness::{assert_same, available_platforms, case_dir, guest, Run};

/// A host file that exists on any Linux machine and must stay invisible.
fn host_file() -> &'static str {
    ["/etc/hostname", "/etc/passwd"]
        .into_iter()
        .find(|path| fs::metadata(path).is_ok_and(|m| m.is_file()))
        .expect("the host has /etc/passwd")
}

#[test]
fn root_confines_the_guest() {
    let case = case_dir("root");
    let root = case.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::copy(guest("file_reader"), root.join("bin/file_reader")).unwrap();
    fs::write(root.join("data.txt"), "inside the sandbox root\n").unwrap();
    fs::write(case.join("outside.txt"), "outside the sandbox root\n").unwrap();
    let host_file = host_file();
    symlink(host_file, root.join("escape")).unwrap();

    let relative = host_file.trim_start_matches('/');
    let escapes = [
        "/escape".to_owned(),
        format!("../../../../{relative}"),
        format!("/proc/../{relative}"),
        format!("/{relative}"),
        "/../outside.txt".to_owned(),
        "../outside.txt".to_owned(),
        "/bin/../../outside.txt".to_owned(),
    ];
    let root_flag = root.to_str().expect("the target directory is UTF-8");
    let reference = Run::new(root.join("bin/file_reader"))
        .arg(root.join("data.txt"))
        .native();
    assert_eq!(reference.status, 0, "{reference}");

    for platform in available_platforms() {
        let inside = |path: &str| {
            Run::new("/bin/file_reader")
                .arg(path)
                .cwd(&root)
                .rvisor(platform, &["--root", root_flag])
        };

        let data = inside("/data.txt");
        assert_same(
            &reference,
            &data,
            &format!("reading /data.txt with --root on {platform}"),
        );
        assert!(
            data.stdout_text().contains("inside the sandbox root\n"),
            "{data}"
        );

        for path in &escapes {
            let escaped = inside(path);
            let what = format!(
                "reading {path} with --root {} on {platform}",
                root.display()
            );
            assert_eq!(escaped.status, 1, "{what} should fail to open:\n{escaped}");
            assert!(
                escaped.stdout.is_empty(),
                "{what} printed contents:\n{escaped}"
            );
            assert!(
                escaped.stderr_text().starts_with(&format!("open {path}: ")),
                "{what}: unexpected error:\n{escaped}"
            );
        }
    }
    // The escape routes do lead somewhere on the host, so the checks above
    // are about confinement, not about missing files.
    assert!(Path::new(host_file).exists() && case.join("outside.txt").exists());
}
