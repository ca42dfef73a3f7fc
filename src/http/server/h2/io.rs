//! The connection's socket as tokio's `AsyncRead`/`AsyncWrite` for `h2`,
//! and the wait between two polls of the connection.
//!
//! Only the connection's own green thread polls the `h2` connection, so
//! the adapter does not store wakers for the socket: a poll that finds the
//! socket drained (or full) notes which way it wants to go, and the driver
//! then parks on that readiness, exactly as an HTTP/1.1 connection parks
//! on a read. Stream green threads wake the driver through its `Waker`,
//! which unparks it from that wait. This avoids the watcher green thread
//! the general `AsyncRead` of green sockets needs (see
//! `runtime/net/async_io.rs`) and works the same over TLS.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::super::stream::Stream;
use crate::runtime::wake_signal::WakeSignal;

/// Socket reads one poll of the connection may make before it lets the
/// other green threads run: a peer that floods frames (pings, settings,
/// resets) gets its turn, not the worker.
const READS_PER_TURN: u32 = 16;

/// Which way the last poll found the socket not ready.
#[derive(Default)]
pub(super) struct Wants {
    read: Cell<bool>,
    write: Cell<bool>,
    reads_left: Cell<u32>,
}

/// The socket, with the bytes the HTTP/1.1 reader had already taken from
/// it (the start of the preface) served first.
pub(super) struct Io {
    stream: Rc<Stream>,
    early: Vec<u8>,
    pos: usize,
    wants: Rc<Wants>,
}

impl Io {
    pub(super) fn new(stream: Rc<Stream>, early: Vec<u8>, wants: Rc<Wants>) -> Io {
        Io { stream, early, pos: 0, wants }
    }
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.early.len() {
            let n = (this.early.len() - this.pos).min(buf.remaining());
            buf.put_slice(&this.early[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.early.len() {
                this.early = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let left = this.wants.reads_left.get();
        if left == 0 {
            // This turn's reads are spent: come back after the others ran.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.wants.reads_left.set(left - 1);
        loop {
            match this.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    this.wants.read.set(true);
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            match self.stream.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wants.write.set(true);
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream.try_flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.wants.write.set(true);
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(self.stream.shutdown(std::net::Shutdown::Write)),
            r => r,
        }
    }
}

/// How the connection's green thread waits between polls of `h2`.
pub(super) struct Waiter {
    stream: Rc<Stream>,
    wants: Rc<Wants>,
    signal: Arc<WakeSignal>,
    waker: Waker,
    write_timeout: Duration,
}

impl Waiter {
    /// Must be made on the connection's green thread (its waker unparks it).
    pub(super) fn new(stream: Rc<Stream>, wants: Rc<Wants>, write_timeout: Duration) -> Waiter {
        let (signal, waker) = WakeSignal::new();
        wants.reads_left.set(READS_PER_TURN);
        Waiter { stream, wants, signal, waker, write_timeout }
    }

    /// The waker to poll with; call before each poll of the connection.
    /// The read budget is not renewed here, only by a wait: polls that
    /// follow one another without one (a stream accepted after another)
    /// share it.
    pub(super) fn poll_start(&self) -> &Waker {
        self.wants.read.set(false);
        self.wants.write.set(false);
        self.signal.clear();
        &self.waker
    }

    /// After a poll that returned `Pending`: parks until the socket may be
    /// ready the way the poll wanted, the waker is called, or `deadline`
    /// passes (`Ok(false)`). A peer that leaves our output unread for the
    /// write timeout is an error.
    pub(super) fn wait(&self, deadline: Option<Instant>) -> io::Result<bool> {
        // Whatever ends the wait, the next turn may read again.
        self.wants.reads_left.set(READS_PER_TURN);
        if self.signal.is_set() {
            // Woken during the poll (a stream's output, or a spent read
            // budget): let the other green threads run, then poll again.
            crate::yield_now();
            return Ok(true);
        }
        let timed_out = |r: io::Result<()>| match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(false),
            Err(e) => Err(e),
        };
        if self.wants.write.get() {
            let stalled = Instant::now() + self.write_timeout;
            let until = deadline.map_or(stalled, |d| d.min(stalled));
            return match self.stream.writable_until(Some(until)) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut && until == stalled => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "HTTP/2: the peer left the output unread past the write timeout",
                )),
                r => timed_out(r),
            };
        }
        if self.wants.read.get() {
            return timed_out(self.stream.readable_until(deadline));
        }
        Ok(match crate::park::park_deadline(deadline) {
            crate::park::Wake::Unparked => true,
            crate::park::Wake::TimedOut => false,
        })
    }
}
