//! The crate's calls into the operating system (`libc`), in one place.
//!
//! Everything above uses these wrappers and names no `libc::` item itself:
//! the unsafe blocks, and what makes each of them sound, are all here. Most
//! wrappers are safe functions. A few stay `unsafe fn` because their
//! soundness depends on something only the caller knows (a signal handler's
//! arguments, a thread still alive, a descriptor nobody else owns); each
//! says so under `# Safety`.
//!
//! This is the lowest layer of the crate: it imports nothing of the crate's.

use std::io;
use std::os::fd::RawFd;

pub(crate) use libc::{c_int, c_void, siginfo_t};

/// `EINPROGRESS`: a non-blocking `connect` has not finished yet.
pub(crate) const EINPROGRESS: i32 = libc::EINPROGRESS;
/// `O_NONBLOCK` for `OpenOptions::custom_flags`: opening a FIFO must not wait for a writer.
#[cfg_attr(not(feature = "static-files"), allow(dead_code))]
pub(crate) const O_NONBLOCK: i32 = libc::O_NONBLOCK;
/// `O_PATH | O_DIRECTORY` for `OpenOptions::custom_flags`: a handle on a
/// directory that only anchors lookups below it ([`open_beneath`]).
#[cfg_attr(not(feature = "static-files"), allow(dead_code))]
pub(crate) const O_PATH_DIRECTORY: i32 = libc::O_PATH | libc::O_DIRECTORY;
/// `EPROTO`: a protocol error on a socket (Linux reports some aborted
/// handshakes from `accept` this way).
pub(crate) const EPROTO: i32 = libc::EPROTO;

/// The size of a memory page.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// The monotonic clock in nanoseconds (`clock_gettime(CLOCK_MONOTONIC)`,
/// the clock `Instant` reads).
///
/// For durations measured per request: the difference of two readings is
/// one subtraction, where `Instant - Instant` normalises a `Duration`
/// (about 55 instructions, as much as the rest of the latency metrics).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// Receives into `buf` from the stream socket `fd` (`recvfrom(2)` as a
/// plain system call).
///
/// glibc's `recv` and `send` (and `read`/`write`, which std's sockets call)
/// are thread cancellation points: each call turns asynchronous
/// cancellation on and off around the system call, about 60 instructions,
/// as much as the rest of a read. Rust code never cancels threads, so the
/// green sockets call the kernel directly. Errors are as `recv` reports
/// them (`WouldBlock`, `Interrupted`, ...).
#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole
    // call, and no address is asked for (null pointers). A closed or reused
    // descriptor yields an error or another socket's bytes, never a write
    // outside `buf`.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            libc::c_long::from(fd),
            buf.as_mut_ptr(),
            buf.len(),
            0 as libc::c_long,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    byte_count(n as isize)
}

/// Sends `buf` on the stream socket `fd` (`sendto(2)` as a plain system
/// call, with `MSG_NOSIGNAL`: a peer gone is `BrokenPipe`, not `SIGPIPE`),
/// for the reason [`recv`] gives.
#[inline]
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    send_flags(fd, buf, libc::MSG_NOSIGNAL)
}

/// Sends `buf` on the socket `fd` with `MSG_MORE`: the kernel holds a
/// partial segment back for the data the caller sends next (a response
/// head before its `sendfile` body: one packet, not two). Otherwise as
/// [`send`].
pub(crate) fn send_more(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    send_flags(fd, buf, libc::MSG_MORE | libc::MSG_NOSIGNAL)
}

/// `sendto(2)` on a connected stream socket with `flags`, as a plain system call.
#[inline]
fn send_flags(fd: RawFd, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole
    // call; no address is given (null, length 0), as on a connected socket.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            libc::c_long::from(fd),
            buf.as_ptr(),
            buf.len(),
            libc::c_long::from(flags),
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::c_long,
        )
    };
    byte_count(n as isize)
}

/// A byte count returned by a system call: negative is the error in `errno`.
#[inline]
fn byte_count(n: isize) -> io::Result<usize> {
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

/// Writes `bytes` to standard error with one `write(2)`, ignoring errors.
/// Async-signal-safe: for messages from a signal handler.
pub(crate) fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for its length.
    unsafe {
        libc::write(2, bytes.as_ptr().cast(), bytes.len());
    }
}

/// Ends the process at once (`abort(3)`); async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions and is async-signal-safe.
    unsafe { libc::abort() }
}

/// Gives free heap memory of this process back to the system
/// (`malloc_trim(0)`; glibc only, nothing elsewhere).
#[cfg_attr(not(feature = "stacks"), allow(dead_code))]
pub(crate) fn malloc_trim() {
    // SAFETY: malloc_trim only releases free memory; it may be called from
    // any thread at any time.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A private anonymous read-write mapping of `len` bytes (untouched pages
/// cost address space only). Never unmapped by its users: it lives as long
/// as the process.
pub(crate) fn map_anonymous(len: usize) -> io::Result<std::ptr::NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping at an address the kernel picks
    // touches no existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    std::ptr::NonNull::new(p.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

/// Drops the pages of `[addr, addr + len)` from memory (`MADV_DONTNEED`):
/// the mapping stays, and private anonymous memory reads back as zeros.
///
/// # Safety
/// The range must be page-aligned, inside a private anonymous mapping, and
/// hold nothing anyone will read before writing it again.
pub(crate) unsafe fn discard_pages(addr: usize, len: usize) {
    // SAFETY: the caller guarantees the range is such a mapping with no live
    // contents; madvise does not touch memory outside it.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}

/// How many pages of `[addr, addr + len)` are resident (`mincore`).
#[cfg(test)]
pub(crate) fn resident_pages(addr: usize, len: usize) -> usize {
    let page = page_size();
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: mincore reads the page tables of the given range and writes one
    // byte per page into `vec`, which has room for every page of it.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore: {}", io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 != 0).count()
}

/// The current stack pointer, or 0 on architectures where it is not read.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register into a variable; no memory, stack or flags are touched.
        unsafe { std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: reads a register into a variable; no memory, stack or flags are touched.
        unsafe { std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        0
    }
}

/// This thread's `errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot, valid for
    // the thread's life.
    unsafe { *libc::__errno_location() }
}

/// Sets this thread's `errno` (a signal handler restores the interrupted
/// code's value with it).
pub(crate) fn set_errno(value: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value };
}

// ---- file descriptors ----

/// The soft limit on open file descriptors (`RLIMIT_NOFILE`), if known.
pub(crate) fn open_files_limit() -> Option<u64> {
    // SAFETY: getrlimit writes into the zeroed (valid) struct we pass.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        (libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0).then_some(lim.rlim_cur as u64)
    }
}

/// Makes the kernel grow this process's descriptor table to at least
/// `slots` entries now, by duplicating a descriptor to slot `slots - 1`
/// and closing it again. Failures are ignored (the table then grows later,
/// as needed).
pub(crate) fn grow_fd_table(slots: u64) {
    if slots == 0 {
        return;
    }
    let Ok(high_slot) = c_int::try_from(slots - 1) else { return };
    // SAFETY: open makes a new descriptor we own (or fails); fcntl(F_DUPFD)
    // makes a duplicate of it (or fails); both are closed at once and were
    // never visible to any other code.
    unsafe {
        let probe = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if probe < 0 {
            return;
        }
        let high = libc::fcntl(probe, libc::F_DUPFD_CLOEXEC, high_slot);
        if high >= 0 {
            libc::close(high);
        }
        libc::close(probe);
    }
}

/// Closes `fd`.
///
/// # Safety
/// The caller owns `fd` and nothing will use or close it afterwards (e.g.
/// the object that owned it was forgotten).
pub(crate) unsafe fn close_fd(fd: RawFd) {
    // SAFETY: the caller's contract.
    unsafe {
        libc::close(fd);
    }
}

/// Sends up to `count` bytes of the file `in_fd` from `offset` to the
/// socket `out_fd` inside the kernel (`sendfile(2)`, no copy through user
/// memory); returns how many went. `WouldBlock` when a non-blocking
/// socket's send buffer is full. Safe: the kernel checks both descriptors,
/// and a wrong one is an error, not undefined behaviour.
pub(crate) fn sendfile(out_fd: RawFd, in_fd: RawFd, offset: u64, count: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sendfile: offset beyond off_t"))?;
    // SAFETY: `off` is a valid, writable off_t for the call; sendfile reads
    // no other user memory.
    let n = unsafe { libc::sendfile(out_fd, in_fd, &mut off, count) };
    byte_count(n)
}

/// Opens `path`, relative to the directory `dir`, read-only, non-blocking
/// (a FIFO does not wait for a writer) and close-on-exec, with the kernel
/// refusing to resolve anything outside `dir` (`openat2(2)` with
/// `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`): a `..` above it, an absolute
/// path or a symbolic link leading out fails with `EXDEV` (`ELOOP` for
/// `/proc` magic links). One syscall instead of resolving the path
/// component by component. Fails with `ENOSYS` on kernels before 5.6 (and
/// `EPERM` where a seccomp filter hides the call).
#[cfg_attr(not(feature = "static-files"), allow(dead_code))]
pub(crate) fn open_beneath(
    dir: std::os::fd::BorrowedFd<'_>,
    path: &std::ffi::CStr,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: open_how is plain integers; all zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `path` is NUL-terminated and `how` valid for the size passed;
    // the kernel writes nothing back.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Whether an [`open_beneath`] error asks for resolving the path by hand
/// instead: `EXDEV` (the walk left the directory, maybe by an absolute
/// link that leads back in), `ELOOP` (a magic link, or too many links),
/// `ENOSYS` (no `openat2`), `EPERM` (a seccomp filter refusing it),
/// `EAGAIN` (the kernel asks to retry).
#[cfg_attr(not(feature = "static-files"), allow(dead_code))]
pub(crate) fn open_beneath_refused(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EXDEV | libc::ELOOP | libc::ENOSYS | libc::EPERM | libc::EAGAIN))
}

// ---- threads ----

/// An OS thread (`pthread_t`) that can be signalled.
#[derive(Clone, Copy)]
pub(crate) struct OsThread(libc::pthread_t);

impl OsThread {
    /// The calling thread.
    pub(crate) fn current() -> OsThread {
        // SAFETY: pthread_self has no preconditions (and is async-signal-safe).
        OsThread(unsafe { libc::pthread_self() })
    }

    /// Whether this is the calling thread; async-signal-safe.
    pub(crate) fn is_current(self) -> bool {
        // SAFETY: pthread_equal compares two thread ids; both are valid ids
        // (this one may name a finished thread, which pthread_equal allows).
        unsafe { libc::pthread_equal(self.0, libc::pthread_self()) != 0 }
    }

    /// Sends `sig` to this thread; true if it was sent.
    ///
    /// # Safety
    /// The thread has not ended (a `pthread_t` of an ended, joined thread
    /// may be reused or dangling).
    pub(crate) unsafe fn signal(self, sig: c_int) -> bool {
        // SAFETY: the caller's contract: the thread is alive.
        unsafe { libc::pthread_kill(self.0, sig) == 0 }
    }
}

// ---- signals ----

/// `SIGSEGV`: an invalid memory access (a guard page hit among them).
pub(crate) const SIGSEGV: c_int = libc::SIGSEGV;
/// `SIGBUS`: a bus error (some guard page hits on some systems).
pub(crate) const SIGBUS: c_int = libc::SIGBUS;

/// The real-time signal `SIGRTMIN + offset`.
pub(crate) fn realtime_signal(offset: c_int) -> c_int {
    libc::SIGRTMIN() + offset
}

/// A handler installed with `SA_SIGINFO`: signal, its info, the
/// interrupted context.
pub(crate) type SigInfoHandler = extern "C" fn(c_int, *mut siginfo_t, *mut c_void);

/// A signal's disposition as it was before ours, to forward to.
#[derive(Clone, Copy)]
pub(crate) struct Disposition(libc::sigaction);

impl Disposition {
    /// The default disposition (what a process starts with).
    pub(crate) const DEFAULT: Disposition = Disposition(
        // SAFETY: `sigaction` is a plain C struct of integers, pointers and
        // a signal set, for which all-zero bytes are a valid value; a zero
        // handler is SIG_DFL.
        unsafe { std::mem::zeroed() },
    );

    /// Whether this is the default action (no handler installed).
    pub(crate) fn is_default(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_DFL
    }

    /// Whether the signal was ignored or left to the default action.
    pub(crate) fn is_default_or_ignored(&self) -> bool {
        self.0.sa_sigaction == libc::SIG_DFL || self.0.sa_sigaction == libc::SIG_IGN
    }

    /// Hands a signal to the handler this disposition names.
    ///
    /// # Safety
    /// Called from a signal handler for `sig`, with the `info` and
    /// `context` the kernel passed it; the disposition names a handler
    /// (not [`is_default_or_ignored`](Self::is_default_or_ignored)).
    pub(crate) unsafe fn forward(&self, sig: c_int, info: *mut siginfo_t, context: *mut c_void) {
        // SAFETY: the disposition was read by sigaction, so its handler is a
        // function of the signature its flags say (SA_SIGINFO: three
        // arguments, otherwise one); the arguments are the kernel's.
        unsafe {
            if self.0.sa_flags & libc::SA_SIGINFO != 0 {
                let f: SigInfoHandler = std::mem::transmute(self.0.sa_sigaction);
                f(sig, info, context);
            } else {
                let f: extern "C" fn(c_int) = std::mem::transmute(self.0.sa_sigaction);
                f(sig);
            }
        }
    }
}

/// The current disposition of `sig`.
pub(crate) fn disposition(sig: c_int) -> io::Result<Disposition> {
    // SAFETY: reading with a null new action only writes into `old`, a
    // zeroed (valid) struct.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Disposition(old))
    }
}

/// Installs `handler` for `sig` (`SA_SIGINFO | SA_ONSTACK`, plus
/// `SA_RESTART` if `restart`), returning the disposition it replaces.
pub(crate) fn install_handler(sig: c_int, handler: SigInfoHandler, restart: bool) -> io::Result<Disposition> {
    // SAFETY: a zeroed sigaction is valid; we fill in an `extern "C"`
    // handler of the SA_SIGINFO signature, flags and an empty mask, and
    // sigaction writes the previous action into a valid struct.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(sig, &action, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Disposition(old))
    }
}

/// Puts `sig` back to its default action; async-signal-safe.
pub(crate) fn reset_to_default(sig: c_int) {
    // SAFETY: a zeroed sigaction is SIG_DFL with no flags and an empty mask.
    unsafe {
        let dfl: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
    }
}

/// Blocks `sig` on the calling thread (it stays pending until unblocked).
#[cfg(all(test, feature = "stacks", target_os = "linux"))]
pub(crate) fn block_signal_on_this_thread(sig: c_int) {
    // SAFETY: a zeroed sigset is valid storage for sigemptyset; blocking a
    // signal on this thread affects only this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Gives this thread an alternate signal stack of `size` bytes if it has
/// none (a handler for a stack overflow cannot run on the overflowed
/// stack). The mapping is kept for the thread's life.
pub(crate) fn ensure_altstack(size: usize) {
    // SAFETY: querying with a null new-stack pointer only writes into
    // `current`, a zeroed (valid) struct; the new stack is a fresh private
    // mapping of `size` bytes that nothing else uses, never unmapped.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut current) != 0 {
            return;
        }
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
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
        let stack = libc::stack_t { ss_sp: mem, ss_flags: 0, ss_size: size };
        libc::sigaltstack(&stack, std::ptr::null_mut());
    }
}

/// The faulting address of a `SIGSEGV`/`SIGBUS`.
///
/// # Safety
/// `info` is the second argument the kernel passed to an `SA_SIGINFO` handler.
pub(crate) unsafe fn fault_address(info: *mut siginfo_t) -> usize {
    // SAFETY: the caller's contract: a valid siginfo.
    unsafe { (*info).si_addr() as usize }
}

/// The interrupted instruction, from a signal's machine context (0 where
/// this platform's context is not read).
///
/// # Safety
/// `context` is the third argument the kernel passed to an `SA_SIGINFO` handler.
pub(crate) unsafe fn interrupted_pc(context: *mut c_void) -> usize {
    let uc = context.cast::<libc::ucontext_t>();
    if uc.is_null() {
        return 0;
    }
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    // SAFETY: the kernel passes a valid ucontext_t (caller's contract).
    return unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize };
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    // SAFETY: as above.
    return unsafe { (*uc).uc_mcontext.pc as usize };
    #[allow(unreachable_code)]
    0
}

/// The registers a signal handler rewrites to resume the interrupted
/// thread somewhere else (x86-64: what corosensei's trap handler needs).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) struct Resume {
    pub(crate) rip: usize,
    pub(crate) rsp: usize,
    pub(crate) rbp: usize,
    pub(crate) rdi: usize,
    pub(crate) rsi: usize,
}

/// The interrupted stack pointer, from a signal's machine context.
///
/// # Safety
/// As for [`interrupted_pc`].
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) unsafe fn interrupted_sp(context: *mut c_void) -> usize {
    // SAFETY: the caller's contract: a valid ucontext_t.
    unsafe { (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RSP as usize] as usize }
}

/// Rewrites the interrupted context so that returning from the signal
/// handler resumes at `to`.
///
/// # Safety
/// As for [`interrupted_pc`]; and `to` must describe a valid place to run
/// (a stack pointer within a live stack, code that expects these registers).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) unsafe fn resume_at(context: *mut c_void, to: Resume) {
    // SAFETY: the caller's contract: a valid, writable ucontext_t, and a
    // resume point that is safe to jump to.
    unsafe {
        let gregs = &mut (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
        gregs[libc::REG_RIP as usize] = to.rip as i64;
        gregs[libc::REG_RSP as usize] = to.rsp as i64;
        gregs[libc::REG_RBP as usize] = to.rbp as i64;
        gregs[libc::REG_RDI as usize] = to.rdi as i64;
        gregs[libc::REG_RSI as usize] = to.rsi as i64;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn recv_and_send_are_the_socket_calls() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 8];
        // Nothing there: WouldBlock, as recv reports it.
        assert_eq!(super::recv(a.as_raw_fd(), &mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        b.write_all(b"hello").unwrap();
        assert_eq!(super::recv(a.as_raw_fd(), &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(super::send(a.as_raw_fd(), b"back").unwrap(), 4);
        let mut got = [0u8; 4];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"back");
        // The peer gone: end of stream for recv, BrokenPipe for send.
        drop(b);
        assert_eq!(super::recv(a.as_raw_fd(), &mut buf).unwrap(), 0);
        assert_eq!(super::send(a.as_raw_fd(), b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
        // Not a descriptor: the error, not a crash.
        assert!(super::recv(-1, &mut buf).is_err());
    }
}
