//! `--strace`: one line per guest system call on stderr.

use crate::errno::SysResult;
use crate::kernel::Task;

use super::names;

pub fn print(task: &mut Task, nr: u64, args: [u64; 6], result: SysResult) {
    let name = names::name(nr)
        .map(str::to_string)
        .unwrap_or_else(|| format!("syscall_{nr}"));
    let ret = match result {
        Ok(v) => format!("{}", v as i64),
        Err(e) => format!("-1 {}", e.name()),
    };
    eprintln!(
        "[{}] {name}({:#x}, {:#x}, {:#x}) = {ret}",
        task.tid, args[0], args[1], args[2]
    );
}
