//! hyper 1 serving HTTP/1.1 (keep-alive; no HTTP/2) on a current-thread
//! tokio runtime, one OS thread like greenloop's one worker:
//! `GET /plaintext` answers `Hello, World!`, `GET /sleep?ms=N` answers
//! `slept` after a tokio sleep of N ms. Argument: the port.
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The `ms` parameter of a query string such as `ms=1000`.
fn sleep_ms(query: Option<&str>) -> Option<u64> {
    query?.split('&').find_map(|kv| kv.strip_prefix("ms=")?.parse().ok())
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/plaintext" => (StatusCode::OK, "Hello, World!"),
        "/sleep" => match sleep_ms(req.uri().query()) {
            Some(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                (StatusCode::OK, "slept")
            }
            None => (StatusCode::BAD_REQUEST, "ms=N wanted"),
        },
        _ => (StatusCode::NOT_FOUND, "not found"),
    };
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(res)
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                // pipeline_flush: the responses to requests that arrived
                // together leave in one write, as the other servers send them.
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(handle))
                    .await;
            });
        }
    });
}
