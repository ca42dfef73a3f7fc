//! One registered socket and the retry-or-park loop shared by every call.

use std::io;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use mio::Interest;
use mio::event::Source;

use crate::runtime::core::{core, try_core};
use crate::runtime::park::Wake;

/// A mio source registered once with the current loop.
pub(crate) struct Registered<S: Source + std::os::fd::AsRawFd> {
    source: S,
    token: usize,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Whether dropping must remove the registration explicitly. Not for
    /// streams: closing their only descriptor removes it from epoll, and one
    /// syscall per connection is worth saving. Listeners may share their open
    /// file with clones on other loops, so they deregister.
    deregister: bool,
    /// The runtime this was registered with: a socket that outlives its
    /// runtime must not touch another runtime's table.
    owner: u64,
    /// Async tasks waiting for readiness (`AsyncRead`/`AsyncWrite`), made on first use.
    #[cfg(feature = "tokio-io")]
    pub(super) wakers: std::cell::OnceCell<std::rc::Rc<super::async_io::Wakers>>,
    // Registered with one loop: must not move to another OS thread.
    _not_send: PhantomData<*const ()>,
}

/// Which readiness a call waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

impl<S: Source + std::os::fd::AsRawFd> Registered<S> {
    pub(crate) fn new(mut source: S) -> io::Result<Registered<S>> {
        let c = core();
        let token = c.register(&mut source, Interest::READABLE)?;
        Ok(Registered {
            source,
            token,
            read_timeout: None,
            write_timeout: None,
            deregister: true,
            owner: c.shared.id,
            #[cfg(feature = "tokio-io")]
            wakers: std::cell::OnceCell::new(),
            _not_send: PhantomData,
        })
    }

    /// Registers a stream this process alone holds (accepted or connected
    /// here): dropping it closes the descriptor without a separate deregister.
    pub(crate) fn new_owned_stream(source: S) -> io::Result<Registered<S>> {
        let mut r = Registered::new(source)?;
        r.deregister = false;
        Ok(r)
    }

    pub(crate) fn get(&self) -> &S {
        &self.source
    }

    /// This registration's index in the loop's table.
    #[cfg(feature = "tokio-io")]
    pub(super) fn token(&self) -> usize {
        self.token
    }

    /// Runs `op` until it does not return `WouldBlock`, parking in between.
    /// `what` names the operation in a timeout error ("read", "accept", ...).
    /// Success spends the cooperative budget: a peer that always has data
    /// (or room) makes the caller yield now and then instead of holding the loop.
    pub(crate) fn io<R>(&self, dir: Dir, what: &str, mut op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        let timeout = match dir {
            Dir::Read => self.read_timeout,
            Dir::Write => self.write_timeout,
        };
        let mut deadline: Option<Instant> = None;
        loop {
            match op(&self.source) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained(dir),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(v) => {
                    core().spend();
                    return Ok(v);
                }
                r => return r,
            }
            if deadline.is_none() {
                deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            }
            self.wait(dir, deadline, what)?;
        }
    }

    /// Notes that the socket has nothing more to give (or take) in `dir` for
    /// now: the next wait parks without trying the syscall again.
    #[inline]
    pub(crate) fn drained(&self, dir: Dir) {
        core().clear_ready(self.token, dir == Dir::Write);
    }

    /// Runs `op` once without parking; a `WouldBlock` marks the socket
    /// drained, a success spends the cooperative budget (an accept loop
    /// under a storm of connections yields now and then).
    #[inline]
    pub(crate) fn try_io<R>(&self, dir: Dir, op: impl FnOnce(&S) -> io::Result<R>) -> io::Result<R> {
        let r = op(&self.source);
        match &r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained(dir),
            Ok(_) => core().spend(),
            Err(_) => {}
        }
        r
    }

    /// Runs one transfer `op` and notes a drained socket: a `WouldBlock`,
    /// or fewer bytes than asked for.
    #[inline]
    pub(crate) fn transfer(&self, dir: Dir, asked: usize, r: io::Result<usize>) -> io::Result<usize> {
        match &r {
            Ok(n) if *n < asked && *n > 0 => self.drained(dir),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained(dir),
            _ => {}
        }
        r
    }

    /// Parks until the socket is ready in `dir`, or fails with `TimedOut`.
    pub(crate) fn wait(&self, dir: Dir, deadline: Option<Instant>, what: &str) -> io::Result<()> {
        match core().wait_io(self.token, dir == Dir::Write, deadline) {
            Wake::Unparked => Ok(()),
            Wake::TimedOut => Err(io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))),
        }
    }

    /// Cancels `cancel` when the peer hangs up (closes or resets the
    /// connection with nothing left unread) while no read waits on this
    /// socket; `None` stops watching. See the streams' `cancel_on_hangup`.
    pub(crate) fn cancel_on_hangup(&self, cancel: Option<&crate::runtime::cancel::Cancel>) {
        let hook: Option<std::rc::Rc<dyn Fn()>> = cancel.map(|c| {
            let c = c.clone();
            std::rc::Rc::new(move || c.cancel()) as std::rc::Rc<dyn Fn()>
        });
        core().watch_hangup(self.token, hook);
    }

    /// Calls `hook` once, on the loop, when the socket becomes readable or
    /// its peer hangs up; `Err(hook)` when it may be readable already.
    pub(crate) fn call_when_readable(&self, hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
        core().call_when_readable(self.token, hook)
    }

    /// Takes back a `call_when_readable` hook that has not run.
    pub(crate) fn forget_when_readable(&self) {
        core().forget_when_readable(self.token)
    }

    /// Whether the peer has hung up (see `cancel_on_hangup`).
    #[inline]
    pub(crate) fn peer_hung_up(&self) -> bool {
        core().hung_up(self.token)
    }

    pub(crate) fn set_timeout(&mut self, dir: Dir, t: Option<Duration>) -> io::Result<()> {
        if t == Some(Duration::ZERO) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a 0 duration timeout"));
        }
        match dir {
            Dir::Read => self.read_timeout = t,
            Dir::Write => self.write_timeout = t,
        }
        Ok(())
    }

    pub(crate) fn timeout(&self, dir: Dir) -> Option<Duration> {
        match dir {
            Dir::Read => self.read_timeout,
            Dir::Write => self.write_timeout,
        }
    }
}

impl<S: Source + std::os::fd::AsRawFd> Drop for Registered<S> {
    fn drop(&mut self) {
        if let Some(c) = try_core().filter(|c| c.owns(self.owner)) {
            if self.deregister {
                c.deregister(&mut self.source, self.token);
            } else {
                c.forget_registration(self.token);
            }
        }
    }
}

/// Implements `Read`/`Write` for a stream type and its shared reference, and
/// std's timeout accessors, on top of a `Registered` field named `io`.
macro_rules! green_stream {
    ($ty:ty) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.io.io(Dir::Read, "read", |s| crate::sys::recv(std::os::fd::AsRawFd::as_raw_fd(s), buf))
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                self.io.io(Dir::Read, "read", |s| {
                    let mut s = s;
                    std::io::Read::read_vectored(&mut s, bufs)
                })
            }
        }
        impl std::io::Write for &$ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.io.io(Dir::Write, "write", |s| crate::sys::send(std::os::fd::AsRawFd::as_raw_fd(s), buf))
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.io.io(Dir::Write, "write", |s| {
                    let mut s = s;
                    std::io::Write::write_vectored(&mut s, bufs)
                })
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }
            fn read_vectored(&mut self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }
        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }
            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        impl $ty {
            /// Sets how long a read may wait (`None`: forever). A read that
            /// times out fails with `io::ErrorKind::TimedOut`. `Some(0)` is
            /// rejected, as in std.
            pub fn set_read_timeout(&mut self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.io.set_timeout(Dir::Read, t)
            }
            /// Sets how long a write may wait (`None`: forever).
            pub fn set_write_timeout(&mut self, t: Option<std::time::Duration>) -> std::io::Result<()> {
                self.io.set_timeout(Dir::Write, t)
            }
            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.io.timeout(Dir::Read))
            }
            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.io.timeout(Dir::Write))
            }
            /// Shuts down the read half, the write half, or both.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.io.get().shutdown(how)
            }
            /// Reads into `buf` only if data is there now (never parks):
            /// `WouldBlock` otherwise. For servers that drain a socket.
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let fd = std::os::fd::AsRawFd::as_raw_fd(self.io.get());
                let asked = buf.len();
                self.io.transfer(Dir::Read, asked, crate::sys::recv(fd, buf))
            }
            /// Writes what the socket takes now (never parks): `WouldBlock`
            /// when its send buffer is full. With [`writable_until`](Self::writable_until),
            /// the building block of protocol layers (TLS) that must not park
            /// while they hold their own state.
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                let fd = std::os::fd::AsRawFd::as_raw_fd(self.io.get());
                let asked = buf.len();
                self.io.transfer(Dir::Write, asked, crate::sys::send(fd, buf))
            }
            /// Parks until the socket may be writable, the green thread is
            /// unparked (`Ok`: re-check), or `deadline` passes (`TimedOut`).
            pub fn writable_until(&self, deadline: Option<std::time::Instant>) -> std::io::Result<()> {
                self.io.wait(Dir::Write, deadline, "write")
            }
            /// Parks until the socket may be readable (or the read timeout passes).
            pub fn readable(&self) -> std::io::Result<()> {
                let deadline = self.io.timeout(Dir::Read).and_then(|t| std::time::Instant::now().checked_add(t));
                self.io.wait(Dir::Read, deadline, "read")
            }
            /// Parks until the socket may be readable, the green thread is
            /// unparked (`Ok`: re-check), or `deadline` passes (`TimedOut`).
            /// Returns at once if data may have arrived since a read last
            /// came up short.
            /// With [`try_read`](Self::try_read), the building block of
            /// servers that must also react to other events while idle.
            pub fn readable_until(&self, deadline: Option<std::time::Instant>) -> std::io::Result<()> {
                self.io.wait(Dir::Read, deadline, "read")
            }
            /// Cancels `cancel` when the peer hangs up: closes its end or
            /// resets the connection, with nothing left unread (bytes still
            /// waiting, such as a pipelined request, are not a hang-up),
            /// noticed while no read waits on this socket and without
            /// reading anything. `None` stops watching. A server uses it to
            /// stop a request's work when its client has gone away (see
            /// [`cancel`](crate::cancel)). A peer that only shuts down its
            /// sending half counts as gone, as in Go's `net/http`.
            pub fn cancel_on_hangup(&self, cancel: Option<&crate::cancel::Cancel>) {
                self.io.cancel_on_hangup(cancel)
            }
            /// Calls `hook` once, on the loop, when the socket becomes readable or
            /// its peer hangs up, without a green thread waiting; `Err(hook)`
            /// when it may be readable already (read it instead).
            #[allow(dead_code)]
            pub(crate) fn call_when_readable(&self, hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
                self.io.call_when_readable(hook)
            }
            /// Takes back a [`call_when_readable`](Self::call_when_readable) hook that has not run.
            #[allow(dead_code)]
            pub(crate) fn forget_when_readable(&self) {
                self.io.forget_when_readable()
            }
            /// Whether the peer has hung up (as [`cancel_on_hangup`](Self::cancel_on_hangup)
            /// means it). Costs a syscall only once a hang-up event was seen.
            #[inline]
            pub fn peer_hung_up(&self) -> bool {
                self.io.peer_hung_up()
            }
            /// Sends up to `count` bytes of `file`, from `offset`, inside the
            /// kernel (`sendfile(2)`: no copy through user memory), parking
            /// while the send buffer is full (the write timeout applies).
            /// Returns how many bytes went: fewer than `count` when the socket
            /// took less or the file ends there (0 at its end). What a file
            /// server sends bodies with.
            pub fn send_file(&self, file: &std::fs::File, offset: u64, count: usize) -> std::io::Result<usize> {
                use std::os::fd::AsRawFd;
                let (out, from) = (self.io.get().as_raw_fd(), file.as_raw_fd());
                self.io.io(Dir::Write, "sendfile", |_| crate::sys::sendfile(out, from, offset, count))
            }
            /// Takes the pending socket error (`SO_ERROR`).
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.io.get().take_error()
            }
        }
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.get().as_raw_fd()
            }
        }
    };
}
pub(crate) use green_stream;
