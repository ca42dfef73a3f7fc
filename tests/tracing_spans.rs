//! tracing spans follow their green thread across parks: concurrent requests
//! that park inside their request spans, interleaved on one worker, each log
//! only inside their own span; a span entered on a plain spawned green thread
//! survives its park and does not leak into the green threads that run
//! meanwhile; greenloop's `log` records arrive as events in the current span;
//! with the `tower` feature, a tower layer's span goes on around a layered App.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use greenloop::http::middleware::Trace;
use greenloop::http::{App, Request, Router, Server, get};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One event as the capturing layer saw it: its fields, and the spans in
/// scope from the innermost out (name and fields).
#[derive(Clone, Debug)]
struct Seen {
    fields: HashMap<String, String>,
    scope: Vec<(String, HashMap<String, String>)>,
}

static EVENTS: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
/// Fields of closed spans, for the status and latency the middleware records.
static CLOSED: Mutex<Vec<HashMap<String, String>>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.0.insert(field.name().to_owned(), s);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct Capture;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        ctx.span(id).unwrap().extensions_mut().insert(f);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        values.record(ext.get_mut::<Fields>().unwrap());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let scope = ctx
            .event_scope(event)
            .map(|scope| {
                scope.map(|s| (s.name().to_owned(), s.extensions().get::<Fields>().unwrap().0.clone())).collect()
            })
            .unwrap_or_default();
        EVENTS.lock().unwrap().push(Seen { fields: f.0, scope });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        if span.name() == "request" {
            CLOSED.lock().unwrap().push(span.extensions().get::<Fields>().unwrap().0.clone());
        }
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture)).unwrap();
        greenloop::trace::forward_log_records().unwrap();
    });
}

/// Events whose `test` field (or, for log records, message) names `test`.
fn events_of(test: &str) -> Vec<Seen> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|e| {
            e.fields.get("test").is_some_and(|t| t == test)
                || e.fields.get("message").is_some_and(|m| m.contains(&format!("test={test} ")))
        })
        .cloned()
        .collect()
}

/// Logs before and after a park, as tracing events and as a `log` record.
fn slow(req: Request) -> String {
    let q = req.uri().query().unwrap_or("").to_owned();
    let (test, n) = q.split_once('&').expect("test=..&n=..");
    let test = test.strip_prefix("test=").unwrap().to_owned();
    let n: u32 = n.strip_prefix("n=").unwrap().parse().unwrap();
    tracing::info!(test, n, "before the park");
    greenloop::sleep(Duration::from_millis(200));
    tracing::info!(test, n, "after the park");
    log::info!("test={test} n={n} a log record after the park");
    format!("{n}\n")
}

fn get_with_id(addr: SocketAddr, path: &str, id: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: {id}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn concurrent_requests_log_only_inside_their_own_span(test: &str, count: u32) {
    install();
    let server = Server::bind("127.0.0.1:0")
        .workers(1)
        .handle_signals(false)
        .start(App::new(Router::new().route("/slow", get(slow))).wrap(Trace::new()))
        .unwrap();
    let addr = server.local_addr().unwrap();
    let started = Instant::now();
    let clients: Vec<_> = (0..count)
        .map(|n| {
            let path = format!("/slow?test={test}&n={n}");
            let id = format!("{test}-{n}");
            std::thread::spawn(move || get_with_id(addr, &path, &id))
        })
        .collect();
    for (n, c) in clients.into_iter().enumerate() {
        let res = c.join().unwrap();
        assert!(res.starts_with("HTTP/1.1 200"), "{res}");
        assert!(res.ends_with(&format!("\r\n\r\n{n}\n")), "{res}");
    }
    // One worker, 200 ms parks: together, not one after the other.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(200) * count / 2 + Duration::from_secs(1), "{count} requests took {took:?}");
    server.stop().unwrap();

    let events = events_of(test);
    assert_eq!(events.len(), count as usize * 3, "{events:#?}");
    let mut befores_pending = 0usize;
    let mut max_pending = 0usize;
    for e in &events {
        // Its own request's span, innermost, and no other request span around it.
        let n = match e.fields.get("n") {
            Some(n) => n.clone(),
            None => {
                let m = &e.fields["message"];
                m.split("n=").nth(1).unwrap().split(' ').next().unwrap().to_owned()
            }
        };
        let requests: Vec<_> = e.scope.iter().filter(|(name, _)| name == "request").collect();
        assert_eq!(requests.len(), 1, "one request span around {e:#?}");
        assert_eq!(e.scope[0].0, "request", "{e:#?}");
        assert_eq!(
            e.scope[0].1["request_id"],
            format!("{test}-{n}"),
            "an event of request {n} in another's span: {e:#?}"
        );
        assert_eq!(e.scope[0].1["method"], "GET");
        assert_eq!(e.scope[0].1["path"], "/slow");
        match e.fields.get("message").map(String::as_str) {
            Some("before the park") => befores_pending += 1,
            Some("after the park") => befores_pending -= 1,
            _ => {}
        }
        max_pending = max_pending.max(befores_pending);
    }
    // The requests really interleaved on the one OS thread: several were
    // parked inside their spans at once.
    assert!(max_pending >= 2, "no two requests were parked at once (max {max_pending})");

    // The middleware recorded each request's status and latency on its span.
    let closed: Vec<_> =
        CLOSED.lock().unwrap().iter().filter(|f| f["request_id"].starts_with(&format!("{test}-"))).cloned().collect();
    assert_eq!(closed.len(), count as usize);
    for f in closed {
        assert_eq!(f.get("status").map(String::as_str), Some("200"), "{f:?}");
        let ms: f64 = f["latency_ms"].parse().unwrap();
        assert!(ms >= 190.0, "latency {ms} ms for a 200 ms park");
    }
}

#[test]
fn two_interleaved_requests_each_log_inside_their_own_span() {
    concurrent_requests_log_only_inside_their_own_span("two", 2);
}

#[test]
fn fifty_interleaved_requests_each_log_inside_their_own_span() {
    concurrent_requests_log_only_inside_their_own_span("fifty", 50);
}

#[test]
fn a_span_entered_on_a_spawned_green_thread_survives_its_park_and_stays_with_it() {
    install();
    greenloop::run(|| {
        let holder = greenloop::spawn(|| {
            let span = tracing::info_span!("job", which = "holder");
            let _entered = span.enter();
            tracing::info!(test = "spawned", "holder before");
            greenloop::sleep(Duration::from_millis(100));
            tracing::info!(test = "spawned", "holder after");
            tracing::Span::current().metadata().map(|m| m.name())
        });
        let bystander = greenloop::spawn(|| {
            // Runs while the holder is parked inside its span.
            greenloop::sleep(Duration::from_millis(30));
            tracing::info!(test = "spawned", "bystander");
            let other = tracing::info_span!("job", which = "bystander");
            let _entered = other.enter();
            greenloop::sleep(Duration::from_millis(30));
            tracing::info!(test = "spawned", "bystander in its own span");
            tracing::Span::current().is_none()
        });
        assert_eq!(holder.join().unwrap(), Some("job"));
        assert!(!bystander.join().unwrap());
        // The loop's own thread has no span left entered.
        assert!(tracing::Span::current().is_none());
    });
    let events = events_of("spawned");
    let by_message: HashMap<_, _> = events.iter().map(|e| (e.fields["message"].clone(), e.scope.clone())).collect();
    let which = |m: &str| -> Vec<String> { by_message[m].iter().map(|(_, f)| f["which"].clone()).collect() };
    assert_eq!(which("holder before"), ["holder"]);
    assert_eq!(which("holder after"), ["holder"], "the span was lost across the park");
    assert!(by_message["bystander"].is_empty(), "the holder's span leaked: {:?}", by_message["bystander"]);
    assert_eq!(which("bystander in its own span"), ["bystander"]);
}

/// A layer that, like tower-http's `TraceLayer`, opens a span per request,
/// enters it around the inner service's `call` and instruments its future.
#[cfg(feature = "tower")]
mod layered {
    use std::task::{Context, Poll};

    use tracing::Instrument;

    #[derive(Clone)]
    pub struct SpanLayer;

    impl<S> tower::Layer<S> for SpanLayer {
        type Service = SpanService<S>;
        fn layer(&self, inner: S) -> SpanService<S> {
            SpanService(inner)
        }
    }

    #[derive(Clone)]
    pub struct SpanService<S>(S);

    impl<S, B> tower::Service<http::Request<B>> for SpanService<S>
    where
        S: tower::Service<http::Request<B>>,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = tracing::instrument::Instrumented<S::Future>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            self.0.poll_ready(cx)
        }

        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let tag = req.headers()["x-tag"].to_str().unwrap().to_owned();
            let span = tracing::info_span!("layer", tag);
            let future = {
                let _entered = span.enter();
                self.0.call(req)
            };
            future.instrument(span)
        }
    }
}

#[cfg(feature = "tower")]
#[test]
fn a_tower_layers_span_goes_on_around_the_layered_app_across_its_parks() {
    install();
    let app = App::new(|req: Request| {
        let tag = req.headers()["x-tag"].to_str().unwrap().to_owned();
        tracing::info!(test = "layered", tag, "before the park");
        greenloop::sleep(Duration::from_millis(100));
        tracing::info!(test = "layered", tag, "after the park");
        "ok\n"
    })
    .layer(layered::SpanLayer);
    let server = Server::bind("127.0.0.1:0").workers(1).handle_signals(false).start(app).unwrap();
    let addr = server.local_addr().unwrap();
    let clients: Vec<_> = (0..10)
        .map(|n| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                write!(s, "GET / HTTP/1.1\r\nHost: x\r\nX-Tag: t{n}\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            })
        })
        .collect();
    for c in clients {
        let out = c.join().unwrap();
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("ok\n"), "{out}");
    }
    server.stop().unwrap();
    let events = events_of("layered");
    assert_eq!(events.len(), 20, "{events:#?}");
    for e in events {
        let layer: Vec<_> = e.scope.iter().filter(|(name, _)| name == "layer").collect();
        assert_eq!(layer.len(), 1, "the layer's span is around the App's events: {e:#?}");
        assert_eq!(layer[0].1["tag"], e.fields["tag"], "an event in another request's layer span: {e:#?}");
    }
}
