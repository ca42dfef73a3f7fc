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

mod manager;
mod resp;

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

pub use manager::RedisManager;
pub use resp::Value;

use crate::net::{TcpStream, UnixStream};

/// How long connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a Redis call failed.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Connecting, reading or writing failed (the connection is unusable).
    Io,
    /// The server answered with an error reply (`ERR ...`, `WRONGTYPE ...`).
    Server,
    /// The server sent bytes that are not RESP2 (the connection is unusable).
    Protocol,
    /// The reply did not convert to the type asked for.
    Type,
    /// The URL is not a Redis URL.
    InvalidUrl,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the connection cannot be used any more.
    pub fn is_connection_broken(&self) -> bool {
        matches!(self.kind, ErrorKind::Io | ErrorKind::Protocol)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::Io => io::ErrorKind::ConnectionAborted,
            ErrorKind::InvalidUrl => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.message)
    }
}

/// So a handler returning `Result<_, (StatusCode, String)>` can use `?` on a Redis call: `502 Bad Gateway` if the
/// connection failed, else `500`; the message goes to the log.
impl From<Error> for (crate::http::StatusCode, String) {
    fn from(e: Error) -> (crate::http::StatusCode, String) {
        use crate::http::StatusCode;
        log::warn!("{e}");
        let (status, body) = match e.kind {
            ErrorKind::Io | ErrorKind::Protocol => (StatusCode::BAD_GATEWAY, "cache connection failed\n"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "cache error\n"),
        };
        (status, body.to_owned())
    }
}

/// A command: its name, then arguments. Build one with [`cmd`].
#[derive(Clone, Debug, Default)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

/// Starts a command: `cmd("SET").arg("k").arg(42)`.
pub fn cmd(name: &str) -> Cmd {
    Cmd { args: vec![name.as_bytes().to_vec()] }
}

impl Cmd {
    /// Appends an argument (text, bytes or a number).
    pub fn arg(mut self, a: impl ToArg) -> Cmd {
        self.args.push(a.to_arg());
        self
    }
}

/// Something that can be a command argument.
pub trait ToArg {
    /// The argument's bytes.
    fn to_arg(&self) -> Vec<u8>;
}

impl ToArg for &str {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for &String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for &[u8] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Vec<u8> {
        self.clone()
    }
}
macro_rules! int_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Vec<u8> {
                itoa::Buffer::new().format(*self).as_bytes().to_vec()
            }
        }
    )*};
}
int_arg!(i32, i64, u32, u64, usize, isize);

/// A type a reply converts into.
pub trait FromValue: Sized {
    /// Converts, or says why not.
    fn from_value(v: Value) -> Result<Self, Error>;
}

fn type_error(v: &Value, want: &str) -> Error {
    match v {
        Value::Error(e) => Error::new(ErrorKind::Server, format!("Redis error: {e}")),
        _ => Error::new(ErrorKind::Type, format!("Redis replied {v:?}, expected {want}")),
    }
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Value, Error> {
        match v {
            Value::Error(e) => Err(Error::new(ErrorKind::Server, format!("Redis error: {e}"))),
            v => Ok(v),
        }
    }
}
impl FromValue for () {
    fn from_value(v: Value) -> Result<(), Error> {
        Value::from_value(v).map(|_| ())
    }
}
impl FromValue for i64 {
    fn from_value(v: Value) -> Result<i64, Error> {
        match &v {
            Value::Int(i) => Ok(*i),
            Value::Data(d) => {
                std::str::from_utf8(d).ok().and_then(|s| s.parse().ok()).ok_or_else(|| type_error(&v, "an integer"))
            }
            _ => Err(type_error(&v, "an integer")),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Vec<u8>, Error> {
        match v {
            Value::Data(d) => Ok(d),
            Value::Status(s) => Ok(s.into_bytes()),
            Value::Int(i) => Ok(i.to_string().into_bytes()),
            v => Err(type_error(&v, "a string")),
        }
    }
}
impl FromValue for String {
    fn from_value(v: Value) -> Result<String, Error> {
        let bytes = Vec::<u8>::from_value(v)?;
        String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::Type, "Redis replied bytes that are not UTF-8"))
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Option<T>, Error> {
        match v {
            Value::Nil => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}
impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(v: Value) -> Result<Vec<T>, Error> {
        match v {
            Value::Array(items) => items.into_iter().map(T::from_value).collect(),
            v => Err(type_error(&v, "an array")),
        }
    }
}

/// Replies of a pipeline, converted one by one.
pub trait FromReplies: Sized {
    /// Converts `n` replies.
    fn from_replies(replies: Vec<Value>) -> Result<Self, Error>;
}
impl<T: FromValue> FromReplies for Vec<T> {
    fn from_replies(replies: Vec<Value>) -> Result<Vec<T>, Error> {
        replies.into_iter().map(T::from_value).collect()
    }
}
macro_rules! tuple_replies {
    ($n:literal: $($t:ident),*) => {
        impl<$($t: FromValue),*> FromReplies for ($($t,)*) {
            fn from_replies(replies: Vec<Value>) -> Result<Self, Error> {
                if replies.len() != $n {
                    return Err(Error::new(ErrorKind::Type, format!("{} replies for a tuple of {}", replies.len(), $n)));
                }
                let mut it = replies.into_iter();
                Ok(($($t::from_value(it.next().expect("length checked"))?,)*))
            }
        }
    };
}
tuple_replies!(1: A);
tuple_replies!(2: A, B);
tuple_replies!(3: A, B, C);
tuple_replies!(4: A, B, C, D);

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
        }
    }
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }
}

/// Where to connect and how to log in, parsed from a URL. Its `Debug`
/// hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `host:port`, or a Unix socket path.
    pub addr: Addr,
    /// `AUTH` user (Redis 6 ACL), if any.
    pub user: Option<String>,
    /// `AUTH` password, if any.
    pub password: Option<String>,
    /// Database to `SELECT` (0 by default).
    pub db: i64,
}

/// A Redis server's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A TCP host and port.
    Tcp(String, u16),
    /// A Unix socket path.
    Unix(std::path::PathBuf),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(h, p) => write!(f, "{h}:{p}"),
            Addr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("db", &self.db)
            .finish()
    }
}

impl ConnectionInfo {
    /// Parses `redis://[[user]:password@]host[:port][/db]` or
    /// `redis+unix:///path/to/socket[?db=N]` (also `unix:///path`).
    pub fn parse(url: &str) -> Result<ConnectionInfo, Error> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidUrl, format!("invalid Redis URL {url:?}: {why}"));
        if let Some(rest) = url.strip_prefix("redis+unix://").or_else(|| url.strip_prefix("unix://")) {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            let mut db = 0;
            for kv in query.split('&').filter(|s| !s.is_empty()) {
                match kv.split_once('=') {
                    Some(("db", n)) => db = n.parse().map_err(|_| bad("db must be a number"))?,
                    _ => return Err(bad(&format!("unknown parameter {kv:?}"))),
                }
            }
            return Ok(ConnectionInfo { addr: Addr::Unix(path.into()), user: None, password: None, db });
        }
        let rest = url.strip_prefix("redis://").ok_or_else(|| bad("expected redis:// or redis+unix://"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, authority),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
                None => (Some(a.to_owned()), None),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad("port must be a number from 1 to 65535"))?)
            }
            _ => (hostport, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let db = match path.trim_end_matches('/') {
            "" => 0,
            n => n.parse().map_err(|_| bad("the path must be a database number"))?,
        };
        Ok(ConnectionInfo { addr: Addr::Tcp(host.to_owned(), port), user, password, db })
    }
}

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
