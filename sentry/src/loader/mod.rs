//! Loading a program image: ELF parsing and segment placement (`elf.rs`) and
//! the initial stack with argv, envp and auxv (`stack.rs`).

mod elf;
mod stack;

pub use elf::{load_elf, load_interpreter, parse_elf, ElfInfo, LoadedImage};
pub use stack::{build_stack, InitialStack, StackSpec};

use crate::errno::Errno;

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not an ELF file")]
    NotElf,
    #[error("malformed ELF file: {0}")]
    Malformed(String),
    #[error("32-bit ELF files are not supported")]
    Elf32,
    #[error("ELF file is not for x86-64 (machine {0})")]
    WrongMachine(u16),
    #[error("ELF file is neither an executable nor a static-PIE (type {0})")]
    WrongType(u16),
    #[error("cannot use the program interpreter {0}")]
    Dynamic(String),
    #[error("cannot set up guest memory: {0}")]
    Memory(Errno),
}

impl From<Errno> for LoadError {
    fn from(e: Errno) -> Self {
        LoadError::Memory(e)
    }
}
