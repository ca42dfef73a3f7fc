//! A connection's write side ([`Output`]): responses collected in one
//! buffer and written with one `write` (pipelined answers go out together),
//! and the writers of bodies that go straight to the socket: a fixed body
//! too large to copy, exactly `n` bytes from a reader, a chunked stream, a
//! stream ended by closing. What a body is made of (`ResponseBody`) is the
//! layer above's; this layer only moves bytes.

use std::io::{self, Read, Write};
use std::rc::Rc;

use super::stream::Stream;
use crate::http::codec::{LAST_CHUNK, encode_chunk};

/// The output side of one connection: its socket and the bytes waiting to
/// be written to it.
pub(crate) struct Output {
    stream: Rc<Stream>,
    buf: Vec<u8>,
}

impl Output {
    /// An empty output to `stream`.
    pub(crate) fn new(stream: Rc<Stream>) -> Output {
        Output { stream, buf: Vec::new() }
    }

    /// The buffer of bytes not yet written: heads and small bodies are
    /// appended here.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// How many bytes wait to be written.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Writes what is buffered (parking on back-pressure) and empties the
    /// buffer, also when the write fails.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let r = (&*self.stream).write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }

    /// Writes what is buffered, then `bytes` from where they are (a body
    /// too large to be worth copying).
    pub(crate) fn write_now(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.flush()?;
        (&*self.stream).write_all(bytes)
    }

    /// Writes what is buffered, then exactly `n` bytes from `reader`
    /// (failing if it ends sooner).
    pub(crate) fn copy_exact(&mut self, reader: &mut dyn Read, n: u64) -> io::Result<()> {
        self.flush()?;
        let mut buf = vec![0u8; (n as usize).clamp(1, 64 * 1024)];
        let mut left = n;
        while left > 0 {
            let want = (buf.len() as u64).min(left) as usize;
            let got = reader.read(&mut buf[..want])?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("response body ended {left} bytes short of its declared length {n}"),
                ));
            }
            (&*self.stream).write_all(&buf[..got])?;
            left -= got as u64;
        }
        Ok(())
    }

    /// Writes what is buffered (earlier pipelined answers and this
    /// response's head), then `len` bytes of `file` from `offset`: with
    /// `sendfile(2)` on plain sockets (zero copy, parking while the client
    /// is slow), read and written under TLS. Fails if the file ends sooner
    /// (truncated while being sent): the connection must then close.
    pub(crate) fn send_file(&mut self, file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
        if len > 0 && !self.buf.is_empty() {
            // The head and the file's first bytes in the same segments.
            let r = self.stream.write_all_before_more(&self.buf);
            self.buf.clear();
            r?;
        }
        self.flush()?;
        let end = offset + len;
        let mut at = offset;
        while at < end {
            // Bounded per call: a file not in the page cache is read from
            // disk inside the call, and the loop must get turns in between.
            let want = (end - at).min(SENDFILE_STEP) as usize;
            match self.stream.send_file(file, at, want) {
                Some(Ok(0)) => return Err(file_ended(at - offset, len)),
                Some(Ok(n)) => at += n as u64,
                Some(Err(e)) => return Err(e),
                None => return self.copy_file(file, at, end - at, len),
            }
        }
        Ok(())
    }

    /// The read-and-write path of [`send_file`](Self::send_file) (TLS).
    fn copy_file(&mut self, file: &std::fs::File, mut at: u64, mut left: u64, len: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; (left as usize).clamp(1, 64 * 1024)];
        while left > 0 {
            let want = (buf.len() as u64).min(left) as usize;
            let got = file.read_at(&mut buf[..want], at)?;
            if got == 0 {
                return Err(file_ended(len - left, len));
            }
            (&*self.stream).write_all(&buf[..got])?;
            at += got as u64;
            left -= got as u64;
        }
        Ok(())
    }

    /// Writes what is buffered, then gives a writer that sends each write
    /// as one chunk; end the body with [`ChunkedWriter::finish`].
    pub(crate) fn chunked(&mut self) -> io::Result<ChunkedWriter<'_>> {
        self.flush()?;
        Ok(ChunkedWriter { stream: &self.stream, buf: Vec::with_capacity(16 * 1024 + 32) })
    }

    /// Writes what is buffered, then gives a writer that sends bytes as
    /// they are: a body the connection's close ends (HTTP/1.0 clients).
    pub(crate) fn raw(&mut self) -> io::Result<RawWriter<'_>> {
        self.flush()?;
        Ok(RawWriter { stream: &self.stream })
    }
}

/// The most one `sendfile` call is asked to send.
const SENDFILE_STEP: u64 = 1024 * 1024;

fn file_ended(sent: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("file ended after {sent} of the {len} bytes its response declared (truncated while being sent?)"),
    )
}

/// Writes each `write` as one chunk straight to the socket (parking on back-pressure).
pub(crate) struct ChunkedWriter<'a> {
    stream: &'a Stream,
    buf: Vec<u8>,
}

impl ChunkedWriter<'_> {
    /// Sends the last chunk: the body is complete.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(LAST_CHUNK);
        self.stream_write()
    }

    fn stream_write(&mut self) -> io::Result<()> {
        let mut s = self.stream;
        s.write_all(&self.buf)
    }
}

impl Write for ChunkedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let data = &data[..data.len().min(64 * 1024)];
        self.buf.clear();
        encode_chunk(data, &mut self.buf);
        self.stream_write()?;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A close-delimited body for HTTP/1.0 clients: bytes go out as they are.
pub(crate) struct RawWriter<'a> {
    stream: &'a Stream,
}

impl Write for RawWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut s = self.stream;
        s.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
