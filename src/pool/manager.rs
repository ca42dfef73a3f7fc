//! What a pool pools: the [`Manager`] trait a pooled kind of connection implements.

use std::fmt;

/// What a [`Pool`](crate::pool::Pool) pools: how to open a connection and how to tell a good
/// one from a broken one.
pub trait Manager: 'static {
    /// The pooled thing.
    type Connection: 'static;
    /// Why opening or checking one failed.
    type Error: fmt::Display;

    /// Opens a new connection. Runs on the green thread that needs it, so
    /// it parks while connecting; the pool bounds it with the acquire timeout.
    fn connect(&self) -> Result<Self::Connection, Self::Error>;

    /// Checks with a round trip that a connection that sat idle still
    /// works (`SELECT 1`, `PING`). Called on checkout of a connection idle
    /// longer than [`Builder::check_after_idle`](crate::pool::Builder::check_after_idle);
    /// a failure discards it.
    fn check(&self, conn: &mut Self::Connection) -> Result<(), Self::Error>;

    /// Whether the connection is known to be broken, without any I/O (the
    /// server hung up, a reply was left half read). Asked on checkout and on
    /// return; a broken connection is closed instead of pooled.
    fn is_broken(&self, _conn: &mut Self::Connection) -> bool {
        false
    }
}
