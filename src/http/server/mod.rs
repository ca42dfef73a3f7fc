//! The server: listeners, workers, per-worker state, hooks and graceful shutdown.
//!
//! Each worker is one OS thread with its own loop and its own listener
//! (`SO_REUSEPORT` on TCP, so the kernel spreads connections): workers share
//! nothing but the app.
//!
//! Where each job lives: [`Limits`] in `limits.rs`; the [`ShutdownHandle`]
//! and signal handling in `shutdown.rs`; a worker's shared and loop-local
//! context in `context.rs`, its thread, accept loop and drain in
//! `worker.rs`; one connection's loop in `conn.rs` (its socket, read side,
//! request-body framing, response writers and counters are the connection
//! layer's, `http/conn/`); binding and listening in `bind.rs`; the
//! worker's open and idle connections in `registry.rs`.

mod asleep;
mod bind;
mod conn;
mod context;
#[cfg(feature = "http2")]
mod h2;
mod holdings;
mod limits;
mod refuse;
mod registry;
mod shutdown;
mod worker;

// The connection layer below, under the names the server's files use.
use crate::http::conn::{counters, inbound, stream};

use std::any::Any;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub use context::{worker_id, worker_state};
pub use limits::Limits;
pub use shutdown::ShutdownHandle;

use super::handler::App;
use crate::Handle;
use bind::{Bound, reserve_fd_table};
use context::{Hook, StateFactory, WorkerConfig};
use shutdown::watch_signals;
use worker::run_worker;

#[derive(Debug)]
enum Bind {
    Tcp(String),
    Unix(PathBuf),
}

/// An HTTP/1.1 server.
///
/// ```no_run
/// use greenloop::http::Server;
/// Server::bind("127.0.0.1:8000")
///     .workers(2)
///     .serve(|_req: greenloop::http::Request| "hello\n")
///     .unwrap();
/// ```
pub struct Server {
    bind: Bind,
    workers: usize,
    limits: Limits,
    server_name: String,
    grace: Duration,
    stack_size: Option<usize>,
    unix_mode: Option<u32>,
    signals: bool,
    on_start: Vec<Hook>,
    on_stop: Vec<Hook>,
    states: Vec<StateFactory>,
    shutdown: ShutdownHandle,
    /// Set by [`Server::tls`] (`http/tls`).
    #[cfg(feature = "tls")]
    tls: Option<crate::http::tls::ServerTls>,
    #[cfg(feature = "tokio")]
    tokio_handle: Option<tokio::runtime::Handle>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("bind", &self.bind)
            .field("workers", &self.workers)
            .field("limits", &self.limits)
            .field("server_name", &self.server_name)
            .field("grace", &self.grace)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for a TCP address such as `"127.0.0.1:8000"` (port 0 picks a free port).
    pub fn bind(addr: impl Into<String>) -> Server {
        Server::new(Bind::Tcp(addr.into()))
    }

    /// A server on a Unix socket at `path` (for nginx `proxy_pass http://unix:...`).
    /// A stale socket file left by a dead server is replaced; a live one is an
    /// error. The file is removed when the server stops. See
    /// [`unix_mode`](Self::unix_mode) to let a proxy running as another user connect.
    pub fn bind_unix(path: impl AsRef<Path>) -> Server {
        Server::new(Bind::Unix(path.as_ref().to_owned()))
    }

    fn new(bind: Bind) -> Server {
        Server {
            bind,
            workers: 1,
            limits: Limits::default(),
            server_name: "greenloop".into(),
            grace: Duration::from_secs(30),
            stack_size: None,
            unix_mode: None,
            signals: true,
            on_start: Vec::new(),
            on_stop: Vec::new(),
            states: Vec::new(),
            shutdown: ShutdownHandle::new(),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tokio")]
            tokio_handle: None,
        }
    }

    /// Worker OS threads, each with its own loop and listener (default 1).
    pub fn workers(mut self, n: usize) -> Server {
        self.workers = n.max(1);
        self
    }

    /// Limits and timeouts.
    pub fn limits(mut self, limits: Limits) -> Server {
        self.limits = limits;
        self
    }

    /// HTTP/2 streams one connection may have open at once (default 100,
    /// as nginx's `http2_max_concurrent_streams`): the `SETTINGS` value
    /// announced to clients, who queue the rest. Each open stream is a
    /// green thread running a handler. Feature `http2`; a shorthand for
    /// [`Limits::max_concurrent_streams`].
    pub fn max_concurrent_streams(mut self, n: u32) -> Server {
        self.limits.max_concurrent_streams = n.max(1);
        self
    }

    /// The `Server` header value (default `greenloop`; empty: none).
    pub fn server_name(mut self, name: impl Into<String>) -> Server {
        let name: String = name.into();
        self.server_name = name.chars().filter(|c| !c.is_control()).collect();
        self
    }

    /// How long a graceful shutdown waits for requests in flight (default 30 s).
    pub fn grace_period(mut self, grace: Duration) -> Server {
        self.grace = grace;
        self
    }

    /// Green-thread stack size for connections (default: the runtime's).
    pub fn stack_size(mut self, bytes: usize) -> Server {
        self.stack_size = Some(bytes);
        self
    }

    /// The tokio runtime whose context [`block_on`](crate::block_on) enters
    /// in handlers (feature `tokio`): see
    /// [`Builder::tokio_handle`](crate::Builder::tokio_handle). Without it,
    /// handlers share the runtime greenloop creates when a loop first runs.
    #[cfg(feature = "tokio")]
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Server {
        self.tokio_handle = Some(handle);
        self
    }

    /// Permission bits of the Unix socket file (e.g. `0o660`, uWSGI's
    /// `chmod-socket`), so that a reverse proxy running as another user (in
    /// the socket's group) may connect: without it the file gets the
    /// process's umask, typically `0o755`, and connecting needs write
    /// permission. Set before the socket listens, so no connection is ever
    /// accepted under other permissions. Ignored on TCP.
    pub fn unix_mode(mut self, mode: u32) -> Server {
        self.unix_mode = Some(mode & 0o7777);
        self
    }

    /// Whether [`serve`](Self::serve) stops gracefully on SIGINT/SIGTERM
    /// (default true; a second signal exits at once).
    pub fn handle_signals(mut self, on: bool) -> Server {
        self.signals = on;
        self
    }

    /// Runs `hook` on every worker's loop (on a green thread: it may do green
    /// I/O) before the worker accepts connections.
    pub fn on_worker_start(mut self, hook: impl Fn() + Send + Sync + 'static) -> Server {
        self.on_start.push(Arc::new(hook));
        self
    }

    /// Runs `hook` on every worker's loop after it has drained, at shutdown.
    pub fn on_worker_stop(mut self, hook: impl Fn() + Send + Sync + 'static) -> Server {
        self.on_stop.push(Arc::new(hook));
        self
    }

    /// Per-worker state: `make` runs on each worker's loop at start (it may do
    /// green I/O, e.g. open a connection pool); handlers reach the value with
    /// [`worker_state::<T>()`](worker_state). It is dropped on the worker's
    /// loop after the stop hooks.
    ///
    /// Named `with_` because [`worker_state`] is the getter.
    pub fn with_worker_state<T: 'static>(mut self, make: impl Fn() -> T + Send + Sync + 'static) -> Server {
        self.states.push(Arc::new(move || Rc::new(make()) as Rc<dyn Any>));
        self
    }

    /// The former name of [`Server::with_worker_state`], which read like the
    /// getter [`worker_state`].
    #[deprecated(since = "0.2.0", note = "renamed to `Server::with_worker_state`")]
    pub fn worker_state<T: 'static>(self, make: impl Fn() -> T + Send + Sync + 'static) -> Server {
        self.with_worker_state(make)
    }

    /// A handle that stops this server gracefully from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Serves `app` until shut down (by a signal or a [`ShutdownHandle`]);
    /// returns after in-flight requests finished (or the grace period ran
    /// out) and the stop hooks ran.
    pub fn serve(self, app: impl Into<App>) -> io::Result<()> {
        let signals = self.signals;
        let running = self.start(app)?;
        if signals { running.serve_until_signal() } else { running.join() }
    }

    /// Binds and starts the workers in the background; returns once every
    /// worker is accepting (so tests can connect at once).
    pub fn start(self, app: impl Into<App>) -> io::Result<RunningServer> {
        let app = Arc::new(app.into());
        crate::http::conn::serving::register(context::SERVING);
        let Bound { listeners, local_addr, socket_file } = self.listen()?;
        reserve_fd_table(self.workers.saturating_mul(self.limits.max_connections).saturating_add(64));
        let shared = Arc::new(WorkerConfig {
            metrics: Arc::default(),
            limits: self.limits,
            server_name: self.server_name,
            grace: self.grace,
            on_start: self.on_start,
            on_stop: self.on_stop,
            states: self.states,
            #[cfg(feature = "tls")]
            tls: self.tls.map(|t| t.config),
            #[cfg(feature = "tokio")]
            tokio_handle: self.tokio_handle,
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<Handle>>();
        let mut threads = Vec::new();
        for (id, listener) in listeners.into_iter().enumerate() {
            let (app, shared, ready, stack) = (app.clone(), shared.clone(), ready_tx.clone(), self.stack_size);
            let shutdown = self.shutdown.clone();
            // Each worker keeps the socket file: the last one to stop removes it.
            let file = socket_file.clone();
            let t = thread::Builder::new().name(format!("greenloop-worker-{id}")).spawn(move || {
                run_worker(id, listener, app, shared, stack, shutdown, ready);
                drop(file);
            })?;
            threads.push(t);
        }
        drop(ready_tx);
        let mut first_error = None;
        for _ in 0..threads.len() {
            match ready_rx.recv() {
                Ok(Ok(handle)) => self.shutdown.add_worker(handle),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(io::Error::other("a worker exited during start-up"));
                }
            }
        }
        let running = RunningServer { local_addr, shutdown: self.shutdown, threads };
        if let Some(e) = first_error {
            running.shutdown.shutdown();
            let _ = running.join();
            return Err(e);
        }
        Ok(running)
    }
}

#[cfg(feature = "tls")]
impl Server {
    /// Serves HTTPS: every TCP connection is TLS with `tls` (a
    /// [`ServerTls`](crate::http::tls::ServerTls) from PEM files, or a rustls `ServerConfig`), ALPN
    /// `http/1.1`. The handshake counts against the header timeout
    /// ([`Limits::header_timeout`](crate::http::Limits)); a peer that sends
    /// plain HTTP or garbage is closed at its first record. Ignored on a
    /// Unix socket.
    ///
    /// ```no_run
    /// use greenloop::http::{Server, tls::ServerTls};
    /// let tls = ServerTls::from_pem_files("cert.pem", "key.pem").unwrap();
    /// Server::bind("127.0.0.1:8443").tls(tls).serve(|_req: greenloop::http::Request| "hello\n").unwrap();
    /// ```
    pub fn tls(mut self, tls: impl Into<crate::http::tls::ServerTls>) -> Server {
        self.tls = Some(tls.into());
        self
    }
}

/// A started server: its address, a way to stop it, and a way to wait for it.
pub struct RunningServer {
    local_addr: Option<SocketAddr>,
    shutdown: ShutdownHandle,
    threads: Vec<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .field("workers", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The bound TCP address (`None` on a Unix socket).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
    }

    /// A handle that stops the server gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Waits until every worker has stopped.
    pub fn join(self) -> io::Result<()> {
        let mut panicked = false;
        for t in self.threads {
            panicked |= t.join().is_err();
        }
        if panicked { Err(io::Error::other("a worker thread panicked")) } else { Ok(()) }
    }

    /// From now on, SIGINT/SIGTERM stop this server gracefully (a second
    /// signal exits at once); returns at once.
    ///
    /// Call it before announcing that the server is ready (a banner, a
    /// readiness file, a supervisor's notification): until it is called, a
    /// SIGTERM has its default effect and kills the process, and a process
    /// manager that stops the server right after it said it was ready would
    /// cut off the requests in flight.
    pub fn watch_signals(&self) -> io::Result<()> {
        watch_signals(self.shutdown_handle())
    }

    /// Stops gracefully on SIGINT/SIGTERM (a second signal exits at once)
    /// and waits until the workers are done. Signals are watched from this
    /// call on; see [`watch_signals`](Self::watch_signals) to watch them
    /// before announcing readiness.
    pub fn serve_until_signal(self) -> io::Result<()> {
        self.watch_signals()?;
        self.join()
    }

    /// Stops gracefully and waits.
    pub fn stop(self) -> io::Result<()> {
        self.shutdown.shutdown();
        self.join()
    }
}
