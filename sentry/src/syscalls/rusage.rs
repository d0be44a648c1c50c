//! getrusage: what the calling thread, its process or the process's
//! reaped children have used (`kernel/rusage.rs` says how it is counted).

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[(libc::SYS_getrusage, sys_getrusage)];

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;

fn sys_getrusage(task: &mut Task, a: [u64; 6]) -> SysResult {
    let rss_kb = || task.mm.lock().resident() / 1024;
    let usage = match a[0] as i32 {
        RUSAGE_THREAD => {
            let mut u = task.usage();
            u.maxrss_kb = rss_kb();
            u
        }
        // The process's ended threads and this one (its other live threads'
        // share is counted when they end).
        RUSAGE_SELF => {
            let mut u = task.group.ended_threads_usage();
            let mut mine = task.usage();
            mine.maxrss_kb = rss_kb();
            u += mine;
            u
        }
        RUSAGE_CHILDREN => task.group.children_usage(),
        _ => return Err(Errno::EINVAL),
    };
    task.mm.write_val(a[1], &usage.to_guest())?;
    Ok(0)
}
