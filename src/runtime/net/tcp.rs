//! Green TCP sockets.

use std::fmt;
use std::io;
use std::net::{self, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use super::source::{Dir, Registered, green_stream};

/// Listen backlog of [`TcpListener::bind`]: connections beyond what the
/// server accepts wait here instead of being refused.
pub const LISTEN_BACKLOG: i32 = 1024;

/// A TCP listener whose `accept` parks the green thread.
pub struct TcpListener {
    io: Registered<mio::net::TcpListener>,
}

/// A TCP connection whose reads and writes park the green thread.
pub struct TcpStream {
    pub(super) io: Registered<mio::net::TcpStream>,
}

green_stream!(TcpStream);

impl TcpListener {
    /// Binds to the first address that works, with `SO_REUSEADDR` (as std
    /// does) and a listen backlog of [`LISTEN_BACKLOG`].
    ///
    /// Host names are resolved with the blocking resolver; servers bind
    /// literals, or resolve first with [`resolve`](super::resolve).
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match bind_one(a, false, LISTEN_BACKLOG) {
                Ok(l) => return TcpListener::from_std(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to bind to")))
    }

    /// Adopts a std listener (made non-blocking here), for example one bound
    /// with `SO_REUSEPORT` so that several loops share a port.
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener { io: Registered::new(mio::net::TcpListener::from_std(listener))? })
    }

    /// Waits (parks) for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = self.io.io(Dir::Read, "accept", |l| l.accept())?;
        Ok((TcpStream { io: Registered::new_owned_stream(s)? }, addr))
    }

    /// Accepts a connection only if one is waiting now (never parks).
    pub fn try_accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = self.io.try_io(Dir::Read, |l| l.accept())?;
        Ok((TcpStream { io: Registered::new_owned_stream(s)? }, addr))
    }

    /// Parks until a connection may be waiting.
    pub fn readable(&self) -> io::Result<()> {
        self.io.wait(Dir::Read, None, "accept")
    }

    /// An endless iterator of [`accept`](Self::accept) results.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get().set_ttl(ttl)
    }

    /// Takes the pending socket error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get().take_error()
    }
}

/// Binds a std listener with `SO_REUSEADDR`, optionally `SO_REUSEPORT`, and
/// the given backlog.
pub(crate) fn bind_one(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

impl TcpStream {
    /// Writes what the socket takes of `buf` (parking while it takes
    /// nothing), telling the kernel more follows at once (`MSG_MORE`): a
    /// server writes a response head so, before sending the body with
    /// [`send_file`](Self::send_file), and both go out in full segments.
    pub(crate) fn write_more(&self, buf: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = self.io.get().as_raw_fd();
        self.io.io(Dir::Write, "write", |_| crate::sys::send_more(fd, buf))
    }
}

impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.get().as_raw_fd()
    }
}

/// Iterator returned by [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl TcpStream {
    /// Connects to the first address that accepts. Parks while connecting.
    ///
    /// Host names are resolved with the blocking resolver (as std does);
    /// resolve with [`resolve`](super::resolve) first to keep the loop free.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        connect_any(addr.to_socket_addrs()?, None)
    }

    /// Connects to `addr`, failing with `TimedOut` after `timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        connect_any(std::iter::once(*addr), Instant::now().checked_add(timeout))
    }

    /// Adopts a connected std stream (made non-blocking here).
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream { io: Registered::new(mio::net::TcpStream::from_std(stream))? })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get().set_ttl(ttl)
    }

    /// Reads without consuming; parks until data (or EOF) is there.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.io(Dir::Read, "peek", |s| s.peek(buf))
    }
}

fn connect_any(addrs: impl Iterator<Item = SocketAddr>, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in addrs {
        match connect_one(addr, deadline) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}

fn connect_one(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let stream = TcpStream { io: Registered::new_owned_stream(mio::net::TcpStream::connect(addr)?)? };
    loop {
        // A non-blocking connect finishes when the socket turns writable;
        // SO_ERROR then tells success from failure.
        if let Some(e) = stream.io.get().take_error()? {
            return Err(e);
        }
        match stream.io.get().peer_addr() {
            Ok(_) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::NotConnected || e.raw_os_error() == Some(crate::sys::EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        // Still connecting: the next writable edge means it is done.
        stream.io.drained(Dir::Write);
        stream.io.wait(Dir::Write, deadline, "connect")?;
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.local_addr().ok()).finish()
    }
}
