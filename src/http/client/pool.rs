//! Client connections and the per-`Client` keep-alive pool.
//!
//! A [`Conn`] is a green [`TcpStream`](crate::net::TcpStream) (or TLS over one) plus its read buffer. Every wait on it
//! is bounded by an absolute deadline (the request's), so a slow server can
//! never hold a caller longer than its timeout.
//!
//! The pool keeps idle connections per `(host, port)`, newest last (reused
//! first, so the oldest ones age out). It is only touched between parks: no
//! `RefCell` borrow is ever held across a wait.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use crate::Handle;
use crate::http::conn::stream::Stream;
use crate::http::read_buf::ReadBuf;

/// Initial size of a connection's read buffer.
const BUF_INITIAL: usize = 8 * 1024;

/// Reads at least this large go straight from the socket into the caller's
/// buffer instead of through the connection's buffer.
pub(super) const DIRECT_READ: usize = 8 * 1024;

/// Where a pooled connection goes: the URL's host (lowercase) and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct PoolKey {
    pub(super) host: String,
    pub(super) port: u16,
    /// `https://`: connections to the same host and port over TLS are not
    /// interchangeable with plain ones.
    pub(super) tls: bool,
}

/// One client connection: the socket and the bytes read but not consumed.
pub(super) struct Conn {
    stream: Stream,
    buf: ReadBuf,
    /// When the connection went back to the pool.
    idle_since: Instant,
    /// Requests sent on this connection so far.
    pub(super) requests: u32,
}

impl Conn {
    pub(super) fn new(stream: Stream) -> Conn {
        Conn { stream, buf: ReadBuf::new(0, BUF_INITIAL), idle_since: Instant::now(), requests: 0 }
    }

    /// Bytes read from the socket and not consumed yet.
    pub(super) fn buffered(&self) -> &[u8] {
        self.buf.unread()
    }

    /// Marks `n` buffered bytes as consumed.
    pub(super) fn consume(&mut self, n: usize) {
        self.buf.consume(n);
    }

    /// Reads more bytes from the socket into the buffer (compacting or
    /// growing it first). Parks until data, EOF (`Ok(0)`) or `deadline`
    /// (`TimedOut`).
    pub(super) fn fill(&mut self, deadline: Instant) -> io::Result<usize> {
        let n = read_until(&self.stream, self.buf.spare(), deadline)?;
        self.buf.filled(n);
        Ok(n)
    }

    /// Reads from the socket straight into `out` (the buffer must be empty).
    pub(super) fn read_direct(&mut self, out: &mut [u8], deadline: Instant) -> io::Result<usize> {
        debug_assert!(self.buf.is_empty());
        read_until(&self.stream, out, deadline)
    }

    /// Writes all of `data`, parking on back-pressure, until `deadline`.
    pub(super) fn write_all(&mut self, mut data: &[u8], deadline: Instant) -> io::Result<()> {
        while !data.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
            }
            match self.stream.write_within(data, left) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes")),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether an idle connection is still usable: nothing may be readable
    /// on it. EOF (the server closed it), an error (reset), or unexpected
    /// bytes (a late `408`, garbage) all mean it must be discarded. Never
    /// parks.
    fn is_alive(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        loop {
            match self.stream.try_read(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => return false,
            }
        }
    }
}

/// Reads into `out`, parking until data arrives, EOF or `deadline`.
fn read_until(stream: &Stream, out: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        match stream.try_read(out) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "read timed out"));
        }
        stream.readable_until(Some(deadline))?;
    }
}

/// Pool settings, from the client's builder.
#[derive(Clone, Copy, Debug)]
pub(super) struct PoolConfig {
    pub(super) max_idle_per_host: usize,
    pub(super) idle_timeout: Duration,
}

/// Idle keep-alive connections of one `Client`.
pub(super) struct Pool {
    config: PoolConfig,
    state: RefCell<PoolState>,
}

#[derive(Default)]
struct PoolState {
    idle: HashMap<PoolKey, Vec<Conn>>,
    /// The loop the pooled sockets are registered with.
    owner: Option<Handle>,
    last_sweep: Option<Instant>,
}

impl Pool {
    pub(super) fn new(config: PoolConfig) -> Pool {
        Pool { config, state: RefCell::default() }
    }

    /// The newest live idle connection to `key`, if any. Expired and dead
    /// connections met on the way are closed. Never parks.
    pub(super) fn take(&self, key: &PoolKey) -> Option<Conn> {
        let mut dead = Vec::new();
        let found = {
            let mut st = self.state.borrow_mut();
            st.check_owner();
            let list = st.idle.get_mut(key)?;
            let now = Instant::now();
            let mut found = None;
            while let Some(conn) = list.pop() {
                if now.duration_since(conn.idle_since) < self.config.idle_timeout && conn.is_alive() {
                    found = Some(conn);
                    break;
                }
                dead.push(conn);
            }
            if list.is_empty() {
                st.idle.remove(key);
            }
            found
        };
        // Closed after the borrow ends (dropping a socket touches the loop).
        drop(dead);
        found
    }

    /// Returns a connection whose exchange ended cleanly. Kept unless the
    /// host already has `max_idle_per_host` idle connections.
    pub(super) fn put(&self, key: PoolKey, mut conn: Conn) {
        if self.config.max_idle_per_host == 0 || self.config.idle_timeout.is_zero() {
            return;
        }
        let now = Instant::now();
        conn.idle_since = now;
        let mut closed = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            st.check_owner();
            if st.owner.is_none() {
                st.owner = Some(Handle::current());
            }
            if st.last_sweep.is_none_or(|t| now.duration_since(t) >= self.config.idle_timeout.min(SWEEP_EVERY)) {
                st.last_sweep = Some(now);
                let timeout = self.config.idle_timeout;
                st.idle.retain(|_, list| {
                    let (keep, old): (Vec<Conn>, Vec<Conn>) =
                        list.drain(..).partition(|c| now.duration_since(c.idle_since) < timeout);
                    *list = keep;
                    closed.extend(old);
                    !list.is_empty()
                });
            }
            let list = st.idle.entry(key).or_default();
            if list.len() >= self.config.max_idle_per_host {
                closed.push(conn);
            } else {
                list.push(conn);
            }
        }
        drop(closed);
    }

    /// Idle connections currently pooled (all hosts).
    pub(super) fn idle_count(&self) -> usize {
        self.state.borrow().idle.values().map(Vec::len).sum()
    }
}

/// How often `put` sweeps every host's list for expired connections.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl PoolState {
    /// If the loop the pooled sockets were registered with has shut down
    /// (a `Client` kept across two runtimes on one thread), those sockets
    /// cannot be deregistered from the loop now running: close them without
    /// touching it.
    fn check_owner(&mut self) {
        if self.owner.as_ref().is_some_and(|h| !h.is_alive()) {
            self.owner = None;
            for (_, list) in self.idle.drain() {
                list.into_iter().for_each(abandon);
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        if st.owner.as_ref().is_some_and(|h| !h.is_alive()) {
            for (_, list) in st.idle.drain() {
                list.into_iter().for_each(abandon);
            }
        }
    }
}

/// Closes a connection registered with a loop that is gone, without
/// deregistering it from whatever loop runs on this thread now.
fn abandon(conn: Conn) {
    let Conn { stream, .. } = conn;
    let fd = stream.as_raw_fd();
    std::mem::forget(stream);
    // SAFETY: `fd` was owned by `stream`, which is forgotten and will never
    // use or close it; the loop it was registered with has shut down (its
    // epoll instance is closed), so nothing else refers to it.
    unsafe { crate::sys::close_fd(fd) };
}
