//! Capturing the stack of a loop thread that a green thread is holding, from
//! the watchdog thread: a real-time signal sent to that thread with
//! `pthread_kill`, whose handler records raw instruction pointers into a
//! buffer the loop allocated when it was built, and says it is done with an
//! atomic. Symbolising happens later, off the loop (`symbols`).
//!
//! The handler walks the frames with the system unwinder
//! (`backtrace::trace_unsynchronized`, i.e. libgcc's `_Unwind_Backtrace`):
//! frame pointers are not guaranteed (std and most crates are built without
//! them), and the unwinder follows the DWARF call-frame information through
//! the kernel's signal frame onto the green thread's stack. Is that
//! async-signal-safe? Not by POSIX's list. What it does: it allocates
//! nothing, takes no lock of the program's, and finds each frame's
//! unwind table through `_dl_find_object` (glibc 2.35 and later, used by
//! libgcc 12 and later), which is lock-free and documented as
//! async-signal-safe. With an older glibc it falls back to `dl_iterate_phdr`,
//! which takes the loader's lock: a thread interrupted inside `dlopen` or
//! inside an unwind of its own would then deadlock. The watchdog interrupts
//! a thread that has been running user code for 20 ms, which is almost never
//! there; the decision is to accept that risk on old systems, bound the wait
//! on the watchdog's side, and stop capturing for good if a handler never
//! finishes (the feature turns off; the loop's own work is unaffected).
//! Builds without the `stacks` feature capture nothing.
//!
//! The signal is `SIGRTMIN + 6`, installed with `SA_RESTART` (an interrupted
//! blocking call is resumed, except those the kernel never restarts, like
//! `epoll_wait`, `nanosleep` and `poll`, which std and mio retry) and
//! `SA_ONSTACK` (the handler runs on the thread's alternate signal stack
//! when it has one: the green thread may be near the end of its own). If the
//! program already has a handler for that signal, nothing is installed and
//! nothing is captured.

// Without the `stacks` feature nothing is captured or symbolised.
#![cfg_attr(not(feature = "stacks"), allow(dead_code))]

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::sys::{self, OsThread, c_int, c_void, siginfo_t};

/// Most frames recorded per capture (the handler's own frames included).
pub(crate) const MAX_FRAMES: usize = 96;

const IDLE: u8 = 0;
const REQUESTED: u8 = 1;
const CAPTURING: u8 = 2;
const DONE: u8 = 3;

/// One loop thread's capture buffer: allocated with the loop, written only
/// by the signal handler running on that thread, read by the watchdog.
pub(crate) struct Capture {
    state: AtomicU8,
    /// The loop's thread (`pthread_self` when the loop was built).
    thread: OsThread,
    len: AtomicUsize,
    /// The interrupted instruction (frames before it are the handler's).
    pc: AtomicUsize,
    ips: [AtomicUsize; MAX_FRAMES],
}

/// A stack as captured: raw instruction pointers, innermost first, and the
/// interrupted instruction.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawStack {
    pub(crate) ips: Vec<usize>,
    pub(crate) pc: usize,
}

impl RawStack {
    /// The frames from the interrupted one outwards (the handler's own
    /// frames and the signal trampoline dropped), or all of them if the
    /// interrupted instruction is not among them.
    pub(crate) fn user_frames(&self) -> &[usize] {
        match self.ips.iter().position(|&ip| ip == self.pc) {
            Some(i) if self.pc != 0 => &self.ips[i..],
            _ => &self.ips,
        }
    }
}

impl Capture {
    /// A buffer for the calling thread (the loop's).
    pub(crate) fn for_current_thread() -> Capture {
        Capture {
            state: AtomicU8::new(IDLE),
            thread: OsThread::current(),
            len: AtomicUsize::new(0),
            pc: AtomicUsize::new(0),
            ips: [const { AtomicUsize::new(0) }; MAX_FRAMES],
        }
    }
}

/// The buffer the one outstanding request is for (the watchdog asks one
/// thread at a time); the handler fills nothing else.
static TARGET: std::sync::atomic::AtomicPtr<Capture> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
/// Set when captures are impossible or turned off (no handler, or a
/// handler that never finished).
static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn signal_number() -> c_int {
    sys::realtime_signal(6)
}

/// Installs the handler once; false if captures are not possible.
fn installed() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        if !cfg!(feature = "stacks") {
            return false;
        }
        // Ours only if the program left the signal alone.
        if !sys::disposition(signal_number()).is_ok_and(|d| d.is_default()) {
            log::debug!(target: "greenloop::watchdog", "signal {} is taken: no stacks", signal_number());
            return false;
        }
        sys::install_handler(signal_number(), handler, true).is_ok()
    })
}

extern "C" fn handler(_sig: c_int, _info: *mut siginfo_t, context: *mut c_void) {
    // errno is thread-local; saving and restoring it keeps the interrupted
    // code's value whatever the unwinder does.
    let errno = sys::errno();
    let target = TARGET.load(Ordering::Acquire);
    // SAFETY: TARGET points at a live Capture while a request is
    // outstanding (the watchdog clears it before the buffer can go away,
    // and waits for CAPTURING to end first).
    if let Some(capture) = unsafe { target.as_ref() } {
        let mine = capture.thread.is_current();
        if mine && capture.state.compare_exchange(REQUESTED, CAPTURING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            // SAFETY: `context` comes from the kernel for this SA_SIGINFO handler.
            capture.pc.store(unsafe { sys::interrupted_pc(context) }, Ordering::Relaxed);
            let n = walk(capture);
            capture.len.store(n, Ordering::Relaxed);
            capture.state.store(DONE, Ordering::Release);
        }
    }
    sys::set_errno(errno);
}

/// Records the frames into `capture` (no allocation, no lock of ours).
#[cfg(feature = "stacks")]
fn walk(capture: &Capture) -> usize {
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` requires that no other thread runs
    // `backtrace` functions concurrently in a way that needs its lock; on
    // Linux its libgcc unwinder keeps no global state of the crate's, and
    // the closure only stores into preallocated atomics. See the module
    // docs for the async-signal-safety of the unwinder itself.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            capture.ips[n].store(frame.ip() as usize, Ordering::Relaxed);
            n += 1;
            n < MAX_FRAMES
        });
    }
    n
}

#[cfg(not(feature = "stacks"))]
fn walk(_capture: &Capture) -> usize {
    0
}

/// Asks `capture`'s thread for its stack and waits for it (at most about
/// 100 ms; a thread that takes longer is given up on). `alive` is checked,
/// and must stay true, under a lock the runtime takes before its thread can
/// go away: the caller passes the closure that sends under it.
pub(crate) fn capture(capture: &Capture, send: impl FnOnce(&dyn Fn() -> bool) -> bool) -> Option<RawStack> {
    if DISABLED.load(Ordering::Relaxed) || !installed() {
        return None;
    }
    // One request at a time: TARGET names one buffer.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    capture.state.store(REQUESTED, Ordering::Relaxed);
    TARGET.store(std::ptr::from_ref(capture).cast_mut(), Ordering::Release);
    let thread = capture.thread;
    let kill = move || {
        // SAFETY: `thread` is alive: the caller runs this under the lock that
        // the runtime takes (and marks closed) before its thread can end.
        unsafe { thread.signal(signal_number()) }
    };
    let sent = send(&kill);
    let start = Instant::now();
    let mut done = false;
    if sent {
        loop {
            match capture.state.load(Ordering::Acquire) {
                DONE => {
                    done = true;
                    break;
                }
                CAPTURING if start.elapsed() < Duration::from_secs(2) => {}
                CAPTURING => {
                    // A handler that never finishes: never ask again, and leave
                    // TARGET as it is (the handler may still write to it).
                    log::warn!(target: "greenloop::watchdog", "a stack capture did not finish; stacks turned off");
                    DISABLED.store(true, Ordering::Relaxed);
                    return None;
                }
                _ if start.elapsed() > Duration::from_millis(100) => break,
                _ => {}
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    // Withdraw the request; a handler that starts now finds no REQUESTED.
    if !done && capture.state.compare_exchange(REQUESTED, IDLE, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // It started after all: wait for it, as above.
        while capture.state.load(Ordering::Acquire) == CAPTURING {
            if start.elapsed() > Duration::from_secs(2) {
                DISABLED.store(true, Ordering::Relaxed);
                return None;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        done = capture.state.load(Ordering::Acquire) == DONE;
    }
    TARGET.store(std::ptr::null_mut(), Ordering::Release);
    let stack = done.then(|| {
        let n = capture.len.load(Ordering::Relaxed).min(MAX_FRAMES);
        RawStack {
            ips: capture.ips[..n].iter().map(|ip| ip.load(Ordering::Relaxed)).collect(),
            pc: capture.pc.load(Ordering::Relaxed),
        }
    });
    capture.state.store(IDLE, Ordering::Relaxed);
    stack
}

#[cfg(all(test, feature = "stacks", target_os = "linux"))]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, mpsc};

    use super::*;

    /// Spins with errno set to a known value; returns errno afterwards.
    #[inline(never)]
    fn spin_in_a_known_function(stop: &AtomicBool, spinning: &AtomicBool) -> i32 {
        sys::set_errno(4242);
        spinning.store(true, Ordering::Release);
        while !stop.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
        sys::errno()
    }

    /// Starts a thread that makes its capture buffer, optionally blocks the
    /// signal, and spins until told to stop.
    fn spinner(block_signal: bool) -> (Arc<Capture>, Arc<AtomicBool>, std::thread::JoinHandle<i32>) {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let spinning = Arc::new(AtomicBool::new(false));
        let spinning2 = spinning.clone();
        let t = std::thread::spawn(move || {
            if block_signal {
                sys::block_signal_on_this_thread(signal_number());
            }
            let c = Arc::new(Capture::for_current_thread());
            tx.send(c.clone()).unwrap();
            spin_in_a_known_function(&stop2, &spinning2)
        });
        let buf = rx.recv().unwrap();
        while !spinning.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        (buf, stop, t)
    }

    #[test]
    fn the_handler_records_the_frames_of_the_interrupted_code() {
        let (capture_buf, stop, t) = spinner(false);
        // The spinning thread is alive until `stop`: the invariant `kill` needs.
        let stack = capture(&capture_buf, |kill| kill());
        stop.store(true, Ordering::Relaxed);
        assert_eq!(t.join().unwrap(), 4242, "the handler leaves errno as it found it");
        let stack = stack.expect("a stack");
        assert!(stack.pc != 0 && stack.ips.contains(&stack.pc), "the interrupted instruction is among the frames");
        let frames = super::super::symbols::frames(&stack);
        let names: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
        // Innermost first (inlined `spin_loop` frames before it), handler frames dropped.
        assert!(names.iter().take(4).any(|n| n.contains("spin_in_a_known_function")), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("capture::handler")), "{names:?}");
        assert_eq!(capture_buf.state.load(Ordering::Relaxed), IDLE, "ready for the next request");
    }

    #[test]
    fn a_thread_that_cannot_answer_is_given_up_on_and_its_late_signal_does_nothing() {
        let (capture_buf, stop, t) = spinner(true);
        let start = Instant::now();
        let stack = capture(&capture_buf, |kill| kill());
        assert!(stack.is_none());
        assert!(start.elapsed() < Duration::from_secs(2), "bounded wait: {:?}", start.elapsed());
        assert_eq!(capture_buf.state.load(Ordering::Relaxed), IDLE);
        assert!(TARGET.load(Ordering::Relaxed).is_null() || !DISABLED.load(Ordering::Relaxed));
        stop.store(true, Ordering::Relaxed);
        t.join().unwrap();
        assert_eq!(capture_buf.len.load(Ordering::Relaxed), 0, "the pending signal recorded nothing");
    }
}
