//! Command-line parsing for the demo binary (small enough to do by hand).

use std::time::Duration;

/// `greenloop --help`.
pub const USAGE: &str = "\
greenloop: a demo server for the greenloop green-thread runtime

USAGE:
    greenloop [OPTIONS]                              serve the demo
    greenloop swarm URL [--users N] [--duration S]   load-test URL (see `greenloop swarm --help`)

OPTIONS:
    --bind ADDR              TCP address to serve on [default: 127.0.0.1:8000]: HTTP/1.1, and
                             HTTP/2 by prior knowledge (h2c) in builds with the `http2` feature
    --unix PATH              serve on a Unix socket instead (for nginx proxy_pass http://unix:PATH)
    --unix-mode MODE         the socket file's permissions, octal (660: a proxy in the
                             socket's group may connect) [default: from the umask]
    --workers N              worker threads, each with its own loop [default: 1]
    --quiet                  no access log
    --log-bodies             show the first 2 KiB of each request body in the access
                             log (off by default: bodies carry passwords and tokens)
    --max-body BYTES         largest request body [default: 16777216]
    --max-connections N      connections served at once per worker [default: 10000]
    --header-timeout SECS    time allowed to send a request head [default: 10]
    --idle-timeout SECS      keep-alive idle time [default: 60]
    --idle-stackless-after SECS|off
                             an idle keep-alive connection gives back its green thread
                             and stack after this long [default: 0.25]
    --stack-size BYTES       green-thread stack size [default: 262144]
    --tls-cert PATH          serve HTTPS with this PEM certificate chain (with --tls-key);
                             ALPN offers h2 (feature `http2`) and http/1.1
    --tls-key PATH           the PEM private key of --tls-cert
    --upstream URL           base URL the /api/aggregated* routes call (http:// or https://)
                             [default: this server's own address; none on --unix]
    --upstream-ca PATH       also trust this PEM CA certificate for https:// upstreams
                             (besides the built-in Mozilla roots; verification is never off)
    --postgres URL           Postgres for /db/* (postgres://user@host:port/db or host=/socket/dir ...)
    --redis URL              Redis for /cache/* (redis://host:port[/db] or redis+unix:///path)
    --db-pool N              connections per worker in each database pool [default: 64]
    --db-timeout SECS        longest wait for a pooled connection before a 503 [default: 2]
    --db-statement-timeout SECS
                             Postgres' statement_timeout on the pool's connections: a query
                             running longer is cancelled by the server [default: 10]
    --static DIR             the directory GET /static/{*path} serves (ranges, ETags, 304s,
                             precompressed .br/.gz siblings; sendfile on plain TCP)
                             [default: a few built-in demo files]
    --no-compression         do not compress responses (by default text bodies of 1 KiB or more
                             go out as br, zstd or gzip, as the client's Accept-Encoding prefers)
    --chat-bus URL           /ws/chat spans every instance on this bus: redis://HOST:PORT
                             (Redis pub/sub) or nats://HOST:PORT [default: this instance only]
    --no-request-ids         no X-Request-Id on responses and in the log (about 1 900
                             instructions less per request: what benchmarks measure)
    --cors-origin ORIGIN     let pages from ORIGIN (https://app.example:8443) call /api/*
                             from a browser, cookies included; repeatable; `*`: any origin
                             (without cookies) [default: same-origin only]
    -h, --help               this text
    -V, --version            the version

ENVIRONMENT:
    GREENLOOP_LOG            log level: error, warn, info, debug, trace, off [default: info]

Routes: open http://127.0.0.1:8000/ for the list.
";

/// `greenloop swarm --help`.
pub const SWARM_USAGE: &str = "\
greenloop swarm: a load generator (like locust or k6, headless)

N green users on one event loop share one keep-alive client; each sends
GET URL, waits for the whole response, and sends the next, until the
duration is over. A progress line goes to stderr once a second; the summary
(requests, errors, req/s, latency percentiles) goes to stdout.

USAGE:
    greenloop swarm URL [OPTIONS]

OPTIONS:
    -u, --users N            concurrent users, 1..=100000 [default: 10]
    -d, --duration SECS      how long to keep starting requests [default: 10]
    --timeout SECS           per-request timeout [default: 30]
    -h, --help               this text

A request counts as an error when it fails or answers with a status >= 400.

EXAMPLE (10 users on a view that waits 1 s give ~10 req/s, not 1):
    greenloop &
    greenloop swarm http://127.0.0.1:8000/api/async_sleep/ --users 10 --duration 5
";

/// What the command line asked for.
#[derive(Debug)]
pub struct Options {
    pub bind: String,
    pub unix: Option<String>,
    /// Permission bits of the Unix socket file (`--unix-mode`, octal).
    pub unix_mode: Option<u32>,
    pub workers: usize,
    pub quiet: bool,
    /// Whether the access log shows request bodies.
    pub log_bodies: bool,
    pub max_body: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    /// `--idle-stackless-after`: `Some(None)` is `off`.
    pub idle_stackless_after: Option<Option<Duration>>,
    pub stack_size: Option<usize>,
    /// Base URL of the `/api/aggregated*` upstream (`None`: this server).
    pub upstream: Option<String>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS.
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// A CA certificate the upstream client trusts besides the built-in roots.
    pub upstream_ca: Option<String>,
    /// The databases behind `/db/*` and `/cache/*`.
    pub db: crate::databases::DbOptions,
    /// `--chat-bus`: where the chat room meets the other instances.
    pub chat_bus: Option<String>,
    /// `--cors-origin`: the origins whose pages may call `/api/*` (`*`: any).
    pub cors_origins: Vec<String>,
    /// `--no-request-ids`: no `X-Request-Id` (on by default).
    pub request_ids: bool,
    /// `--static`: the directory `/static/` serves (`None`: the built-in files).
    pub static_dir: Option<String>,
    /// Whether responses are compressed (`--no-compression` turns it off).
    pub compression: bool,
}

/// What `greenloop swarm` was asked to do.
#[derive(Debug)]
pub struct SwarmOptions {
    /// The URL every user requests (`http://` only).
    pub url: String,
    /// Concurrent green users.
    pub users: usize,
    /// How long users keep starting new requests.
    pub duration: Duration,
    /// Longest a single request may take.
    pub timeout: Duration,
}

/// What to do.
#[allow(clippy::large_enum_variant)] // made once per process
pub enum Command {
    /// Serve the demo.
    Serve(Options),
    /// Run the load generator.
    Swarm(SwarmOptions),
    /// Print [`USAGE`].
    Help,
    /// Print [`SWARM_USAGE`].
    SwarmHelp,
    /// Print the version.
    Version,
}

/// A command-line error: the message, and which usage text to show with it.
#[derive(Debug)]
pub struct CliError {
    /// What was wrong.
    pub message: String,
    /// The usage text of the (sub)command that failed.
    pub usage: &'static str,
}

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, CliError> {
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some("swarm") {
        args.next();
        return parse_swarm(args).map_err(|m| CliError { message: format!("swarm: {m}"), usage: SWARM_USAGE });
    }
    parse_serve(args).map_err(|message| CliError { message, usage: USAGE })
}

/// Splits `--flag=value` into the flag and its inline value.
fn split_flag(arg: &str) -> (String, Option<String>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
        _ => (arg.to_owned(), None),
    }
}

/// The value of option `name`: given inline (`--flag=value`) or as the next argument.
fn flag_value(inline: &Option<String>, args: &mut impl Iterator<Item = String>, name: &str) -> Result<String, String> {
    inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
}

fn parse_swarm(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut url = None;
    let mut users = 10;
    let mut duration = Duration::from_secs(10);
    let mut timeout = Duration::from_secs(30);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = split_flag(&arg);
        let mut value = |name: &str| flag_value(&inline, &mut args, name);
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::SwarmHelp),
            "-u" | "--users" => users = number(&flag, &value(&flag)?, 1, 100_000)?,
            "-d" | "--duration" => duration = seconds(&flag, &value(&flag)?)?,
            "--timeout" => timeout = seconds(&flag, &value(&flag)?)?,
            other if other.starts_with('-') => return Err(format!("unknown option {other:?}")),
            _ if url.is_some() => return Err(format!("one URL only (got {arg:?} after the first)")),
            _ => url = Some(http_url("URL", &arg)?),
        }
    }
    let url = url.ok_or("missing URL (e.g. greenloop swarm http://127.0.0.1:8000/api/async_sleep/)")?;
    Ok(Command::Swarm(SwarmOptions { url, users, duration, timeout }))
}

/// Checks that `v` is an absolute `http://` URL with a host.
fn http_url(what: &str, v: &str) -> Result<String, String> {
    let v = v.trim();
    let rest = match (v.strip_prefix("http://"), v.strip_prefix("https://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if cfg!(feature = "tls") => rest,
        (None, Some(_)) => return Err(format!("{what}: {v:?}: https:// needs a build with the `tls` cargo feature")),
        _ => return Err(format!("{what}: {v:?} is not an http:// or https:// URL")),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(format!("{what}: {v:?} has no host"));
    }
    match v.parse::<http::Uri>() {
        Ok(u) if u.authority().is_some() => Ok(v.to_owned()),
        Ok(_) => Err(format!("{what}: {v:?} has no host")),
        Err(e) => Err(format!("{what}: {v:?} is not a valid URL: {e}")),
    }
}

fn parse_serve(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut o = Options {
        bind: "127.0.0.1:8000".into(),
        unix: None,
        unix_mode: None,
        workers: 1,
        quiet: false,
        log_bodies: false,
        max_body: None,
        max_connections: None,
        header_timeout: None,
        idle_timeout: None,
        idle_stackless_after: None,
        stack_size: None,
        upstream: None,
        tls_cert: None,
        tls_key: None,
        upstream_ca: None,
        db: crate::databases::DbOptions::default(),
        chat_bus: None,
        cors_origins: Vec::new(),
        request_ids: true,
        static_dir: None,
        compression: true,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = split_flag(&arg);
        let mut value = |name: &str| flag_value(&inline, &mut args, name);
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--bind" => o.bind = value("--bind")?,
            "--unix" => o.unix = Some(value("--unix")?),
            "--unix-mode" => o.unix_mode = Some(octal_mode(&flag, &value(&flag)?)?),
            "--workers" => o.workers = number(&flag, &value(&flag)?, 1, 1024)?,
            "--quiet" | "-q" => o.quiet = true,
            "--log-bodies" => o.log_bodies = true,
            "--max-body" => o.max_body = Some(number(&flag, &value(&flag)?, 0, u64::MAX as usize)? as u64),
            "--max-connections" => o.max_connections = Some(number(&flag, &value(&flag)?, 1, 10_000_000)?),
            "--header-timeout" => o.header_timeout = Some(seconds(&flag, &value(&flag)?)?),
            "--idle-timeout" => o.idle_timeout = Some(seconds(&flag, &value(&flag)?)?),
            "--idle-stackless-after" => {
                let v = value(&flag)?;
                o.idle_stackless_after = Some(if v == "off" { None } else { Some(seconds(&flag, &v)?) });
            }
            "--stack-size" => o.stack_size = Some(number(&flag, &value(&flag)?, 16 * 1024, 1 << 30)?),
            "--upstream" => {
                let url = http_url("--upstream", &value(&flag)?)?;
                if url.contains(['?', '#']) {
                    return Err(format!("--upstream: {url:?}: give a base URL without a query or fragment"));
                }
                o.upstream = Some(url.trim_end_matches('/').to_owned());
            }
            "--tls-cert" => o.tls_cert = Some(non_empty_path(&flag, value(&flag)?)?),
            "--tls-key" => o.tls_key = Some(non_empty_path(&flag, value(&flag)?)?),
            "--upstream-ca" => o.upstream_ca = Some(non_empty_path(&flag, value(&flag)?)?),
            "--postgres" => o.db.postgres = Some(non_empty(&flag, value(&flag)?)?),
            "--redis" => o.db.redis = Some(non_empty(&flag, value(&flag)?)?),
            "--db-pool" => o.db.pool_size = number(&flag, &value(&flag)?, 1, 10_000)?,
            "--db-timeout" => o.db.acquire_timeout = seconds(&flag, &value(&flag)?)?,
            "--db-statement-timeout" => o.db.statement_timeout = seconds(&flag, &value(&flag)?)?,
            "--chat-bus" => o.chat_bus = Some(non_empty(&flag, value(&flag)?)?),
            "--cors-origin" => o.cors_origins.push(origin(&flag, &value(&flag)?)?),
            "--no-request-ids" => o.request_ids = false,
            "--static" => o.static_dir = Some(non_empty_path(&flag, value(&flag)?)?),
            "--no-compression" => o.compression = false,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if o.unix_mode.is_some() && o.unix.is_none() {
        return Err("--unix-mode: only for a Unix socket (give --unix PATH too)".into());
    }
    if o.tls_cert.is_some() != o.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    if o.tls_cert.is_some() && o.unix.is_some() {
        return Err("--tls-cert serves HTTPS over TCP; not with --unix".into());
    }
    if (o.tls_cert.is_some() || o.upstream_ca.is_some()) && !cfg!(feature = "tls") {
        return Err("this build has no TLS (build with the `tls` cargo feature)".into());
    }
    if o.static_dir.is_some() && !cfg!(feature = "static-files") {
        return Err("--static: this build has no file server (build with the `static-files` cargo feature)".into());
    }
    if o.quiet && o.log_bodies {
        return Err("--log-bodies needs the access log, which --quiet turns off".into());
    }
    Ok(Command::Serve(o))
}

/// A browser origin: `*`, or `scheme://host[:port]` with nothing after.
fn origin(flag: &str, v: &str) -> Result<String, String> {
    let v = v.trim().trim_end_matches('/');
    if v == "*" {
        return Ok(v.to_owned());
    }
    let scheme_ok = v.starts_with("http://") || v.starts_with("https://");
    match v.parse::<http::Uri>() {
        Ok(u) if scheme_ok && u.authority().is_some() && u.path_and_query().is_none_or(|p| p.as_str() == "/") => {
            Ok(v.to_owned())
        }
        _ => Err(format!("{flag}: {v:?} is not an origin such as https://app.example or http://localhost:3000")),
    }
}

/// Permission bits written in octal, as chmod takes them (`660`, `0660`, `0o660`).
fn octal_mode(flag: &str, v: &str) -> Result<u32, String> {
    let digits = v.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    let octal = !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(digits, 8) {
        Ok(m) if octal && m <= 0o777 => Ok(m),
        _ => Err(format!("{flag}: {v:?} is not an octal mode such as 660 (000..=777)")),
    }
}

fn non_empty_path(flag: &str, v: String) -> Result<String, String> {
    if v.trim().is_empty() { Err(format!("{flag} needs a file path")) } else { Ok(v) }
}

fn non_empty(flag: &str, v: String) -> Result<String, String> {
    if v.trim().is_empty() { Err(format!("{flag} needs a URL")) } else { Ok(v.trim().to_owned()) }
}

fn number(flag: &str, v: &str, min: usize, max: usize) -> Result<usize, String> {
    let n: usize = v.trim().parse().map_err(|_| format!("{flag}: {v:?} is not a whole number"))?;
    if n < min || n > max {
        return Err(format!("{flag}: {n} is out of range ({min}..={max})"));
    }
    Ok(n)
}

fn seconds(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = v.trim().parse().map_err(|_| format!("{flag}: {v:?} is not a number of seconds"))?;
    if !(s > 0.0 && s <= 86_400.0) {
        return Err(format!("{flag}: {s} is out of range (0..=86400 seconds)"));
    }
    Ok(Duration::from_secs_f64(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Options {
        match parse(args.iter().map(|s| s.to_string())) {
            Ok(Command::Serve(o)) => o,
            _ => panic!("expected serve options"),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse_ok(&[]);
        assert_eq!(o.bind, "127.0.0.1:8000");
        assert_eq!(o.workers, 1);
        assert!(!o.log_bodies, "request bodies stay out of the log unless asked");
        assert!(parse_ok(&["--log-bodies"]).log_bodies);
        let o = parse_ok(&["--bind", "0.0.0.0:9000", "--workers=2", "--quiet", "--idle-timeout", "1.5"]);
        assert_eq!(o.bind, "0.0.0.0:9000");
        assert_eq!(o.workers, 2);
        assert!(o.quiet);
        assert_eq!(o.idle_timeout, Some(Duration::from_millis(1500)));
        let o = parse_ok(&["--idle-stackless-after", "off"]);
        assert_eq!(o.idle_stackless_after, Some(None));
        let o = parse_ok(&["--idle-stackless-after", "0.25"]);
        assert_eq!(o.idle_stackless_after, Some(Some(Duration::from_millis(250))));
        let bad = parse(["--idle-stackless-after", "soon"].iter().map(|s| s.to_string())).err().unwrap().message;
        assert!(bad.contains("not a number of seconds"), "{bad}");
        assert!(parse_ok(&[]).compression && !parse_ok(&["--no-compression"]).compression);
        assert_eq!(parse_ok(&["--static", "/srv/www"]).static_dir.as_deref(), Some("/srv/www"));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let err = |a: &[&str]| parse(a.iter().map(|s| s.to_string())).err().unwrap().message;
        assert!(err(&["--workers", "zero"]).contains("not a whole number"));
        assert!(err(&["--workers", "0"]).contains("out of range"));
        assert!(err(&["--bind"]).contains("needs a value"));
        assert!(err(&["--frobnicate"]).contains("unknown option"));
        assert!(err(&["--idle-timeout", "-3"]).contains("out of range"));
        assert!(err(&["--upstream", "ftp://x"]).contains("not an http:// or https:// URL"));
        assert!(err(&["--tls-cert", "c.pem"]).contains("go together"));
        assert!(err(&["--upstream", "http://x/?a=1"]).contains("without a query"));
        assert!(err(&["--quiet", "--log-bodies"]).contains("--quiet turns off"));
    }

    #[test]
    fn cors_origins() {
        let o = parse_ok(&[
            "--cors-origin",
            "https://app.example/",
            "--cors-origin=http://localhost:3000",
            "--cors-origin",
            "*",
        ]);
        assert_eq!(o.cors_origins, ["https://app.example", "http://localhost:3000", "*"]);
        assert!(o.request_ids && !parse_ok(&["--no-request-ids"]).request_ids);
        let err = |a: &[&str]| parse(a.iter().map(|s| s.to_string())).err().unwrap().message;
        for bad in ["app.example", "https://app.example/path", "ftp://x", "https://"] {
            assert!(err(&["--cors-origin", bad]).contains("is not an origin"), "{bad}");
        }
    }

    #[test]
    fn database_flags() {
        let o = parse_ok(&[
            "--postgres",
            "postgres://u@h/db",
            "--redis=redis://h",
            "--db-pool",
            "8",
            "--db-timeout",
            "0.5",
            "--db-statement-timeout",
            "3",
        ]);
        assert_eq!(o.db.postgres.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(o.db.redis.as_deref(), Some("redis://h"));
        assert_eq!((o.db.pool_size, o.db.acquire_timeout), (8, Duration::from_millis(500)));
        assert_eq!(o.db.statement_timeout, Duration::from_secs(3));
        assert_eq!(parse_ok(&[]).db.statement_timeout, Duration::from_secs(10));
        let err = |a: &[&str]| parse(a.iter().map(|s| s.to_string())).err().unwrap().message;
        assert!(err(&["--postgres"]).contains("needs a value"));
        assert!(err(&["--redis", " "]).contains("needs a URL"));
        assert!(err(&["--db-pool", "0"]).contains("out of range"));
    }

    #[test]
    fn unix_mode_is_octal_and_needs_a_unix_socket() {
        assert_eq!(parse_ok(&["--unix", "/tmp/s", "--unix-mode", "660"]).unix_mode, Some(0o660));
        assert_eq!(parse_ok(&["--unix", "/tmp/s", "--unix-mode=0o600"]).unix_mode, Some(0o600));
        let err = |a: &[&str]| parse(a.iter().map(|s| s.to_string())).err().unwrap().message;
        assert!(err(&["--unix", "/tmp/s", "--unix-mode", "rw"]).contains("not an octal mode"));
        assert!(err(&["--unix", "/tmp/s", "--unix-mode", "1777"]).contains("not an octal mode"));
        assert!(err(&["--unix", "/tmp/s", "--unix-mode", "+660"]).contains("not an octal mode"));
        assert!(err(&["--unix-mode", "660"]).contains("only for a Unix socket"));
    }

    #[test]
    fn upstream_is_a_base_url() {
        assert_eq!(parse_ok(&[]).upstream, None);
        let o = parse_ok(&["--upstream", "http://127.0.0.1:9000/"]);
        assert_eq!(o.upstream.as_deref(), Some("http://127.0.0.1:9000"));
    }

    fn swarm(args: &[&str]) -> Result<SwarmOptions, CliError> {
        let all = std::iter::once("swarm").chain(args.iter().copied()).map(String::from);
        match parse(all)? {
            Command::Swarm(o) => Ok(o),
            _ => panic!("expected swarm options"),
        }
    }

    #[test]
    fn swarm_options() {
        let o = swarm(&["http://127.0.0.1:8000/api/async_sleep/", "--users", "10", "--duration=5"]).unwrap();
        assert_eq!(o.url, "http://127.0.0.1:8000/api/async_sleep/");
        assert_eq!((o.users, o.duration), (10, Duration::from_secs(5)));
        let o = swarm(&["-u", "3", "-d", "0.5", "http://h/"]).unwrap();
        assert_eq!((o.users, o.duration, o.timeout), (3, Duration::from_millis(500), Duration::from_secs(30)));
        assert!(matches!(parse(["swarm".to_string(), "--help".into()]), Ok(Command::SwarmHelp)));
    }

    #[test]
    fn swarm_errors_are_clear() {
        let err = |a: &[&str]| {
            let e = swarm(a).err().unwrap();
            assert_eq!(e.usage, SWARM_USAGE);
            e.message
        };
        assert!(err(&[]).contains("missing URL"));
        assert!(err(&["ftp://h/"]).contains("not an http:// or https:// URL"));
        assert!(err(&["http:///x"]).contains("no host"));
        assert!(err(&["http://h/", "--users", "0"]).contains("out of range"));
        assert!(err(&["http://h/", "--users", "100001"]).contains("out of range"));
        assert!(err(&["http://h/", "--duration", "0"]).contains("out of range"));
        assert!(err(&["http://h/", "--duration", "soon"]).contains("not a number"));
        assert!(err(&["http://h/", "http://i/"]).contains("one URL only"));
        assert!(err(&["http://h/", "--rate", "3"]).contains("unknown option"));
    }
}
