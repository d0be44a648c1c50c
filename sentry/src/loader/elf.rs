//! Placing a static ELF executable (ET_EXEC or static-PIE ET_DYN) in a fresh
//! address space.

use goblin::elf::header::{EM_X86_64, ET_DYN, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::Elf;
use vmm::{Access, PAGE_SIZE};

use super::LoadError;
use crate::mm::{page_align_down, page_align_up, MemoryManager, Placement, VmaKind};

/// Where the image landed: what the initial stack's auxv describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    pub entry: u64,
    /// Guest address of the program headers (AT_PHDR).
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// Whether PT_GNU_STACK asks for an executable stack.
    pub exec_stack: bool,
    /// First address after the image: where the program break starts.
    pub end: u64,
    /// What was added to the file's addresses (the load base of a PIE or
    /// an interpreter; 0 for ET_EXEC).
    pub bias: u64,
    /// Where the program interpreter was loaded (AT_BASE), 0 if none.
    pub interp_base: u64,
}

fn perms_of(flags: u32) -> Access {
    let mut a = Access::empty();
    if flags & PF_R != 0 {
        a |= Access::READ;
    }
    if flags & PF_W != 0 {
        a |= Access::READ | Access::WRITE;
    }
    if flags & PF_X != 0 {
        a |= Access::READ | Access::EXEC;
    }
    a
}

/// One PT_LOAD segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
    flags: u32,
}

/// A validated static x86-64 ELF executable, ready to be placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfInfo {
    pie: bool,
    entry: u64,
    segments: Vec<Segment>,
    /// Unbiased address of the program headers, if they are loaded.
    phdr: Option<u64>,
    phent: u64,
    phnum: u64,
    exec_stack: bool,
    /// The program interpreter (PT_INTERP) a dynamically linked program
    /// names, to be loaded beside it.
    pub interp: Option<Vec<u8>>,
}

/// Check that `bytes` is an x86-64 executable rvisor can run.
pub fn parse_elf(bytes: &[u8]) -> Result<ElfInfo, LoadError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(LoadError::NotElf);
    }
    if bytes.len() > 4 && bytes[4] == 1 {
        return Err(LoadError::Elf32);
    }
    let elf = Elf::parse(bytes).map_err(|e| LoadError::Malformed(e.to_string()))?;
    if !elf.is_64 {
        return Err(LoadError::Elf32);
    }
    if elf.header.e_machine != EM_X86_64 {
        return Err(LoadError::WrongMachine(elf.header.e_machine));
    }
    let pie = match elf.header.e_type {
        ET_EXEC => false,
        ET_DYN => true,
        t => return Err(LoadError::WrongType(t)),
    };
    let interp = match elf.program_headers.iter().find(|p| p.p_type == PT_INTERP) {
        Some(ph) => {
            let raw = bytes
                .get(ph.p_offset as usize..ph.p_offset.saturating_add(ph.p_filesz) as usize)
                .ok_or_else(|| LoadError::Malformed("PT_INTERP lies outside the file".into()))?;
            let name: Vec<u8> = raw.iter().copied().take_while(|&c| c != 0).collect();
            if name.is_empty() {
                return Err(LoadError::Malformed("empty PT_INTERP".into()));
            }
            Some(name)
        }
        None => None,
    };
    let segments: Vec<Segment> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
        .map(|p| Segment {
            vaddr: p.p_vaddr,
            memsz: p.p_memsz,
            offset: p.p_offset,
            filesz: p.p_filesz,
            flags: p.p_flags,
        })
        .collect();
    if segments.is_empty() {
        return Err(LoadError::Malformed("no loadable segments".into()));
    }
    for s in &segments {
        if s.offset
            .checked_add(s.filesz)
            .is_none_or(|e| e > bytes.len() as u64)
        {
            return Err(LoadError::Malformed(
                "segment extends past the end of the file".into(),
            ));
        }
        if s.filesz > s.memsz || s.vaddr % PAGE_SIZE != s.offset % PAGE_SIZE {
            return Err(LoadError::Malformed(
                "inconsistent segment sizes or alignment".into(),
            ));
        }
        if s.vaddr.checked_add(s.memsz).is_none() {
            return Err(LoadError::Malformed(
                "segment overflows the address space".into(),
            ));
        }
    }
    let phoff = elf.header.e_phoff;
    let phdr = match elf.program_headers.iter().find(|p| p.p_type == PT_PHDR) {
        Some(p) => Some(p.p_vaddr),
        None => segments
            .iter()
            .find(|s| phoff >= s.offset && phoff < s.offset + s.filesz)
            .map(|s| s.vaddr + (phoff - s.offset)),
    };
    Ok(ElfInfo {
        pie,
        entry: elf.entry,
        segments,
        phdr,
        phent: u64::from(elf.header.e_phentsize),
        phnum: u64::from(elf.header.e_phnum),
        interp,
        exec_stack: elf
            .program_headers
            .iter()
            .any(|p| p.p_type == PT_GNU_STACK && p.p_flags & PF_X != 0),
    })
}

/// Map the segments of `info` (parsed from `bytes`) into `mm`.
pub fn load_elf(
    mm: &mut MemoryManager,
    bytes: &[u8],
    info: &ElfInfo,
) -> Result<LoadedImage, LoadError> {
    let base = mm.layout().pie_base;
    load_elf_at(mm, bytes, info, base)
}

/// Load a program interpreter (ld.so): position independent, placed in a
/// free part of the address space like any mapping without a hint.
pub fn load_interpreter(
    mm: &mut MemoryManager,
    bytes: &[u8],
    info: &ElfInfo,
) -> Result<LoadedImage, LoadError> {
    if !info.pie || info.interp.is_some() {
        return Err(LoadError::Malformed(
            "the interpreter is not a shared object".into(),
        ));
    }
    let lo = info
        .segments
        .iter()
        .map(|s| page_align_down(s.vaddr))
        .min()
        .unwrap_or(0);
    let hi = info
        .segments
        .iter()
        .map(|s| s.vaddr.saturating_add(s.memsz))
        .max()
        .unwrap_or(0);
    let span = hi.saturating_sub(lo);
    // Reserve the span to pick its place; loading then maps over it.
    let base = mm.map_anon(Placement::Hint(0), span, Access::empty(), VmaKind::Anon)?;
    load_elf_at(mm, bytes, info, base)
}

/// Load with position-independent images placed so their lowest page is
/// at `base`.
fn load_elf_at(
    mm: &mut MemoryManager,
    bytes: &[u8],
    info: &ElfInfo,
    base: u64,
) -> Result<LoadedImage, LoadError> {
    let lowest = info
        .segments
        .iter()
        .map(|s| page_align_down(s.vaddr))
        .min()
        .unwrap_or(0);
    let bias = if info.pie {
        base.wrapping_sub(lowest)
    } else {
        0
    };
    let layout = *mm.layout();
    for s in &info.segments {
        let start = s.vaddr.wrapping_add(bias);
        let end = start.checked_add(s.memsz);
        if start < layout.min_addr || end.is_none_or(|e| e > layout.max_addr) {
            return Err(LoadError::Malformed(
                "segment lies outside the user address space".into(),
            ));
        }
    }

    // Map each segment writable to fill it, then apply its permissions.
    // Segments may share a page; the later one then maps only past it.
    let mut mapped_to = 0u64;
    let mut protections = Vec::new();
    for s in &info.segments {
        let start = page_align_down(s.vaddr + bias);
        let end = page_align_up(s.vaddr + bias + s.memsz)
            .ok_or(LoadError::Malformed("segment overflows".into()))?;
        let map_from = start.max(mapped_to);
        if end > map_from {
            mm.map_anon(
                Placement::Fixed(map_from),
                end - map_from,
                Access::READ | Access::WRITE,
                VmaKind::Image,
            )?;
            mapped_to = end;
        }
        let data = &bytes[s.offset as usize..(s.offset + s.filesz) as usize];
        mm.copy_out(s.vaddr + bias, data)?;
        protections.push((start, end, perms_of(s.flags)));
    }
    for (start, end, perms) in protections {
        mm.protect(start, end - start, perms)?;
    }
    Ok(LoadedImage {
        entry: info.entry.wrapping_add(bias),
        phdr: info.phdr.map_or(0, |p| p + bias),
        phent: info.phent,
        phnum: info.phnum,
        exec_stack: info.exec_stack,
        end: mapped_to,
        bias,
        interp_base: 0,
    })
}
