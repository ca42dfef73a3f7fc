//! A per-loop pool of green-thread stacks.
//!
//! Stacks are `mmap`ed with a `PROT_NONE` guard page below them (corosensei's
//! `DefaultStack`). Only the pages a green thread actually touches become
//! resident, so a large reserved size costs address space, not memory. A
//! finished green thread's stack goes back to the pool, so spawning on a warm
//! loop makes no syscall; beyond `max_pooled` idle stacks, returned ones are
//! unmapped so memory goes back to the OS when load drops.

use std::io;

use corosensei::stack::DefaultStack;

pub(crate) struct StackPool {
    size: usize,
    max_pooled: usize,
    free: Vec<DefaultStack>,
}

impl StackPool {
    pub(crate) fn new(size: usize, max_pooled: usize) -> StackPool {
        StackPool { size, max_pooled, free: Vec::new() }
    }

    /// A pooled stack, or a freshly mapped one.
    pub(crate) fn take(&mut self) -> io::Result<DefaultStack> {
        match self.free.pop() {
            Some(s) => Ok(s),
            None => DefaultStack::new(self.size).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "greenloop: could not map a {} KiB green-thread stack: {e} \
                         (check vm.max_map_count and ulimit -v)",
                        self.size / 1024
                    ),
                )
            }),
        }
    }

    /// Returns a stack whose coroutine has finished.
    pub(crate) fn give_back(&mut self, stack: DefaultStack) {
        if self.free.len() < self.max_pooled {
            self.free.push(stack);
        }
        // else: dropped here, which unmaps it.
    }

    /// Idle stacks held by the pool.
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
    }
}
