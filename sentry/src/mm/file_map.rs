//! File-backed VMAs: what a mapping of a file needs from the file, and
//! what the VMA records about it.
//!
//! The file keeps its bytes in memory-file pages (a page cache of its own,
//! `vfs::page_cache`). A fault takes an owner of the file's pages
//! (`MemoryFile::share`), so a PMA over file pages is freed like any other
//! (one owner dropped) and the pages outlive the file while mapped:
//! - shared: the PMA is the file's page itself, never copy-on-write, so
//!   stores reach the file and every other mapping of it;
//! - private: the PMA is marked copy-on-write, so it shows the file's page
//!   until the first write copies it (`cow.rs`).

use std::fmt;
use std::sync::Arc;

use vmm::FileRange;

use crate::errno::Errno;

/// A file whose pages can be mapped.
pub trait MappedFile: Send + Sync {
    /// The file's size in bytes now.
    fn size(&self) -> u64;

    /// The memory-file pages holding `[offset, offset + len)` of the file
    /// (both page-aligned), allocated where the file has none yet, in file
    /// order. The caller becomes an owner of each (and frees it later).
    fn pin(&self, offset: u64, len: u64) -> Result<Vec<FileRange>, Errno>;
}

/// The file behind a VMA.
#[derive(Clone)]
pub struct FileMap {
    pub file: Arc<dyn MappedFile>,
    /// File offset of the VMA's first byte.
    pub offset: u64,
    /// MAP_SHARED (stores reach the file) rather than MAP_PRIVATE.
    pub shared: bool,
    /// Whether the file was opened so that the mapping may become writable
    /// (mprotect refuses PROT_WRITE on a shared mapping of a read-only
    /// descriptor, as Linux's VM_MAYWRITE does).
    pub may_write: bool,
}

impl FileMap {
    /// The same mapping `skip` bytes further into the VMA.
    pub fn advanced(&self, skip: u64) -> FileMap {
        FileMap {
            offset: self.offset + skip,
            ..self.clone()
        }
    }

    /// Whether `next`, starting `len` bytes after this one's start, maps
    /// the continuation of the same file in the same way.
    pub fn continued_by(&self, len: u64, next: &FileMap) -> bool {
        Arc::ptr_eq(&self.file, &next.file)
            && self.offset.checked_add(len) == Some(next.offset)
            && self.shared == next.shared
            && self.may_write == next.may_write
    }
}

impl fmt::Debug for FileMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileMap")
            .field("offset", &self.offset)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl PartialEq for FileMap {
    fn eq(&self, other: &Self) -> bool {
        self.continued_by(0, other)
    }
}

impl Eq for FileMap {}
