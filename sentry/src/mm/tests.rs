//! Memory-manager behaviour against a recording fake platform.

use std::any::Any;
use std::sync::{Arc, Mutex};

use vmm::{Access, AddressSpace, FileRange, MemoryFile, PAGE_SIZE};

use super::*;

/// Records what the memory manager mirrors into the platform.
#[derive(Clone, Default)]
pub(super) struct Recorder {
    pub(super) ops: Arc<Mutex<Vec<String>>>,
}

impl AddressSpace for Recorder {
    fn map_file(&self, addr: u64, range: FileRange, perms: Access) -> vmm::Result<()> {
        self.ops
            .lock()
            .unwrap()
            .push(format!("map {addr:#x}+{:#x} {perms:?}", range.len));
        Ok(())
    }
    fn unmap(&self, addr: u64, len: u64) -> vmm::Result<()> {
        self.ops
            .lock()
            .unwrap()
            .push(format!("unmap {addr:#x}+{len:#x}"));
        Ok(())
    }
    fn spawn_thread(&self) -> vmm::Result<Box<dyn vmm::ThreadSeed>> {
        Err(vmm::PlatformError::Protocol(
            "no threads in this test".into(),
        ))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub(super) const RW: Access = Access::READ.union(Access::WRITE);

pub(super) fn mm() -> (MemoryManager, Recorder) {
    let rec = Recorder::default();
    let mf = Arc::new(MemoryFile::new(256 << 20).unwrap());
    let layout = Layout::for_max_address(0x7fff_ffff_0000);
    (MemoryManager::new(mf, Box::new(rec.clone()), layout), rec)
}

#[test]
fn copy_round_trips_and_backs_lazily() {
    let (mut mm, rec) = mm();
    let a = mm
        .map_anon(Placement::Hint(0), 3 * PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    assert!(
        rec.ops.lock().unwrap().is_empty(),
        "mmap alone backs nothing"
    );
    mm.copy_out(a + PAGE_SIZE - 2, b"straddle").unwrap();
    let mut buf = [0u8; 8];
    mm.copy_in(a + PAGE_SIZE - 2, &mut buf).unwrap();
    assert_eq!(&buf, b"straddle");
    assert_eq!(
        rec.ops.lock().unwrap().len(),
        1,
        "one mapping covers the window"
    );
}

#[test]
fn bad_pointers_are_efault() {
    let (mut mm, _) = mm();
    let mut buf = [0u8; 4];
    assert_eq!(mm.copy_in(0x1000, &mut buf), Err(Errno::EFAULT));
    let a = mm
        .map_anon(Placement::Hint(0), PAGE_SIZE, Access::READ, VmaKind::Anon)
        .unwrap();
    assert_eq!(mm.copy_out(a, b"x"), Err(Errno::EFAULT), "read-only memory");
    assert_eq!(
        mm.copy_in(a + PAGE_SIZE - 2, &mut buf),
        Err(Errno::EFAULT),
        "runs off the end"
    );
    assert_eq!(
        mm.copy_in(u64::MAX - 1, &mut buf),
        Err(Errno::EFAULT),
        "wraps around"
    );
    let b = mm
        .map_anon(Placement::Hint(0), PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    mm.copy_out(b, &[b'a'; 16]).unwrap();
    assert_eq!(mm.read_cstring(b, 16), Err(Errno::ENAMETOOLONG));
    assert_eq!(mm.read_cstring(b + 8, 16), Ok(vec![b'a'; 8]));
}

#[test]
fn faults_resolve_inside_vmas_only() {
    let (mut mm, _) = mm();
    let a = mm
        .map_anon(
            Placement::Hint(0),
            4 * PAGE_SIZE,
            Access::READ,
            VmaKind::Anon,
        )
        .unwrap();
    assert_eq!(mm.handle_fault(a + 5, Access::READ), Ok(()));
    // Backed and mirrored, so a second fault there is a permission problem
    // (or a mapping not mirrored yet: the caller retries once).
    assert_eq!(
        mm.handle_fault(a + 5, Access::READ),
        Err(FaultError::AlreadyBacked)
    );
    assert_eq!(
        mm.handle_fault(a, Access::WRITE),
        Err(FaultError::Protection)
    );
    assert_eq!(
        mm.handle_fault(a + 4 * PAGE_SIZE, Access::READ),
        Err(FaultError::Unmapped)
    );
}

#[test]
fn unmap_and_discard_give_zeroes_back() {
    let (mut mm, _) = mm();
    let a = mm
        .map_anon(Placement::Hint(0), 2 * PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    mm.copy_out(a, b"data").unwrap();
    mm.discard(a, PAGE_SIZE).unwrap();
    let mut buf = [1u8; 4];
    mm.copy_in(a, &mut buf).unwrap();
    assert_eq!(buf, [0; 4]);
    mm.unmap(a, PAGE_SIZE).unwrap();
    assert_eq!(mm.copy_in(a, &mut buf), Err(Errno::EFAULT));
    assert!(mm.copy_in(a + PAGE_SIZE, &mut buf).is_ok());
}

#[test]
fn protect_remirrors_backed_pages() {
    let (mut mm, rec) = mm();
    let a = mm
        .map_anon(Placement::Hint(0), 2 * PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    mm.copy_out(a, b"x").unwrap();
    rec.ops.lock().unwrap().clear();
    mm.protect(a, PAGE_SIZE, Access::empty()).unwrap();
    mm.protect(a + PAGE_SIZE, PAGE_SIZE, Access::READ).unwrap();
    let ops = rec.ops.lock().unwrap().clone();
    assert_eq!(
        ops,
        vec![
            format!("unmap {a:#x}+0x1000"),
            format!("map {:#x}+0x1000 Access(READ)", a + PAGE_SIZE)
        ]
    );
    assert_eq!(
        mm.protect(a, 3 * PAGE_SIZE, RW),
        Err(Errno::ENOMEM),
        "range not fully mapped"
    );
}

#[test]
fn remap_moves_contents() {
    let (mut mm, _) = mm();
    let a = mm
        .map_anon(Placement::Hint(0), PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    // Block growth in place.
    mm.map_anon(
        Placement::FixedNoReplace(a + PAGE_SIZE),
        PAGE_SIZE,
        RW,
        VmaKind::Anon,
    )
    .unwrap();
    mm.copy_out(a, b"moving").unwrap();
    assert_eq!(
        mm.remap(a, PAGE_SIZE, 4 * PAGE_SIZE, false, None),
        Err(Errno::ENOMEM)
    );
    let b = mm.remap(a, PAGE_SIZE, 4 * PAGE_SIZE, true, None).unwrap();
    assert_ne!(a, b);
    let mut buf = [0u8; 6];
    mm.copy_in(b, &mut buf).unwrap();
    assert_eq!(&buf, b"moving");
    assert_eq!(mm.copy_in(a, &mut buf), Err(Errno::EFAULT));
    mm.copy_out(b + 3 * PAGE_SIZE, b"grown").unwrap();
}

#[test]
fn brk_grows_and_shrinks() {
    let (mut mm, _) = mm();
    mm.set_brk_start(0x60_0000);
    assert_eq!(mm.set_brk(0), 0x60_0000, "query");
    assert_eq!(mm.set_brk(0x60_2000), 0x60_2000);
    mm.copy_out(0x60_1ff0, b"heap").unwrap();
    assert_eq!(mm.set_brk(0x60_1000), 0x60_1000);
    let mut buf = [0u8; 4];
    assert_eq!(mm.copy_in(0x60_1ff0, &mut buf), Err(Errno::EFAULT));
    assert_eq!(mm.set_brk(0x10), 0x60_1000, "below the start is refused");
}

#[test]
fn stack_grows_down_within_its_limit() {
    let (mut mm, _) = mm();
    let top = mm.layout().stack_top;
    mm.map_anon(
        Placement::Fixed(top - 16 * PAGE_SIZE),
        16 * PAGE_SIZE,
        RW,
        VmaKind::Stack,
    )
    .unwrap();
    assert_eq!(mm.handle_fault(top - 64 * PAGE_SIZE, Access::WRITE), Ok(()));
    mm.copy_out(top - 100 * PAGE_SIZE, b"deep").unwrap();
    assert_eq!(
        mm.handle_fault(top - STACK_LIMIT - PAGE_SIZE, Access::WRITE),
        Err(FaultError::Unmapped)
    );
}

/// A child of `parent` over a fresh recording address space.
pub(super) fn fork(parent: &mut MemoryManager) -> (MemoryManager, Recorder) {
    let rec = Recorder::default();
    let forked = parent.fork_share(&[]).unwrap();
    let child = MemoryManager::from_fork(forked, Box::new(rec.clone())).unwrap();
    (child, rec)
}

pub(super) fn read(mm: &mut MemoryManager, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    mm.copy_in(addr, &mut buf).unwrap();
    buf
}

/// A parent with `pages` pages of RW memory holding "page N" on each page.
fn filled_parent(pages: u64) -> (MemoryManager, Recorder, u64) {
    let (mut mm, rec) = mm();
    let a = mm
        .map_anon(Placement::Hint(0), pages * PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    for i in 0..pages {
        mm.copy_out(a + i * PAGE_SIZE, format!("page {i:03}").as_bytes())
            .unwrap();
    }
    (mm, rec, a)
}

#[test]
fn fork_shares_pages_read_only_on_both_sides() {
    let (mut parent, prec, a) = filled_parent(4);
    let used = parent.mf.used();
    prec.ops.lock().unwrap().clear();
    let (mut child, crec) = fork(&mut parent);
    assert_eq!(parent.mf.used(), used, "nothing is copied at fork");
    assert_eq!(
        prec.ops.lock().unwrap().clone(),
        vec![format!("map {a:#x}+0x4000 Access(READ)")],
        "the parent's writable mapping is narrowed"
    );
    assert_eq!(
        crec.ops.lock().unwrap().clone(),
        vec![format!("map {a:#x}+0x4000 Access(READ)")]
    );
    assert_eq!(read(&mut child, a + 2 * PAGE_SIZE, 8), b"page 002");
}

#[test]
fn a_write_fault_copies_the_window_and_the_other_side_keeps_its_data() {
    let (mut parent, _, a) = filled_parent(32);
    let (mut child, crec) = fork(&mut parent);
    let used = parent.mf.used();
    crec.ops.lock().unwrap().clear();
    // ptrace reports a write as a read: both break the sharing.
    for access in [Access::WRITE, Access::READ] {
        let at = a + if access == Access::WRITE { 0 } else { 16 } * PAGE_SIZE;
        assert_eq!(child.handle_fault(at + 8, access), Ok(()));
        // Now writable: a second fault there is an ordinary retry.
        assert_eq!(
            child.handle_fault(at + 8, access),
            Err(FaultError::AlreadyBacked)
        );
    }
    assert_eq!(parent.mf.used(), used + 2 * COW_CHUNK);
    assert_eq!(
        crec.ops.lock().unwrap().clone(),
        vec![
            format!("map {a:#x}+0x10000 Access(READ | WRITE)"),
            format!("map {:#x}+0x10000 Access(READ | WRITE)", a + 16 * PAGE_SIZE)
        ]
    );
    // The copy is the child's: writes to it do not reach the parent.
    child.copy_out(a, b"child").unwrap();
    assert_eq!(read(&mut child, a + 5 * PAGE_SIZE, 8), b"page 005");
    assert_eq!(read(&mut parent, a, 8), b"page 000");
}

#[test]
fn a_sentry_write_breaks_the_sharing_first() {
    let (mut parent, _, a) = filled_parent(4);
    let (mut child, _) = fork(&mut parent);
    parent.copy_out(a + PAGE_SIZE, b"PARENT").unwrap();
    child.zero(a + 3 * PAGE_SIZE, 4).unwrap();
    assert_eq!(read(&mut child, a + PAGE_SIZE, 8), b"page 001");
    assert_eq!(read(&mut parent, a + PAGE_SIZE, 8), b"PARENT01");
    assert_eq!(read(&mut parent, a + 3 * PAGE_SIZE, 8), b"page 003");
    assert_eq!(read(&mut child, a + 3 * PAGE_SIZE, 8), b"\0\0\0\0 003");
}

#[test]
fn the_last_owner_takes_its_pages_back_without_copying() {
    let (mut parent, prec, a) = filled_parent(4);
    let (child, _) = fork(&mut parent);
    drop(child);
    let used = parent.mf.used();
    prec.ops.lock().unwrap().clear();
    assert_eq!(parent.handle_fault(a, Access::WRITE), Ok(()));
    assert_eq!(parent.mf.used(), used, "no copy");
    assert_eq!(
        prec.ops.lock().unwrap().clone(),
        vec![format!("map {a:#x}+0x4000 Access(READ | WRITE)")]
    );
    parent.copy_out(a, b"mine").unwrap();
    assert_eq!(read(&mut parent, a, 8), b"mine 000");
}

#[test]
fn partial_unmaps_of_shared_memory_free_only_unowned_pages() {
    let (mut parent, _, a) = filled_parent(8);
    let mf = parent.mf.clone();
    let used = mf.used();
    let (mut child, _) = fork(&mut parent);
    parent.unmap(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
    child.discard(a + 3 * PAGE_SIZE, 2 * PAGE_SIZE).unwrap();
    assert_eq!(mf.used(), used - PAGE_SIZE, "page 3: both let go");
    assert_eq!(read(&mut child, a + 2 * PAGE_SIZE, 8), b"page 002");
    assert_eq!(read(&mut parent, a + 4 * PAGE_SIZE, 8), b"page 004");
    // mremap moves shared pages with their sharing.
    let b = parent
        .remap(
            a + 4 * PAGE_SIZE,
            4 * PAGE_SIZE,
            8 * PAGE_SIZE,
            true,
            Some(0x7000_0000),
        )
        .unwrap();
    parent.copy_out(b + PAGE_SIZE, b"moved").unwrap();
    assert_eq!(read(&mut child, a + 5 * PAGE_SIZE, 8), b"page 005");
    assert_eq!(read(&mut parent, b + PAGE_SIZE, 8), b"moved005");
    drop(child);
    drop(parent);
    assert_eq!(mf.used(), 0, "everything is freed with its last owner");
}

#[test]
fn forks_of_forks_share_three_ways() {
    let (mut parent, _, a) = filled_parent(2);
    let mf = parent.mf.clone();
    let (mut child, _) = fork(&mut parent);
    let (mut grandchild, _) = fork(&mut child);
    child.copy_out(a, b"child").unwrap();
    grandchild.copy_out(a + PAGE_SIZE, b"grand").unwrap();
    assert_eq!(read(&mut parent, a, 8), b"page 000");
    assert_eq!(read(&mut grandchild, a, 8), b"page 000");
    assert_eq!(read(&mut child, a + PAGE_SIZE, 8), b"page 001");
    assert_eq!(read(&mut parent, a + PAGE_SIZE, 8), b"page 001");
    drop(parent);
    drop(grandchild);
    drop(child);
    assert_eq!(mf.used(), 0);
}

#[test]
fn fork_copies_the_hot_window_for_the_child() {
    let (mut parent, prec) = mm();
    let a = parent
        .map_anon(
            Placement::Hint(0),
            4 * COW_CHUNK,
            Access::READ | Access::WRITE,
            VmaKind::Anon,
        )
        .unwrap();
    parent.copy_out(a, &[7u8; 16]).unwrap();
    parent.copy_out(a + 2 * COW_CHUNK, &[9u8; 16]).unwrap();
    prec.ops.lock().unwrap().clear();
    let used = parent.mf.used();
    let forked = parent.fork_share(&[a + 5, a + 6]).unwrap();
    // The parent's window around the hot address stays its own and is not
    // remapped; the rest is shared.
    assert!(!parent.pmas.pieces(a, a + 1)[0].cow);
    assert!(parent.pmas.pieces(a + 2 * COW_CHUNK, a + 2 * COW_CHUNK + 1)[0].cow);
    assert!(prec
        .ops
        .lock()
        .unwrap()
        .iter()
        .all(|op| !op.starts_with(&format!("map {a:#x}+"))));
    assert_eq!(parent.mf.used(), used + COW_CHUNK, "one copy");
    let mut child = MemoryManager::from_fork(forked, Box::new(Recorder::default())).unwrap();
    // The child holds a copy there: writable, its own.
    assert!(!child.pmas.pieces(a, a + 1)[0].cow);
    assert!(child.pmas.pieces(a + 2 * COW_CHUNK, a + 2 * COW_CHUNK + 1)[0].cow);
    let mut seen = [0u8; 16];
    child.peek(a, &mut seen).unwrap();
    assert_eq!(seen, [7u8; 16]);
    child.copy_out(a, &[1u8; 16]).unwrap();
    parent.peek(a, &mut seen).unwrap();
    assert_eq!(seen, [7u8; 16], "the parent does not see the child's write");
    drop(child);
    assert_eq!(parent.mf.used(), used);
}

#[test]
fn shared_memory_stays_shared_across_fork_and_keeps_data_on_dontneed() {
    let (mut parent, _rec) = mm();
    let a = parent
        .map_anon(
            Placement::Hint(0),
            4 * PAGE_SIZE,
            Access::READ | Access::WRITE,
            VmaKind::Shared,
        )
        .unwrap();
    parent.copy_out(a, b"before").unwrap();
    let forked = parent.fork_share(&[]).unwrap();
    let mut child = MemoryManager::from_fork(forked, Box::new(Recorder::default())).unwrap();
    assert!(!parent.pmas.pieces(a, a + 1)[0].cow, "not copy-on-write");
    child.copy_out(a, b"child!").unwrap();
    let mut seen = [0u8; 6];
    parent.peek(a, &mut seen).unwrap();
    assert_eq!(&seen, b"child!", "the parent sees the child's write");
    assert_eq!(
        parent.shared_offset(a + 2),
        child.shared_offset(a + 2),
        "both name the same futex"
    );
    parent.discard(a, PAGE_SIZE).unwrap();
    parent.peek(a, &mut seen).unwrap();
    assert_eq!(&seen, b"child!", "MADV_DONTNEED keeps shared contents");
}

#[test]
fn host_transfer_moves_bytes_between_guest_memory_and_a_host_pipe() {
    use std::os::fd::AsFd;
    let (mut mm, _rec) = mm();
    let a = mm
        .map_anon(Placement::Hint(0), 2 * PAGE_SIZE, RW, VmaKind::Anon)
        .unwrap();
    mm.copy_out(a + PAGE_SIZE - 3, b"across").unwrap();
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
    let sent = mm.host_transfer(a + PAGE_SIZE - 3, 6, Access::READ, |mf, pieces| {
        mf.write_to_fd(w.as_fd(), pieces)
    });
    assert_eq!(sent, Ok(6));
    // Into the other page of the mapping; the pipe then holds less than
    // asked for, so the transfer stops short, as a read does.
    let got = mm.host_transfer(a + 8, 100, Access::WRITE, |mf, pieces| {
        mf.read_from_fd(r.as_fd(), pieces)
    });
    assert_eq!(got, Ok(6));
    let mut seen = [0u8; 6];
    mm.copy_in(a + 8, &mut seen).unwrap();
    assert_eq!(&seen, b"across");
    // Nothing left: the host's EAGAIN is the answer; an unmapped buffer
    // is EFAULT before the host is asked.
    let empty = mm.host_transfer(a, 1, Access::WRITE, |mf, pieces| {
        mf.read_from_fd(r.as_fd(), pieces)
    });
    assert_eq!(empty, Err(Errno::EAGAIN));
    let unmapped = mm.host_transfer(a + 2 * PAGE_SIZE, 1, Access::READ, |mf, pieces| {
        mf.write_to_fd(w.as_fd(), pieces)
    });
    assert_eq!(unmapped, Err(Errno::EFAULT));
}

/// An address space that notes how much of the memory file is in use each
/// time something is unmapped from it.
struct UsageAtUnmap {
    mf: Arc<MemoryFile>,
    seen: Arc<Mutex<Vec<u64>>>,
}

impl AddressSpace for UsageAtUnmap {
    fn map_file(&self, _addr: u64, _range: FileRange, _perms: Access) -> vmm::Result<()> {
        Ok(())
    }
    fn unmap(&self, _addr: u64, _len: u64) -> vmm::Result<()> {
        self.seen.lock().unwrap().push(self.mf.used());
        Ok(())
    }
    fn spawn_thread(&self) -> vmm::Result<Box<dyn vmm::ThreadSeed>> {
        Err(vmm::PlatformError::Protocol("no threads here".into()))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[test]
fn pages_leave_the_address_space_before_they_are_freed() {
    // Another thread of the process may be running guest code: freed
    // pages could go to another process at once, so they must already be
    // out of reach.
    let mf = Arc::new(MemoryFile::new(64 << 20).unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let asp = UsageAtUnmap {
        mf: mf.clone(),
        seen: seen.clone(),
    };
    let layout = Layout::for_max_address(0x7fff_ffff_0000);
    let mut mm = MemoryManager::new(mf.clone(), Box::new(asp), layout);
    let len = 4 * PAGE_SIZE;
    let touched = |mm: &mut MemoryManager| {
        let a = mm
            .map_anon(Placement::Hint(0), len, RW, VmaKind::Anon)
            .unwrap();
        mm.copy_out(a, b"secret").unwrap();
        assert!(mf.used() > 0);
        (a, mf.used())
    };
    let (a, used) = touched(&mut mm);
    mm.unmap(a, len).unwrap();
    let (b, used_b) = touched(&mut mm);
    mm.discard(b, len).unwrap();
    let (c, used_c) = touched(&mut mm);
    // Moved and shrunk: the pages past the new length are freed.
    let dst = c + 256 * PAGE_SIZE;
    mm.remap(c, len, PAGE_SIZE, true, Some(dst)).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(&seen[..2], &[used, used_b], "unmap, then MADV_DONTNEED");
    assert!(seen.contains(&used_c), "mremap's move: {seen:?}");
}
