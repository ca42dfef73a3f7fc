//! `greenloop`: the demo server a newcomer runs first.
//!
//! `cargo run --release` serves on http://127.0.0.1:8000; `--help` lists the options.
//! `greenloop swarm URL` is a load generator.

mod admission;
#[cfg(feature = "ws")]
mod chat_bus;
mod cli;
mod databases;
mod events;
#[cfg(feature = "ws")]
mod live;
mod logger;
mod routes;
mod scenarios;
#[cfg(feature = "static-files")]
mod static_files;
mod status;
mod swarm;
mod web_api;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use greenloop::http::middleware::{AccessLog, Cors, RequestIds};
use greenloop::http::{App, Limits, Method, Middleware, Next, Request, Server};

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("greenloop: {}\n\n{}", e.message, e.usage);
            return ExitCode::from(2);
        }
    };
    let options = match command {
        cli::Command::Help => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        cli::Command::SwarmHelp => {
            print!("{}", cli::SWARM_USAGE);
            return ExitCode::SUCCESS;
        }
        cli::Command::Version => {
            println!("greenloop {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        cli::Command::Swarm(o) => return swarm::run(&o),
        cli::Command::Serve(o) => o,
    };
    logger::init();
    let result = serve(options);
    // The shutdown hooks' last lines are still queued for the log thread.
    logger::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("greenloop: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the demo until a signal stops it.
fn serve(o: cli::Options) -> std::io::Result<()> {
    let mut limits = Limits::default();
    if let Some(n) = o.max_body {
        limits.max_body_bytes = n;
    }
    if let Some(n) = o.max_connections {
        limits.max_connections = n;
    }
    if let Some(t) = o.header_timeout {
        limits.header_timeout = t;
    }
    if let Some(t) = o.idle_timeout {
        limits.idle_timeout = t;
    }
    if let Some(after) = o.idle_stackless_after {
        limits.idle_stackless_after = after;
    }
    databases::check(&o.db).map_err(std::io::Error::other)?;
    start_chat_bus(o.chat_bus.as_deref())?;
    databases::prepare_postgres(&o.db);
    let upstream = scenarios::Upstream::default();
    if let Some(url) = &o.upstream {
        upstream.set(Some(url.clone()));
    }
    let router = routes::router(upstream.clone(), limits.max_body_bytes);
    #[cfg(feature = "static-files")]
    let router = static_files::routes(router, o.static_dir.as_deref())?;
    let mut app = App::new(router);
    if o.request_ids {
        // The outermost layer, so every log line and response has one.
        app = app.wrap(RequestIds::new());
    }
    if !o.quiet {
        app = app.wrap(AccessLog::new().log_body(o.log_bodies));
    }
    #[cfg(feature = "compression")]
    if o.compression {
        app = app.wrap(greenloop::http::middleware::Compression::new());
    }
    if let Some(cors) = cors(&o.cors_origins) {
        app = app.wrap(
            move |req: Request, next: Next<'_>| {
                if req.path().starts_with("/api/") { cors.call(req, next) } else { next.run(req) }
            },
        );
    }
    let scheme = if o.tls_cert.is_some() { "https" } else { "http" };
    let (server, place) = match &o.unix {
        Some(path) => {
            let server = Server::bind_unix(path);
            (if let Some(mode) = o.unix_mode { server.unix_mode(mode) } else { server }, format!("unix:{path}"))
        }
        None => (Server::bind(o.bind.clone()), format!("{scheme}://{}", o.bind)),
    };
    let (server, upstream_ca) = tls_setup(server, &o)?;
    let mut server = scenarios::with_client_pool(server.workers(o.workers).limits(limits), upstream_ca)
        .with_worker_state(admission::Admission::new);
    server = databases::with_redis(databases::with_postgres(server, &o.db), &o.db);
    if let Some(s) = o.stack_size {
        server = server.stack_size(s);
    }
    let running = server.start(app)?;
    // Before the banner: a SIGTERM sent as soon as the server says it is
    // serving must drain it, not kill it.
    running.watch_signals()?;
    // By default the aggregated routes call this server itself (port 0 is
    // known only now); a wildcard address is reached over loopback.
    upstream.set(running.local_addr().map(|mut a| {
        if a.ip().is_unspecified() {
            a.set_ip(if a.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
        }
        // Over TLS, by the name certificates carry for loopback.
        if o.tls_cert.is_some() && a.ip().is_loopback() {
            format!("https://localhost:{}", a.port())
        } else {
            format!("{scheme}://{a}")
        }
    }));
    // The workers' start-up lines go first, so the banner is the last one.
    logger::flush();
    let shown = running.local_addr().map(|a| format!("{scheme}://{a}")).unwrap_or(place);
    eprintln!(
        "greenloop {} serving on {shown} with {} worker{} (Ctrl-C to stop)",
        env!("CARGO_PKG_VERSION"),
        o.workers,
        if o.workers == 1 { "" } else { "s" }
    );
    running.serve_until_signal()
}

/// `--cors-origin`: pages from these origins may call `/api/*` (with
/// cookies, except for `*`, which browsers allow only without).
fn cors(origins: &[String]) -> Option<Cors> {
    if origins.is_empty() {
        return None;
    }
    let mut cors = Cors::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["content-type", "x-request-id"])
        .expose_headers(["x-request-id", "location"])
        .max_age(std::time::Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin();
    } else {
        cors = cors.allow_credentials(true);
        for o in origins {
            cors = cors.allow_origin(o);
        }
    }
    Some(cors)
}

/// `--chat-bus URL`: the chat room spans the instances sharing the bus.
fn start_chat_bus(url: Option<&str>) -> std::io::Result<()> {
    let Some(url) = url else { return Ok(()) };
    #[cfg(feature = "ws")]
    {
        let target = chat_bus::Target::parse(url).map_err(std::io::Error::other)?;
        chat_bus::start(target, live::deliver)
    }
    #[cfg(not(feature = "ws"))]
    Err(std::io::Error::other(format!("--chat-bus {url:?}: this build has no chat room (feature `ws`)")))
}

/// `--tls-cert`/`--tls-key`: the server speaks TLS. Returns the CA
/// certificates the upstream client trusts besides the built-in roots:
/// `--upstream-ca`, and, when the aggregated routes call this server itself
/// over TLS, its own certificate file (enough for a self-signed one).
fn tls_setup(server: Server, o: &cli::Options) -> std::io::Result<(Server, Option<Vec<u8>>)> {
    let mut ca = None;
    if let Some(path) = &o.upstream_ca {
        let pem =
            std::fs::read(path).map_err(|e| std::io::Error::new(e.kind(), format!("--upstream-ca {path}: {e}")))?;
        ca = Some(pem);
    }
    #[cfg(feature = "tls")]
    {
        let mut server = server;
        if let (Some(cert), Some(key)) = (&o.tls_cert, &o.tls_key) {
            server = server.tls(greenloop::http::tls::ServerTls::from_pem_files(cert, key)?);
            if o.upstream.is_none() && ca.is_none() {
                ca = std::fs::read(cert).ok();
            }
        }
        if let Some(pem) = &ca {
            // A bad file is an error now, not in every worker later.
            let checked = greenloop::http::Client::builder().add_root_certificate(pem);
            if let Err(e) = checked {
                let what = o.upstream_ca.as_deref().unwrap_or("--tls-cert");
                return Err(std::io::Error::new(e.kind(), format!("{what}: {e}")));
            }
        }
        Ok((server, ca))
    }
    #[cfg(not(feature = "tls"))]
    Ok((server, ca))
}
