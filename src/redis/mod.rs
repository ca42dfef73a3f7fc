//! A blocking-style Redis client on green sockets (feature `redis`):
//! commands, pipelines and pub/sub, in RESP2.
//!
//! ```no_run
//! use greenloop::redis::{Connection, cmd};
//!
//! greenloop::run(|| -> Result<(), greenloop::redis::Error> {
//!     let mut r = Connection::open("redis://127.0.0.1:6379")?;
//!     let n: i64 = r.query(&cmd("INCR").arg("hits"))?;
//!     let (a, b): (i64, Option<String>) = r.pipeline(&[cmd("INCR").arg("hits"), cmd("GET").arg("missing")])?;
//!     assert_eq!(a, n + 1);
//!     assert!(b.is_none());
//!     Ok(())
//! })
//! .unwrap();
//! ```
//!
//! Each call writes the command and parks the green thread until the
//! reply arrives; a pipeline writes all its commands in one write and reads
//! all replies. The protocol code is a small hand-written RESP2 encoder and
//! parser ([`Value`]): the `redis` crate's connections use std sockets and
//! its parser comes with its async stack, while RESP2 is small enough to
//! parse completely here, with limits on lengths and nesting, so a
//! misbehaving server gives an error, never a panic or unbounded memory.

mod command;
mod convert;
mod error;
mod manager;
mod pubsub;
mod resp;
mod stream;
mod url;

use std::fmt;
use std::io;
use std::time::Duration;

pub use command::{Cmd, ToArg, cmd};
pub use convert::{FromReplies, FromValue};
pub use error::{Error, ErrorKind};
pub use manager::RedisManager;
pub use pubsub::{Message, Subscription};
pub use resp::Value;
pub use url::{Addr, ConnectionInfo};

use crate::net::{TcpStream, UnixStream};
use stream::Stream;

/// How long connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to Redis, used in blocking style from a green thread.
pub struct Connection {
    stream: Stream,
    /// Bytes read and not yet parsed: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    out: Vec<u8>,
    /// Replies still owed by the server for commands already sent. Nonzero
    /// between calls only if a call was cut short (an error, a timeout
    /// unwinding): the next reply would belong to the wrong caller, so the
    /// connection counts as broken.
    owed: usize,
    broken: bool,
    addr: Addr,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis::Connection({})", self.addr)
    }
}

impl Connection {
    /// Connects to a URL (see [`ConnectionInfo::parse`]), logs in and
    /// selects the database.
    pub fn open(url: &str) -> Result<Connection, Error> {
        Connection::open_info(&ConnectionInfo::parse(url)?, DEFAULT_CONNECT_TIMEOUT)
    }

    /// Connects to a parsed address, failing after `timeout`.
    pub fn open_info(info: &ConnectionInfo, timeout: Duration) -> Result<Connection, Error> {
        let fail = |e: io::Error| Error::new(ErrorKind::Io, format!("cannot connect to Redis at {}: {e}", info.addr));
        let stream = match &info.addr {
            Addr::Tcp(host, port) => {
                let addrs = crate::net::resolve(&format!("{host}:{port}")).map_err(fail)?;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                let mut found = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = found.ok_or_else(|| fail(last))?;
                s.set_nodelay(true).map_err(fail)?;
                Stream::Tcp(s)
            }
            Addr::Unix(path) => Stream::Unix(UnixStream::connect(path).map_err(fail)?),
        };
        let mut c = Connection {
            stream,
            buf: Vec::with_capacity(4096),
            start: 0,
            out: Vec::with_capacity(256),
            owed: 0,
            broken: false,
            addr: info.addr.clone(),
        };
        if let Some(p) = &info.password {
            let mut auth = cmd("AUTH");
            if let Some(u) = &info.user {
                auth = auth.arg(u);
            }
            c.query::<()>(&auth.arg(p))?;
        }
        if info.db != 0 {
            c.query::<()>(&cmd("SELECT").arg(info.db))?;
        }
        Ok(c)
    }

    /// Sends one command and returns its reply as `T` (an error reply is an
    /// [`ErrorKind::Server`] error).
    pub fn query<T: FromValue>(&mut self, command: &Cmd) -> Result<T, Error> {
        self.send(std::slice::from_ref(command))?;
        let v = self.receive()?;
        T::from_value(v)
    }

    /// Sends a command given as strings: `conn.command(&["INCR", "k"])`.
    pub fn command<T: FromValue>(&mut self, args: &[&str]) -> Result<T, Error> {
        let mut c = Cmd { args: Vec::with_capacity(args.len()) };
        c.args.extend(args.iter().map(|a| a.as_bytes().to_vec()));
        self.query(&c)
    }

    /// Sends every command in one write, then reads every reply: one round
    /// trip. Converts into a `Vec<T>` or a tuple; any error reply fails the
    /// whole call (use `Vec<Value>` via [`pipeline_values`](Self::pipeline_values)
    /// to see each command's result).
    pub fn pipeline<T: FromReplies>(&mut self, commands: &[Cmd]) -> Result<T, Error> {
        T::from_replies(self.pipeline_values(commands)?)
    }

    /// A pipeline's raw replies, error replies included as [`Value::Error`].
    pub fn pipeline_values(&mut self, commands: &[Cmd]) -> Result<Vec<Value>, Error> {
        self.send(commands)?;
        (0..commands.len()).map(|_| self.receive()).collect()
    }

    /// Whether the connection must not be used again (a call failed or was
    /// cut short mid-reply). A pool closes such a connection.
    pub fn is_broken(&self) -> bool {
        self.broken || self.owed != 0
    }

    /// The server's address.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// Sets how long a reply may take (`None`: forever).
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<(), Error> {
        self.stream.set_read_timeout(t).map_err(|e| self.io_error("set a timeout on", e))
    }

    fn send(&mut self, commands: &[Cmd]) -> Result<(), Error> {
        if self.is_broken() {
            return Err(Error::new(
                ErrorKind::Io,
                format!("Redis connection to {} is broken by an earlier failure", self.addr),
            ));
        }
        self.out.clear();
        for c in commands {
            resp::encode(&mut self.out, &c.args);
        }
        self.owed += commands.len();
        let r = self.stream.write_all(&self.out);
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::with_capacity(256);
        }
        r.map_err(|e| self.io_error("write to", e))
    }

    /// Reads one reply owed for a command.
    fn receive(&mut self) -> Result<Value, Error> {
        let v = self.receive_push()?;
        self.owed -= 1;
        Ok(v)
    }

    /// Reads one reply, whether owed or pushed (pub/sub).
    fn receive_push(&mut self) -> Result<Value, Error> {
        loop {
            match resp::parse(&self.buf[self.start..]) {
                Ok(Some((v, n))) => {
                    self.start += n;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                        // One huge reply must not pin its buffer for the connection's life.
                        if self.buf.capacity() > 1 << 20 {
                            self.buf.shrink_to(4096);
                        }
                    }
                    return Ok(v);
                }
                Ok(None) => {}
                Err(e) => {
                    self.broken = true;
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("Redis at {} sent bad data: {}", self.addr, e.0),
                    ));
                }
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let len = self.buf.len();
            let want = (len + 4096).max(self.buf.capacity());
            self.buf.resize(want, 0);
            match self.stream.read(&mut self.buf[len..]) {
                Ok(0) => {
                    self.buf.truncate(len);
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server");
                    return Err(self.io_error("read from", e));
                }
                Ok(n) => self.buf.truncate(len + n),
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(self.io_error("read from", e));
                }
            }
        }
    }

    fn io_error(&mut self, what: &str, e: io::Error) -> Error {
        self.broken = true;
        Error::new(ErrorKind::Io, format!("cannot {what} Redis at {}: {e}", self.addr))
    }
}
