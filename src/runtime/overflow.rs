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
use std::sync::Once;

use super::core::{Exit, running_task};

thread_local! {
    static ALTSTACK_READY: Cell<bool> = const { Cell::new(false) };
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Installs the process-wide SIGSEGV/SIGBUS handler once, and makes sure this
/// thread has an alternate signal stack to run it on.
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = page_size();
        // SAFETY: installing a handler with a zeroed, then filled, sigaction;
        // the previous actions are saved before any fault can reach ours.
        unsafe {
            for (sig, slot) in [(libc::SIGSEGV, &raw mut PREV_SEGV), (libc::SIGBUS, &raw mut PREV_BUS)] {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, slot);
            }
        }
    });
    ALTSTACK_READY.with(|ready| {
        if !ready.get() {
            ensure_altstack();
            ready.set(true);
        }
    });
}

// SAFETY: `sigaction` is a plain C struct of integers, pointers and a
// signal set, for which all-zero bytes are a valid (empty) value.
static mut PREV_SEGV: libc::sigaction = unsafe { std::mem::zeroed() };
// SAFETY: as for PREV_SEGV.
static mut PREV_BUS: libc::sigaction = unsafe { std::mem::zeroed() };

/// Rust gives the main thread and `std::thread`s an alternate signal stack;
/// threads made any other way may have none, and a handler for a stack
/// overflow cannot run on the overflowed stack.
fn ensure_altstack() {
    // SAFETY: querying with a null new-stack pointer only reads the current one.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut current) != 0 {
            return;
        }
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let size = 64 * 1024;
        let mem = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        // The mapping is kept for the thread's life (leaked at thread exit:
        // one 64 KiB mapping per runtime thread that lacked an alternate stack).
        let stack = libc::stack_t { ss_sp: mem, ss_flags: 0, ss_size: size };
        libc::sigaltstack(&stack, std::ptr::null_mut());
    }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for its length.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}

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
    write_stderr(&buf[i..]);
}

fn report(name: Option<&str>, stack_size: usize) {
    write_stderr(b"\ngreenloop: green thread '");
    write_stderr(name.unwrap_or("<unnamed>").as_bytes());
    write_stderr(b"' has overflowed its stack of ");
    write_decimal(stack_size / 1024);
    write_stderr(
        b" KiB. Raise it with greenloop::Builder::stack_size(bytes), or the \
          GREENLOOP_STACK_SIZE environment variable (bytes), or move deep \
          recursion to greenloop::offload.\n",
    );
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    // SAFETY: reads the running task through the loop's own bookkeeping;
    // the task cannot be freed while it is running (and it is: it faulted).
    if let Some((task, config)) = unsafe { running_task() } {
        let guard_lo = task.stack_limit;
        if addr >= guard_lo && addr < guard_lo + config.page_size {
            report(task.name.as_deref(), config.stack_size);
            if config.abort_on_stack_overflow {
                // SAFETY: abort is async-signal-safe.
                unsafe { libc::abort() };
            }
            #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
            // SAFETY: the fault is a guard-page hit of the running coroutine
            // (checked above), so its stack pointer is in bounds; we rewrite
            // the interrupted context exactly as `TrapHandlerRegs` says.
            unsafe {
                let uc = context as *mut libc::ucontext_t;
                let gregs = &mut (*uc).uc_mcontext.gregs;
                let sp = gregs[libc::REG_RSP as usize] as usize;
                if task.trap.stack_ptr_in_bounds(sp) {
                    let regs = task.trap.setup_trap_handler(|| Exit::StackOverflow);
                    gregs[libc::REG_RIP as usize] = regs.rip as i64;
                    gregs[libc::REG_RSP as usize] = regs.rsp as i64;
                    gregs[libc::REG_RBP as usize] = regs.rbp as i64;
                    gregs[libc::REG_RDI as usize] = regs.rdi as i64;
                    gregs[libc::REG_RSI as usize] = regs.rsi as i64;
                    return;
                }
            }
            // SAFETY: as above.
            unsafe { libc::abort() };
        }
    }
    // Not ours: hand it to whoever was installed before us.
    // SAFETY: PREV_* were written once by `install` before this handler existed.
    unsafe {
        let prev: libc::sigaction =
            std::ptr::read(if sig == libc::SIGBUS { &raw const PREV_BUS } else { &raw const PREV_SEGV });
        if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
            // Restore the default and return: the fault repeats and kills the
            // process with the usual signal (and core dump).
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(prev.sa_sigaction);
            f(sig, info, context);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(sig);
        }
    }
}
