//! Job control on a controlling terminal: each program runs on a fresh
//! pseudo-terminal (`pty_run`, which types ^C and ^Z when the program asks
//! for them), natively and as `rvisor run` on that terminal, and the two
//! transcripts must match.

use std::ffi::OsString;
use std::path::Path;

use crate::harness::{assert_same, available_platforms, guest, rvisor_binary, Outcome, Run};

/// `pty_run` typing `keys` ((trigger, key) pairs) into `program`, natively
/// and under every platform; returns the native transcript.
fn same_on_a_terminal(keys: &[(&str, &str)], program: &[&str]) -> Outcome {
    let mut typing: Vec<OsString> = Vec::new();
    for (trigger, key) in keys {
        typing.push(trigger.into());
        typing.push(key.into());
    }
    typing.push("--".into());
    let on_pty = |prefix: &[OsString]| {
        let mut args = typing.clone();
        args.extend(prefix.iter().cloned());
        args.extend(program.iter().map(OsString::from));
        Run::new(guest("pty_run")).args(args)
    };
    let native = on_pty(&[]).native();
    for platform in available_platforms() {
        let rvisor: Vec<OsString> = vec![
            rvisor_binary().into(),
            "run".into(),
            "--platform".into(),
            platform.into(),
            "--".into(),
        ];
        let sandboxed = on_pty(&rvisor).native();
        assert_same(
            &native,
            &sandboxed,
            &format!("{program:?} on a pty, --platform {platform}"),
        );
    }
    native
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn foreground_groups_background_access_and_typed_signals() {
    let program = guest("tty_jobs");
    let out = same_on_a_terminal(
        &[("waiting for ^C", "^C"), ("waiting for ^Z", "^Z")],
        &[path(&program)],
    );
    let text = out.stdout_text();
    for line in [
        "tcgetpgrp is my group: yes",
        "tcgetsid is my session: yes",
        "background read: stopped by 21",
        "background read, SIGTTIN ignored: EIO",
        "background tcsetpgrp: stopped by 22",
        "background tcsetpgrp, SIGTTOU blocked: ok, in front: yes",
        "in front again: yes",
        "background write without TOSTOP",
        "background writer with TOSTOP: stopped by 22",
        "background write with TOSTOP, SIGTTOU ignored",
        "tcsetpgrp(-1): EINVAL",
        "tcsetpgrp(reaped pid): ESRCH",
        "new session: tcgetpgrp ENOTTY, tcsetpgrp ENOTTY, /dev/tty ENXIO, TIOCNOTTY ENOTTY",
        "tcsetpgrp(another session): EPERM",
        "/dev/tty with a controlling terminal: opened",
        "^C in the foreground job: killed by 2",
        "^Z in the foreground job: stopped by 20",
        "done\n[exit 0]",
    ] {
        assert!(text.contains(line), "missing {line:?} in {out}");
    }
    assert!(!text.contains("should not show"), "{out}");
}

/// An interactive busybox shell: a job stopped with ^Z, resumed with `fg`
/// and interrupted with ^C, another stopped and killed from the prompt.
/// Each key waits for output that shows the shell is ready for it, and
/// nothing may depend on how fast a process dies.
#[test]
fn an_interactive_shell_stops_resumes_and_interrupts_jobs() {
    let keys = [
        (
            "# ",
            "sh -c 'echo st''arted; sleep 1; echo wa''iting; sleep 30'\\n",
        ),
        ("started", "^Z"),
        ("Stopped", ""),
        ("# ", "fg\\n"),
        ("waiting", "^C"),
        ("# ", "sh -c 'echo st''arted; sleep 30'\\n"),
        ("started", "^Z"),
        ("Stopped", ""),
        // The shell reports the killed job before its next prompt, if the
        // job is gone by then: the sleep makes sure it is, natively too.
        ("# ", "kill -9 %1; sleep 1\\n"),
        ("# ", "echo ne''xt\\n"),
        ("next", ""),
        ("# ", "exit\\n"),
    ];
    let out = same_on_a_terminal(&keys, &["/bin/busybox", "sh", "-i"]);
    let text = out.stdout_text();
    for line in [
        "^Z[1]+  Stopped                    sh -c \"echo st\"\"arted; sleep 1; echo wa\"\"iting; sleep 30\"",
        "waiting\n^C\n",
        "[1]+  Killed                     sh -c \"echo st\"\"arted; sleep 30\"",
        "[exit 0]",
    ] {
        assert!(text.contains(line), "missing {line:?} in {out}");
    }
}

/// `busybox sh -i` on a pty, typing `keys`, with `$G` the guest
/// `stop_and_read` and `$R` empty natively and `rvisor run --platform P
/// --` for each platform: the shell's job is then the guest itself or
/// rvisor running it. The shell shows the job as `${R} ${G}` either way,
/// so the transcripts must match exactly. Returns the native one.
fn same_as_a_host_shell_job(keys: &[(&str, &str)]) -> Outcome {
    let mut args: Vec<OsString> = Vec::new();
    for (trigger, key) in keys {
        args.push(trigger.into());
        args.push(key.into());
    }
    args.extend(["--", "/bin/busybox", "sh", "-i"].map(OsString::from));
    let shell = |wrapper: String| {
        Run::new(guest("pty_run"))
            .args(args.clone())
            .env("G", guest("stop_and_read"))
            .env("R", wrapper)
    };
    let native = shell(String::new()).native();
    for platform in available_platforms() {
        let wrapper = format!("{} run --platform {platform} --", path(rvisor_binary()));
        let sandboxed = shell(wrapper).native();
        assert_same(
            &native,
            &sandboxed,
            &format!("a host shell's job, --platform {platform}"),
        );
    }
    native
}

/// rvisor as the job of an interactive host shell behaves as the program
/// it runs: ^Z stops it and gives the shell the terminal back, `fg`
/// continues it (its SIGCONT handler runs, its read of the terminal goes
/// on in the foreground), `kill %1` ends it once continued, and ^C kills
/// it with SIGINT as the shell sees it. After `bg` its read of the
/// terminal stops it with SIGTTIN, on the host.
#[test]
fn rvisor_stops_and_continues_as_a_host_shell_job() {
    let keys = [
        ("# ", "$R $G\\n"),
        ("reading a line\r\n", "^Z"),
        ("Stopped", ""),
        ("# ", "fg\\n"),
        ("continued", "go\\n"),
        ("in front", ""),
        ("# ", "$R $G\\n"),
        ("reading a line\r\n", "^Z"),
        ("Stopped", ""),
        ("# ", "bg; sleep 1; jobs\\n"),
        ("Stopped (tty input)", ""),
        ("# ", "fg\\n"),
        ("continued", "again\\n"),
        ("in front", ""),
        ("# ", "$R $G\\n"),
        ("reading a line\r\n", "^Z"),
        ("Stopped", ""),
        ("# ", "kill %1\\n"),
        ("# ", "fg\\n"),
        ("# ", "echo st''atus $?\\n"),
        ("status", ""),
        ("# ", "$R $G\\n"),
        ("reading a line\r\n", "^C"),
        ("# ", "echo st''atus $?\\n"),
        ("status", ""),
        ("# ", "exit\\n"),
    ];
    let out = same_as_a_host_shell_job(&keys);
    let text = out.stdout_text();
    for line in [
        "reading a line\n^Z[1]+  Stopped                    ${R} ${G}\n",
        "fg\n${R} ${G}\ncontinued\ngo\ngot go\nin front: yes\n",
        "bg; sleep 1; jobs\n[1] ${R} ${G}\ncontinued\n[1]+  Stopped (tty input)        ${R} ${G}\n",
        "fg\n${R} ${G}\ncontinued\nagain\ngot again\nin front: yes\n",
        "fg\n${R} ${G}\nTerminated\n",
        "status 143\n",
        "reading a line\n^C\n",
        "status 130\n",
        "[exit 0]",
    ] {
        assert!(text.contains(line), "missing {line:?} in {out}");
    }
}
