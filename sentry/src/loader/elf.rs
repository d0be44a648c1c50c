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

/// Parse `bytes` and map its loadable segments into `mm`.
pub fn load_elf(mm: &mut MemoryManager, bytes: &[u8]) -> Result<LoadedImage, LoadError> {
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
    if let Some(ph) = elf.program_headers.iter().find(|p| p.p_type == PT_INTERP) {
        let name = bytes
            .get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize)
            .map(|s| {
                String::from_utf8_lossy(s)
                    .trim_end_matches('\0')
                    .to_string()
            })
            .unwrap_or_default();
        return Err(LoadError::Dynamic(name));
    }
    let loads: Vec<_> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_memsz > 0)
        .collect();
    if loads.is_empty() {
        return Err(LoadError::Malformed("no loadable segments".into()));
    }
    let lowest = loads
        .iter()
        .map(|p| page_align_down(p.p_vaddr))
        .min()
        .unwrap_or(0);
    let bias = if pie {
        mm.layout().pie_base.wrapping_sub(lowest)
    } else {
        0
    };
    let max_addr = mm.layout().max_addr;

    // Validate every segment before touching memory.
    for p in &loads {
        let file_end = p.p_offset.checked_add(p.p_filesz);
        if file_end.is_none_or(|e| e > bytes.len() as u64) {
            return Err(LoadError::Malformed(
                "segment extends past the end of the file".into(),
            ));
        }
        if p.p_filesz > p.p_memsz
            || (p.p_align > 1 && (p.p_vaddr % PAGE_SIZE) != (p.p_offset % PAGE_SIZE))
        {
            return Err(LoadError::Malformed(
                "inconsistent segment sizes or alignment".into(),
            ));
        }
        let end = p
            .p_vaddr
            .checked_add(p.p_memsz)
            .and_then(|e| e.checked_add(bias));
        if end.is_none_or(|e| e > max_addr) || p.p_vaddr.wrapping_add(bias) < mm.layout().min_addr {
            return Err(LoadError::Malformed(
                "segment lies outside the user address space".into(),
            ));
        }
    }

    // Map each segment writable to fill it, then apply its permissions.
    // Segments may share a page; the later one then maps only past it.
    let mut mapped_to = 0u64;
    let mut protections = Vec::new();
    for p in &loads {
        let start = page_align_down(p.p_vaddr + bias);
        let end = page_align_up(p.p_vaddr + bias + p.p_memsz)
            .ok_or(LoadError::Malformed("segment overflows".into()))?;
        let map_from = start.max(mapped_to);
        if end > map_from {
            mm.map_anon(
                Placement::Fixed(map_from),
                end - map_from,
                Access::READ | Access::WRITE,
                VmaKind::Anon,
            )?;
            mapped_to = end;
        }
        let data = &bytes[p.p_offset as usize..(p.p_offset + p.p_filesz) as usize];
        mm.copy_out(p.p_vaddr + bias, data)?;
        protections.push((start, end, perms_of(p.p_flags)));
    }
    for (start, end, perms) in protections {
        mm.protect(start, end - start, perms)?;
    }

    let phent = u64::from(elf.header.e_phentsize);
    let phnum = u64::from(elf.header.e_phnum);
    let phdr = match elf.program_headers.iter().find(|p| p.p_type == PT_PHDR) {
        Some(p) => p.p_vaddr + bias,
        None => loads
            .iter()
            .find(|p| {
                elf.header.e_phoff >= p.p_offset && elf.header.e_phoff < p.p_offset + p.p_filesz
            })
            .map(|p| p.p_vaddr + bias + (elf.header.e_phoff - p.p_offset))
            .unwrap_or(0),
    };
    let exec_stack = elf
        .program_headers
        .iter()
        .any(|p| p.p_type == PT_GNU_STACK && p.p_flags & PF_X != 0);
    Ok(LoadedImage {
        entry: elf.entry.wrapping_add(bias),
        phdr,
        phent,
        phnum,
        exec_stack,
        end: mapped_to,
    })
}
