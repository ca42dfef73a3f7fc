//! The chat bus on Redis pub/sub, with the crate's green Redis client: one
//! connection in subscribe mode, one that publishes.

use std::io;
use std::time::Duration;

use greenloop::redis::{Connection, cmd};

use super::SUBJECT;

/// How long a `PUBLISH` may take before the connection counts as lost.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

fn io_err(e: greenloop::redis::Error) -> io::Error {
    io::Error::other(e.to_string())
}

/// Subscribes and hands every payload to `on_message` until the connection
/// fails; returns why.
pub fn subscribe(url: &str, on_subscribed: &mut dyn FnMut(), on_message: &mut dyn FnMut(&[u8])) -> io::Error {
    let mut sub = match Connection::open(url).and_then(|c| c.subscribe(&[SUBJECT])) {
        Ok(s) => s,
        Err(e) => return io_err(e),
    };
    on_subscribed();
    loop {
        match sub.next_message() {
            Ok(m) => on_message(&m.payload),
            Err(e) => return io_err(e),
        }
    }
}

/// A connection that publishes.
pub struct Publisher(Connection);

impl Publisher {
    pub fn connect(url: &str) -> io::Result<Publisher> {
        let mut c = Connection::open(url).map_err(io_err)?;
        c.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io_err)?;
        Ok(Publisher(c))
    }

    pub fn publish(&mut self, payload: &[u8]) -> io::Result<()> {
        self.0.query::<i64>(&cmd("PUBLISH").arg(SUBJECT).arg(payload)).map(drop).map_err(io_err)
    }

    /// Between messages: a `PING`, so that a lost connection is noticed
    /// (and replaced) before the next message needs it.
    pub fn idle(&mut self) -> io::Result<()> {
        self.0.query::<String>(&cmd("PING")).map(drop).map_err(io_err)
    }
}
