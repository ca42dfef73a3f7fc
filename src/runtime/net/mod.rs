//! Green sockets: `std::net`'s shapes, parking instead of blocking.
//!
//! Each socket registers with the loop's `mio::Poll` once, edge-triggered for
//! both directions, and keeps that registration for life. A `read`, `write`,
//! `accept` or `connect` first tries the syscall; only on `WouldBlock` does the
//! green thread park until the loop sees readiness (or a deadline passes, in
//! which case the call fails with `io::ErrorKind::TimedOut`).
//!
//! Sockets belong to the loop they were created on (they are not `Send`).

mod source;
mod tcp;
mod unix;

pub use tcp::{Incoming, TcpListener, TcpStream};
pub use unix::{UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `host:port` to addresses. IP literals are parsed on the spot;
/// host names go through `getaddrinfo` on the [`offload`](crate::offload)
/// pool, because that call blocks.
///
/// ```
/// let addrs = greenloop::run(|| greenloop::net::resolve("127.0.0.1:80")).unwrap();
/// assert_eq!(addrs[0].port(), 80);
/// ```
pub fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let owned = addr.to_owned();
    crate::offload(move || owned.to_socket_addrs().map(|it| it.collect::<Vec<_>>()))
        .map_err(|e| io::Error::new(e.kind(), format!("could not resolve {addr:?}: {e}")))
}
