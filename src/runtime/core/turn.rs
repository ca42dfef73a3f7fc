//! The loop's turn: run ready green threads, poll for I/O, take in messages
//! from other threads, fire due timers; and the ends of green threads
//! (finish, and cancellation at shutdown).

use std::io;
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use corosensei::CoroutineResult;

use super::tasks::{Exit, State, Task, TaskRef};
use super::{Core, FORCE_UNWINDING, Remote, WAKER_TOKEN};
use crate::runtime::join_error::JoinError;

/// Green-thread switches between two polls for I/O while tasks stay ready
/// (the figure tokio uses for its event interval).
const IO_INTERVAL: usize = 61;
/// Idle stacks beyond the pool's bound unmapped per turn that found nothing
/// to do: a batch takes about 0.1 ms, so an event arriving meanwhile waits
/// little.
const TRIM_BATCH: usize = 16;
/// A busy loop unmaps one excess stack every this many turns: rarely enough
/// not to slow the end of a burst (one per closing connection took a tenth of
/// the loop's time), often enough to give memory back under sustained load.
const BUSY_TRIM_EVERY: u64 = 64;

impl Core {
    /// Runs the loop until `done()` is true after a round of tasks.
    pub(crate) fn run_until(&self, done: &dyn Fn() -> bool) -> io::Result<()> {
        #[cfg(feature = "tracing")]
        {
            *self.span_base.borrow_mut() = super::span_slot::loop_base();
        }
        loop {
            self.counters.iterations.set(self.counters.iterations.get() + 1);
            self.run_ready();
            if done() {
                return Ok(());
            }
            self.turn()?;
        }
    }

    /// Runs ready tasks, including ones they make ready, for at most
    /// `IO_INTERVAL` switches; then the loop polls for I/O (without waiting
    /// while tasks are still ready), so a busy loop cannot starve I/O, and
    /// an idle-I/O loop does not pay a syscall per switch.
    fn run_ready(&self) {
        for _ in 0..IO_INTERVAL {
            let next = self.run_queue.borrow_mut().pop_front();
            match next {
                Some(r) => self.run_task(r),
                None => break,
            }
        }
    }

    /// One poll for I/O, then remote messages and due timers.
    fn turn(&self) -> io::Result<()> {
        let idle = self.run_queue.borrow().is_empty();
        // Idle stacks beyond the pool's bound are unmapped at the end of a
        // turn: a batch when the turn found nothing to do, one every
        // `BUSY_TRIM_EVERY` busy turns (so a loop that never idles still
        // gives them back). Until they are all gone an idle loop polls
        // without blocking, to find idle turns.
        let excess = self.stacks.borrow().has_excess();
        let mut asleep = None;
        let timeout = if !idle || excess {
            Some(Duration::ZERO)
        } else {
            // A loop that will wait (nothing to run) tells the watchdog it
            // sleeps, and reads the clock before and after to count its idle
            // time; a busy loop polls without waiting and pays neither.
            let now = Instant::now();
            asleep = Some(now);
            if let Some(w) = &self.watch {
                w.idle();
            }
            let next = match (self.timers.borrow().next_deadline(), self.next_sweep()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            next.map(|at| at.saturating_duration_since(now))
        };
        #[cfg(feature = "tokio")]
        let timeout = self.drive_tokio(timeout);
        let mut events = self.events.borrow_mut();
        let polled = self.poll.borrow_mut().poll(&mut events, timeout);
        if let Some(before) = asleep {
            self.woke(before);
        } else if !events.is_empty() || !self.timers.borrow().is_empty() {
            // Read only when something will look at it: I/O arrived (its
            // handlers stamp it) or timers are pending. A loop of pure
            // computation between green threads pays no clock read per turn.
            self.stamp_now();
        }
        match polled {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() != WAKER_TOKEN {
                self.dispatch_io(event);
            }
        }
        drop(events);
        self.drain_remote();
        self.fire_due_timers();
        self.sweep_stacks_if_due(self.now.get());
        if excess {
            let quiet = idle && self.run_queue.borrow().is_empty();
            if quiet {
                self.stacks.borrow_mut().trim(TRIM_BATCH);
            } else if self.counters.iterations.get().is_multiple_of(BUSY_TRIM_EVERY) {
                self.stacks.borrow_mut().trim(1);
            }
        }
        Ok(())
    }

    /// With the loop's own tokio runtime: a busy loop gives it one tick; an
    /// idle one sleeps in it (which also watches the loop's epoll fd) after
    /// making sure its own epoll has nothing pending. Returns the timeout
    /// left for the loop's own poll: zero once tokio has waited.
    #[cfg(feature = "tokio")]
    fn drive_tokio(&self, timeout: Option<Duration>) -> Option<Duration> {
        use std::os::fd::AsRawFd;
        let Some(t) = &self.tokio else { return timeout };
        t.tick();
        if timeout == Some(Duration::ZERO) || self.has_ready_tasks() || self.shared.notified.load(Ordering::Acquire) {
            return Some(Duration::ZERO);
        }
        // Events already pending in the loop's epoll may have set tokio's
        // readiness long ago (edge-triggered): look first, without waiting.
        let fd = self.poll.borrow().as_raw_fd();
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll(2) on one valid pollfd, without waiting; an epoll fd
        // reports POLLIN while it has events, without consuming them.
        let pending = unsafe { libc::poll(&mut pfd, 1, 0) } > 0;
        if !pending {
            t.wait(self, fd, timeout);
        }
        Some(Duration::ZERO)
    }

    /// After a poll that waited since `before`: the clock, the idle time,
    /// and the watchdog told that the loop is awake.
    #[inline(never)]
    fn woke(&self, before: Instant) {
        let now = self.stamp_now();
        let idle = now.saturating_duration_since(before).as_nanos() as u64;
        self.counters.idle_ns.set(self.counters.idle_ns.get() + idle);
        if let Some(w) = &self.watch {
            w.busy();
        }
    }

    fn drain_remote(&self) {
        // A plain load first: the swap is a locked instruction, and most
        // turns find nothing. A push this load misses found the flag false
        // in its own swap, so it also wakes the poll: its message is drained
        // in the turn that wake-up starts.
        if !self.shared.notified.load(Ordering::Acquire) {
            return;
        }
        // Clear the flag first: anything pushed after this wakes the loop again.
        if !self.shared.notified.swap(false, Ordering::AcqRel) {
            return;
        }
        while let Some(msg) = self.shared.queue.pop() {
            match msg {
                Remote::Unpark(r) => self.unpark(r),
                Remote::Spawn(f) => {
                    if let Err(e) = self.spawn_task(None, None, f) {
                        log::error!("greenloop: could not spawn a remote task: {e}");
                    }
                }
            }
        }
    }

    fn run_task(&self, r: TaskRef) {
        let Some(task) = self.tasks.get(r) else { return };
        if task.state.get() != State::Queued {
            return;
        }
        let ptr: *const _ = task;
        task.state.set(State::Running);
        self.current.set(Some(r));
        self.current_task.set(ptr);
        self.refill();
        let n = self.counters.switches.get() + 1;
        self.counters.switches.set(n);
        if let Some(w) = &self.watch {
            w.enter(n, ptr.cast());
        }
        // SAFETY: only the scheduler touches the coroutine cell, and it is not
        // re-entered: a task cannot resume another task's coroutine.
        let coroutine = unsafe { (*task.coroutine.get()).as_mut() }.expect("task has a coroutine");
        #[cfg(feature = "tracing")]
        self.restore_spans(task);
        let result = coroutine.resume(());
        #[cfg(feature = "tracing")]
        self.stash_spans(task);
        if let Some(w) = &self.watch {
            w.leave(n);
        }
        self.current.set(None);
        self.current_task.set(ptr::null());
        if let CoroutineResult::Return(exit) = result {
            self.finish(r, exit);
        }
    }

    fn finish(&self, r: TaskRef, exit: Exit) {
        let Some(mut task) = self.tasks.remove(r) else { return };
        self.counters.alive.set(self.counters.alive.get() - 1);
        if let Some(co) = task.coroutine.get_mut().take() {
            self.stacks.borrow_mut().give_back(co.into_stack());
        }
        if let Exit::StackOverflow = exit {
            let error = JoinError::stack_overflow(task.name.clone(), self.config.stack_size);
            log::error!("{error}");
            if let Some(c) = task.completion.take() {
                c.fail(error);
            }
        }
        self.recycle(task);
    }

    /// Drops every remaining task, unwinding suspended ones. Called at runtime
    /// shutdown with this core entered.
    pub(crate) fn shutdown(&self) {
        self.shared.alive.store(false, Ordering::Release);
        if let Some(w) = &self.watch {
            w.close();
        }
        loop {
            let refs = self.tasks.live();
            if refs.is_empty() {
                break;
            }
            for r in refs {
                self.cancel(r);
            }
        }
        self.run_queue.borrow_mut().clear();
        while self.shared.queue.pop().is_some() {}
    }

    fn cancel(&self, r: TaskRef) {
        let Some(mut task) = self.tasks.remove(r) else { return };
        self.counters.alive.set(self.counters.alive.get() - 1);
        if let Some(mut co) = task.coroutine.get_mut().take() {
            let ptr: *const Task = &*task;
            task.state.set(State::Running);
            self.current.set(Some(r));
            self.current_task.set(ptr);
            #[cfg(feature = "tracing")]
            self.restore_spans(&task);
            FORCE_UNWINDING.with(|f| f.set(true));
            co.force_unwind();
            FORCE_UNWINDING.with(|f| f.set(false));
            #[cfg(feature = "tracing")]
            self.stash_spans(&task);
            self.current.set(None);
            self.current_task.set(ptr::null());
            if co.done() {
                self.stacks.borrow_mut().give_back(co.into_stack());
            }
        }
        if let Some(c) = task.completion.take() {
            c.fail(JoinError::cancelled());
        }
    }
}
