//! Request ids, CORS and cookies on a server started here, against curl
//! and Python's `http.client`.

use std::collections::HashSet;
use std::time::Duration;

use greenloop::http::cookies::{Cookie, Key, RequestCookies};
use greenloop::http::middleware::{Cors, RequestId, RequestIds};
use greenloop::http::{App, Method, Request, Router, RunningServer, Server, StatusCode, get, post};

mod support;
use support::curl::{curl, header};
use support::python;

fn start(app: App, workers: usize) -> RunningServer {
    Server::bind("127.0.0.1:0").handle_signals(false).workers(workers).start(app).expect("server starts")
}

fn url(s: &RunningServer, path: &str) -> String {
    format!("http://{}{path}", s.local_addr().unwrap())
}

fn ids_app() -> App {
    App::new(|req: Request| RequestId::of(&req).map_or("none".to_string(), |id| id.to_string())).wrap(RequestIds::new())
}

#[test]
fn a_sane_request_id_is_kept_and_an_insane_one_replaced() {
    let s = start(ids_app(), 1);
    let (_, head, body) = curl(&["-H", "X-Request-Id: upstream-42", &url(&s, "/")]);
    assert_eq!(header(&head, "x-request-id"), Some("upstream-42"));
    assert_eq!(body, "upstream-42", "the handler sees the same id");
    let long = format!("X-Request-Id: {}", "a".repeat(200));
    for bad in ["X-Request-Id: two words", long.as_str(), "X-Request-Id;"] {
        let (_, head, body) = curl(&["-H", bad, &url(&s, "/")]);
        let id = header(&head, "x-request-id").unwrap();
        assert_eq!(id.len(), 36, "{bad}: {id}");
        assert_eq!(body, id);
    }
}

/// 500 ids from one keep-alive connection per worker and fresh connections.
const IDS: &str = r#"
import http.client, sys
ids = []
for i in range(250):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
    c.request("GET", "/"); r = c.getresponse(); r.read()
    ids.append(r.getheader("X-Request-Id"))
    c.close()
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for i in range(250):
    c.request("GET", "/"); r = c.getresponse(); r.read()
    ids.append(r.getheader("X-Request-Id"))
print("\n".join(ids))
"#;

#[test]
fn generated_ids_are_distinct_across_workers_and_servers_and_uuid_shaped() {
    // Two servers of four workers each: ids from both never meet.
    let a = start(ids_app(), 4);
    let b = start(ids_app(), 4);
    let mut all = HashSet::new();
    for s in [&a, &b] {
        let out = python::run(IDS, &[&s.local_addr().unwrap().port().to_string()]);
        for id in out.lines() {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(id.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()), "{id}");
            assert_eq!(&id[14..15], "4", "version 4: {id}");
            assert!(all.insert(id.to_string()), "{id} twice");
        }
    }
    assert_eq!(all.len(), 1000);
}

fn cors_app() -> App {
    let router = Router::new()
        .route("/api/data", get(|_req: Request| "data").post(|_req: Request| (StatusCode::CREATED, "made")));
    App::new(router).wrap(
        Cors::new()
            .allow_origin("http://app.example:3000")
            .allow_methods([Method::GET, Method::POST, Method::PUT])
            .allow_headers(["content-type", "x-api-key"])
            .allow_credentials(true)
            .expose_headers(["x-request-id"])
            .max_age(Duration::from_secs(600)),
    )
}

#[test]
fn a_preflight_from_an_allowed_origin_is_204_without_the_handler() {
    let s = start(cors_app(), 1);
    let (status, head, body) = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://app.example:3000",
        "-H",
        "Access-Control-Request-Method: PUT",
        "-H",
        "Access-Control-Request-Headers: content-type, x-api-key",
        &url(&s, "/api/data"),
    ]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(body, "");
    assert_eq!(header(&head, "access-control-allow-origin"), Some("http://app.example:3000"));
    assert_eq!(header(&head, "access-control-allow-methods"), Some("get, post, put"));
    assert_eq!(header(&head, "access-control-allow-headers"), Some("content-type, x-api-key"));
    assert_eq!(header(&head, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&head, "access-control-max-age"), Some("600"));
    assert_eq!(header(&head, "vary"), Some("origin"));
    // The router alone answers an OPTIONS with `Allow`: this one never reached it.
    assert_eq!(header(&head, "allow"), None);
}

#[test]
fn simple_requests_get_cors_headers_only_for_allowed_origins() {
    let s = start(cors_app(), 1);
    let (status, head, body) = curl(&["-H", "Origin: http://app.example:3000", "-d", "x", &url(&s, "/api/data")]);
    assert_eq!((status, body.as_str()), (201, "made"));
    assert_eq!(header(&head, "access-control-allow-origin"), Some("http://app.example:3000"));
    assert_eq!(header(&head, "access-control-expose-headers"), Some("x-request-id"));
    assert_eq!(header(&head, "vary"), Some("origin"));

    let (status, head, body) = curl(&["-H", "Origin: http://evil.example", &url(&s, "/api/data")]);
    assert_eq!((status, body.as_str()), (200, "data"), "the handler answers; the browser hides it");
    assert!(!head.contains("access-control-"), "{head}");
    assert_eq!(header(&head, "vary"), Some("origin"));
    let (status, head, body) = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://evil.example",
        "-H",
        "Access-Control-Request-Method: PUT",
        &url(&s, "/api/data"),
    ]);
    assert_eq!((status, body.as_str()), (403, "origin \"http://evil.example\" is not allowed\n"));
    assert!(!head.contains("access-control-"), "{head}");

    let (_, head, _) = curl(&[&url(&s, "/api/data")]);
    assert!(!head.contains("access-control-"), "no Origin, no CORS: {head}");
}

#[test]
fn cookies_round_trip_through_curl_and_forged_ones_are_refused() {
    let key = Key::generate();
    let app = App::new(move |req: Request| {
        let mut jar = req.cookies();
        let visits: u32 = jar.signed(&key).get("visits").and_then(|c| c.value().parse().ok()).unwrap_or(0);
        let secret = jar.private(&key).get("secret").map(|c| c.value().to_string());
        jar.signed_mut(&key).add(Cookie::build(("visits", (visits + 1).to_string())).path("/").http_only(true));
        if secret.is_none() {
            jar.private_mut(&key).add(Cookie::build(("secret", "s3cr3t")).path("/"));
        }
        let theme = req.cookie("theme").unwrap_or_default();
        (jar, format!("visits={} secret={} theme={theme}", visits + 1, secret.unwrap_or_default()))
    });
    let s = start(app, 1);
    let dir = std::env::temp_dir().join(format!("greenloop-web-cookies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jar = dir.join("jar.txt");
    let jar = jar.to_str().unwrap();
    let u = url(&s, "/");
    let (_, head, body) = curl(&["-c", jar, "-b", "theme=dark", &u]);
    assert_eq!(body, "visits=1 secret= theme=dark");
    assert!(head.contains("set-cookie: visits="), "{head}");
    assert!(!head.contains("s3cr3t"), "the private cookie's value is encrypted: {head}");
    let (_, _, body) = curl(&["-c", jar, "-b", jar, &u]);
    assert_eq!(body, "visits=2 secret=s3cr3t theme=");
    let (_, _, body) = curl(&["-c", jar, "-b", jar, &u]);
    assert_eq!(body, "visits=3 secret=s3cr3t theme=");

    // The same cookies with the counter changed by hand: refused, counting restarts.
    let text = std::fs::read_to_string(jar).unwrap();
    let signed =
        text.lines().find(|l| l.contains("\tvisits\t")).expect("visits in the jar").rsplit('\t').next().unwrap();
    let forged = format!("visits={}9", &signed[..signed.len() - 1]);
    let (_, _, body) = curl(&["-b", &forged, &u]);
    assert_eq!(body, "visits=1 secret= theme=");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn request_ids_and_cors_together_expose_the_id_to_the_page() {
    let app = App::new(Router::new().route("/api/x", post(|_req: Request| "x")))
        .wrap(RequestIds::new())
        .wrap(Cors::new().allow_any_origin().expose_headers(["x-request-id"]));
    let s = start(app, 1);
    let (_, head, _) = curl(&["-H", "Origin: https://any.example", "-d", "", &url(&s, "/api/x")]);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&head, "access-control-expose-headers"), Some("x-request-id"));
    assert_eq!(header(&head, "x-request-id").map(str::len), Some(36));
    assert_eq!(header(&head, "vary"), None, "the same answer for every origin");
}

/// A text answer whose header map middleware made (by reading it) and
/// rebuilt (through `http`'s parts): one `Content-Type` reaches the client,
/// with what the middleware added beside it.
#[test]
fn a_typed_answer_keeps_one_content_type_through_middleware_that_reads_and_rebuilds_it() {
    use greenloop::http::{Next, Response};
    let reads = |req: Request, next: Next<'_>| -> Response {
        let res = next.run(req);
        assert_eq!(res.headers().len(), 1, "the type is in the map made on reading");
        res
    };
    let rebuilds = |req: Request, next: Next<'_>| -> Response {
        let (mut parts, body) = next.run(req).into_parts();
        parts.headers.insert("x-seen", "yes".parse().unwrap());
        Response::from_parts(parts, body)
    };
    let app = App::new(Router::new().route("/", get(|_req: Request| "typed"))).wrap(rebuilds).wrap(reads);
    let s = start(app, 1);
    let (_, head, body) = curl(&[&url(&s, "/")]);
    assert_eq!(body, "typed");
    let types: Vec<&str> = head.lines().filter(|l| l.to_ascii_lowercase().starts_with("content-type:")).collect();
    assert_eq!(types, ["content-type: text/plain; charset=utf-8"], "{head}");
    assert_eq!(header(&head, "x-seen"), Some("yes"));
}
