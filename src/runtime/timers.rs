//! A heap of deadlines: earliest first, first-in first-out among equal
//! deadlines, with entries dropped in bulk by [`Timers::compact`] rather
//! than searched for one by one.
//!
//! It holds items and hands back the due ones; what an item means, and
//! which ones are stale, is the loop's business (`core::wait`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One pending deadline.
pub(crate) struct Entry<T> {
    pub(crate) at: Instant,
    /// Unique among the entries of one heap, increasing in insertion order.
    pub(crate) order: u64,
    pub(crate) item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first;
    // `order` keeps entries with equal deadlines first-in, first-out.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then_with(|| other.order.cmp(&self.order))
    }
}

/// Compaction is not worth it below this many entries.
const MIN_COMPACT: usize = 1024;

pub(crate) struct Timers<T> {
    heap: BinaryHeap<Entry<T>>,
    next_order: u64,
    compact_at: usize,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), next_order: 0, compact_at: MIN_COMPACT }
    }
}

impl<T> Timers<T> {
    /// Adds an entry; returns its `order`, unique among entries.
    pub(crate) fn push(&mut self, at: Instant, item: T) -> u64 {
        let order = self.next_order;
        self.next_order += 1;
        self.heap.push(Entry { at, order, item });
        order
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest deadline, stale or not (a stale one only causes an early poll return).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// The earliest entry, if its deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Entry<T>> {
        if self.heap.peek()?.at <= now { self.heap.pop() } else { None }
    }

    /// Whether the heap has doubled (and holds at least `MIN_COMPACT`
    /// entries) since the last compaction: the caller should compact, which
    /// keeps the cost of dropping stale entries amortised O(1) per entry.
    pub(crate) fn needs_compaction(&self) -> bool {
        self.heap.len() >= self.compact_at
    }

    /// Keeps only the entries for which `keep(order, item)` is true.
    pub(crate) fn compact(&mut self, mut keep: impl FnMut(u64, &T) -> bool) {
        self.heap.retain(|e| keep(e.order, &e.item));
        self.compact_at = (self.heap.len() * 2).max(MIN_COMPACT);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    fn drain_due<T>(t: &mut Timers<T>, now: Instant) -> Vec<T> {
        std::iter::from_fn(|| t.pop_due(now).map(|e| e.item)).collect()
    }

    #[test]
    fn empty_heap_has_nothing_due() {
        let mut t = Timers::<u32>::default();
        let now = Instant::now();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None);
        assert!(t.pop_due(now).is_none());
    }

    #[test]
    fn earliest_deadline_comes_first() {
        let base = Instant::now();
        let mut t = Timers::default();
        for (n, item) in [(30, "c"), (10, "a"), (20, "b")] {
            t.push(ms(base, n), item);
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.next_deadline(), Some(ms(base, 10)));
        assert_eq!(drain_due(&mut t, ms(base, 100)), ["a", "b", "c"]);
        assert!(t.is_empty());
    }

    #[test]
    fn equal_deadlines_come_out_in_insertion_order() {
        let at = Instant::now();
        let mut t = Timers::default();
        for i in 0..50 {
            t.push(at, i);
        }
        assert_eq!(drain_due(&mut t, at), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn only_entries_at_or_before_now_are_due() {
        let base = Instant::now();
        let mut t = Timers::default();
        t.push(ms(base, 5), 1);
        t.push(ms(base, 10), 2);
        t.push(ms(base, 15), 3);
        assert!(t.pop_due(ms(base, 4)).is_none());
        assert_eq!(drain_due(&mut t, ms(base, 10)), [1, 2], "a deadline equal to now is due");
        assert_eq!(t.next_deadline(), Some(ms(base, 15)));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn orders_are_unique_and_increasing() {
        let base = Instant::now();
        let mut t = Timers::default();
        let orders: Vec<u64> = (0..10).map(|i| t.push(ms(base, 10 - i), ())).collect();
        assert_eq!(orders, (0..10).collect::<Vec<_>>());
        let popped = t.pop_due(ms(base, 1)).unwrap();
        assert_eq!((popped.at, popped.order), (ms(base, 1), 9));
        assert_eq!(t.push(base, ()), 10, "orders are not reused after a pop");
    }

    #[test]
    fn compaction_is_due_once_the_heap_doubles() {
        let at = Instant::now();
        let mut t = Timers::default();
        for i in 0..MIN_COMPACT - 1 {
            t.push(at, i);
        }
        assert!(!t.needs_compaction(), "small heaps are never compacted");
        t.push(at, MIN_COMPACT - 1);
        assert!(t.needs_compaction());
        // Keep 600: the next compaction is due at 1200 entries.
        t.compact(|_, item| *item < 600);
        assert_eq!(t.len(), 600);
        assert!(!t.needs_compaction());
        for i in 0..599 {
            t.push(at, 10_000 + i);
        }
        assert!(!t.needs_compaction());
        t.push(at, 20_000);
        assert!(t.needs_compaction());
        // Dropping nearly all goes back to the floor, not below it.
        t.compact(|_, item| *item == 0);
        assert_eq!(t.len(), 1);
        assert!(!t.needs_compaction());
    }

    #[test]
    fn compaction_keeps_order_and_sees_each_entry_s_order() {
        let base = Instant::now();
        let mut t = Timers::default();
        for i in 0..20u64 {
            // Deadlines in reverse, so heap order differs from insertion order.
            let order = t.push(ms(base, 100 - i), i);
            assert_eq!(order, i);
        }
        let mut seen = Vec::new();
        t.compact(|order, item| {
            assert_eq!(order, *item);
            seen.push(order);
            order % 2 == 0
        });
        seen.sort_unstable();
        assert_eq!(seen, (0..20).collect::<Vec<_>>(), "every entry is offered once");
        let due = drain_due(&mut t, ms(base, 100));
        assert_eq!(due, (0..20).rev().filter(|i| i % 2 == 0).collect::<Vec<_>>());
    }
}
