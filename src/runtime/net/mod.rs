//! Green sockets: `std::net`'s shapes, parking instead of blocking.
//!
//! Each socket registers with the loop's `mio::Poll` once, edge-triggered for
//! both directions, and keeps that registration for life. A `read`, `write`,
//! `accept` or `connect` first tries the syscall; only on `WouldBlock` does the
//! green thread park until the loop sees readiness (or a deadline passes, in
//! which case the call fails with `io::ErrorKind::TimedOut`).
//!
//! Sockets belong to the loop they were created on (they are not `Send`).

#[cfg(feature = "tokio-io")]
mod async_io;
mod dns;
mod source;
mod tcp;
mod unix;

pub use tcp::{Incoming, LISTEN_BACKLOG, TcpListener, TcpStream};
pub use unix::{UnixListener, UnixStream};

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Binds a plain std listener with `SO_REUSEADDR`, optionally
/// `SO_REUSEPORT`, and a listen `backlog` (the kernel caps it at
/// `net.core.somaxconn`): for servers that bind on one thread and hand
/// listeners to worker loops (adopt each with [`TcpListener::from_std`]).
/// With `reuse_port`, several listeners may share the port and the kernel
/// spreads connections among them.
#[deprecated(
    since = "0.2.0",
    note = "not green-thread API: bind with `socket2` (as the HTTP server does) or use `net::TcpListener::bind`"
)]
pub fn bind_std(addr: SocketAddr, reuse_port: bool, backlog: u32) -> io::Result<std::net::TcpListener> {
    tcp::bind_one(addr, reuse_port, backlog.min(i32::MAX as u32) as i32)
}

/// Binds a plain std Unix listener at `path` with a listen `backlog` (std's
/// own `bind` uses 128).
#[deprecated(
    since = "0.2.0",
    note = "not green-thread API: bind with `socket2` (as the HTTP server does) or use `net::UnixListener::bind`"
)]
pub fn bind_std_unix(path: &std::path::Path, backlog: u32) -> io::Result<std::os::unix::net::UnixListener> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(socket.into())
}

/// Resolves `host:port` to addresses. IP literals are parsed on the spot;
/// host names go through `getaddrinfo` on a small pool of lookup threads of
/// their own (`GREENLOOP_DNS_THREADS`, default 4), apart from the
/// [`offload`](crate::offload) pool so that user work there never delays a
/// lookup. Waits no longer than an enclosing [`timeout`](crate::timeout)
/// (then fails with `TimedOut`); see [`resolve_timeout`] for a bound of its own.
///
/// ```
/// let addrs = greenloop::run(|| greenloop::net::resolve("127.0.0.1:80")).unwrap();
/// assert_eq!(addrs[0].port(), 80);
/// ```
pub fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    dns::resolve_until(addr, None)
}

/// [`resolve`], waiting at most `timeout` for the resolver: one that never
/// answers makes this fail with `io::ErrorKind::TimedOut` after `timeout`
/// (the lookup thread is left to finish, and its answer dropped). Fails at
/// once with `WouldBlock` when hundreds of lookups are already waiting for
/// the resolver.
pub fn resolve_timeout(addr: &str, timeout: Duration) -> io::Result<Vec<SocketAddr>> {
    dns::resolve_until(addr, Instant::now().checked_add(timeout))
}
