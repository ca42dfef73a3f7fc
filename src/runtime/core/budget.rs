//! The cooperative budget: a green thread whose I/O keeps succeeding without
//! parking (a peer that always has data, a channel that is never empty)
//! yields after `BUDGET` ready operations, so it cannot hold the loop.
//!
//! The count is the loop's, not the task's: it restarts whenever the loop
//! resumes a green thread (every resume follows a park or a yield), so the
//! hot path is one load, one add, one store and one compare.

use super::{Core, force_unwinding};

/// Ready operations a green thread may complete between two parks before it
/// yields (the figure tokio's cooperative budget uses).
pub(crate) const BUDGET: u32 = 128;

impl Core {
    /// Counts one operation that completed without parking; the last one
    /// the budget allows yields to every other ready green thread.
    #[inline]
    pub(crate) fn spend(&self) {
        let n = self.budget.get() + 1;
        self.budget.set(n);
        if n >= BUDGET {
            self.budget_spent();
        }
    }

    /// Restarts the count: called as the loop resumes a green thread.
    #[inline]
    pub(super) fn refill(&self) {
        self.budget.set(0);
    }

    #[cold]
    #[inline(never)]
    fn budget_spent(&self) {
        // Outside a green thread (the loop's own code) there is nothing to
        // yield to; while a green thread is force-unwound it must not suspend.
        if self.current_task().is_none() || force_unwinding() || std::thread::panicking() {
            self.budget.set(0);
            return;
        }
        self.yield_now();
    }
}
