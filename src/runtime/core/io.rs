//! I/O registrations: one entry per registered source, its cached readiness
//! and its waiters, and the dispatch of readiness events to them.

use std::io;
use std::rc::Rc;
use std::time::Instant;

use super::Core;
use super::tasks::TaskRef;
use super::wait::Wake;
use crate::runtime::thread_info::WaitReason;

/// Waiters on one registered I/O source. Usually one reader and one writer.
#[derive(Default)]
pub(crate) struct IoEntry {
    pub(crate) readers: Vec<TaskRef>,
    pub(crate) writers: Vec<TaskRef>,
    /// Cached readiness: set by an event, cleared when a call finds the
    /// socket drained (`WouldBlock`, or a short read or write). With
    /// edge-triggered polling a new event always follows new data, so a clear
    /// bit means parking is right without trying the syscall first.
    read_ready: bool,
    write_ready: bool,
    /// Registered for writability too. Sockets start read-only: with
    /// edge-triggered polling, write interest would queue an event for every
    /// ACK that frees send-buffer space, which nobody waits for. It is added
    /// the first time a write (or connect) has to wait.
    write_interest: bool,
    fd: std::os::fd::RawFd,
    in_use: bool,
    /// The peer closed its end or the connection failed (`EPOLLRDHUP`,
    /// `EPOLLHUP`, `EPOLLERR` seen): final, kept until the registration ends.
    hup: bool,
    /// Called on a hang-up while no read waits (`watch_hangup`).
    on_hangup: Option<Rc<dyn Fn()>>,
    /// Called once, on the loop, when the source becomes readable (or hangs
    /// up) while no read waits (`call_when_readable`): a connection between
    /// requests waits this way without a green thread.
    on_readable: Option<Box<dyn FnOnce()>>,
}

impl Core {
    pub(crate) fn register<S: mio::event::Source + std::os::fd::AsRawFd>(
        &self,
        source: &mut S,
        interest: mio::Interest,
    ) -> io::Result<usize> {
        let index = match self.free_io.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut io = self.io.borrow_mut();
                io.push(IoEntry::default());
                io.len() - 1
            }
        };
        {
            let mut io = self.io.borrow_mut();
            let e = &mut io[index];
            e.in_use = true;
            e.read_ready = true;
            e.write_ready = true;
            e.write_interest = interest.is_writable();
            e.fd = source.as_raw_fd();
            e.hup = false;
            e.on_hangup = None;
            e.on_readable = None;
        }
        let result = self.poll.borrow().registry().register(source, mio::Token(index), interest);
        if let Err(e) = result {
            self.release_io(index);
            return Err(e);
        }
        Ok(index)
    }

    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source, index: usize) {
        let _ = self.poll.borrow().registry().deregister(source);
        self.release_io(index);
    }

    /// Whether this is the loop a registration was made on (by runtime id).
    pub(crate) fn owns(&self, owner: u64) -> bool {
        self.shared.id == owner
    }

    /// Frees a registration whose descriptor is about to be closed (which
    /// removes it from epoll without a syscall of ours).
    pub(crate) fn forget_registration(&self, index: usize) {
        self.release_io(index);
    }

    fn release_io(&self, index: usize) {
        let mut io = self.io.borrow_mut();
        let entry = &mut io[index];
        // Anyone still waiting (another green thread sharing the socket) must
        // not sleep forever: wake them to see the error on retry.
        let waiters: Vec<TaskRef> = entry.readers.drain(..).chain(entry.writers.drain(..)).collect();
        entry.in_use = false;
        let hook = entry.on_hangup.take();
        let readable = entry.on_readable.take();
        drop(io);
        drop(hook);
        drop(readable);
        for w in waiters {
            self.unpark(w);
        }
        self.free_io.borrow_mut().push(index);
    }

    /// Records that a call found the source drained in one direction.
    #[inline]
    pub(crate) fn clear_ready(&self, index: usize, write: bool) {
        let mut io = self.io.borrow_mut();
        if write {
            io[index].write_ready = false;
        } else {
            io[index].read_ready = false;
        }
    }

    /// Parks the current task until `token` is readable (or writable), or the
    /// deadline. Returns at once if an event arrived since the last clear.
    pub(crate) fn wait_io(&self, index: usize, write: bool, deadline: Option<Instant>) -> Wake {
        let me = self.current.get().expect("greenloop: socket used outside a green thread");
        {
            let mut io = self.io.borrow_mut();
            let entry = &mut io[index];
            if write && !entry.write_interest {
                let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                let fd = entry.fd;
                let r = self.poll.borrow().registry().reregister(
                    &mut mio::unix::SourceFd(&fd),
                    mio::Token(index),
                    interest,
                );
                if r.is_ok() {
                    entry.write_interest = true;
                    // The new registration reports current writability as an edge.
                    entry.write_ready = false;
                } else {
                    // Could not listen for writability: let the caller retry.
                    return Wake::Unparked;
                }
            }
            if if write { entry.write_ready } else { entry.read_ready } {
                drop(io);
                self.spend();
                return Wake::Unparked;
            }
            let list = if write { &mut entry.writers } else { &mut entry.readers };
            if !list.contains(&me) {
                list.push(me);
            }
        }
        if let Some(task) = self.current_task() {
            task.wait_io.set(index as u32);
        }
        let why = if write { WaitReason::Write } else { WaitReason::Read };
        let wake = self.park_for(deadline, why);
        if wake == Wake::TimedOut {
            let mut io = self.io.borrow_mut();
            let list = if write { &mut io[index].writers } else { &mut io[index].readers };
            list.retain(|t| *t != me);
        }
        wake
    }

    /// The descriptor of registration `index`, if it is in use.
    pub(super) fn io_fd(&self, index: usize) -> Option<std::os::fd::RawFd> {
        self.io.borrow().get(index).filter(|e| e.in_use).map(|e| e.fd)
    }

    /// Calls `hook` (on the loop) when the peer of stream registration
    /// `index` hangs up while no read waits on it; `None` stops watching.
    /// A hang-up is a closed or reset connection with nothing left unread:
    /// bytes still waiting (a pipelined request) are not one.
    pub(crate) fn watch_hangup(&self, index: usize, hook: Option<Rc<dyn Fn()>>) {
        let old = std::mem::replace(&mut self.io.borrow_mut()[index].on_hangup, hook);
        drop(old);
    }

    /// Calls `hook` once, on the loop, when registration `index` becomes
    /// readable (or its peer hangs up) while no read waits on it. Gives
    /// `hook` back when the source may be readable already (an event came
    /// since the last read found it drained): the caller reads instead.
    pub(crate) fn call_when_readable(&self, index: usize, hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
        let mut io = self.io.borrow_mut();
        let e = &mut io[index];
        if e.read_ready || !e.in_use {
            return Err(hook);
        }
        let old = e.on_readable.replace(hook);
        // Nobody waits on it now, maybe for long (a connection asleep
        // between requests): the waiter lists' memory goes back.
        if e.readers.is_empty() {
            e.readers = Vec::new();
        }
        if e.writers.is_empty() {
            e.writers = Vec::new();
        }
        drop(io);
        drop(old);
        Ok(())
    }

    /// Takes back a `call_when_readable` hook that has not run.
    pub(crate) fn forget_when_readable(&self, index: usize) {
        let old = self.io.borrow_mut().get_mut(index).and_then(|e| e.on_readable.take());
        drop(old);
    }

    /// Whether the peer of stream registration `index` has hung up (as
    /// `watch_hangup` means it). No syscall unless a hang-up event was seen.
    #[inline]
    pub(crate) fn hung_up(&self, index: usize) -> bool {
        // Asked at the start of every request: the bit is read inline, the
        // peek (rare) is out of line.
        let (hup, fd) = {
            let io = self.io.borrow();
            let e = &io[index];
            (e.hup, e.fd)
        };
        hup && peer_gone(fd)
    }

    pub(super) fn dispatch_io(&self, event: &mio::event::Event) {
        let index = event.token().0;
        let mut io = self.io.borrow_mut();
        let Some(entry) = io.get_mut(index) else { return };
        if !entry.in_use {
            return;
        }
        let err = event.is_error();
        let readable = event.is_readable() || event.is_read_closed() || err;
        let writable = event.is_writable() || event.is_write_closed() || err;
        entry.read_ready |= readable;
        entry.write_ready |= writable;
        if event.is_read_closed() || err {
            entry.hup = true;
            if entry.readers.is_empty()
                && let Some(hook) = entry.on_hangup.clone()
                && peer_gone(entry.fd)
            {
                drop(io);
                hook();
                io = self.io.borrow_mut();
            }
        }
        let Some(entry) = io.get_mut(index).filter(|e| e.in_use) else { return };
        if readable
            && entry.readers.is_empty()
            && let Some(hook) = entry.on_readable.take()
        {
            drop(io);
            hook();
            io = self.io.borrow_mut();
        }
        let Some(entry) = io.get_mut(index).filter(|e| e.in_use) else { return };
        let mut wake = [None, None];
        if readable && !entry.readers.is_empty() {
            if entry.readers.len() == 1 {
                wake[0] = entry.readers.pop();
            } else {
                let all = std::mem::take(&mut entry.readers);
                drop(io);
                all.into_iter().for_each(|t| self.unpark(t));
                io = self.io.borrow_mut();
            }
        }
        let entry = &mut io[index];
        if writable && !entry.writers.is_empty() {
            if entry.writers.len() == 1 {
                wake[1] = entry.writers.pop();
            } else {
                let all = std::mem::take(&mut entry.writers);
                drop(io);
                all.into_iter().for_each(|t| self.unpark(t));
                io = self.io.borrow_mut();
            }
        }
        drop(io);
        for t in wake.into_iter().flatten() {
            self.unpark(t);
        }
    }
}

/// Whether a stream's peer is gone: a non-consuming one-byte peek finds the
/// end of the stream or an error. Unread bytes, or none yet, say no.
#[cold]
#[inline(never)]
fn peer_gone(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `fd` is the open descriptor of a registered stream, and the
    // buffer is one valid byte for the duration of the call; MSG_PEEK leaves
    // the data in place and MSG_DONTWAIT keeps the call from blocking.
    let n = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    match n {
        0 => true,
        n if n > 0 => false,
        _ => !matches!(io::Error::last_os_error().kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
    }
}
