//! The one socket type of the server's and the client's connections: TCP,
//! Unix or TLS over TCP. Every `cfg(feature = "tls")` the connection paths
//! need is here, so the code above matches on nothing.

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

    /// Calls `hook` once, on the loop, when the stream may have bytes to
    /// read (or its peer hung up), with no green thread waiting on it.
    /// `Err(hook)` when bytes may be readable already.
    pub(crate) fn call_when_readable(&self, hook: Box<dyn FnOnce()>) -> Result<(), Box<dyn FnOnce()>> {
        match self {
            Stream::Tcp(s) => s.call_when_readable(hook),
            Stream::Unix(s) => s.call_when_readable(hook),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.call_when_readable(hook),
        }
    }

    /// Takes back a `call_when_readable` hook that has not run.
    pub(crate) fn forget_when_readable(&self) {
        match self {
            Stream::Tcp(s) => s.forget_when_readable(),
            Stream::Unix(s) => s.forget_when_readable(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.forget_when_readable(),
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

    /// One `write`, waiting at most `left` (the client's request writes).
    pub(crate) fn write_within(&mut self, data: &[u8], left: std::time::Duration) -> io::Result<usize> {
        self.set_write_timeout(Some(left))?;
        (&*self).write(data)
    }

    /// The socket's file descriptor (under TLS, the TCP socket's).
    pub(crate) fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().as_raw_fd(),
        }
    }

    /// Writes all of `buf` saying more follows (`MSG_MORE`) on TCP, where
    /// that merges a response head with the file body sent next; a plain
    /// write elsewhere.
    pub(crate) fn write_all_before_more(&self, mut buf: &[u8]) -> io::Result<()> {
        let Stream::Tcp(s) = self else { return (&*self).write_all(buf) };
        while !buf.is_empty() {
            match s.write_more(buf) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "failed to write the whole buffer")),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends file bytes with `sendfile(2)`, parking on back-pressure; `None`
    /// under TLS, whose records must be encrypted in user memory (the
    /// caller then reads and writes).
    pub(crate) fn send_file(&self, file: &std::fs::File, offset: u64, count: usize) -> Option<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => Some(s.send_file(file, offset, count)),
            Stream::Unix(s) => Some(s.send_file(file, offset, count)),
            #[cfg(feature = "tls")]
            Stream::Tls(_) => None,
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
