//! NUMA memory policies: get_mempolicy, set_mempolicy, mbind. The sandbox
//! is one NUMA node (node 0), as a machine without NUMA looks to Linux:
//! policies naming node 0 are kept and reported, any other node is
//! EINVAL, and where memory comes from never changes.

use vmm::PAGE_SIZE;

use super::Handler;
use crate::errno::{Errno, SysResult};
use crate::kernel::Task;

pub(super) const TABLE: &[(i64, Handler)] = &[
    (libc::SYS_get_mempolicy, sys_get_mempolicy),
    (libc::SYS_set_mempolicy, sys_set_mempolicy),
    (libc::SYS_mbind, sys_mbind),
];

const MPOL_DEFAULT: i32 = 0;
const MPOL_PREFERRED: i32 = 1;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
/// MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING.
const MODE_FLAGS: i32 = (1 << 15) | (1 << 14) | (1 << 13);
const MPOL_F_NODE: u64 = 1;
const MPOL_F_ADDR: u64 = 2;
const MPOL_F_MEMS_ALLOWED: u64 = 4;
/// MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL.
const MBIND_FLAGS: u64 = 1 | 2 | 4;
/// Node ids there are (nr_node_ids).
const NR_NODES: u64 = 1;
/// The only node.
const ALL_NODES: u64 = 1;

/// Read a node mask of `maxnode` bits (Linux reads maxnode - 1 of them);
/// nodes past the sandbox's one are EINVAL.
fn read_nodemask(task: &Task, addr: u64, maxnode: u64) -> Result<u64, Errno> {
    if addr == 0 || maxnode <= 1 {
        return Ok(0);
    }
    let bits = maxnode - 1;
    if bits > PAGE_SIZE * 8 {
        return Err(Errno::EINVAL);
    }
    let mut words = vec![0u64; bits.div_ceil(64) as usize];
    task.mm
        .copy_in(addr, bytemuck::cast_slice_mut(&mut words))?;
    if let Some(last) = words.last_mut() {
        if !bits.is_multiple_of(64) {
            *last &= (1 << (bits % 64)) - 1;
        }
    }
    if words[0] & !ALL_NODES != 0 || words[1..].iter().any(|&w| w != 0) {
        return Err(Errno::EINVAL);
    }
    Ok(words[0])
}

/// A mode and mask as set_mempolicy/mbind check them.
fn check_policy(mode: i32, nodes: u64) -> Result<(), Errno> {
    let base = mode & !MODE_FLAGS;
    match base {
        MPOL_DEFAULT | MPOL_LOCAL if nodes != 0 => Err(Errno::EINVAL),
        MPOL_DEFAULT | MPOL_LOCAL => Ok(()),
        // PREFERRED with an empty mask means "local".
        MPOL_PREFERRED => Ok(()),
        2 | MPOL_INTERLEAVE | 5 | MPOL_WEIGHTED_INTERLEAVE if nodes != 0 => Ok(()),
        _ => Err(Errno::EINVAL),
    }
}

fn sys_get_mempolicy(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [mode_ptr, mask_ptr, maxnode, addr, flags, ..] = a;
    if flags & !(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED) != 0
        || (flags & MPOL_F_MEMS_ALLOWED != 0 && flags & (MPOL_F_NODE | MPOL_F_ADDR) != 0)
        || (mask_ptr != 0 && maxnode < NR_NODES)
    {
        return Err(Errno::EINVAL);
    }
    let (policy, nodes) = task.mempolicy;
    let (mode, mask) = if flags & MPOL_F_MEMS_ALLOWED != 0 {
        (None, ALL_NODES)
    } else if flags & MPOL_F_ADDR != 0 {
        let page = addr & !(PAGE_SIZE - 1);
        task.mm
            .lock()
            .check_mapped(page, PAGE_SIZE)
            .map_err(|_| Errno::EFAULT)?;
        // With MPOL_F_NODE: the node the page is on.
        (
            Some(if flags & MPOL_F_NODE != 0 { 0 } else { policy }),
            nodes,
        )
    } else if flags & MPOL_F_NODE != 0 {
        // The next interleave node, only for an interleave policy.
        if policy & !MODE_FLAGS != MPOL_INTERLEAVE {
            return Err(Errno::EINVAL);
        }
        (Some(0), nodes)
    } else {
        (Some(policy), nodes)
    };
    if let (Some(mode), true) = (mode, mode_ptr != 0) {
        task.mm.write_val(mode_ptr, &mode)?;
    }
    if mask_ptr != 0 {
        let words = (maxnode - 1).max(1).div_ceil(64) as usize;
        let mut out = vec![0u64; words];
        out[0] = mask;
        task.mm.copy_out(mask_ptr, bytemuck::cast_slice(&out))?;
    }
    Ok(0)
}

fn sys_set_mempolicy(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [mode, mask, maxnode, ..] = a;
    let mode = mode as i32;
    let nodes = read_nodemask(task, mask, maxnode)?;
    check_policy(mode, nodes)?;
    task.mempolicy = if mode & !MODE_FLAGS == MPOL_DEFAULT {
        (0, 0)
    } else {
        (mode, nodes)
    };
    Ok(0)
}

fn sys_mbind(task: &mut Task, a: [u64; 6]) -> SysResult {
    let [addr, len, mode, mask, maxnode, flags] = a;
    if addr % PAGE_SIZE != 0 || flags & !MBIND_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    let nodes = read_nodemask(task, mask, maxnode)?;
    check_policy(mode as i32, nodes)?;
    let len = crate::mm::page_align_up(len).ok_or(Errno::EINVAL)?;
    if len != 0 {
        task.mm
            .lock()
            .check_mapped(addr, len)
            .map_err(|_| Errno::EFAULT)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_need_the_right_masks() {
        assert_eq!(check_policy(MPOL_DEFAULT, 0), Ok(()));
        assert_eq!(check_policy(MPOL_DEFAULT, 1), Err(Errno::EINVAL));
        assert_eq!(check_policy(2, 1), Ok(()));
        assert_eq!(check_policy(MPOL_INTERLEAVE, 0), Err(Errno::EINVAL));
        assert_eq!(check_policy(MPOL_PREFERRED, 0), Ok(()));
        assert_eq!(check_policy(9, 0), Err(Errno::EINVAL));
    }
}
