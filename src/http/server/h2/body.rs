//! Bodies through HTTP/2 flow control: a request body read from h2's
//! `RecvStream` (a read parks until the peer sends), and a response body
//! written to its `SendStream` (a write parks until the peer's window opens).

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::time::Duration;

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use http::StatusCode;

use crate::http::body_error::BodyError;

/// Most window asked for at once by a response writer.
const MAX_RESERVE: usize = 64 * 1024;
/// A whole body up to this size is handed to h2 at once, which sends it as
/// the window allows: no wait for the window first (the common small
/// answer costs no switch to the connection's green thread and back).
const SEND_AT_ONCE: usize = 16 * 1024;

/// A request body as the handler's `Body` reads it.
pub(super) struct RecvBody {
    recv: RecvStream,
    /// What is left of the last DATA frame.
    chunk: Bytes,
    received: u64,
    max: u64,
    timeout: Duration,
}

impl RecvBody {
    pub(super) fn new(recv: RecvStream, max: u64, timeout: Duration) -> RecvBody {
        RecvBody { recv, chunk: Bytes::new(), received: 0, max, timeout }
    }
}

impl Read for RecvBody {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            let recv = &mut self.recv;
            let polled = crate::timeout(self.timeout, || crate::block_on(poll_fn(|cx| recv.poll_data(cx))))
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "request body not received in time"))?;
            match polled {
                None => return Ok(0),
                Some(Err(e)) => return Err(super::connection::h2_error(e, "request body")),
                Some(Ok(data)) => {
                    // Taken off the window now: the peer may send the next
                    // piece while this one is read (one frame is held here).
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    self.received += data.len() as u64;
                    if self.received > self.max {
                        let reason = format!("request body larger than the {}-byte limit", self.max);
                        return Err(BodyError::io(StatusCode::PAYLOAD_TOO_LARGE, reason.into()));
                    }
                    self.chunk = data;
                }
            }
        }
        let n = self.chunk.len().min(out.len());
        out[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

/// A response body's writer: each write sends what the peer's window
/// takes, parking until it takes some (at most the write timeout).
pub(super) struct SendBody {
    send: SendStream<Bytes>,
    timeout: Duration,
    /// END_STREAM was sent.
    ended: bool,
}

impl SendBody {
    pub(super) fn new(send: SendStream<Bytes>, timeout: Duration) -> SendBody {
        SendBody { send, timeout, ended: false }
    }

    /// Window for up to `want` bytes: some now, parking until there is any.
    fn capacity(&mut self, want: usize) -> io::Result<usize> {
        loop {
            let now = self.send.capacity();
            if now > 0 {
                return Ok(now.min(want));
            }
            self.send.reserve_capacity(want.min(MAX_RESERVE));
            let send = &mut self.send;
            let polled = crate::timeout(self.timeout, || crate::block_on(poll_fn(|cx| send.poll_capacity(cx))))
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the peer's HTTP/2 window stayed shut past the write timeout",
                    )
                })?;
            match polled {
                None => return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the HTTP/2 stream was closed")),
                Some(Err(e)) => return Err(super::connection::h2_error(e, "response body")),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends all of `data`, then ends the stream if `end`.
    pub(super) fn send_all(&mut self, mut data: Bytes, end: bool) -> io::Result<()> {
        if end && !data.is_empty() && data.len() <= SEND_AT_ONCE {
            self.ended = true;
            return self.send.send_data(data, true).map_err(|e| super::connection::h2_error(e, "send"));
        }
        while !data.is_empty() {
            let n = self.capacity(data.len())?;
            let piece = data.split_to(n);
            let last = end && data.is_empty();
            self.send.send_data(piece, last).map_err(|e| super::connection::h2_error(e, "send"))?;
            self.ended |= last;
        }
        if end {
            self.finish()?;
        }
        Ok(())
    }

    /// Ends the stream (an empty DATA frame with END_STREAM).
    pub(super) fn finish(&mut self) -> io::Result<()> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        self.send.send_data(Bytes::new(), true).map_err(|e| super::connection::h2_error(e, "send"))
    }

    /// Ends the stream with an error: the body could not be written in full.
    pub(super) fn reset(&mut self) {
        self.send.send_reset(h2::Reason::INTERNAL_ERROR);
    }
}

impl Write for SendBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.capacity(buf.len())?;
        self.send
            .send_data(Bytes::copy_from_slice(&buf[..n]), false)
            .map_err(|e| super::connection::h2_error(e, "send"))?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
