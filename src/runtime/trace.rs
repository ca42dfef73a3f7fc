//! `tracing` support (feature `tracing`).
//!
//! Spans follow green threads: a span entered on a green thread
//! (`let _g = span.enter()`, `#[instrument]`) stays its current span across
//! every park, and is not the current span of the green threads that run
//! meanwhile on the same OS thread. The scheduler exits a green thread's
//! spans when it suspends and enters them again when it resumes
//! (docs/DESIGN.md, "tracing spans and green threads"). Nothing is needed to
//! turn this on beyond the feature.
//!
//! greenloop itself logs through the `log` crate. [`forward_log_records`]
//! makes those records (and every other crate's) tracing events, recorded
//! inside the span current where they were logged.

/// Installs `tracing-log`'s `LogTracer` as the process's `log` logger, so
/// that `log` records (greenloop's own: panics in handlers, refused
/// connections, watchdog reports) become tracing events in the current span.
///
/// Why a call and not automatic: the `log` logger is one per process, and
/// the application, not a library, decides who holds it.
/// `tracing_subscriber::fmt().init()` (and `try_init`) already install the
/// same bridge when tracing-subscriber's default `tracing-log` feature is on;
/// this is for subscribers set up another way
/// (`tracing::subscriber::set_global_default`). `tracing-log` is the bridge
/// the tracing project maintains for this direction; tracing's own `log`
/// feature goes the other way (tracing events to a `log` logger).
///
/// Fails if a `log` logger is already set.
///
/// ```
/// // Typically once in main, next to setting the subscriber.
/// let _ = greenloop::trace::forward_log_records();
/// ```
pub fn forward_log_records() -> Result<(), log::SetLoggerError> {
    tracing_log::LogTracer::init()
}
