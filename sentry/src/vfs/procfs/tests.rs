use super::*;
use crate::kernel::task::RLimit;
use crate::vfs::file::File;

/// One process, pid 7, with a name that needs the parentheses.
struct Fake;

fn info() -> ProcessInfo {
    ProcessInfo {
        tgid: 7,
        ppid: 1,
        pgid: 7,
        sid: 7,
        tids: vec![7],
        comm: b"a b) c".to_vec(),
        state: b'R',
        uids: [1000; 4],
        gids: [100; 4],
        umask: 0o022,
        exe: b"/bin/prog".to_vec(),
        cwd: b"/home".to_vec(),
        rlimits: [RLimit {
            cur: u64::MAX,
            max: u64::MAX,
        }; 16],
        sig_pending: 0,
        sig_blocked: 1,
        sig_ignored: 0,
        sig_caught: 0,
        start_ticks: 5,
        layout: ImageLayout::default(),
        rss_pages: 3,
        no_new_privs: false,
    }
}

fn mapping(start: u64, end: u64, name: &[u8], ino: u64) -> Mapping {
    Mapping {
        start,
        end,
        read: true,
        write: false,
        exec: ino != 0,
        shared: false,
        offset: 0,
        dev: libc::makedev(0, 40),
        ino,
        name: name.to_vec(),
    }
}

impl ProcSource for Fake {
    fn caller(&self) -> (i32, i32) {
        (7, 7)
    }
    fn tgids(&self) -> Vec<i32> {
        vec![7]
    }
    fn process(&self, pid: i32) -> Option<ProcessInfo> {
        (pid == 7).then(info)
    }
    fn maps(&self, _pid: i32) -> Vec<Mapping> {
        vec![
            mapping(0x400000, 0x401000, b"/bin/prog", 42),
            mapping(0x7fff0000, 0x7fff1000, b"[stack]", 0),
            mapping(0x10000000, 0x10001000, b"", 0),
        ]
    }
    fn fds(&self, _pid: i32) -> Vec<FdEntry> {
        vec![FdEntry {
            fd: 3,
            target: b"/etc/passwd".to_vec(),
            flags: libc::O_RDONLY as u32,
            pos: 0,
        }]
    }
    fn cmdline(&self, _pid: i32) -> Vec<u8> {
        b"prog\0-x\0".to_vec()
    }
    fn environ(&self, _pid: i32) -> Vec<u8> {
        Vec::new()
    }
}

fn text(node: ProcNode) -> String {
    String::from_utf8(contents(node, &Fake).unwrap()).unwrap()
}

#[test]
fn stat_has_52_fields_and_the_name_in_parentheses() {
    let s = text(ProcNode::PidFile(7, pid::PidFile::Stat));
    assert!(s.starts_with("7 (a b) c) R 1 "), "{s}");
    assert!(s.ends_with(" 0\n"));
    // Parsers split after the last ')', as ps does.
    let rest = &s[s.rfind(')').unwrap() + 2..];
    assert_eq!(rest.split_whitespace().count() + 2, 52);
}

#[test]
fn maps_lines_have_linux_columns() {
    let s = text(ProcNode::PidFile(7, pid::PidFile::Maps));
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "00400000-00401000 r-xp 00000000 00:28 42{}/bin/prog",
            " ".repeat(33)
        )
    );
    assert_eq!(lines[0].find('/'), Some(73));
    assert_eq!(lines[1].find('['), Some(73));
    assert_eq!(lines[2], "10000000-10001000 r--p 00000000 00:28 0 ");
}

#[test]
fn status_and_limits_read_like_linux() {
    let s = text(ProcNode::PidFile(7, pid::PidFile::Status));
    for want in [
        "Name:\ta b) c\n",
        "State:\tR (running)\n",
        "Uid:\t1000\t1000\t1000\t1000\n",
        "Threads:\t1\n",
        "VmStk:\t       4 kB\n",
        "SigBlk:\t0000000000000001\n",
        "CapEff:\t0000000000000000\n",
    ] {
        assert!(s.contains(want), "{want:?} in {s}");
    }
    let l = text(ProcNode::PidFile(7, pid::PidFile::Limits));
    assert!(l.contains(
        "Max open files            unlimited            unlimited            files     \n"
    ));
    assert!(l.contains("Max nice priority         unlimited            unlimited            \n"));
}

#[test]
fn self_and_fd_entries_are_links() {
    let me = lookup(ProcNode::Root, b"self", &Fake).unwrap();
    assert_eq!(me.symlink_target(), Some(&b"7"[..]));
    let ts = lookup(ProcNode::Root, b"thread-self", &Fake).unwrap();
    assert_eq!(ts.symlink_target(), Some(&b"7/task/7"[..]));
    let fd = lookup(ProcNode::FdDir(7), b"3", &Fake).unwrap();
    assert_eq!(fd.symlink_target(), Some(&b"/etc/passwd"[..]));
    assert_eq!(fd.stat().mode, libc::S_IFLNK | 0o500);
    assert_eq!(
        lookup(ProcNode::FdDir(7), b"03", &Fake).err(),
        Some(Errno::ENOENT)
    );
    let exe = lookup(ProcNode::Pid(7), b"exe", &Fake).unwrap();
    assert_eq!(exe.symlink_target(), Some(&b"/bin/prog"[..]));
    assert_eq!(
        lookup(ProcNode::Root, b"8", &Fake).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        lookup(ProcNode::Root, b"self", &NoProcs).err(),
        Some(Errno::ENOENT)
    );
}

#[test]
fn listings_and_modes() {
    let names: Vec<Vec<u8>> = list(ProcNode::Root, &Fake)
        .unwrap()
        .into_iter()
        .map(|e| e.2)
        .collect();
    for want in ["7", "self", "meminfo", "cpuinfo", "sys"] {
        assert!(names.contains(&want.as_bytes().to_vec()), "{want}");
    }
    let fds = list(ProcNode::FdDir(7), &Fake).unwrap();
    assert_eq!(fds, vec![(fds[0].0, libc::DT_LNK, b"3".to_vec())]);
    let pid = lookup(ProcNode::Root, b"7", &Fake).unwrap();
    let st = pid.stat();
    assert_eq!(
        (st.mode, st.uid, st.dev),
        (libc::S_IFDIR | 0o555, 1000, FsKind::Procfs.dev())
    );
    let host = lookup(
        ProcNode::System(
            system::ENTRIES
                .iter()
                .position(|e| e.0 == "sys/vm")
                .unwrap(),
        ),
        b"overcommit_memory",
        &Fake,
    );
    assert_eq!(host.unwrap().stat().mode, libc::S_IFREG | 0o444);
}

#[test]
fn a_file_is_one_snapshot_read_in_pieces() {
    let node = ProcNode::PidFile(7, pid::PidFile::Cmdline);
    let inode = node_inode(node, 0, 0);
    let f = ProcFile::new(
        inode,
        b"/proc/7/cmdline".to_vec(),
        contents(node, &Fake).unwrap(),
        0,
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 3];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"prog\0-x\0");
    assert_eq!(f.seek(2, libc::SEEK_SET), Ok(2));
    assert_eq!(f.read(&mut buf), Ok(3));
    assert_eq!(&buf, b"og\0");
    assert_eq!(f.seek(0, libc::SEEK_END), Err(Errno::EINVAL));
    assert_eq!(f.write(b"x"), Err(Errno::EBADF));
}
