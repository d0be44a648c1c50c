//! Scratch files for test cases.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fresh, empty directory for one test case. Cases run in parallel, so
/// each gets its own, named after it; it is emptied at the start rather than
/// removed at the end so that a failure leaves the evidence behind.
pub fn case_dir(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cases")
        .join(case);
    if dir.exists() {
        fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("clean {}: {e}", dir.display()));
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Writes `contents` to `path` with mode 0755.
pub fn write_executable(path: &Path, contents: &[u8]) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// A complete, valid 32-bit i386 executable that calls exit(0): an ELF32
/// header, one PT_LOAD program header covering the file, and five
/// instructions. rvisor runs only 64-bit programs, so it must refuse this
/// for its class rather than for being malformed.
pub fn elf32_executable() -> Vec<u8> {
    const EHDR_SIZE: u16 = 52;
    const PHDR_SIZE: u16 = 32;
    const BASE: u32 = 0x0804_8000;
    // xor ebx, ebx; mov eax, 1 (exit); int 0x80
    const CODE: &[u8] = &[0x31, 0xdb, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xcd, 0x80];
    let code_offset = u32::from(EHDR_SIZE + PHDR_SIZE);
    let file_size = code_offset + CODE.len() as u32;

    let mut elf = Vec::new();
    // e_ident: magic, ELFCLASS32, little-endian, version 1, System V ABI.
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0]);
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    elf.extend_from_slice(&3u16.to_le_bytes()); // e_machine: EM_386
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(BASE + code_offset).to_le_bytes()); // e_entry
    elf.extend_from_slice(&u32::from(EHDR_SIZE).to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    elf.extend_from_slice(&EHDR_SIZE.to_le_bytes()); // e_ehsize
    elf.extend_from_slice(&PHDR_SIZE.to_le_bytes()); // e_phentsize
    elf.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    elf.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    assert_eq!(elf.len(), usize::from(EHDR_SIZE));

    elf.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    elf.extend_from_slice(&0u32.to_le_bytes()); // p_offset
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    elf.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    elf.extend_from_slice(&file_size.to_le_bytes()); // p_filesz
    elf.extend_from_slice(&file_size.to_le_bytes()); // p_memsz
    elf.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R + X
    elf.extend_from_slice(&0x1000u32.to_le_bytes()); // p_align

    elf.extend_from_slice(CODE);
    assert_eq!(elf.len(), file_size as usize);
    elf
}
