//! Pub/sub: a connection turned into a [`Subscription`] that receives the
//! messages published on its channels.

use std::time::Duration;

use super::Connection;
use super::command::cmd;
use super::convert::FromValue;
use super::error::{Error, ErrorKind};
use super::resp::Value;

impl Connection {
    /// Enters pub/sub mode on `channels`; the connection then only receives
    /// messages (see [`Subscription`]).
    pub fn subscribe(mut self, channels: &[&str]) -> Result<Subscription, Error> {
        let mut c = cmd("SUBSCRIBE");
        for ch in channels {
            c = c.arg(*ch);
        }
        self.send(std::slice::from_ref(&c))?;
        // One confirmation per channel; `send` counted one.
        self.owed = 0;
        let mut sub = Subscription { conn: self, channels: 0 };
        for _ in channels {
            match sub.conn.receive_push()? {
                Value::Array(a) if matches!(a.first(), Some(Value::Data(k)) if k == b"subscribe") => {
                    sub.channels += 1;
                }
                other => {
                    return Err(Error::new(ErrorKind::Protocol, format!("unexpected reply to SUBSCRIBE: {other:?}")));
                }
            }
        }
        Ok(sub)
    }
}

/// A connection in pub/sub mode: receives the messages published on its channels.
#[derive(Debug)]
pub struct Subscription {
    conn: Connection,
    channels: usize,
}

/// One published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published on.
    pub channel: String,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Subscription {
    /// Parks until the next message arrives (or the read timeout passes:
    /// an [`ErrorKind::Io`] error).
    pub fn next_message(&mut self) -> Result<Message, Error> {
        loop {
            let v = self.conn.receive_push()?;
            let Value::Array(mut parts) = v else {
                return Err(Error::new(ErrorKind::Protocol, format!("unexpected pub/sub reply: {v:?}")));
            };
            if parts.len() == 3 && matches!(&parts[0], Value::Data(k) if k == b"message") {
                let payload = Vec::<u8>::from_value(parts.pop().expect("3 parts"))?;
                let channel = String::from_value(parts.pop().expect("3 parts"))?;
                return Ok(Message { channel, payload });
            }
            // Confirmations of later (un)subscribes: keep the count, skip.
            match parts.first() {
                Some(Value::Data(k)) if k == b"subscribe" => self.channels += 1,
                Some(Value::Data(k)) if k == b"unsubscribe" => self.channels = self.channels.saturating_sub(1),
                _ => {}
            }
        }
    }

    /// Subscribes to more channels (confirmations are skipped by
    /// [`next_message`](Self::next_message)).
    pub fn subscribe(&mut self, channels: &[&str]) -> Result<(), Error> {
        self.push_command("SUBSCRIBE", channels)
    }

    /// Leaves channels (all of them if `channels` is empty).
    pub fn unsubscribe(&mut self, channels: &[&str]) -> Result<(), Error> {
        self.push_command("UNSUBSCRIBE", channels)
    }

    /// Sets how long [`next_message`](Self::next_message) may wait.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<(), Error> {
        self.conn.set_read_timeout(t)
    }

    fn push_command(&mut self, name: &str, channels: &[&str]) -> Result<(), Error> {
        let mut c = cmd(name);
        for ch in channels {
            c = c.arg(*ch);
        }
        self.conn.send(std::slice::from_ref(&c))?;
        // In pub/sub mode the confirmations arrive as pushes, not owed replies.
        self.conn.owed = 0;
        Ok(())
    }
}
