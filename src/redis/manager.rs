//! Pooling Redis connections.

use std::time::Duration;

use super::{Connection, ConnectionInfo, Error, cmd};
use crate::pool::Manager;

/// Opens [`Connection`]s for a [`Pool`](crate::pool::Pool): checks an idle
/// one with `PING`, and discards one left broken by a failed call.
#[derive(Debug)]
pub struct RedisManager {
    info: Result<ConnectionInfo, String>,
    connect_timeout: Duration,
}

impl RedisManager {
    /// A manager for a URL (see [`ConnectionInfo::parse`]). A malformed URL
    /// is reported by each connection attempt.
    pub fn new(url: &str) -> RedisManager {
        RedisManager {
            info: ConnectionInfo::parse(url).map_err(|e| e.to_string()),
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Sets how long opening one connection may take (default 5 s; the
    /// pool's acquire timeout bounds it too).
    pub fn connect_timeout(mut self, t: Duration) -> RedisManager {
        self.connect_timeout = t;
        self
    }
}

impl Manager for RedisManager {
    type Connection = Connection;
    type Error = Error;

    fn connect(&self) -> Result<Connection, Error> {
        match &self.info {
            Ok(info) => Connection::open_info(info, self.connect_timeout),
            Err(e) => Err(Error::new(super::ErrorKind::InvalidUrl, e.clone())),
        }
    }

    fn check(&self, conn: &mut Connection) -> Result<(), Error> {
        conn.query::<()>(&cmd("PING"))
    }

    fn is_broken(&self, conn: &mut Connection) -> bool {
        conn.is_broken()
    }
}
