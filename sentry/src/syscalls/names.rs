//! System-call names by number, for logs and `--strace`.

/// The name of x86-64 system call `nr`.
pub fn name(nr: u64) -> Option<&'static str> {
    Some(match nr as i64 {
        libc::SYS_read => "read",
        libc::SYS_write => "write",
        libc::SYS_exit => "exit",
        libc::SYS_exit_group => "exit_group",
        _ => return None,
    })
}
