//! One worker thread: its loop, start and stop hooks, the accept loop and
//! the drain at shutdown.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn;
use super::context::{Stamp, WORKER, WorkerConfig, WorkerCtx, panic_text};
use super::holdings::OpenSlot;
use super::registry::{Eviction, Registry};
use super::shutdown::ShutdownHandle;
use super::stream::Stream;
use crate::Handle;
use crate::http::codec::DateCache;
use crate::http::handler::App;
use crate::net::{TcpListener, UnixListener};
use crate::park;

/// A bound listener, handed from [`Server::start`](super::Server::start) to its worker thread.
pub(super) enum Listener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

/// The body of worker thread `id`: builds its loop, runs the start hooks,
/// reports ready (or the error), serves until shutdown, drains, runs the stop hooks.
pub(super) fn run_worker(
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
    #[cfg(feature = "tokio")]
    if let Some(h) = &config.tokio_handle {
        builder = builder.tokio_handle(h.clone());
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let handle = rt.handle();
    rt.run(move || {
        let ctx = Rc::new(WorkerCtx {
            id,
            metrics: config.metrics.add_worker(),
            config: config.clone(),
            shutting_down: Cell::new(shutdown.is_requested()),
            open: Cell::new(0),
            next_request_id: Cell::new(1),
            next_conn_id: Cell::new(1),
            connections: RefCell::new(Registry::new()),
            idle_wanted: Cell::new(false),
            acceptor: RefCell::new(Some(park::unparker())),
            date: RefCell::new(DateCache::new()),
            stamp: RefCell::new(Stamp { date: [0; 29], fields: Vec::new(), ok_head: Default::default(), until: None }),
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
    // A connection accepted at the cap, waiting for a slot.
    let mut held: Option<(Stream, Option<SocketAddr>)> = None;
    // Since when the cap has been full with no idle connection to close.
    let mut full_since: Option<Instant> = None;
    while !ctx.shutting_down.get() {
        let max = ctx.config.limits.max_connections;
        let at_cap = ctx.open.get() >= max;
        let accepted = match held.take() {
            Some(c) if !at_cap => Ok(c),
            Some(c) => {
                // Still at the cap: the connection idle the longest is told
                // to close (once), and its slot goes to this one. With none
                // idle, this one waits until a connection closes or falls idle.
                held = Some(c);
                let eviction = ctx.connections.borrow_mut().evict_longest_idle(ctx.open.get(), max);
                if let Eviction::Told(c) = &eviction {
                    c.wake();
                }
                if matches!(eviction, Eviction::NoneIdle) {
                    ctx.idle_wanted.set(true);
                    // None idle: after a short wait for a slot, newcomers
                    // are answered 503 (refuse.rs) rather than left hanging.
                    let since = *full_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= super::refuse::PATIENCE {
                        let (stream, _) = held.take().expect("held above");
                        super::refuse::refuse(ctx, stream);
                    } else {
                        park::park_deadline(Some(since + super::refuse::PATIENCE));
                    }
                    continue;
                }
                full_since = None;
                park::park();
                continue;
            }
            None => try_accept(&accept, &ctx.config),
        };
        match accepted {
            Ok((stream, peer)) if at_cap => {
                // Someone is waiting: held here (the backlog behind it stays
                // in the kernel) until a slot is free.
                backoff = Duration::from_millis(5);
                held = Some((stream, peer));
            }
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                full_since = None;
                let id = ctx.next_conn_id.get();
                ctx.next_conn_id.set(id + 1);
                ctx.open.set(ctx.open.get() + 1);
                ctx.metrics.connections_open.add(1);
                // The slot exists before the spawn: if no green thread can be
                // started (no stack could be mapped), dropping the closure
                // releases it.
                let slot = OpenSlot::new(ctx.clone());
                // Boxed: the green thread's entry frame, resident for the
                // connection's whole life, then holds a pointer, not the socket.
                let accepted = Box::new((slot, app.clone(), stream, peer, id));
                crate::spawn_detached(move || {
                    let (slot, app, stream, peer, id) = *accepted;
                    // This frame's own handle on the worker (the slot goes to
                    // the connection's holdings).
                    let ctx = slot.ctx().clone();
                    conn::serve(&ctx, slot, &app, stream, peer, id);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Wakes for a new connection, or (unparked) when one closes.
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

fn try_accept(accept: &Accept, config: &WorkerConfig) -> io::Result<(Stream, Option<SocketAddr>)> {
    match accept {
        Accept::Tcp(l) => l.try_accept().and_then(|(s, a)| {
            let _ = s.set_nodelay(true);
            // On a TLS server the handshake runs on the connection's own
            // green thread, as its first reads: nothing here waits.
            Ok((Stream::accepted_tcp(s, config)?, Some(a)))
        }),
        Accept::Unix(l) => l.try_accept().map(|(s, _)| (Stream::Unix(s), None)),
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
        || e.raw_os_error() == Some(crate::sys::EPROTO)
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
