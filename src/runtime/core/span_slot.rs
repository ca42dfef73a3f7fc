//! The `tracing` spans a green thread has entered, kept with it while it is
//! suspended (feature `tracing`).
//!
//! A subscriber keeps the stack of entered spans per *OS thread* (the
//! `Registry` of tracing-subscriber in a thread-local). Green threads share
//! their OS thread, so a span entered by one (`let _g = span.enter()`) and
//! held across a park would otherwise stay on that stack while others run,
//! and their events would be recorded inside it.
//!
//! So the scheduler moves the stack with the green thread: when a green
//! thread suspends (or ends), every span it left entered is exited on the
//! dispatcher, innermost first, and its id kept in the task's [`SpanSlot`];
//! when it resumes, they are entered again, outermost first. This works by
//! span id through `Dispatch::exit`/`Dispatch::enter`, the same calls
//! `Span::enter` and the drop of its guard make, so it needs nothing of the
//! subscriber beyond `current_span`, and any subscriber that tracks the
//! current span sees the right one. A subscriber that reports no current
//! span (or only one it does not pop on exit) is left as it is, after at most
//! [`MAX_DEPTH`] exits.
//!
//! Cost: without the feature, nothing (the slot and the calls are not
//! compiled). With it but no subscriber ever set, one relaxed atomic load
//! and one flag test per switch. With a subscriber, one `current_span` per switch, and the
//! exits and enters only for green threads that hold spans.

use std::cell::{Cell, RefCell};

use tracing::Dispatch;
use tracing::dispatcher;
use tracing::span::Id;

use super::Core;
use super::tasks::Task;

/// More nested spans than any real code holds: a bound on the exits done at
/// one switch, so a subscriber whose current span does not move on exit
/// cannot hold the loop.
const MAX_DEPTH: usize = 64;

/// A task's entered spans while it is not running: innermost first, and the
/// dispatcher they were entered on.
#[derive(Default)]
pub(crate) struct SpanSlot {
    /// Whether `stash` holds spans: the one load a resume pays when not.
    held: Cell<bool>,
    stash: RefCell<Stash>,
}

#[derive(Default)]
struct Stash {
    ids: Vec<Id>,
    dispatch: Option<Dispatch>,
}

impl SpanSlot {
    /// Forgets what a finished task held (its spans were already exited).
    pub(super) fn clear(&mut self) {
        self.held.set(false);
        let s = self.stash.get_mut();
        s.ids.clear();
        s.dispatch = None;
    }
}

/// The span current on this OS thread when the loop started: what the
/// scheduler itself runs in, and where a suspending green thread's stack
/// stops.
pub(super) fn loop_base() -> Option<Id> {
    if !dispatcher::has_been_set() {
        return None;
    }
    dispatcher::get_default(|d| d.current_span().id().cloned())
}

impl Core {
    /// Re-enters the spans `task` held when it suspended, before it resumes.
    #[inline]
    pub(super) fn restore_spans(&self, task: &Task) {
        if !task.spans.held.get() {
            return;
        }
        self.restore_slow(task);
    }

    #[cold]
    #[inline(never)]
    fn restore_slow(&self, task: &Task) {
        task.spans.held.set(false);
        let mut s = task.spans.stash.borrow_mut();
        if let Some(d) = s.dispatch.take() {
            for id in s.ids.iter().rev() {
                d.enter(id);
            }
        }
        s.ids.clear();
    }

    /// Exits the spans `task` left entered when it suspended or ended, and
    /// keeps them for [`restore_spans`](Self::restore_spans).
    #[inline]
    pub(super) fn stash_spans(&self, task: &Task) {
        // The relaxed load `tracing`'s own macros start with: a process that
        // never set a subscriber pays nothing more.
        if !dispatcher::has_been_set() {
            return;
        }
        let base = self.span_base.borrow();
        let top = dispatcher::get_default(|d| d.current_span().id().cloned());
        if top.is_none() || top == *base {
            return;
        }
        self.stash_slow(task, base.as_ref());
    }

    #[cold]
    #[inline(never)]
    fn stash_slow(&self, task: &Task, base: Option<&Id>) {
        // Cloned out: a subscriber's `exit` may look up the dispatcher
        // itself, and `get_default` calls must not nest.
        let d = dispatcher::get_default(Dispatch::clone);
        let mut s = task.spans.stash.borrow_mut();
        for _ in 0..MAX_DEPTH {
            let current = d.current_span();
            let Some(id) = current.id() else { break };
            if Some(id) == base {
                break;
            }
            let id = id.clone();
            d.exit(&id);
            s.ids.push(id);
        }
        task.spans.held.set(!s.ids.is_empty());
        s.dispatch = Some(d);
    }
}
