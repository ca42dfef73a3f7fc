//! `Server-Timing: app;dur=...` on every response.

use std::time::Instant;

use http::{HeaderName, HeaderValue};

use crate::http::{Middleware, Next, Request, Response};

const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Adds `Server-Timing: app;dur=<milliseconds, 3 decimals>` to every
/// response: the time the rest of the chain (inner middleware and the
/// handler) took to produce the response, not counting the time to send a
/// streamed body. An existing `Server-Timing` header is kept; this one is
/// appended.
///
/// Browsers show the value in their developer tools' network timing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing;

impl Timing {
    /// The timing middleware (same as the unit value `Timing`).
    pub fn new() -> Timing {
        Timing
    }
}

impl Middleware for Timing {
    fn call(&self, req: Request, next: Next<'_>) -> Response {
        let start = Instant::now();
        let mut res = next.run(req);
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if let Ok(v) = HeaderValue::try_from(format!("app;dur={ms:.3}")) {
            res.headers_mut().append(SERVER_TIMING, v);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::http::{App, Body, IntoResponse};

    fn req() -> Request {
        Request::builder().uri("/").body(Body::empty()).unwrap()
    }

    fn dur(v: &HeaderValue) -> f64 {
        let s = v.to_str().unwrap();
        let ms = s.strip_prefix("app;dur=").unwrap_or_else(|| panic!("bad Server-Timing {s:?}"));
        let (_, decimals) = ms.split_once('.').expect("a decimal point");
        assert_eq!(decimals.len(), 3, "three decimals in {s:?}");
        ms.parse().unwrap()
    }

    #[test]
    fn header_format() {
        let res = App::new(|_req: Request| "ok").wrap(Timing).call(req());
        let values: Vec<_> = res.headers().get_all("server-timing").iter().collect();
        assert_eq!(values.len(), 1);
        assert!(dur(values[0]) >= 0.0);
    }

    #[test]
    fn appends_to_existing_header() {
        let handler = |_req: Request| {
            let mut res = "ok".into_response();
            res.headers_mut().insert("server-timing", HeaderValue::from_static("db;dur=1.5"));
            res
        };
        let res = App::new(handler).wrap(Timing::new()).call(req());
        let values: Vec<_> = res.headers().get_all("server-timing").iter().collect();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0], "db;dur=1.5");
        dur(values[1]);
    }

    #[test]
    fn measures_a_parked_handler() {
        let ms = crate::run(|| {
            let handler = |_req: Request| {
                crate::sleep(Duration::from_millis(30));
                "slept"
            };
            let res = App::new(handler).wrap(Timing).call(req());
            dur(&res.headers()["server-timing"])
        });
        assert!((30.0..5000.0).contains(&ms), "dur {ms}");
    }
}
