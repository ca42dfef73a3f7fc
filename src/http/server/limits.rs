//! The server's [`Limits`]: sizes and timeouts, each answered with a clear status.

use std::time::Duration;

use crate::http::codec;

/// Limits and timeouts of a server. Every limit answers with a clear status
/// (413, 414, 431, 408) and a short text reason.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request head (request line + headers), bytes. Over it: 431.
    pub max_head_bytes: usize,
    /// Most header fields in a request. Over it: 431.
    pub max_headers: usize,
    /// Longest request line, bytes. Over it: 414.
    pub max_request_line: usize,
    /// Largest request body, bytes (declared or, for chunked bodies, as it
    /// grows). Over it: 413.
    pub max_body_bytes: u64,
    /// Time allowed from the first byte of a request head to its end
    /// (slowloris defence). Over it: 408 and close. A new connection's first
    /// head is timed from accept: one that sends nothing is closed after it.
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection (one that was answered) is kept open.
    pub idle_timeout: Duration,
    /// After this long without a request (default 250 ms), an idle
    /// keep-alive connection gives back its green thread and stack, and
    /// waits as a readiness callback on its socket (under 1 KiB) until its
    /// next request, a hang-up or the idle timeout starts a new one. `None`:
    /// it keeps its green thread for the whole wait. Shorter saves memory
    /// sooner, and after a burst of connections it bounds how many are awake
    /// at once, which sets the heap's high-water mark (see
    /// docs/PERFORMANCE.md, "Idle connections"); each sleep and wake costs
    /// about one green thread's start and a few small allocations.
    pub idle_stackless_after: Option<Duration>,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Longest wait for a slow client to accept response bytes.
    pub write_timeout: Duration,
    /// Connections served at once per worker (uWSGI's `--async N`). At it,
    /// the connection idle the longest between keep-alive requests is
    /// closed to make room for a new one (nginx does the same). With none
    /// idle (every slot holds a request in flight, a WebSocket or an event
    /// stream), a newcomer waits a second for a slot; while the cap
    /// stays full after that, newcomers are answered `503` with
    /// `Retry-After: 1` at once (logged once per 10 s, counted in
    /// `/metrics`). A request in flight is never cut short for a newcomer.
    pub max_connections: usize,
    /// An unread request body up to this size is read and discarded to keep
    /// the connection; a larger one closes the connection instead.
    pub drain_limit: u64,
    /// Listen backlog: connections the kernel holds until they are accepted
    /// (capped by `net.core.somaxconn`). A burst beyond it costs clients a
    /// one-second SYN retransmit.
    pub listen_backlog: u32,
    /// HTTP/2 streams open at once on one connection (feature `http2`);
    /// clients queue the rest.
    pub max_concurrent_streams: u32,
}

impl Default for Limits {
    /// 16 KiB heads of at most 100 fields and 8 KiB request lines (nginx
    /// and Node use 8-16 KiB); 16 MiB bodies; 10 s to send a head, 60 s idle
    /// keep-alive (nginx: 75 s), without a green thread after 1 s, 30 s between body pieces and for writes;
    /// 10 000 connections per worker; 256 KiB drained; a listen backlog of
    /// 4096 (Linux's default `somaxconn`: bursts of thousands of connections
    /// are absorbed instead of dropped and retried a second later); 100
    /// concurrent HTTP/2 streams per connection.
    fn default() -> Limits {
        // The head and body limits are the codec's defaults: one place says them.
        let codec = codec::CodecLimits::default();
        Limits {
            max_head_bytes: codec.max_head_bytes,
            max_headers: codec.max_headers,
            max_request_line: codec.max_request_line,
            max_body_bytes: codec.max_body_bytes,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            idle_stackless_after: Some(Duration::from_millis(250)),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            drain_limit: 256 * 1024,
            listen_backlog: 4096,
            max_concurrent_streams: 100,
        }
    }
}

impl Limits {
    pub(crate) fn codec(&self) -> codec::CodecLimits {
        codec::CodecLimits {
            max_head_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
            max_request_line: self.max_request_line,
            max_body_bytes: self.max_body_bytes,
        }
    }
}
