//! HTTP/2 on the server (feature `http2`), with the `h2` crate.
//!
//! A connection switches here at its very start, and only there: a plain
//! one whose first bytes are HTTP/2's connection preface (prior knowledge,
//! `curl --http2-prior-knowledge`), or a TLS one that agreed on `h2`
//! through ALPN. HTTP/1.1 requests pay nothing for it.
//!
//! The connection's own green thread drives the `h2` state machine
//! (`connection.rs`, over the socket adapter in `io.rs`), and each stream
//! runs the server's app on a green thread of its own (`stream.rs`): the
//! same handlers, middleware, access log, metrics, watchdog labels and
//! cancellation as an HTTP/1.1 request, with `req.version()` the only
//! difference a handler can see. `body.rs` reads request bodies and writes
//! response bodies through h2's flow control (a read parks until the peer
//! sends, a write until its window opens); `respond.rs` turns a `Response`
//! into HTTP/2 headers; `settings.rs` sets the protocol limits.

mod body;
mod connection;
mod io;
mod respond;
mod settings;
mod stream;

pub(super) use connection::serve;

use super::stream::Stream;

/// What an HTTP/2 client sends first, before any frame (RFC 9113, 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the bytes a plain connection opened with begin HTTP/2's
/// preface (its request line at least: the HTTP/1.1 parser refuses it there).
pub(super) fn is_preface(first: &[u8]) -> bool {
    let n = first.len().min(PREFACE.len());
    n >= b"PRI * HTTP/2.0".len() && first[..n] == PREFACE[..n]
}

/// Whether a connection agreed on `h2` through ALPN: a TLS connection's
/// handshake is run to its end first (by `deadline`), as ALPN is part of
/// it; a worker shutdown ends it (an error: the connection closes).
/// Plain connections answer `false` at once.
pub(super) fn negotiated(
    stream: &Stream,
    deadline: std::time::Instant,
    shutting_down: &std::cell::Cell<bool>,
) -> std::io::Result<bool> {
    match stream {
        #[cfg(feature = "tls")]
        Stream::Tls(tls) => {
            while !tls.handshake_step(Some(deadline))? {
                if shutting_down.get() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::Interrupted,
                        "the server shut down during the TLS handshake",
                    ));
                }
            }
            Ok(tls.alpn_protocol().as_deref() == Some(crate::http::tls::ALPN_H2))
        }
        _ => {
            let _ = (deadline, shutting_down);
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_preface;

    #[test]
    fn the_preface_is_recognised_from_its_request_line_on_and_nothing_else_is() {
        assert!(is_preface(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00"));
        assert!(is_preface(b"PRI * HTTP/2.0\r\n"));
        assert!(!is_preface(b"PRI * HTTP/1.1\r\n\r\n"));
        assert!(!is_preface(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!is_preface(b"PRI * HTTP/2.0\r\n\r\nXX"));
    }
}
