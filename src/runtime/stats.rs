//! The loop's counters as users see them.

/// A snapshot of one loop's counters ([`loop_stats`](crate::inspect::loop_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Green threads alive (running, ready or parked).
    pub green_threads: u64,
    /// Green threads spawned since the loop started.
    pub spawned: u64,
    /// Green threads ready to run now.
    pub run_queue: usize,
    /// Loop iterations (polls) so far.
    pub iterations: u64,
    /// Switches into green threads so far.
    pub switches: u64,
    /// Timer entries held (including ones already cancelled but not yet dropped).
    pub timers: usize,
    /// Idle stacks kept for reuse.
    pub pooled_stacks: usize,
    /// Time spent waiting for I/O with nothing to run, since the loop
    /// started: the loop's busy share over an interval is one minus this
    /// one's growth over the interval's length.
    pub idle: std::time::Duration,
}
