//! Gives back the stack pages green threads no longer use.
//!
//! A stack keeps every page it ever touched resident. A green thread that
//! once ran something deep (a TLS handshake, a handler, a JSON encoder) and
//! now waits long and shallow (a WebSocket between messages, a worker on a
//! queue) would hold those pages for as long as it waits; a pooled stack
//! holds what its last green thread touched. So, at most once a second and
//! only when green threads ran since the last look, the loop discards
//! (`MADV_DONTNEED`) the pages below the stack pointer of each green thread
//! parked for over a second and not swept since it last ran, and the pages
//! of the pooled stacks beyond the warmest few. The kernel drops them; a
//! later touch maps a zeroed page. Dead stack below the stack pointer is all
//! that goes: the parked frames and what the switch saved sit above it (and
//! a margin is kept for what the switch itself saved below it).

use std::time::{Duration, Instant};

use super::Core;
use super::tasks::State;

/// How often the loop looks, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long a green thread must have been parked before its stack is swept.
const PARKED_FOR: Duration = Duration::from_secs(1);
/// Kept below a parked green thread's recorded stack pointer: the frames of
/// the switch itself, which are below the point where it was recorded
/// (`Yielder::suspend` and the registers corosensei saves: about a hundred
/// bytes; ten times that is kept).
const MARGIN: usize = 1024;
/// Pooled stacks kept warm (taken first, so touched again soon).
const WARM_STACKS: usize = 16;
/// `madvise` calls per sweep at most (a few microseconds each): a sweep
/// stays around a millisecond; what is left waits `BATCH_PAUSE`.
const MAX_PER_SWEEP: usize = 512;
/// The pause between two sweeps that stopped at their bound.
const BATCH_PAUSE: Duration = Duration::from_millis(10);

impl Core {
    /// At the end of a turn: schedules a sweep when green threads ran since
    /// the last one, and runs it when due. Returns when the loop must wake
    /// for it, if it sleeps before then.
    pub(super) fn sweep_stacks_if_due(&self, now: Instant) {
        let switches = self.counters.switches.get();
        let next = match self.next_sweep.get() {
            Some(at) => at,
            None if switches != self.swept_at_switches.get() => {
                let at = now + SWEEP_EVERY;
                self.next_sweep.set(Some(at));
                at
            }
            None => return,
        };
        if now < next {
            return;
        }
        self.swept_at_switches.set(switches);
        let next = match self.sweep_stacks(now) {
            Sweep::Done => None,
            Sweep::TooRecent => Some(now + SWEEP_EVERY),
            // After a crowd (10 000 WebSockets): a batch every 10 ms.
            Sweep::Bounded => Some(now + BATCH_PAUSE),
        };
        self.next_sweep.set(next);
    }

    /// When the loop must wake for the next sweep (`None`: none scheduled).
    pub(super) fn next_sweep(&self) -> Option<Instant> {
        self.next_sweep.get()
    }

    /// Discards dead stack pages; says whether another look is wanted, and how soon.
    fn sweep_stacks(&self, now: Instant) -> Sweep {
        let page = crate::sys::page_size();
        let mut left = MAX_PER_SWEEP;
        let mut more = Sweep::Done;
        for r in self.tasks.live() {
            let Some(task) = self.tasks.get(r) else { continue };
            if task.state.get() != State::Parked || task.stack_swept.get() {
                continue;
            }
            if now.saturating_duration_since(task.parked_at.get()) < PARKED_FOR {
                more = Sweep::TooRecent;
                continue;
            }
            if left == 0 {
                return Sweep::Bounded;
            }
            task.stack_swept.set(true);
            let sp = task.suspended_sp.get();
            if sp == 0 {
                continue;
            }
            // Above the guard page, below the parked frames and a margin.
            let low = task.stack_limit + page;
            let high = sp.saturating_sub(MARGIN) & !(page - 1);
            if high > low {
                // SAFETY: [low, high) lies inside this parked green thread's
                // stack mapping (above its guard page), below its stack
                // pointer by at least MARGIN: no frame of it is there while it
                // is suspended, and it rewrites what it reads there before
                // reading it when it runs again.
                unsafe { crate::sys::discard_pages(low, high - low) };
                left -= 1;
            }
        }
        crate::runtime::blocks::discard_free_pages();
        if self.free_spare_tasks() {
            return Sweep::Bounded;
        }
        if self.stacks.borrow_mut().discard_cold(WARM_STACKS, left) {
            return Sweep::Bounded;
        }
        more
    }
}

impl Core {
    /// Frees the boxes of finished green threads beyond `SPARE_TASKS` (at
    /// most `MAX_FREED` now): after 10 000 connections fell asleep they
    /// would otherwise stay, 360 bytes each. Returns whether some are left.
    fn free_spare_tasks(&self) -> bool {
        if self.tasks.spare_len() <= SPARE_TASKS {
            return false;
        }
        let spare = match &self.watch {
            // The watchdog thread reads the running task's label through its
            // box: none is freed while it reads, nor the one it may read next.
            Some(w) => w.free_tasks(|published| self.tasks.take_spare(SPARE_TASKS, MAX_FREED, published)),
            None => self.tasks.take_spare(SPARE_TASKS, MAX_FREED, std::ptr::null()),
        };
        drop(spare);
        self.tasks.spare_len() > SPARE_TASKS + 1
    }
}

/// Finished green threads' boxes kept for the next spawns.
const SPARE_TASKS: usize = 256;
/// Boxes freed per sweep at most.
const MAX_FREED: usize = 2048;

/// What a sweep left to do.
enum Sweep {
    Done,
    /// Some green threads were parked too recently: look again in a second.
    TooRecent,
    /// It stopped at its bound: go on soon.
    Bounded,
}

#[cfg(all(test, target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use std::cell::Cell;
    use std::hint::black_box;
    use std::rc::Rc;
    use std::time::Duration;

    use crate::runtime::core::core;

    /// Touches about `n` KiB of stack below the caller.
    #[inline(never)]
    fn deep(n: u32) -> u64 {
        let buf = black_box([n as u8; 1024]);
        let below = if n > 0 { deep(n - 1) } else { 0 };
        below + buf.iter().map(|&b| b as u64).sum::<u64>()
    }

    #[test]
    fn a_long_parked_green_thread_gives_back_its_dead_stack_pages_and_resumes_intact() {
        crate::run(|| {
            // (stack top, resident deep pages before parking)
            let seen = Rc::new(Cell::new((0usize, 0usize)));
            let seen_in = seen.clone();
            let parked = crate::spawn(move || {
                let expected = deep(64);
                let kept = black_box([7u8; 512]);
                let base = core().current_task().unwrap().stack_base;
                let deep_range = (base - 60 * 1024, 44 * 1024);
                seen_in.set((base, crate::sys::resident_pages(deep_range.0, deep_range.1)));
                crate::sleep(Duration::from_millis(3500));
                // Its own frame survived the sweep, and deep calls work again.
                assert!(kept.iter().all(|&b| b == 7));
                assert_eq!(deep(64), expected);
            });
            let watcher = crate::spawn(move || {
                // Green threads run on: the loop schedules sweeps, and one
                // finds the parked thread parked for over a second.
                for _ in 0..30 {
                    crate::sleep(Duration::from_millis(100));
                }
                let (base, before) = seen.get();
                let after = crate::sys::resident_pages(base - 60 * 1024, 44 * 1024);
                (before, after)
            });
            let (before, after) = watcher.join().unwrap();
            parked.join().unwrap();
            assert!(before >= 8, "the deep calls made pages resident: {before}");
            assert_eq!(after, 0, "dead pages below the parked frame are gone");
        });
    }

    #[test]
    fn the_boxes_of_finished_green_threads_beyond_the_spare_ones_are_freed() {
        crate::run(|| {
            let hs: Vec<_> = (0..1500).map(|_| crate::spawn(|| crate::sleep(Duration::from_millis(10)))).collect();
            for h in hs {
                h.join().unwrap();
            }
            assert!(core().tasks.spare_len() >= 1000, "finished boxes are kept at first");
            for _ in 0..25 {
                crate::sleep(Duration::from_millis(100));
            }
            let spare = core().tasks.spare_len();
            assert!(spare <= super::SPARE_TASKS + 1, "{spare} spare boxes left");
            // Spawning goes on as before.
            let n: u32 = (0..500).map(|i| crate::spawn(move || i % 2)).map(|h| h.join().unwrap()).sum();
            assert_eq!(n, 250);
        });
    }

    #[test]
    fn pooled_stacks_beyond_the_warm_ones_are_discarded_once() {
        crate::run(|| {
            // 40 green threads each touch 32 KiB, then finish: their stacks go to the pool.
            let hs: Vec<_> = (0..40).map(|_| crate::spawn(|| deep(32))).collect();
            for h in hs {
                h.join().unwrap();
            }
            for _ in 0..25 {
                crate::sleep(Duration::from_millis(100));
            }
            let pool = core().stacks.borrow();
            assert!(pool.clean_count() >= 40 - super::WARM_STACKS, "cleaned {}", pool.clean_count());
            assert_eq!(pool.resident_pages_of(0), 0, "the oldest pooled stack holds no pages");
            let warmest = pool.resident_pages_of(pool.clean_count());
            assert!(warmest >= 8, "a warm stack keeps its 32 KiB: {warmest} pages");
        });
    }
}
