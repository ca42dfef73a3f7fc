//! `GET /events`: Server-Sent Events of the server's live metrics.

use greenloop::http::{Request, Response};

/// `GET /events`: the server's live metrics (`/status.json`'s), one event a
/// second, until the client leaves.
pub fn events(_req: Request) -> Response {
    use greenloop::http::sse::{Event, stream};
    stream(std::time::Duration::from_secs(15), |events| {
        for i in 0u64.. {
            let status = greenloop::http::debug::status_json(Request::new(Default::default()));
            let body = match status.into_body().as_bytes() {
                Some(b) => String::from_utf8_lossy(b).into_owned(),
                None => String::new(),
            };
            events.send(&Event::data(body).event("metrics").id(i.to_string()))?;
            events.sleep(std::time::Duration::from_secs(1))?;
        }
        Ok(())
    })
}
