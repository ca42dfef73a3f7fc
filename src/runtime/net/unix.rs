//! Green Unix domain stream sockets (for nginx `proxy_pass http://unix:...`).

use std::fmt;
use std::io;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;

use super::source::{Dir, Registered, green_stream};

/// A Unix socket listener whose `accept` parks the green thread.
pub struct UnixListener {
    io: Registered<mio::net::UnixListener>,
}

/// A Unix stream whose reads and writes park the green thread.
pub struct UnixStream {
    pub(super) io: Registered<mio::net::UnixStream>,
}

green_stream!(UnixStream);

impl UnixListener {
    /// Binds to `path` (which must not exist yet).
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let l = mio::net::UnixListener::bind(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
        Ok(UnixListener { io: Registered::new(l)? })
    }

    /// Adopts a std listener (made non-blocking here).
    pub fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener { io: Registered::new(mio::net::UnixListener::from_std(listener))? })
    }

    /// Waits (parks) for the next connection.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self.io.io(Dir::Read, "accept", |l| l.accept())?;
        Ok((UnixStream { io: Registered::new_owned_stream(s)? }, addr))
    }

    /// Accepts a connection only if one is waiting now (never parks).
    pub fn try_accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, addr) = self.io.try_io(Dir::Read, |l| l.accept())?;
        Ok((UnixStream { io: Registered::new_owned_stream(s)? }, addr))
    }

    /// Parks until a connection may be waiting.
    pub fn readable(&self) -> io::Result<()> {
        self.io.wait(Dir::Read, None, "accept")
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// Takes the pending socket error.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get().take_error()
    }
}

impl std::os::fd::AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.io.get().as_raw_fd()
    }
}

impl UnixStream {
    /// Connects to the socket at `path`. Parks while connecting.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let s = mio::net::UnixStream::connect(path)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot connect to {}: {e}", path.display())))?;
        let stream = UnixStream { io: Registered::new_owned_stream(s)? };
        loop {
            if let Some(e) = stream.io.get().take_error()? {
                return Err(e);
            }
            match stream.io.get().peer_addr() {
                Ok(_) => return Ok(stream),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
            // Still connecting: the next writable edge means it is done.
            stream.io.drained(Dir::Write);
            stream.io.wait(Dir::Write, None, "connect")?;
        }
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream { io: Registered::new(a)? }, UnixStream { io: Registered::new(b)? }))
    }

    /// Adopts a connected std stream (made non-blocking here).
    pub fn from_std(stream: net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream { io: Registered::new(mio::net::UnixStream::from_std(stream))? })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnixStream { .. }")
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnixListener { .. }")
    }
}
