//! `GET /events`: Server-Sent Events of the server's live metrics.

use greenloop::http::{Request, Response};

/// `GET /events`: the server's live metrics, one event a second, until the
/// client leaves: `/status.json`'s figures without the incidents' stacks
/// (`debug::status_summary`, a few KiB; the full snapshot can be hundreds).
pub fn events(_req: Request) -> Response {
    use greenloop::http::sse::{Event, stream};
    stream(std::time::Duration::from_secs(15), |events| {
        for i in 0u64.. {
            let body = greenloop::http::debug::status_summary();
            events.send(&Event::data(body).event("metrics").id(i.to_string()))?;
            events.sleep(std::time::Duration::from_secs(1))?;
        }
        Ok(())
    })
}
