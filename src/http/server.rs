//! The server: listeners, workers, per-worker state, hooks and graceful shutdown.
//!
//! Each worker is one OS thread with its own loop and its own listener
//! (`SO_REUSEPORT` on TCP, so the kernel spreads connections): workers share
//! nothing but the app.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::codec::{self, DateCache};
use super::conn;
use super::handler::App;
use crate::Handle;
use crate::net::{TcpListener, UnixListener};
use crate::park::{self, Unparker};

/// Limits and timeouts of a server. Every limit answers with a clear status
/// (413, 414, 431, 408) and a short text reason.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request head (request line + headers), bytes. Over it: 431.
    pub max_head_bytes: usize,
    /// Most header fields in a request. Over it: 431.
    pub max_headers: usize,
    /// Longest request line, bytes. Over it: 414.
    pub max_request_line: usize,
    /// Largest request body, bytes (declared or, for chunked bodies, as it
    /// grows). Over it: 413.
    pub max_body_bytes: u64,
    /// Time allowed from the first byte of a request head to its end
    /// (slowloris defence). Over it: 408 and close.
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    pub idle_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
    /// Longest wait for a slow client to accept response bytes.
    pub write_timeout: Duration,
    /// Connections served at once per worker (uWSGI's `--async N`). Beyond
    /// it, new connections wait in the listen backlog instead of being refused.
    pub max_connections: usize,
    /// An unread request body up to this size is read and discarded to keep
    /// the connection; a larger one closes the connection instead.
    pub drain_limit: u64,
    /// Listen backlog: connections the kernel holds until they are accepted
    /// (capped by `net.core.somaxconn`). A burst beyond it costs clients a
    /// one-second SYN retransmit.
    pub listen_backlog: u32,
}

impl Default for Limits {
    /// 16 KiB heads of at most 100 fields and 8 KiB request lines (nginx
    /// and Node use 8-16 KiB); 16 MiB bodies; 10 s to send a head, 60 s idle
    /// keep-alive (nginx: 75 s), 30 s between body pieces and for writes;
    /// 10 000 connections per worker; 256 KiB drained; a listen backlog of
    /// 4096 (Linux's default `somaxconn`: bursts of thousands of connections
    /// are absorbed instead of dropped and retried a second later).
    fn default() -> Limits {
        // The head and body limits are the codec's defaults: one place says them.
        let codec = codec::Limits::default();
        Limits {
            max_head_bytes: codec.max_head_bytes,
            max_headers: codec.max_headers,
            max_request_line: codec.max_request_line,
            max_body_bytes: codec.max_body_bytes,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            drain_limit: 256 * 1024,
            listen_backlog: 4096,
        }
    }
}

impl Limits {
    pub(crate) fn codec(&self) -> codec::Limits {
        codec::Limits {
            max_head_bytes: self.max_head_bytes,
            max_headers: self.max_headers,
            max_request_line: self.max_request_line,
            max_body_bytes: self.max_body_bytes,
        }
    }
}

enum Bind {
    Tcp(String),
    Unix(PathBuf),
}

type Hook = Arc<dyn Fn() + Send + Sync>;
type StateFactory = Arc<dyn Fn() -> Rc<dyn Any> + Send + Sync>;

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
    signals: bool,
    on_start: Vec<Hook>,
    on_stop: Vec<Hook>,
    states: Vec<StateFactory>,
    shutdown: ShutdownHandle,
}

impl Server {
    /// A server for a TCP address such as `"127.0.0.1:8000"` (port 0 picks a free port).
    pub fn bind(addr: impl Into<String>) -> Server {
        Server::new(Bind::Tcp(addr.into()))
    }

    /// A server on a Unix socket at `path` (for nginx `proxy_pass http://unix:...`).
    /// A stale socket file left by a dead server is replaced; a live one is an error.
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
            signals: true,
            on_start: Vec::new(),
            on_stop: Vec::new(),
            states: Vec::new(),
            shutdown: ShutdownHandle::new(),
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
    pub fn worker_state<T: 'static>(mut self, make: impl Fn() -> T + Send + Sync + 'static) -> Server {
        self.states.push(Arc::new(move || Rc::new(make()) as Rc<dyn Any>));
        self
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
        let (listeners, local_addr) = self.listen()?;
        reserve_fd_table(self.workers.saturating_mul(self.limits.max_connections).saturating_add(64));
        let shared = Arc::new(WorkerConfig {
            metrics: Arc::default(),
            limits: self.limits,
            server_name: self.server_name,
            grace: self.grace,
            on_start: self.on_start,
            on_stop: self.on_stop,
            states: self.states,
        });
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<Handle>>();
        let mut threads = Vec::new();
        for (id, listener) in listeners.into_iter().enumerate() {
            let (app, shared, ready, stack) = (app.clone(), shared.clone(), ready_tx.clone(), self.stack_size);
            let shutdown = self.shutdown.clone();
            let t = thread::Builder::new()
                .name(format!("greenloop-worker-{id}"))
                .spawn(move || run_worker(id, listener, app, shared, stack, shutdown, ready))?;
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

    fn listen(&self) -> io::Result<(Vec<Listener>, Option<SocketAddr>)> {
        match &self.bind {
            Bind::Tcp(addr) => {
                let addrs: Vec<SocketAddr> = addr
                    .to_socket_addrs()
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve {addr:?}: {e}")))?
                    .collect();
                let first = *addrs
                    .first()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr:?}: no address")))?;
                let reuse = self.workers > 1;
                let backlog = self.limits.listen_backlog;
                let l0 = crate::net::bind_std(first, reuse, backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {first}: {e}")))?;
                // Port 0 picked a port: the other workers bind that one.
                let actual = l0.local_addr()?;
                let mut out = vec![Listener::Tcp(l0)];
                for _ in 1..self.workers {
                    out.push(Listener::Tcp(crate::net::bind_std(actual, true, backlog)?));
                }
                Ok((out, Some(actual)))
            }
            Bind::Unix(path) => {
                remove_stale_socket(path)?;
                let l = crate::net::bind_std_unix(path, self.limits.listen_backlog)
                    .map_err(|e| io::Error::new(e.kind(), format!("cannot bind {}: {e}", path.display())))?;
                let mut out = Vec::new();
                for _ in 1..self.workers {
                    out.push(Listener::Unix(l.try_clone()?));
                }
                out.push(Listener::Unix(l));
                Ok((out, None))
            }
        }
    }
}

/// Grows this process's file-descriptor table once, now, to hold `wanted`
/// descriptors (capped by `RLIMIT_NOFILE`).
///
/// The kernel grows the table by doubling when a new descriptor does not fit,
/// and in a multi-threaded process each growth waits for an RCU grace period
/// (tens of milliseconds on an idle machine). Met in the middle of a burst of
/// connections at 256, 512, ... 8192 descriptors, those waits stalled the
/// accept loop long enough to overflow the listen backlog. Growing it at
/// start-up moves the cost where nobody waits. The table never shrinks; it
/// costs 8 bytes of kernel memory per slot.
fn reserve_fd_table(wanted: usize) {
    // SAFETY: getrlimit writes into the struct we pass; fcntl(F_DUPFD) makes a
    // new descriptor for stdin's open file (or fails), which we close at once.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let target = (wanted as u64).min(lim.rlim_cur).min(1 << 20);
        if target < 256 {
            return;
        }
        // Any open descriptor will do as the source: the duplicate is closed at once.
        let probe = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if probe < 0 {
            return;
        }
        let high = libc::fcntl(probe, libc::F_DUPFD_CLOEXEC, (target - 1) as libc::c_int);
        if high >= 0 {
            libc::close(high);
        }
        libc::close(probe);
    }
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another server is listening there", path.display()),
                ));
            }
            std::fs::remove_file(path)
        }
        Ok(_) => {
            Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{}: exists and is not a socket", path.display())))
        }
        Err(_) => Ok(()),
    }
}

enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// A started server: its address, a way to stop it, and a way to wait for it.
pub struct RunningServer {
    local_addr: Option<SocketAddr>,
    shutdown: ShutdownHandle,
    threads: Vec<thread::JoinHandle<()>>,
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

    /// Stops gracefully on SIGINT/SIGTERM (a second signal exits at once)
    /// and waits until the workers are done.
    pub fn serve_until_signal(self) -> io::Result<()> {
        watch_signals(self.shutdown_handle())?;
        self.join()
    }

    /// Stops gracefully and waits.
    pub fn stop(self) -> io::Result<()> {
        self.shutdown.shutdown();
        self.join()
    }
}

/// Stops a server gracefully: no new connections, requests in flight finish
/// (within the grace period), idle connections close, stop hooks run.
/// `Send + Sync + Clone`; callable from any thread, any number of times.
#[derive(Clone)]
pub struct ShutdownHandle {
    inner: Arc<ShutdownInner>,
}

struct ShutdownInner {
    requested: AtomicBool,
    workers: Mutex<Vec<Handle>>,
}

impl ShutdownHandle {
    fn new() -> ShutdownHandle {
        ShutdownHandle {
            inner: Arc::new(ShutdownInner { requested: AtomicBool::new(false), workers: Mutex::new(Vec::new()) }),
        }
    }

    fn add_worker(&self, h: Handle) {
        self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).push(h.clone());
        if self.is_requested() {
            h.spawn(begin_worker_shutdown);
        }
    }

    /// Starts the graceful shutdown (returns at once).
    pub fn shutdown(&self) {
        if self.inner.requested.swap(true, Ordering::AcqRel) {
            return;
        }
        for h in self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            h.spawn(begin_worker_shutdown);
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::Acquire)
    }
}

fn watch_signals(handle: ShutdownHandle) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new().name("greenloop-signals".into()).spawn(move || {
        let mut seen = 0;
        for sig in signals.forever() {
            seen += 1;
            if seen == 1 {
                log::info!("greenloop: signal {sig}: finishing requests in flight (send again to exit at once)");
                handle.shutdown();
            } else {
                log::warn!("greenloop: second signal: exiting now");
                std::process::exit(130);
            }
        }
    })?;
    Ok(())
}

/// What every worker shares (read-only).
pub(crate) struct WorkerConfig {
    pub(crate) metrics: Arc<super::metrics::ServerMetrics>,
    pub(crate) limits: Limits,
    pub(crate) server_name: String,
    grace: Duration,
    on_start: Vec<Hook>,
    on_stop: Vec<Hook>,
    states: Vec<StateFactory>,
}

/// One worker's loop-local bookkeeping.
pub(crate) struct WorkerCtx {
    pub(crate) id: usize,
    pub(crate) metrics: Arc<super::metrics::WorkerMetrics>,
    pub(crate) config: Arc<WorkerConfig>,
    pub(crate) shutting_down: Cell<bool>,
    pub(crate) open: Cell<usize>,
    pub(crate) next_request_id: Cell<u64>,
    next_conn_id: Cell<u64>,
    /// Every open connection's green thread, woken at shutdown (a wake is
    /// harmless to one busy with a request: parks may return spuriously).
    connections: RefCell<HashMap<u64, Unparker>>,
    /// The acceptor (parked at the connection cap or in accept) and the drainer.
    acceptor: RefCell<Option<Unparker>>,
    date: RefCell<DateCache>,
    stamp: RefCell<Stamp>,
    states: RefCell<Vec<Rc<dyn Any>>>,
}

/// What every response of a worker says of when and who: refreshed every 100 ms.
pub(crate) struct Stamp {
    /// The `Date` value.
    pub(crate) date: [u8; 29],
    /// `Date: <date>\r\n`, then `Server: <name>\r\n` unless the name is empty.
    pub(crate) fields: Vec<u8>,
    /// Until when it may be reused.
    until: Option<Instant>,
}

impl WorkerCtx {
    /// The `Date` header value for a response made at `now`, and the
    /// `Date` and `Server` fields ready to copy: the wall clock is read at
    /// most every 100 ms (a Date is approximate by definition; nginx
    /// refreshes its own once per loop iteration).
    pub(crate) fn stamp_at(&self, now: Instant) -> std::cell::Ref<'_, Stamp> {
        if self.stamp.borrow().until.is_none_or(|until| now >= until) {
            let mut stamp = self.stamp.borrow_mut();
            let date = *self.date.borrow_mut().get(std::time::SystemTime::now());
            stamp.date = date;
            stamp.until = now.checked_add(Duration::from_millis(100));
            stamp.fields.clear();
            super::codec::write_date_server(&date, self.config.server_name.as_bytes(), &mut stamp.fields);
        }
        self.stamp.borrow()
    }

    /// Registers the calling connection green thread until the guard drops.
    pub(crate) fn register_connection(&self, conn: u64) -> ConnectionGuard<'_> {
        self.connections.borrow_mut().insert(conn, park::unparker());
        ConnectionGuard { ctx: self, conn }
    }

    pub(crate) fn connection_closed(&self) {
        self.open.set(self.open.get() - 1);
        self.metrics.connections_open.sub(1);
        if let Some(a) = self.acceptor.borrow().as_ref() {
            a.unpark();
        }
    }
}

/// Unregisters a connection when dropped, whichever way its green thread ends.
pub(crate) struct ConnectionGuard<'a> {
    ctx: &'a WorkerCtx,
    conn: u64,
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.ctx.connections.borrow_mut().remove(&self.conn);
    }
}

/// Counts a connection as closed when dropped, even if its green thread
/// unwinds: a leaked slot would shrink `max_connections` for good.
struct OpenSlot(Rc<WorkerCtx>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

thread_local! {
    static WORKER: RefCell<Option<Rc<WorkerCtx>>> = const { RefCell::new(None) };
}

pub(crate) fn worker_ctx() -> Option<Rc<WorkerCtx>> {
    WORKER.with(|w| w.borrow().clone())
}

/// The id (0-based) of the server worker running the caller, if any.
pub fn worker_id() -> Option<usize> {
    worker_ctx().map(|w| w.id)
}

/// This worker's value of a state registered with [`Server::worker_state`].
pub fn worker_state<T: 'static>() -> Option<Rc<T>> {
    let ctx = worker_ctx()?;
    let states = ctx.states.borrow();
    states.iter().find_map(|s| s.clone().downcast::<T>().ok())
}

fn begin_worker_shutdown() {
    let Some(ctx) = worker_ctx() else { return };
    if ctx.shutting_down.replace(true) {
        return;
    }
    let connections: Vec<Unparker> = ctx.connections.borrow().values().cloned().collect();
    for u in connections {
        u.unpark();
    }
    if let Some(a) = ctx.acceptor.borrow().as_ref() {
        a.unpark();
    }
}

fn run_worker(
    id: usize,
    listener: Listener,
    app: Arc<App>,
    config: Arc<WorkerConfig>,
    stack: Option<usize>,
    shutdown: ShutdownHandle,
    ready: std::sync::mpsc::Sender<io::Result<Handle>>,
) {
    let mut builder = crate::Builder::new();
    if let Some(s) = stack {
        builder = builder.stack_size(s);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let handle = rt.handle();
    rt.block_on(move || {
        let ctx = Rc::new(WorkerCtx {
            id,
            metrics: config.metrics.add_worker(),
            config: config.clone(),
            shutting_down: Cell::new(shutdown.is_requested()),
            open: Cell::new(0),
            next_request_id: Cell::new(1),
            next_conn_id: Cell::new(1),
            connections: RefCell::new(HashMap::new()),
            acceptor: RefCell::new(Some(park::unparker())),
            date: RefCell::new(DateCache::new()),
            stamp: RefCell::new(Stamp { date: [0; 29], fields: Vec::new(), until: None }),
            states: RefCell::new(Vec::new()),
        });
        WORKER.with(|w| *w.borrow_mut() = Some(ctx.clone()));
        let started = crate::catch_unwind(|| {
            let states: Vec<Rc<dyn Any>> = config.states.iter().map(|make| make()).collect();
            *ctx.states.borrow_mut() = states;
            for hook in &config.on_start {
                hook();
            }
        });
        let accepting = match (started, listener) {
            (Err(p), _) => Err(io::Error::other(format!("worker {id} start-up failed: {}", panic_text(&*p)))),
            (Ok(()), Listener::Tcp(l)) => TcpListener::from_std(l).map(Accept::Tcp),
            (Ok(()), Listener::Unix(l)) => UnixListener::from_std(l).map(Accept::Unix),
        };
        let accept = match accepting {
            Ok(a) => a,
            Err(e) => {
                let _ = ready.send(Err(e));
                WORKER.with(|w| w.borrow_mut().take());
                return;
            }
        };
        let _ = ready.send(Ok(handle));
        let publisher = ctx.clone();
        crate::spawn_named("greenloop-metrics", move || {
            while !publisher.shutting_down.get() {
                publisher.metrics.publish_loop_stats();
                crate::sleep(Duration::from_millis(250));
            }
        });
        accept_loop(&ctx, &app, accept);
        drain(&ctx, config.grace);
        for hook in &config.on_stop {
            if let Err(p) = crate::catch_unwind(hook.as_ref()) {
                log::error!("greenloop: worker {id}: a stop hook panicked: {}", panic_text(&*p));
            }
        }
        let states = std::mem::take(&mut *ctx.states.borrow_mut());
        drop(states);
        WORKER.with(|w| w.borrow_mut().take());
    });
    drop(rt);
}

pub(crate) fn panic_text(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>().copied().or_else(|| p.downcast_ref::<String>().map(|s| s.as_str())).unwrap_or("panic")
}

enum Accept {
    Tcp(TcpListener),
    Unix(UnixListener),
}

fn accept_loop(ctx: &Rc<WorkerCtx>, app: &Arc<App>, accept: Accept) {
    // Accept ahead of the connections already queued: a burst must be
    // drained from the backlog before it overflows (which costs the client a
    // one-second SYN retransmit), not after every new connection ran once.
    park::set_urgent(true);
    let mut backoff = Duration::from_millis(5);
    let mut last_warning: Option<Instant> = None;
    while !ctx.shutting_down.get() {
        if ctx.open.get() >= ctx.config.limits.max_connections {
            // At the cap: leave new connections in the backlog until one closes.
            park::park();
            continue;
        }
        let accepted = match &accept {
            Accept::Tcp(l) => l.try_accept().map(|(s, a)| {
                let _ = s.set_nodelay(true);
                (super::stream::Stream::Tcp(s), Some(a))
            }),
            Accept::Unix(l) => l.try_accept().map(|(s, _)| (super::stream::Stream::Unix(s), None)),
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let id = ctx.next_conn_id.get();
                ctx.next_conn_id.set(id + 1);
                ctx.open.set(ctx.open.get() + 1);
                ctx.metrics.connections_open.add(1);
                // The slot exists before the spawn: if no green thread can be
                // started (no stack could be mapped), dropping the closure
                // releases it.
                let slot = OpenSlot(ctx.clone());
                // Boxed: the green thread's entry frame, resident for the
                // connection's whole life, then holds a pointer, not the socket.
                let accepted = Box::new((slot, app.clone(), stream, peer, id));
                crate::spawn_detached(move || {
                    let (slot, app, stream, peer, id) = *accepted;
                    conn::serve(&slot.0, &app, stream, peer, id);
                    drop(slot);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let waited = match &accept {
                    Accept::Tcp(l) => l.readable(),
                    Accept::Unix(l) => l.readable(),
                };
                if let Err(e) = waited {
                    log::warn!("greenloop: worker {}: waiting for connections: {e}", ctx.id);
                }
            }
            Err(e) if is_transient_accept_error(&e) => continue,
            Err(e) => {
                // EMFILE, ENFILE, ENOBUFS, ENOMEM...: back off instead of spinning.
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    log::warn!(
                        "greenloop: worker {}: accept failed: {e} ({} connections open); retrying in {backoff:?}",
                        ctx.id,
                        ctx.open.get()
                    );
                    last_warning = Some(Instant::now());
                }
                crate::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
        || e.raw_os_error() == Some(libc::EPROTO)
}

/// Waits for open connections to finish, up to `grace`.
fn drain(ctx: &Rc<WorkerCtx>, grace: Duration) {
    let deadline = Instant::now() + grace;
    while ctx.open.get() > 0 {
        if park::park_deadline(Some(deadline)) == park::Wake::TimedOut {
            log::warn!(
                "greenloop: worker {}: grace period over with {} connections still open; closing them",
                ctx.id,
                ctx.open.get()
            );
            return;
        }
    }
}
