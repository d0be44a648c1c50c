//! /proc through `proc_reader` (the process reading its own entries) and
//! busybox applets that read /proc.

use crate::harness::{assert_same_as_native, guest, Run};

#[test]
fn a_process_reads_its_own_proc_entries() {
    let run = Run::new(guest("proc_reader"));
    let native = assert_same_as_native(&run);
    let stdout = native.stdout_text();
    assert_eq!(native.status, 0, "{native}");
    for expected in [
        "cmdline is argv: yes\n",
        "comm: proc_reader\n",
        "exe is the program: yes\n",
        "maps: [stack] holds a local: yes\n",
        "Name:\tproc_reader\n",
        "stat fields: 52\n",
        "fd link names the opened file: yes\n",
        "statfs says proc: yes\n",
        "failures 0\n",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from\n{stdout}"
        );
    }
}
