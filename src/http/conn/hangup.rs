//! Noticing that a connection's client went away while its request runs.
//!
//! The server runs each handler under the connection's
//! [`Cancel`](crate::cancel::Cancel), and the socket cancels it when the
//! peer closes or resets the connection with nothing left unread. Nothing
//! is read to find out (a non-consuming peek, and only once the loop saw a
//! hang-up event), so bytes the request still owns, and pipelined requests,
//! stay where they are. Under TLS the TCP socket is watched: a client that
//! sent `close_notify` is seen as gone once its TCP connection closes.

use super::stream::Stream;
use crate::cancel::Cancel;

impl Stream {
    /// Cancels `cancel` when the peer hangs up; `None` stops watching.
    pub(crate) fn cancel_on_hangup(&self, cancel: Option<&Cancel>) {
        match self {
            Stream::Tcp(s) => s.cancel_on_hangup(cancel),
            Stream::Unix(s) => s.cancel_on_hangup(cancel),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().cancel_on_hangup(cancel),
        }
    }

    /// Whether the peer has hung up already.
    #[inline]
    pub(crate) fn peer_hung_up(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.peer_hung_up(),
            Stream::Unix(s) => s.peer_hung_up(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().peer_hung_up(),
        }
    }
}
