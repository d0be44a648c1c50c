//! Where things go in a guest address space.

use vmm::PAGE_SIZE;

use super::STACK_LIMIT;

/// Fixed addresses of one guest address space. Linux randomises most of
/// these; rvisor keeps them fixed for now so runs are reproducible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Lowest mappable address (Linux's default `vm.mmap_min_addr`).
    pub min_addr: u64,
    /// First address no mapping may reach (the platform's limit).
    pub max_addr: u64,
    /// Top of the initial stack.
    pub stack_top: u64,
    /// Mappings without a usable hint are placed top-down below this.
    pub mmap_base: u64,
    /// Load bias of position-independent executables.
    pub pie_base: u64,
}

impl Layout {
    /// The layout for a platform whose user addresses end at `max_addr`.
    pub fn for_max_address(max_addr: u64) -> Self {
        let max_addr = max_addr & !(PAGE_SIZE - 1);
        // Leave a gap above the stack as Linux does below TASK_SIZE.
        let stack_top = (max_addr - (16 << 20)) & !0xffff;
        let mmap_base = (stack_top - STACK_LIMIT - (128 << 20)) & !0xffff;
        Layout {
            min_addr: 0x10000,
            max_addr,
            stack_top,
            mmap_base,
            pie_base: 0x5555_5555_4000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_ordered() {
        let l = Layout::for_max_address(0x7fff_fff0_0000);
        assert!(l.min_addr < l.pie_base);
        assert!(l.pie_base < l.mmap_base);
        assert!(l.mmap_base + STACK_LIMIT < l.stack_top);
        assert!(l.stack_top < l.max_addr);
    }
}
