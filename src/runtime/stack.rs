//! A per-loop pool of green-thread stacks.
//!
//! Stacks are `mmap`ed with a `PROT_NONE` guard page below them (corosensei's
//! `DefaultStack`). Only the pages a green thread actually touches become
//! resident, so a large reserved size costs address space, not memory. A
//! finished green thread's stack goes back to the pool, so spawning on a warm
//! loop makes no syscall. Beyond `max_pooled` idle stacks, the loop unmaps
//! the excess a few at a time when it has nothing else to do (and one every
//! few dozen turns when it is busy), so memory goes back to the OS when load
//! drops. Not at once: after a burst of 10 000 connections, unmapping each
//! stack as its connection closed took a tenth of the loop's time while the
//! last responses were still due.

use std::io;

use corosensei::stack::DefaultStack;

pub(crate) struct StackPool {
    size: usize,
    max_pooled: usize,
    free: Vec<DefaultStack>,
    /// `free[..clean]` had their pages discarded since they came back
    /// (stacks are taken and given back at the end, so the oldest stay clean).
    clean: usize,
}

impl StackPool {
    pub(crate) fn new(size: usize, max_pooled: usize) -> StackPool {
        StackPool { size, max_pooled, free: Vec::new(), clean: 0 }
    }

    /// A pooled stack, or a freshly mapped one.
    pub(crate) fn take(&mut self) -> io::Result<DefaultStack> {
        match self.free.pop() {
            Some(s) => {
                self.clean = self.clean.min(self.free.len());
                Ok(s)
            }
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

    /// Returns a stack whose coroutine has finished. Kept even beyond
    /// `max_pooled`, until [`trim`](Self::trim).
    pub(crate) fn give_back(&mut self, stack: DefaultStack) {
        self.free.push(stack);
    }

    /// Whether idle stacks beyond `max_pooled` wait to be unmapped.
    pub(crate) fn has_excess(&self) -> bool {
        self.free.len() > self.max_pooled
    }

    /// Unmaps up to `n` of the idle stacks beyond `max_pooled`.
    pub(crate) fn trim(&mut self, n: usize) {
        let excess = self.free.len().saturating_sub(self.max_pooled);
        // Dropping a stack unmaps it.
        self.free.truncate(self.free.len() - excess.min(n));
        self.clean = self.clean.min(self.free.len());
    }

    /// How many pooled stacks have had their pages discarded.
    #[cfg(test)]
    pub(crate) fn clean_count(&self) -> usize {
        self.clean
    }

    /// Resident pages of the `i`th pooled stack (the oldest first).
    #[cfg(test)]
    pub(crate) fn resident_pages_of(&self, i: usize) -> usize {
        let stack = &self.free[i];
        let low = corosensei::stack::Stack::limit(stack).get() + crate::sys::page_size();
        let high = corosensei::stack::Stack::base(stack).get();
        crate::sys::resident_pages(low, high - low)
    }

    /// Discards the pages of up to `max` pooled stacks, the least recently
    /// returned first, keeping the `warm` most recent ones as they are:
    /// their memory goes back to the system while the mappings stay for reuse.
    /// Returns whether some were left for the next call.
    pub(crate) fn discard_cold(&mut self, warm: usize, max: usize) -> bool {
        let end = self.free.len().saturating_sub(warm);
        let page = crate::sys::page_size();
        let mut n = 0;
        while self.clean < end && n < max {
            let stack = &self.free[self.clean];
            // Above the guard page, up to the top of the stack.
            let low = corosensei::stack::Stack::limit(stack).get() + page;
            let high = corosensei::stack::Stack::base(stack).get();
            // SAFETY: [low, high) is the writable part of a pooled stack's
            // mapping; no coroutine runs on a pooled stack, and the next one
            // to start on it writes before it reads.
            unsafe { crate::sys::discard_pages(low, high - low) };
            self.clean += 1;
            n += 1;
        }
        self.clean < end
    }

    /// Idle stacks held by the pool.
    pub(crate) fn pooled(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_beyond_the_bound_are_kept_until_trimmed() {
        let mut pool = StackPool::new(64 * 1024, 2);
        let stacks: Vec<_> = (0..5).map(|_| pool.take().unwrap()).collect();
        for s in stacks {
            pool.give_back(s);
        }
        assert_eq!(pool.pooled(), 5, "given back, all kept for now");
        assert!(pool.has_excess());
        pool.trim(2);
        assert_eq!(pool.pooled(), 3);
        assert!(pool.has_excess(), "one still beyond the bound");
        pool.trim(2);
        assert_eq!(pool.pooled(), 2, "trimmed down to the bound");
        assert!(!pool.has_excess());
        pool.trim(2);
        assert_eq!(pool.pooled(), 2, "never below it");
        let again = pool.take().unwrap();
        assert_eq!(pool.pooled(), 1, "taken from the pool, not mapped anew");
        pool.give_back(again);
    }
}
