//! What /proc sees of a pid through the table: the process a pid (or a
//! thread's id) belongs to, its ids and job state, and its threads.

use std::sync::Arc;

use super::ProcessTable;
use crate::kernel::thread_group::ThreadGroup;

/// A process as the table knows it.
pub struct ProcEntry {
    pub tgid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// Exited, not yet reaped.
    pub zombie: bool,
    /// Stopped by a job-control signal.
    pub stopped: bool,
    pub group: Option<Arc<ThreadGroup>>,
}

impl ProcessTable {
    /// The process `pid` names: a process's id, or any of its threads'.
    pub fn entry(&self, pid: i32) -> Option<ProcEntry> {
        let g = self.lock();
        let tgid = match g.1.contains_key(&pid) {
            true => pid,
            false => self.threads().get(&pid)?.0,
        };
        let p = g.1.get(&tgid)?;
        Some(ProcEntry {
            tgid,
            ppid: p.ppid,
            pgid: p.pgid,
            sid: p.sid,
            zombie: p.zombie.is_some(),
            stopped: p.job.stopped,
            group: self.groups().get(&tgid).cloned(),
        })
    }

    /// Every process, zombies included (as /proc lists them), ascending.
    pub fn all_pids(&self) -> Vec<i32> {
        self.lock().1.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::published::ThreadPublished;
    use crate::kernel::ExitStatus;

    #[test]
    fn threads_name_their_process_and_zombies_stay_until_reaped() {
        let t = ProcessTable::new(8);
        let init = t.add(0, Arc::default(), 0).unwrap();
        let child = t.add(init, Arc::default(), 0).unwrap();
        let group = ThreadGroup::new(child, Arc::default(), ThreadPublished::new(0, b"c"));
        t.set_group(child, group);
        let tid = t.add_thread(child, Arc::default()).unwrap();
        let e = t.entry(tid).unwrap();
        assert_eq!((e.tgid, e.ppid, e.pgid, e.sid), (child, init, init, init));
        assert!(e.group.is_some() && !e.zombie);
        t.remove_thread(tid);
        assert!(t.entry(tid).is_none());
        t.exit(child, ExitStatus::Exited(0));
        let e = t.entry(child).unwrap();
        assert!(
            e.zombie && e.group.is_some(),
            "a zombie keeps its threads' facts"
        );
        assert_eq!(t.all_pids(), [init, child]);
        t.reap(init, child).unwrap();
        assert!(t.entry(child).is_none());
        assert_eq!(t.all_pids(), [init]);
    }
}
