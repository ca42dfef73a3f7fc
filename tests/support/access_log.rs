//! Servers with the access log on, as the demo runs by default. The access
//! log does its work (it peeks at request bodies and puts the bytes back)
//! only when its `log` target is enabled, so this installs a `log` backend
//! that enables it and discards the lines: the tests look at the wire, not
//! at the log.

use std::sync::Once;

struct Discard;

impl log::Log for Discard {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "greenloop::access"
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

/// Enables the access log's target for the whole test process (once).
pub fn enable() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&Discard).expect("no other logger in this test process");
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// `app` behind an access log that logs (so peeks at) request bodies.
pub fn logged(app: impl Into<greenloop::http::App>) -> greenloop::http::App {
    enable();
    app.into().wrap(greenloop::http::middleware::AccessLog::new().log_body(true))
}
