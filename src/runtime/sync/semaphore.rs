//! A counting semaphore with FIFO hand-off.

use crate::runtime::thread_info::WaitReason;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::lock::lock;
use crate::park::{self, Unparker, Wake};

struct Waiter {
    granted: AtomicBool,
    unparker: Unparker,
}

struct State {
    permits: usize,
    waiters: VecDeque<Arc<Waiter>>,
}

/// Limits how many green threads do something at once.
///
/// Permits are handed to waiters in arrival order: a release wakes the
/// longest waiter with the permit already in hand, so nobody starves.
///
/// ```
/// use greenloop::sync::Semaphore;
/// let sem = Semaphore::new(2);
/// let a = sem.acquire();
/// let _b = sem.acquire();
/// assert!(sem.try_acquire().is_none());
/// drop(a);
/// assert!(sem.try_acquire().is_some());
/// ```
pub struct Semaphore {
    state: StdMutex<State>,
}

/// A permit; released when dropped.
#[must_use = "the permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(1);
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore").field("available", &self.available_permits()).finish()
    }
}

/// Leaves the wait queue cleanly when a wait ends without taking its permit.
struct WaitGuard<'a> {
    sem: &'a Semaphore,
    waiter: Arc<Waiter>,
    taken: bool,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut s = lock(&self.sem.state);
        if self.waiter.granted.load(Ordering::Acquire) {
            // Granted after we stopped waiting: pass the permit on.
            drop(s);
            self.sem.release(1);
        } else {
            s.waiters.retain(|w| !Arc::ptr_eq(w, &self.waiter));
        }
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore { state: StdMutex::new(State { permits, waiters: VecDeque::new() }) }
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        lock(&self.state).permits
    }

    /// Takes a permit if one is free and nobody is queued for it.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let mut s = lock(&self.state);
        if s.permits > 0 && s.waiters.is_empty() {
            s.permits -= 1;
            Some(SemaphorePermit { sem: self })
        } else {
            None
        }
    }

    /// Waits (parks) for a permit.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.acquire_for(WaitReason::Semaphore)
    }

    /// [`acquire`](Self::acquire), shown as waiting on `why` in thread dumps
    /// (a `Mutex` is a semaphore of one permit, and says `lock`).
    pub(crate) fn acquire_for(&self, why: WaitReason) -> SemaphorePermit<'_> {
        match self.acquire_deadline(None, true, why) {
            Some(p) => p,
            None => unreachable!("an acquire without deadline returned empty-handed"),
        }
    }

    /// Waits at most `timeout` for a permit.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_timeout_for(timeout, WaitReason::Semaphore)
    }

    /// [`acquire_timeout`](Self::acquire_timeout), shown as waiting on `why`.
    pub(crate) fn acquire_timeout_for(&self, timeout: Duration, why: WaitReason) -> Option<SemaphorePermit<'_>> {
        self.acquire_deadline(Instant::now().checked_add(timeout), false, why)
    }

    /// Adds `n` permits (waking waiters).
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    fn acquire_deadline(
        &self,
        deadline: Option<Instant>,
        infallible: bool,
        why: WaitReason,
    ) -> Option<SemaphorePermit<'_>> {
        let waiter = {
            let mut s = lock(&self.state);
            if s.permits > 0 && s.waiters.is_empty() {
                s.permits -= 1;
                return Some(SemaphorePermit { sem: self });
            }
            let w = Arc::new(Waiter { granted: AtomicBool::new(false), unparker: park::unparker() });
            s.waiters.push_back(w.clone());
            w
        };
        // However this wait ends (a permit, a timeout, or an unwind through
        // it), the queue must not keep an entry for it, and a permit handed to
        // it but never taken must go back.
        let mut guard = WaitGuard { sem: self, waiter, taken: false };
        loop {
            if guard.waiter.granted.load(Ordering::Acquire) {
                guard.taken = true;
                return Some(SemaphorePermit { sem: self });
            }
            if park::park_deadline_for(deadline, why) == Wake::TimedOut {
                if guard.waiter.granted.load(Ordering::Acquire) {
                    guard.taken = true;
                    return Some(SemaphorePermit { sem: self });
                }
                drop(guard);
                if infallible {
                    // Only an expired `timeout` scope ends a deadline-less wait.
                    crate::runtime::park::raise_elapsed();
                }
                return None;
            }
        }
    }

    fn release(&self, n: usize) {
        let mut wake = Vec::new();
        {
            let mut s = lock(&self.state);
            s.permits += n;
            while s.permits > 0 {
                let Some(w) = s.waiters.pop_front() else { break };
                s.permits -= 1;
                w.granted.store(true, Ordering::Release);
                wake.push(w);
            }
        }
        for w in wake {
            w.unparker.unpark();
        }
    }
}
