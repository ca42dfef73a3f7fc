//! A blocking-style Postgres client on green sockets (feature `postgres`).
//!
//! Each call parks the calling green thread until Postgres answers, so a
//! thousand handlers can wait on queries at once on one OS thread, and
//! nothing else on the loop stalls while they do:
//!
//! ```no_run
//! use greenloop::postgres::Client;
//!
//! greenloop::run(|| -> Result<(), greenloop::postgres::Error> {
//!     let mut db = Client::connect("postgres://postgres@127.0.0.1/test")?;
//!     let row = db.query_one("SELECT $1::int + 1", &[&41i32])?;
//!     assert_eq!(row.get::<_, i32>(0), 42);
//!     let tx = db.transaction()?;
//!     tx.execute("CREATE TEMP TABLE t (v text)", &[])?;
//!     tx.commit()?;
//!     Ok(())
//! })
//! .unwrap();
//! ```
//!
//! Under the hood this is `tokio-postgres` (protocol, statements, typed
//! rows through `postgres-types`) over a green [`TcpStream`] or
//! [`UnixStream`], with no tokio runtime: tokio-postgres' `connect_raw`
//! takes any `AsyncRead + AsyncWrite` stream and needs neither tokio's
//! reactor nor its timer, so its connection future runs on a green thread
//! of its own (ended when the [`Client`] is dropped) and every call goes
//! through [`block_on`](crate::block_on). TLS is not offered: connect over
//! loopback, a Unix socket, or a private network (`sslmode=require` fails
//! with a clear error).
//!
//! A client belongs to the loop it was made on (it is not `Send`); give
//! each worker its own, usually through a [`Pool`](crate::pool::Pool) made
//! in [`Server::with_worker_state`](crate::http::Server::with_worker_state).

mod cancel;
mod error;
mod manager;

use std::cell::Cell;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_postgres::NoTls;
use tokio_postgres::config::Host;
use tokio_postgres::types::{ToSql, Type};

pub use error::Error;
pub use manager::PostgresManager;
pub use tokio_postgres::error::{DbError, SqlState};
pub use tokio_postgres::{Column, Config, Row, SimpleQueryMessage, SimpleQueryRow, Statement, ToStatement, types};

use crate::net::{TcpStream, UnixStream};
use cancel::{Endpoint, InFlight};

/// Where the server listens when the connection string names no host: the
/// Unix socket directories of Debian's and of upstream's builds, as libpq.
const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// How long a connection attempt may take when the connection string sets
/// no `connect_timeout`: long enough for a busy server, short enough that a
/// black-holed address fails a request instead of hanging it.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One Postgres connection, used in blocking style from a green thread.
pub struct Client {
    inner: tokio_postgres::Client,
    /// Where it is connected, for error messages.
    peer: String,
    /// Set when a call failed in a way that ends the connection (a FATAL
    /// error, a reset): the driver may notice the closed socket only later.
    /// Also set when a wait on a query was cut short (see `cancel.rs`).
    broken: Cell<bool>,
    /// The address connected to, where a cancel request goes.
    endpoint: Endpoint,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("peer", &self.peer).field("closed", &self.is_closed()).finish()
    }
}

impl Client {
    /// Connects with a connection string, either a URL
    /// (`postgres://user@host:port/db`, `postgres://user@%2Fvar%2Frun%2Fpostgresql/db`)
    /// or key/value pairs (`host=/var/run/postgresql user=postgres dbname=test`).
    /// A host starting with `/` is a Unix socket directory. Hosts are tried
    /// in order; the error names each one that failed.
    pub fn connect(params: &str) -> Result<Client, Error> {
        let config: Config =
            params.parse().map_err(|e| Error::from(e).context("invalid Postgres connection string"))?;
        Client::connect_config(&config)
    }

    /// Connects with a parsed [`Config`].
    pub fn connect_config(config: &Config) -> Result<Client, Error> {
        let mut hosts: Vec<Host> = config.get_hosts().to_vec();
        if hosts.is_empty() {
            hosts = DEFAULT_SOCKET_DIRS.iter().map(|d| Host::Unix(PathBuf::from(d))).collect();
        }
        let ports = config.get_ports();
        let timeout = config.get_connect_timeout().copied().unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let mut failures = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let deadline = Instant::now() + timeout;
            let attempt = match host {
                Host::Tcp(name) => {
                    let peer = format!("{name}:{port}");
                    connect_tcp(config, &peer, name, port, deadline).map(|(inner, addr)| Client {
                        inner,
                        peer,
                        broken: Cell::new(false),
                        endpoint: Endpoint::Tcp(addr),
                    })
                }
                Host::Unix(dir) => {
                    let path = dir.join(format!(".s.PGSQL.{port}"));
                    let peer = path.display().to_string();
                    connect_unix(config, &path, deadline).map(|inner| Client {
                        inner,
                        peer,
                        broken: Cell::new(false),
                        endpoint: Endpoint::Unix(path.clone()),
                    })
                }
            };
            match attempt {
                Ok(c) => return Ok(c),
                Err(e) => failures.push(e),
            }
        }
        Err(match failures.len() {
            1 => failures.remove(0),
            _ => {
                let all = failures.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
                failures.remove(0).context(&format!("every host failed ({all})"))
            }
        })
    }

    /// Runs a statement and returns its rows. `query` is SQL text or a
    /// prepared [`Statement`]; `params` bind `$1`, `$2`, ...
    pub fn query<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.query(query, params))
    }

    /// Runs a statement that returns exactly one row (else an error).
    pub fn query_one<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.query_one(query, params))
    }

    /// Runs a statement that returns at most one row.
    pub fn query_opt<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.query_opt(query, params))
    }

    /// Runs a statement and returns how many rows it affected.
    pub fn execute<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.execute(query, params))
    }

    /// Prepares a statement once, to run it many times without parsing it again.
    pub fn prepare(&self, query: &str) -> Result<Statement, Error> {
        self.wait(self.inner.prepare(query))
    }

    /// Prepares a statement with the types of some of its parameters given.
    pub fn prepare_typed(&self, query: &str, types: &[Type]) -> Result<Statement, Error> {
        self.wait(self.inner.prepare_typed(query, types))
    }

    /// Runs several `;`-separated statements without parameters (migrations, set-up).
    pub fn batch_execute(&self, query: &str) -> Result<(), Error> {
        self.wait(self.inner.batch_execute(query))
    }

    /// Runs statements with the simple query protocol; every value comes back as text.
    pub fn simple_query(&self, query: &str) -> Result<Vec<SimpleQueryMessage>, Error> {
        self.wait(self.inner.simple_query(query))
    }

    /// Begins a transaction. It rolls back when dropped without
    /// [`Transaction::commit`], so an early return or `?` cannot leave it open.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let (peer, broken, endpoint) = (&self.peer, &self.broken, &self.endpoint);
        let cancel = self.inner.cancel_token();
        let token = || cancel.clone();
        let guard = InFlight { token: &token, endpoint, peer, broken };
        let inner = crate::block_on(self.inner.transaction());
        guard.finish();
        let inner = inner.map_err(|e| noted(with_peer(e, peer), broken))?;
        Ok(Transaction { inner, peer, broken, endpoint })
    }

    /// Whether the connection is gone (server closed it, network error):
    /// such a client only returns errors. Costs no round trip; a pool uses
    /// it to discard broken connections.
    pub fn is_closed(&self) -> bool {
        self.broken.get() || self.inner.is_closed()
    }

    /// The async client underneath, for what this type does not wrap
    /// (`copy_in`, `query_raw`, ...): drive its futures with [`block_on`](crate::block_on).
    pub fn as_async(&self) -> &tokio_postgres::Client {
        &self.inner
    }

    /// Waits for `f`; cut short (a cancelled scope, an expired `timeout`),
    /// it cancels the query on the server (see `cancel.rs`).
    fn wait<R>(&self, f: impl Future<Output = Result<R, tokio_postgres::Error>>) -> Result<R, Error> {
        let token = || self.inner.cancel_token();
        let guard = InFlight { token: &token, endpoint: &self.endpoint, peer: &self.peer, broken: &self.broken };
        let r = crate::block_on(f);
        guard.finish();
        r.map_err(|e| noted(with_peer(e, &self.peer), &self.broken))
    }
}

/// A transaction: the same calls as [`Client`], then [`commit`](Self::commit)
/// or [`rollback`](Self::rollback) (dropping it rolls back).
pub struct Transaction<'a> {
    inner: tokio_postgres::Transaction<'a>,
    peer: &'a str,
    broken: &'a Cell<bool>,
    endpoint: &'a Endpoint,
}

impl fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").field("peer", &self.peer).finish()
    }
}

impl Transaction<'_> {
    /// As [`Client::query`].
    pub fn query<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.query(query, params))
    }

    /// As [`Client::query_one`].
    pub fn query_one<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Row, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.query_one(query, params))
    }

    /// As [`Client::query_opt`].
    pub fn query_opt<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.query_opt(query, params))
    }

    /// As [`Client::execute`].
    pub fn execute<T>(&self, query: &T, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error>
    where
        T: ?Sized + ToStatement,
    {
        self.wait(self.inner.execute(query, params))
    }

    /// As [`Client::prepare`].
    pub fn prepare(&self, query: &str) -> Result<Statement, Error> {
        self.wait(self.inner.prepare(query))
    }

    /// As [`Client::batch_execute`].
    pub fn batch_execute(&self, query: &str) -> Result<(), Error> {
        self.wait(self.inner.batch_execute(query))
    }

    /// Makes the transaction's changes permanent.
    pub fn commit(self) -> Result<(), Error> {
        let (peer, broken, endpoint) = (self.peer, self.broken, self.endpoint);
        let cancel = self.inner.cancel_token();
        let token = || cancel.clone();
        let guard = InFlight { token: &token, endpoint, peer, broken };
        let r = crate::block_on(self.inner.commit());
        guard.finish();
        r.map_err(|e| noted(with_peer(e, peer), broken))
    }

    /// Undoes the transaction's changes (what dropping it does, but waiting
    /// for the server's answer and reporting a failure).
    pub fn rollback(self) -> Result<(), Error> {
        let (peer, broken, endpoint) = (self.peer, self.broken, self.endpoint);
        let cancel = self.inner.cancel_token();
        let token = || cancel.clone();
        let guard = InFlight { token: &token, endpoint, peer, broken };
        let r = crate::block_on(self.inner.rollback());
        guard.finish();
        r.map_err(|e| noted(with_peer(e, peer), broken))
    }

    fn wait<R>(&self, f: impl Future<Output = Result<R, tokio_postgres::Error>>) -> Result<R, Error> {
        let token = || self.inner.cancel_token();
        let guard = InFlight { token: &token, endpoint: self.endpoint, peer: self.peer, broken: self.broken };
        let r = crate::block_on(f);
        guard.finish();
        r.map_err(|e| noted(with_peer(e, self.peer), self.broken))
    }
}

/// Remembers on the client that `e` ended its connection.
fn noted(e: Error, broken: &Cell<bool>) -> Error {
    if e.is_closed() {
        broken.set(true);
    }
    e
}

fn with_peer(e: tokio_postgres::Error, peer: &str) -> Error {
    Error::from(e).context(&format!("Postgres at {peer}"))
}

fn connect_tcp(
    config: &Config,
    peer: &str,
    name: &str,
    port: u16,
    deadline: Instant,
) -> Result<(tokio_postgres::Client, std::net::SocketAddr), Error> {
    let fail = |e: std::io::Error| Error::from(e).context(&format!("cannot connect to Postgres at {peer}"));
    let addrs = crate::net::resolve(&format!("{name}:{port}")).map_err(fail)?;
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                // Queries are small writes waiting for an answer: Nagle would delay each.
                s.set_nodelay(true).map_err(fail)?;
                return handshake(config, s, peer, deadline).map(|c| (c, addr));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(fail(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))))
}

fn connect_unix(config: &Config, path: &std::path::Path, deadline: Instant) -> Result<tokio_postgres::Client, Error> {
    let peer = path.display().to_string();
    let s = UnixStream::connect(path)
        .map_err(|e| Error::from(e).context(&format!("cannot connect to Postgres at {peer}")))?;
    handshake(config, s, &peer, deadline)
}

/// Runs the start-up exchange (authentication, parameters) on `stream`,
/// then gives the connection future a green thread of its own.
fn handshake<S>(config: &Config, stream: S, peer: &str, deadline: Instant) -> Result<tokio_postgres::Client, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let started = crate::timeout_at(deadline, || crate::block_on(config.connect_raw(stream, NoTls)));
    let (client, connection) = match started {
        Ok(r) => r.map_err(|e| Error::from(e).context(&format!("Postgres at {peer} refused the connection")))?,
        Err(_) => {
            let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "start-up exchange timed out");
            return Err(Error::from(e).context(&format!("Postgres at {peer}")));
        }
    };
    let peer = peer.to_owned();
    // Named for watchdog reports; dropping the handle detaches it.
    drop(crate::spawn_named(format!("Postgres connection to {peer}"), move || {
        // Ends when every handle to the client is gone (or the server hangs up).
        if let Err(e) = crate::block_on(connection) {
            log::debug!("Postgres connection to {peer} ended: {}", Error::from(e));
        }
    }));
    Ok(client)
}
