//! The loop's part of [`inspect::threads`](crate::inspect::threads): its
//! own tasks, listed on its own thread.

use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::tasks::State;
use super::{Core, Shared};
use crate::runtime::thread_info::{GreenThread, ThreadState, WaitReason};

impl Core {
    /// Every task of this loop (`worker` names it), except the caller's
    /// own green thread if `skip_self` (a collector spawned for the dump).
    ///
    /// Each task listed spends the caller's cooperative budget, so a loop
    /// with 10,000 green threads is listed in slices between which the
    /// others run, not in one stretch that holds them all up. The list is
    /// taken first (a copy of the live references), so a task that ends
    /// meanwhile is skipped and one that starts is not listed.
    pub(crate) fn green_threads(&self, worker: &str, skip_self: bool) -> Vec<GreenThread> {
        let me = self.current();
        let live = self.tasks.live();
        let mut out = Vec::with_capacity(live.len());
        for r in live {
            if skip_self && Some(r) == me {
                continue;
            }
            // May yield: never with a borrow of the task table held.
            self.spend();
            let now = Instant::now().max(self.now.get());
            let Some(task) = self.tasks.get(r) else { continue };
            let state = match task.state.get() {
                State::Running => ThreadState::Running,
                State::Queued => ThreadState::Ready,
                State::Parked => ThreadState::Parked,
            };
            let parked = state == ThreadState::Parked;
            let waiting_on = parked.then(|| task.wait.get());
            let fd = match waiting_on {
                Some(WaitReason::Read | WaitReason::Write) => self.io_fd(task.wait_io.get() as usize),
                _ => None,
            };
            let label = task.label.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, l)| l.text());
            out.push(GreenThread {
                worker: worker.to_owned(),
                id: task.id,
                label: label.or_else(|| task.name.as_deref().map(str::to_owned)),
                state,
                waiting_on,
                fd,
                since: parked.then(|| now.saturating_duration_since(task.parked_at.get())),
            });
        }
        out.sort_by_key(|t| t.id);
        out
    }
}

/// A loop known to [`threads`](crate::inspect::threads): its remote door
/// and its thread's name.
struct Known {
    shared: Weak<Shared>,
    thread: String,
}

fn known() -> &'static Mutex<Vec<Known>> {
    static LOOPS: Mutex<Vec<Known>> = Mutex::new(Vec::new());
    &LOOPS
}

/// Records a new loop (called on its own thread when it is built).
pub(super) fn register(shared: &Arc<Shared>) {
    let thread = std::thread::current().name().unwrap_or("<unnamed>").to_owned();
    let mut loops = known().lock().unwrap_or_else(|e| e.into_inner());
    loops.retain(|k| k.shared.strong_count() > 0);
    loops.push(Known { shared: Arc::downgrade(shared), thread });
}

/// Every loop still alive, with its thread's name: the loops a dump asks.
pub(crate) fn known_loops() -> Vec<(Arc<Shared>, String)> {
    let loops = known().lock().unwrap_or_else(|e| e.into_inner());
    loops.iter().filter_map(|k| Some((k.shared.upgrade()?, k.thread.clone()))).collect()
}
