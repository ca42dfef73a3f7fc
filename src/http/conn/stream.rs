//! The two kinds of connection a server accepts, behind one type.

use std::io::{self, Read, Write};

use crate::net::{TcpStream, UnixStream};

/// A connected TCP or Unix stream, or TLS over TCP.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Boxed: the TLS state is large, and plain connections should not pay for it.
    #[cfg(feature = "tls")]
    Tls(Box<crate::http::tls::TlsStream>),
}

impl Stream {
    /// A TCP connection just accepted: TLS if the server speaks it (its
    /// handshake due within the header timeout), plain otherwise.
    #[inline]
    pub(crate) fn accepted_tcp(s: TcpStream, _config: &super::context::WorkerConfig) -> io::Result<Stream> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &_config.tls {
            let deadline = std::time::Instant::now().checked_add(_config.limits.header_timeout);
            return Ok(Stream::Tls(Box::new(crate::http::tls::TlsStream::accept(s, tls.clone(), deadline)?)));
        }
        Ok(Stream::Tcp(s))
    }

    pub(crate) fn set_write_timeout(&mut self, t: Option<std::time::Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Unix(s) => s.set_write_timeout(t),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.set_write_timeout(t);
                Ok(())
            }
        }
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.shutdown(how),
        }
    }

    /// Parks until readable, unparked, or `deadline`.
    pub(crate) fn readable_until(&self, deadline: Option<std::time::Instant>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.readable_until(deadline),
            Stream::Unix(s) => s.readable_until(deadline),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.readable_until(deadline),
        }
    }

    /// Reads what is there now, without parking (`WouldBlock` otherwise).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read(buf),
            Stream::Unix(s) => s.try_read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.try_read(buf),
        }
    }
}

impl Stream {
    /// Writes what the socket takes now, without parking (`WouldBlock` otherwise).
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.try_write(buf),
        }
    }

    /// Sends queued TLS records without parking (`WouldBlock` while some are left).
    pub(crate) fn try_flush(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => Ok(()),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.try_flush(),
        }
    }

    /// Parks until writable, unparked, or `deadline`.
    pub(crate) fn writable_until(&self, deadline: Option<std::time::Instant>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.writable_until(deadline),
            Stream::Unix(s) => s.writable_until(deadline),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.writable_until(deadline),
        }
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => (&**s).read(buf),
        }
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write(buf),
            Stream::Unix(s) => (&*s).write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => (&**s).write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).write_vectored(bufs),
            Stream::Unix(s) => (&*s).write_vectored(bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => (&**s).write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
