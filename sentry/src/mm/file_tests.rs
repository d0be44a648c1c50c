//! Mappings of files kept in memory-file pages, against the recording
//! fake platform of `tests.rs`.

use std::sync::Arc;

use vmm::{Access, PAGE_SIZE};

use super::tests::{fork, mm, read, RW};
use super::*;
use crate::vfs::page_cache::FilePages;

/// A file of `pages` pages holding "page N" at the start of each.
fn file(mm: &MemoryManager, pages: u64) -> Arc<FilePages> {
    let f = FilePages::from_bytes(mm.memory_file(), b"").unwrap();
    for i in 0..pages {
        f.write(format!("page {i:03}").as_bytes(), i * PAGE_SIZE)
            .unwrap();
    }
    f
}

fn map(mm: &mut MemoryManager, f: &Arc<FilePages>, offset: u64, len: u64, shared: bool) -> u64 {
    let map = FileMap {
        file: f.clone(),
        offset,
        shared,
        may_write: true,
    };
    mm.map_file(Placement::Hint(0), len, RW, map).unwrap()
}

fn file_bytes(f: &FilePages, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    f.read(&mut buf, offset).unwrap();
    buf
}

#[test]
fn shared_stores_are_the_files_across_fork_and_after_unmap() {
    let (mut parent, _) = mm();
    let f = file(&parent, 4);
    let a = map(&mut parent, &f, PAGE_SIZE, 3 * PAGE_SIZE, true);
    assert_eq!(read(&mut parent, a, 8), b"page 001");
    parent.copy_out(a + 10, b"parent").unwrap();
    assert_eq!(file_bytes(&f, PAGE_SIZE + 10, 6), b"parent");
    let (mut child, _) = fork(&mut parent);
    child.copy_out(a + PAGE_SIZE, b"child!!!").unwrap();
    assert_eq!(read(&mut parent, a + PAGE_SIZE, 8), b"child!!!");
    f.write(b"written", 2 * PAGE_SIZE + 20).unwrap();
    assert_eq!(read(&mut child, a + PAGE_SIZE + 20, 7), b"written");
    drop(child);
    parent.unmap(a, 3 * PAGE_SIZE).unwrap();
    assert_eq!(file_bytes(&f, 2 * PAGE_SIZE, 8), b"child!!!");
    let mf = parent.memory_file();
    drop(f);
    assert_eq!(mf.used(), 0, "the file's pages go with the file");
}

#[test]
fn pages_past_the_end_fault_with_sigbus_and_are_efault_to_calls() {
    let (mut mm, _) = mm();
    let f = file(&mm, 1);
    f.truncate(100).unwrap();
    let a = map(&mut mm, &f, 0, 3 * PAGE_SIZE, true);
    assert_eq!(mm.handle_fault(a + 50, Access::READ), Ok(()));
    assert_eq!(
        mm.handle_fault(a + PAGE_SIZE, Access::WRITE),
        Err(FaultError::PastEof)
    );
    assert_eq!(read(&mut mm, a + 100, 4), [0; 4], "the last page's tail");
    let mut buf = [0u8; 8];
    assert_eq!(mm.copy_in(a + PAGE_SIZE - 4, &mut buf), Err(Errno::EFAULT));
    f.truncate(2 * PAGE_SIZE).unwrap();
    assert_eq!(mm.handle_fault(a + PAGE_SIZE, Access::WRITE), Ok(()));
}

#[test]
fn private_mappings_show_the_file_and_keep_their_stores() {
    let (mut mm, _) = mm();
    let f = file(&mm, 2);
    let a = map(&mut mm, &f, 0, 2 * PAGE_SIZE, false);
    assert_eq!(read(&mut mm, a, 8), b"page 000");
    f.write(b"newer", 0).unwrap();
    assert_eq!(
        read(&mut mm, a, 5),
        b"newer",
        "unwritten pages are the file's"
    );
    mm.copy_out(a, b"mine!").unwrap();
    assert_eq!(file_bytes(&f, 0, 5), b"newer");
    assert_eq!(read(&mut mm, a, 5), b"mine!");
}

#[test]
fn split_and_moved_vmas_keep_their_file_offsets() {
    let (mut mm, _) = mm();
    let f = file(&mm, 4);
    let a = map(&mut mm, &f, 0, 4 * PAGE_SIZE, true);
    mm.protect(a + PAGE_SIZE, PAGE_SIZE, Access::READ).unwrap();
    assert_eq!(read(&mut mm, a + 2 * PAGE_SIZE, 8), b"page 002");
    let b = mm
        .remap(
            a + 3 * PAGE_SIZE,
            PAGE_SIZE,
            PAGE_SIZE,
            true,
            Some(0x1000_0000),
        )
        .unwrap();
    assert_eq!(read(&mut mm, b, 8), b"page 003");
    mm.copy_out(b, b"moved").unwrap();
    assert_eq!(file_bytes(&f, 3 * PAGE_SIZE, 5), b"moved");
}

#[test]
fn a_read_only_shared_mapping_stays_read_only() {
    let (mut mm, _) = mm();
    let f = file(&mm, 1);
    let map = FileMap {
        file: f.clone(),
        offset: 0,
        shared: true,
        may_write: false,
    };
    let a = mm
        .map_file(Placement::Hint(0), PAGE_SIZE, Access::READ, map)
        .unwrap();
    assert_eq!(mm.protect(a, PAGE_SIZE, RW), Err(Errno::EACCES));
    assert_eq!(mm.copy_out(a, b"x"), Err(Errno::EFAULT));
}
