//! Stack overflow on a green thread: a clear message, and (on x86-64 Linux)
//! only that green thread fails.
//!
//! Every green stack has a `PROT_NONE` guard page below it. Touching it raises
//! `SIGSEGV`, which we catch on the thread's alternate signal stack. If the
//! faulting address is in the guard page of the green thread running on this
//! OS thread, we print a message naming the green thread, its stack size and
//! how to raise it; then we use corosensei's trap facility to make the
//! coroutine return `Exit::StackOverflow` to the scheduler, which fails that
//! green thread's `JoinHandle` and keeps the loop running. Any other fault is
//! passed to the previously installed handler (Rust's own, which reports
//! overflows of OS-thread stacks).
//!
//! What recovery cannot do: the overflowed green thread's stack is discarded
//! without running destructors, so whatever its frames owned is leaked and
//! any lock it held stays held. Its green-thread locals ([`LocalKey`]
//! values) are dropped, though, as for any green thread that ends: that is
//! where to keep what must be given back even then (the HTTP server keeps a
//! connection's slot, registration and a share of its socket there). Set
//! `Builder::abort_on_stack_overflow(true)` to abort the process instead, as
//! Rust does for OS threads.
//!
//! [`LocalKey`]: crate::LocalKey

use std::cell::Cell;
use std::sync::{Once, OnceLock};

use super::core::{Exit, running_task};
use crate::sys::{self, Disposition, c_int, c_void, siginfo_t};

thread_local! {
    static ALTSTACK_READY: Cell<bool> = const { Cell::new(false) };
}

/// Installs the process-wide SIGSEGV/SIGBUS handler once, and makes sure this
/// thread has an alternate signal stack to run it on.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (sig, slot) in [(sys::SIGSEGV, &PREV_SEGV), (sys::SIGBUS, &PREV_BUS)] {
            if let Ok(prev) = sys::install_handler(sig, handler, false) {
                let _ = slot.set(prev);
            }
        }
    });
    ALTSTACK_READY.with(|ready| {
        if !ready.get() {
            // Rust gives the main thread and `std::thread`s an alternate
            // signal stack; threads made any other way may have none. The
            // mapping is leaked at thread exit: one 64 KiB mapping per
            // runtime thread that lacked an alternate stack.
            sys::ensure_altstack(64 * 1024);
            ready.set(true);
        }
    });
}

/// What SIGSEGV and SIGBUS did before ours: faults that are not a green
/// thread's overflow go there.
static PREV_SEGV: OnceLock<Disposition> = OnceLock::new();
static PREV_BUS: OnceLock<Disposition> = OnceLock::new();

fn write_decimal(mut n: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    sys::write_stderr(&buf[i..]);
}

fn report(name: Option<&str>, stack_size: usize) {
    sys::write_stderr(b"\ngreenloop: green thread '");
    sys::write_stderr(name.unwrap_or("<unnamed>").as_bytes());
    sys::write_stderr(b"' has overflowed its stack of ");
    write_decimal(stack_size / 1024);
    sys::write_stderr(
        b" KiB. Raise it with greenloop::Builder::stack_size(bytes), or the \
          GREENLOOP_STACK_SIZE environment variable (bytes), or move deep \
          recursion to greenloop::offload.\n",
    );
}

extern "C" fn handler(sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { sys::fault_address(info) };
    // SAFETY: reads the running task through the loop's own bookkeeping;
    // the task cannot be freed while it is running (and it is: it faulted).
    if let Some((task, config)) = unsafe { running_task() } {
        let guard_lo = task.stack_limit;
        if addr >= guard_lo && addr < guard_lo + config.page_size {
            report(task.name.as_deref(), config.stack_size);
            if config.abort_on_stack_overflow {
                sys::abort();
            }
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            // SAFETY: `context` is the kernel's for this SA_SIGINFO handler;
            // the fault is a guard-page hit of the running coroutine (checked
            // above), so its stack pointer is in bounds; we rewrite the
            // interrupted context exactly as `TrapHandlerRegs` says.
            unsafe {
                let sp = sys::interrupted_sp(context);
                if task.trap.stack_ptr_in_bounds(sp) {
                    let regs = task.trap.setup_trap_handler(|| Exit::StackOverflow);
                    sys::resume_at(
                        context,
                        sys::Resume {
                            rip: regs.rip as usize,
                            rsp: regs.rsp as usize,
                            rbp: regs.rbp as usize,
                            rdi: regs.rdi as usize,
                            rsi: regs.rsi as usize,
                        },
                    );
                    return;
                }
            }
            sys::abort();
        }
    }
    // Not ours: hand it to whoever was installed before us.
    let prev = if sig == sys::SIGBUS { &PREV_BUS } else { &PREV_SEGV };
    let prev = prev.get().copied().unwrap_or(Disposition::DEFAULT);
    if prev.is_default_or_ignored() {
        // Restore the default and return: the fault repeats and kills the
        // process with the usual signal (and core dump).
        sys::reset_to_default(sig);
    } else {
        // SAFETY: we are the handler for `sig`, passing on the kernel's
        // arguments; `prev` names a handler (checked above).
        unsafe { prev.forward(sig, info, context) };
    }
}
