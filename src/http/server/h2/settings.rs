//! The HTTP/2 protocol limits a server announces and enforces, from its
//! [`Limits`](crate::http::Limits).
//!
//! Each one bounds what a peer can make the server hold or do:
//! concurrent streams (`Limits::max_concurrent_streams`); the header list
//! (`Limits::max_head_bytes`, as for HTTP/1.1 heads), which also bounds a
//! CONTINUATION flood (h2 0.4.4 and later stop counting frames there);
//! the HPACK table; the flow-control windows (what a peer may send ahead
//! of the handler reading it); streams reset before they are accepted or
//! by our own errors (the rapid reset attack: past either count, the
//! connection ends with GOAWAY `ENHANCE_YOUR_CALM`); and what is buffered
//! for sending per stream.

use h2::server::Builder;

use crate::http::Limits;

/// HPACK dynamic table size the server lets a peer use (the protocol's default).
const HEADER_TABLE: u32 = 4096;
/// A stream's receive window: what a peer may send before the handler reads.
const STREAM_WINDOW: u32 = 256 * 1024;
/// The connection's receive window, shared by its streams.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Streams the peer resets before we accept them, at once (h2's default).
const PENDING_ACCEPT_RESETS: usize = 20;
/// Streams we reset for the peer's protocol errors over the connection's life.
const LOCAL_ERROR_RESETS: usize = 1024;
/// Reset streams whose ids are remembered to ignore their late frames.
const REMEMBERED_RESETS: usize = 10;
/// What is buffered for sending per stream before a writer waits for the window.
const SEND_BUFFER: usize = 256 * 1024;

/// The h2 server settings for `limits`.
pub(super) fn builder(limits: &Limits) -> Builder {
    let mut b = Builder::new();
    b.max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX))
        .header_table_size(HEADER_TABLE)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS))
        .max_concurrent_reset_streams(REMEMBERED_RESETS)
        .max_send_buffer_size(SEND_BUFFER);
    b
}
