//! Server-Sent Events: a `text/event-stream` response the handler writes
//! event by event.
//!
//! [`stream`] sends the head at once and runs the handler's closure with an
//! [`EventWriter`]. The connection's idle timeout does not apply while it
//! streams (nothing is read); a heartbeat comment goes out whenever no event
//! has for the heartbeat interval (proxies close silent connections), also
//! while the closure waits in [`EventWriter::sleep`]. When the client goes
//! away, the next write fails and the closure's `?` ends it: no green thread
//! is left writing into a dead socket. So does a server shutdown: `sleep`
//! returns at once and every write fails (`ConnectionAborted`), so open
//! streams do not hold a graceful stop for its grace period.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use http::{HeaderValue, header};

use super::{Response, ResponseBody};

/// One event: `event:`, `id:` and `data:` fields (a multi-line `data` is
/// sent as several `data:` lines, as the format requires).
#[derive(Clone, Debug, Default)]
pub struct Event {
    /// The event's type (`addEventListener(type, ...)` in a browser); none: `message`.
    pub event: Option<String>,
    /// Its id (the browser resends the last one as `Last-Event-ID` when it reconnects).
    pub id: Option<String>,
    /// The payload.
    pub data: String,
}

impl Event {
    /// A `message` event carrying `data`.
    pub fn data(data: impl Into<String>) -> Event {
        Event { data: data.into(), ..Event::default() }
    }

    /// Sets the event type.
    pub fn event(mut self, name: impl Into<String>) -> Event {
        self.event = Some(name.into());
        self
    }

    /// Sets the id.
    pub fn id(mut self, id: impl Into<String>) -> Event {
        self.id = Some(id.into());
        self
    }

    /// The event in the wire format, ending with its blank line. Line
    /// breaks in `event` and `id` (which would forge fields) are dropped.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let one_line = |s: &str| s.replace(['\r', '\n'], "");
        if let Some(e) = &self.event {
            out.extend_from_slice(format!("event: {}\n", one_line(e)).as_bytes());
        }
        if let Some(id) = &self.id {
            out.extend_from_slice(format!("id: {}\n", one_line(id)).as_bytes());
        }
        for line in self.data.split('\n') {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.strip_suffix('\r').unwrap_or(line).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
}

/// Where a [`stream`] closure sends its events.
pub struct EventWriter<'a> {
    out: &'a mut dyn Write,
    heartbeat: Duration,
    last: Instant,
    buf: Vec<u8>,
}

impl std::fmt::Debug for EventWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter").field("heartbeat", &self.heartbeat).finish_non_exhaustive()
    }
}

impl EventWriter<'_> {
    /// Sends `event` now. Fails once the client has gone away, or the
    /// server is shutting down.
    pub fn send(&mut self, event: &Event) -> io::Result<()> {
        unless_shutting_down()?;
        self.buf.clear();
        event.encode(&mut self.buf);
        self.out.write_all(&self.buf)?;
        self.last = Instant::now();
        Ok(())
    }

    /// Sends a comment line (`: text`), which clients ignore.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        unless_shutting_down()?;
        self.out.write_all(format!(": {}\n\n", text.replace(['\r', '\n'], " ")).as_bytes())?;
        self.last = Instant::now();
        Ok(())
    }

    /// Sleeps `dur` (parking), sending heartbeats when due; fails as soon
    /// as a heartbeat finds the client gone, or at once when the server
    /// begins to shut down.
    pub fn sleep(&mut self, dur: Duration) -> io::Result<()> {
        let until = Instant::now() + dur;
        loop {
            let beat = self.last + self.heartbeat;
            if beat >= until {
                return sleep_unless_shutting_down(until);
            }
            sleep_unless_shutting_down(beat)?;
            self.comment("heartbeat")?;
        }
    }
}

/// Fails with `ConnectionAborted` once the server is shutting down.
fn unless_shutting_down() -> io::Result<()> {
    if crate::http::conn::serving::shutting_down() {
        return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "server shutting down"));
    }
    Ok(())
}

/// Parks until `until`, or until the server begins to shut down (it wakes
/// every connection's green thread): then fails.
fn sleep_unless_shutting_down(until: Instant) -> io::Result<()> {
    loop {
        unless_shutting_down()?;
        if crate::park::park_deadline(Some(until)) == crate::park::Wake::TimedOut || Instant::now() >= until {
            return Ok(());
        }
    }
}

/// A `text/event-stream` response: `f` runs after the head is sent, with
/// an [`EventWriter`]; a heartbeat comment goes out when nothing has for
/// `heartbeat`. Return `f`'s write errors (with `?`) to stop when the
/// client leaves.
///
/// ```no_run
/// use std::time::Duration;
/// use greenloop::http::{Request, Response, sse};
/// fn ticks(_req: Request) -> Response {
///     sse::stream(Duration::from_secs(15), |events| {
///         for i in 0.. {
///             events.send(&sse::Event::data(format!("tick {i}")).id(i.to_string()))?;
///             events.sleep(Duration::from_secs(1))?;
///         }
///         Ok(())
///     })
/// }
/// ```
pub fn stream(heartbeat: Duration, f: impl FnOnce(&mut EventWriter<'_>) -> io::Result<()> + 'static) -> Response {
    let body = ResponseBody::stream(move |out| {
        let mut w = EventWriter {
            out,
            heartbeat: heartbeat.max(Duration::from_millis(10)),
            last: Instant::now(),
            buf: Vec::new(),
        };
        // Opens the stream at once, so the client's `onopen` fires.
        w.comment("stream open")?;
        f(&mut w)
    });
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx would otherwise buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}
