//! tokio's `AsyncRead`/`AsyncWrite` on green streams (feature `tokio-io`).
//!
//! With these, an async library that takes the caller's stream (the
//! Postgres driver's `connect_raw`, a TLS or protocol crate) runs on green
//! sockets under [`block_on`](crate::block_on) with no tokio reactor.
//!
//! # How readiness reaches the `Waker`
//!
//! A poll that finds the socket drained (`WouldBlock`) stores the task's
//! `Waker` in a slot per direction on the socket's registration and, unless
//! one is already waiting there, starts a *watcher*: a small green thread
//! that parks on the socket's readiness exactly as a blocking read would,
//! then wakes whichever `Waker` the slot holds by then. So the `Waker` in
//! the `Context` is what gets woken, as the `Future` contract requires,
//! even when it is not the `block_on` of the green thread that polled (a
//! `select!`, a `FuturesUnordered`, or a future polled on one green thread
//! and woken on another). The alternative, enlisting the polling green
//! thread itself as the socket's waiter, would be one switch cheaper but
//! would wake the wrong task whenever a combinator supplies its own waker,
//! and it would need the loop's readiness table to know about wakers. A
//! watcher costs one pooled stack and two switches per wait, against a
//! system call and a network round trip for the wait itself.
//!
//! The stream's read and write timeouts do not apply to these calls; bound
//! an async operation with [`timeout`](crate::timeout) around its `block_on`.

use std::cell::{Cell, RefCell};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use mio::event::Source;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::source::{Dir, Registered};
use super::{TcpStream, UnixStream};
use crate::runtime::core::core;

/// The wakers waiting on one socket, one slot per direction.
#[derive(Default)]
pub(crate) struct Wakers {
    dirs: [Slot; 2],
}

#[derive(Default)]
struct Slot {
    waker: RefCell<Option<Waker>>,
    /// Whether a watcher green thread is parked for this direction.
    watching: Cell<bool>,
}

fn index(dir: Dir) -> usize {
    match dir {
        Dir::Read => 0,
        Dir::Write => 1,
    }
}

impl<S: Source + AsRawFd> Registered<S> {
    /// Runs `op` once; on `WouldBlock`, arranges for `cx`'s waker to be
    /// woken when the socket is ready in `dir`, and returns `Pending`.
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Dir,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match op(self.get()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained(dir);
                    self.arm(dir, cx.waker());
                    return Poll::Pending;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return Poll::Ready(r),
            }
        }
    }

    /// Stores `waker` for `dir` and makes sure a watcher waits for readiness.
    fn arm(&self, dir: Dir, waker: &Waker) {
        let wakers = self.wakers.get_or_init(Rc::default);
        let slot = &wakers.dirs[index(dir)];
        {
            let mut held = slot.waker.borrow_mut();
            match held.as_ref() {
                Some(w) if w.will_wake(waker) => {}
                _ => *held = Some(waker.clone()),
            }
        }
        if slot.watching.replace(true) {
            return;
        }
        let weak: Weak<Wakers> = Rc::downgrade(wakers);
        let token = self.token();
        crate::spawn_detached(move || watch(weak, token, dir));
    }
}

/// The watcher: parks until the socket is ready in `dir`, then wakes the
/// waker its slot holds. The socket may have been dropped before this runs
/// (its slot is gone then, and its table entry may already serve another
/// socket): it must not wait then. A socket dropped while this waits
/// unparks it (the loop wakes every waiter of a released entry).
fn watch(wakers: Weak<Wakers>, token: usize, dir: Dir) {
    if wakers.strong_count() == 0 {
        return;
    }
    // Parking ends at readiness, at the socket's release, or spuriously;
    // every case is worth a poll by the task.
    let _ = core().wait_io(token, dir == Dir::Write, None);
    if let Some(w) = wakers.upgrade() {
        let slot = &w.dirs[index(dir)];
        slot.watching.set(false);
        let waker = slot.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// Reads into `buf`'s unfilled part without zeroing it first.
fn read_into<S>(s: &S, buf: &mut ReadBuf<'_>) -> io::Result<usize>
where
    for<'a> &'a S: io::Read,
{
    // SAFETY: `read(2)` only writes into the slice it is given and never
    // reads from it, so handing it uninitialised bytes as `[u8]` is sound
    // (tokio's own `TcpStream::poll_read` does the same); exactly the `n`
    // bytes it reports are marked initialised below.
    let unfilled = unsafe { &mut *(buf.unfilled_mut() as *mut [MaybeUninit<u8>] as *mut [u8]) };
    let mut s = s;
    let n = io::Read::read(&mut s, unfilled)?;
    // SAFETY: the read initialised the first `n` bytes of the unfilled part.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}

macro_rules! async_stream {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                self.io.poll_io(cx, Dir::Read, |s| read_into(s, buf)).map_ok(|_| ())
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.io.poll_io(cx, Dir::Write, |s| {
                    let mut s = s;
                    io::Write::write(&mut s, buf)
                })
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.io.poll_io(cx, Dir::Write, |s| {
                    let mut s = s;
                    io::Write::write_vectored(&mut s, bufs)
                })
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // Writes go straight to the socket: nothing is buffered here.
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

async_stream!(TcpStream);
async_stream!(UnixStream);
