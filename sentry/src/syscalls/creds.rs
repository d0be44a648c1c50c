//! Changing user and group ids: setuid, setreuid, setresuid, setfsuid and
//! their group forms, with Linux's rules for who may set what (an
//! effective uid of 0 stands for CAP_SETUID/CAP_SETGID). The ids are the
//! sandbox's own; nothing here changes the host's.

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::task::Credentials;
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_setuid, sys_setuid),
    (libc::SYS_setgid, sys_setgid),
    (libc::SYS_setreuid, sys_setreuid),
    (libc::SYS_setregid, sys_setregid),
    (libc::SYS_setresuid, sys_setresuid),
    (libc::SYS_setresgid, sys_setresgid),
    (libc::SYS_setfsuid, sys_setfsuid),
    (libc::SYS_setfsgid, sys_setfsgid),
];

/// -1: "leave this id as it is" (and never a valid id).
const UNCHANGED: u32 = u32::MAX;

/// One kind of id of a task: real, effective, saved, file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ids {
    real: u32,
    effective: u32,
    saved: u32,
    fs: u32,
}

impl Ids {
    fn holds(&self, id: u32) -> bool {
        id == self.real || id == self.effective || id == self.saved
    }
}

#[derive(Clone, Copy)]
enum Kind {
    User,
    Group,
}

fn get(c: &Credentials, kind: Kind) -> Ids {
    match kind {
        Kind::User => Ids {
            real: c.uid,
            effective: c.euid,
            saved: c.suid,
            fs: c.fsuid,
        },
        Kind::Group => Ids {
            real: c.gid,
            effective: c.egid,
            saved: c.sgid,
            fs: c.fsgid,
        },
    }
}

fn put(c: &mut Credentials, kind: Kind, ids: Ids) {
    match kind {
        Kind::User => {
            (c.uid, c.euid, c.suid, c.fsuid) = (ids.real, ids.effective, ids.saved, ids.fs);
        }
        Kind::Group => {
            (c.gid, c.egid, c.sgid, c.fsgid) = (ids.real, ids.effective, ids.saved, ids.fs);
        }
    }
}

/// setuid/setgid: with the capability every id but the file-system one
/// follows; without it, only the effective (and file-system) id may be
/// set, to the real or saved one.
fn set_one(old: Ids, privileged: bool, id: u32) -> Result<Ids, Errno> {
    if id == UNCHANGED {
        return Err(Errno::EINVAL);
    }
    if privileged {
        return Ok(Ids {
            real: id,
            effective: id,
            saved: id,
            fs: id,
        });
    }
    if id != old.real && id != old.saved {
        return Err(Errno::EPERM);
    }
    Ok(Ids {
        effective: id,
        fs: id,
        ..old
    })
}

/// setreuid/setregid: the real id may become the effective one, the
/// effective id any of the three; the saved id follows the new effective
/// one when the real id is set or the effective one moves off the real.
fn set_real_effective(old: Ids, privileged: bool, real: u32, effective: u32) -> Result<Ids, Errno> {
    let mut new = old;
    if real != UNCHANGED {
        if !privileged && real != old.real && real != old.effective {
            return Err(Errno::EPERM);
        }
        new.real = real;
    }
    if effective != UNCHANGED {
        if !privileged && !old.holds(effective) {
            return Err(Errno::EPERM);
        }
        new.effective = effective;
    }
    if real != UNCHANGED || (effective != UNCHANGED && effective != old.real) {
        new.saved = new.effective;
    }
    new.fs = new.effective;
    Ok(new)
}

/// setresuid/setresgid: without the capability each id may only become
/// one of the three current ones.
fn set_three(old: Ids, privileged: bool, ids: [u32; 3]) -> Result<Ids, Errno> {
    if !privileged && ids.iter().any(|&id| id != UNCHANGED && !old.holds(id)) {
        return Err(Errno::EPERM);
    }
    let pick = |id: u32, current: u32| if id == UNCHANGED { current } else { id };
    let effective = pick(ids[1], old.effective);
    Ok(Ids {
        real: pick(ids[0], old.real),
        effective,
        saved: pick(ids[2], old.saved),
        fs: effective,
    })
}

/// setfsuid/setfsgid: always the old file-system id; the new one is taken
/// if it is one of the task's ids or the caller is privileged.
fn set_fs(old: Ids, privileged: bool, id: u32) -> (Ids, u32) {
    let allowed = id != UNCHANGED && (privileged || old.holds(id) || id == old.fs);
    let new = if allowed { Ids { fs: id, ..old } } else { old };
    (new, old.fs)
}

fn privileged(task: &Task) -> bool {
    task.creds.euid == 0
}

fn change(
    task: &mut Task,
    kind: Kind,
    f: impl FnOnce(Ids, bool) -> Result<Ids, Errno>,
) -> SysResult {
    let new = f(get(&task.creds, kind), privileged(task))?;
    put(&mut task.creds, kind, new);
    // /proc and other processes' permission checks see the new ids.
    task.publish_facts();
    Ok(0)
}

fn id_arg(a: u64) -> u32 {
    a as u32
}

fn sys_setuid(task: &mut Task, a: [u64; 6]) -> SysResult {
    change(task, Kind::User, |old, p| set_one(old, p, id_arg(a[0])))
}

fn sys_setgid(task: &mut Task, a: [u64; 6]) -> SysResult {
    change(task, Kind::Group, |old, p| set_one(old, p, id_arg(a[0])))
}

fn sys_setreuid(task: &mut Task, a: [u64; 6]) -> SysResult {
    change(task, Kind::User, |old, p| {
        set_real_effective(old, p, id_arg(a[0]), id_arg(a[1]))
    })
}

fn sys_setregid(task: &mut Task, a: [u64; 6]) -> SysResult {
    change(task, Kind::Group, |old, p| {
        set_real_effective(old, p, id_arg(a[0]), id_arg(a[1]))
    })
}

fn sys_setresuid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let ids = [id_arg(a[0]), id_arg(a[1]), id_arg(a[2])];
    change(task, Kind::User, |old, p| set_three(old, p, ids))
}

fn sys_setresgid(task: &mut Task, a: [u64; 6]) -> SysResult {
    let ids = [id_arg(a[0]), id_arg(a[1]), id_arg(a[2])];
    change(task, Kind::Group, |old, p| set_three(old, p, ids))
}

fn set_fs_id(task: &mut Task, kind: Kind, id: u32) -> SysResult {
    let (new, old_fs) = set_fs(get(&task.creds, kind), privileged(task), id);
    put(&mut task.creds, kind, new);
    task.publish_facts();
    Ok(u64::from(old_fs))
}

fn sys_setfsuid(task: &mut Task, a: [u64; 6]) -> SysResult {
    set_fs_id(task, Kind::User, id_arg(a[0]))
}

fn sys_setfsgid(task: &mut Task, a: [u64; 6]) -> SysResult {
    set_fs_id(task, Kind::Group, id_arg(a[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(real: u32, effective: u32, saved: u32) -> Ids {
        Ids {
            real,
            effective,
            saved,
            fs: effective,
        }
    }

    #[test]
    fn setuid_as_root_sets_all_and_unprivileged_only_back_to_real_or_saved() {
        assert_eq!(set_one(ids(0, 0, 0), true, 1000), Ok(ids(1000, 1000, 1000)));
        assert_eq!(
            set_one(ids(1000, 0, 0), false, 1000),
            Ok(ids(1000, 1000, 0))
        );
        assert_eq!(set_one(ids(1000, 1000, 0), false, 0), Ok(ids(1000, 0, 0)));
        assert_eq!(set_one(ids(1000, 1000, 1000), false, 0), Err(Errno::EPERM));
        assert_eq!(set_one(ids(0, 0, 0), true, UNCHANGED), Err(Errno::EINVAL));
    }

    #[test]
    fn setreuid_moves_the_saved_id_with_the_effective_one() {
        // Swapping real and effective (a classic way to drop privilege
        // temporarily) saves the new effective id.
        assert_eq!(
            set_real_effective(ids(1000, 0, 0), false, 0, 1000),
            Ok(ids(0, 1000, 1000))
        );
        // Only the effective id, set to the real one: saved unchanged.
        assert_eq!(
            set_real_effective(ids(1000, 0, 0), false, UNCHANGED, 1000),
            Ok(ids(1000, 1000, 0))
        );
        assert_eq!(
            set_real_effective(ids(1000, 1000, 1000), false, 5, UNCHANGED),
            Err(Errno::EPERM)
        );
    }

    #[test]
    fn setresuid_keeps_unprivileged_callers_to_their_ids() {
        assert_eq!(
            set_three(ids(1000, 2000, 3000), false, [3000, 1000, UNCHANGED]),
            Ok(ids(3000, 1000, 3000))
        );
        assert_eq!(
            set_three(ids(1000, 2000, 3000), false, [4000, UNCHANGED, UNCHANGED]),
            Err(Errno::EPERM)
        );
        assert_eq!(set_three(ids(0, 0, 0), true, [1, 2, 3]), Ok(ids(1, 2, 3)));
    }

    #[test]
    fn setfsuid_returns_the_old_id_and_refuses_silently() {
        let (new, old) = set_fs(ids(1000, 1000, 1000), false, 0);
        assert_eq!((new.fs, old), (1000, 1000));
        let (new, old) = set_fs(ids(1000, 1000, 1000), true, 0);
        assert_eq!((new.fs, old), (0, 1000));
        let (new, _) = set_fs(ids(0, 0, 0), true, UNCHANGED);
        assert_eq!(new.fs, 0);
    }
}
