//! A query its caller stopped waiting for is cancelled on the server.
//!
//! When a wait on a query ends early (the request's client went away and
//! the server cancelled its handler's waits, or a `timeout` expired), the
//! query future is dropped while the unwind passes through `Client`'s
//! calls. Dropping it does not stop Postgres, which would run the query to
//! its end on a connection nobody uses. So the guard here, dropped by the
//! same unwind, sends Postgres a cancel request (the protocol's
//! `CancelRequest`, on a connection of its own, from a green thread of its
//! own, as pgx does) and marks the client broken: a pool then closes it
//! rather than reusing a connection whose state is unknown (the cancel
//! could otherwise land on the next query run on it).

use std::cell::Cell;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::{CancelToken, NoTls};

use super::Error;
use crate::net::{TcpStream, UnixStream};

/// How long sending a cancel request may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a client is connected, to send a cancel request to the same server.
#[derive(Clone, Debug)]
pub(super) enum Endpoint {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

/// Held across one wait on a query: dropped without [`finish`](Self::finish)
/// (the wait was cut short), it cancels the query and marks the client broken.
pub(super) struct InFlight<'a> {
    pub(super) token: &'a dyn Fn() -> CancelToken,
    pub(super) endpoint: &'a Endpoint,
    pub(super) peer: &'a str,
    pub(super) broken: &'a Cell<bool>,
}

impl InFlight<'_> {
    /// The wait ended normally (with the query's result or its error).
    #[inline]
    pub(super) fn finish(self) {
        std::mem::forget(self);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.broken.set(true);
        send_cancel((self.token)(), self.endpoint.clone(), self.peer.to_owned());
    }
}

/// Sends a cancel request for `token`'s connection from a green thread of
/// its own (the caller may be unwinding, and must not wait).
fn send_cancel(token: CancelToken, endpoint: Endpoint, peer: String) {
    let name = format!("Postgres cancel request to {peer}");
    drop(crate::spawn_named(name, move || {
        let sent = crate::timeout(CANCEL_TIMEOUT, || -> Result<(), Error> {
            match &endpoint {
                Endpoint::Tcp(addr) => {
                    let s = TcpStream::connect_timeout(addr, CANCEL_TIMEOUT)?;
                    crate::block_on(token.cancel_query_raw(s, NoTls))?;
                }
                Endpoint::Unix(path) => {
                    let s = UnixStream::connect(path)?;
                    crate::block_on(token.cancel_query_raw(s, NoTls))?;
                }
            }
            Ok(())
        });
        match sent {
            Ok(Ok(())) => log::debug!("Postgres at {peer}: cancelled a query nobody waits for"),
            Ok(Err(e)) => log::warn!("Postgres at {peer}: could not cancel a query nobody waits for: {e}"),
            Err(_) => log::warn!("Postgres at {peer}: cancel request timed out after {CANCEL_TIMEOUT:?}"),
        }
    }));
}
