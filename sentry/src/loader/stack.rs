//! The initial stack of a new program, laid out as the System V x86-64 ABI
//! and Linux's `create_elf_tables` do: strings at the top, then 16 random
//! bytes, then (16-byte aligned) argc, argv[], NULL, envp[], NULL, auxv.

use vmm::Access;

use super::{LoadError, LoadedImage};
use crate::kernel::Credentials;
use crate::mm::{MemoryManager, Placement, VmaKind};

/// Bytes of stack mapped before the program starts; it grows on faults.
const INITIAL_STACK: u64 = 128 << 10;

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_HWCAP2: u64 = 26;
const AT_EXECFN: u64 = 31;

/// What goes on the initial stack.
pub struct StackSpec<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    /// The path the program was executed as (AT_EXECFN).
    pub execfn: &'a [u8],
    pub creds: Credentials,
}

/// Total bytes the strings and pointer arrays need, to reject argument
/// lists that cannot fit (E2BIG, as execve does).
fn needed(spec: &StackSpec) -> u64 {
    let strings: usize = spec.argv.iter().chain(spec.envp).map(|s| s.len() + 1).sum();
    let pointers = (spec.argv.len() + spec.envp.len() + 3) * 8 + 2 * 8 * 20;
    (strings + spec.execfn.len() + 1 + pointers + 64) as u64
}

/// The filled stack: the initial stack pointer, and where the argument
/// and environment strings lie (/proc/PID/cmdline and environ read them
/// there, as Linux does).
#[derive(Clone, Copy, Debug)]
pub struct InitialStack {
    pub rsp: u64,
    pub args: (u64, u64),
    pub env: (u64, u64),
}

/// Map the stack and fill it.
pub fn build_stack(
    mm: &mut MemoryManager,
    image: &LoadedImage,
    spec: &StackSpec,
) -> Result<InitialStack, LoadError> {
    let top = mm.layout().stack_top;
    let size = (needed(spec) + INITIAL_STACK).next_multiple_of(vmm::PAGE_SIZE);
    if size > crate::mm::STACK_LIMIT / 4 {
        return Err(LoadError::Memory(crate::Errno::E2BIG));
    }
    let mut perms = Access::READ | Access::WRITE;
    if image.exec_stack {
        perms |= Access::EXEC;
    }
    mm.map_anon(Placement::Fixed(top - size), size, perms, VmaKind::Stack)?;

    let mut sp = top;
    let mut push_bytes =
        |mm: &mut MemoryManager, bytes: &[u8], nul: bool| -> Result<u64, LoadError> {
            sp -= (bytes.len() + usize::from(nul)) as u64;
            mm.copy_out(sp, bytes)?;
            if nul {
                mm.copy_out(sp + bytes.len() as u64, &[0])?;
            }
            Ok(sp)
        };
    // Strings first, at the very top; remember where each landed.
    let execfn = push_bytes(mm, spec.execfn, true)?;
    let platform = push_bytes(mm, b"x86_64", true)?;
    let mut envp = Vec::with_capacity(spec.envp.len());
    for e in spec.envp.iter().rev() {
        envp.push(push_bytes(mm, e, true)?);
    }
    envp.reverse();
    let mut argv = Vec::with_capacity(spec.argv.len());
    for a in spec.argv.iter().rev() {
        argv.push(push_bytes(mm, a, true)?);
    }
    argv.reverse();
    let mut random = [0u8; 16];
    rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| LoadError::Memory(e.into()))?;
    let random_at = push_bytes(mm, &random, false)?;

    let (hwcap, hwcap2) = rustix::param::linux_hwcap();
    let auxv: [(u64, u64); 18] = [
        (AT_PHDR, image.phdr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_PAGESZ, vmm::PAGE_SIZE),
        (AT_BASE, image.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, u64::from(spec.creds.uid)),
        (AT_EUID, u64::from(spec.creds.euid)),
        (AT_GID, u64::from(spec.creds.gid)),
        (AT_EGID, u64::from(spec.creds.egid)),
        (AT_SECURE, 0),
        (AT_RANDOM, random_at),
        (AT_HWCAP, hwcap as u64),
        (AT_HWCAP2, hwcap2 as u64),
        (AT_CLKTCK, 100),
        (AT_PLATFORM, platform),
        (AT_EXECFN, execfn),
    ];

    // The pointer block: argc, argv, NULL, envp, NULL, auxv pairs, AT_NULL.
    let mut block: Vec<u64> =
        Vec::with_capacity(3 + argv.len() + envp.len() + 2 * (auxv.len() + 1));
    block.push(argv.len() as u64);
    block.extend(&argv);
    block.push(0);
    block.extend(&envp);
    block.push(0);
    for (k, v) in auxv {
        block.push(k);
        block.push(v);
    }
    block.push(AT_NULL);
    block.push(0);
    let bytes: Vec<u8> = block.iter().flat_map(|w| w.to_ne_bytes()).collect();
    // argc must sit at a 16-byte aligned address.
    let rsp = (sp - bytes.len() as u64) & !15;
    mm.copy_out(rsp, &bytes)?;
    // The strings lie back to back: argv's, envp's, then "x86_64".
    let env_end = platform;
    let env_start = envp.first().copied().unwrap_or(env_end);
    let arg_start = argv.first().copied().unwrap_or(env_start);
    Ok(InitialStack {
        rsp,
        args: (arg_start, env_start),
        env: (env_start, env_end),
    })
}
