//! What the watchdog calls a green thread: a fixed name, or a [`Label`]
//! whose text the green thread rewrites per unit of work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A task's label as the watchdog reads it: (task id, label).
pub(crate) type TaskLabel = Mutex<Option<(u64, LabelText)>>;

/// What the watchdog calls a green thread in its reports.
#[derive(Clone)]
pub(crate) enum LabelText {
    Fixed(Arc<str>),
    Shared(Label),
}

impl LabelText {
    pub(crate) fn text(&self) -> String {
        match self {
            LabelText::Fixed(s) => s.to_string(),
            LabelText::Shared(l) => l.get(),
        }
    }
}

/// A reusable label whose text changes without allocating: attach it to a
/// green thread once, then [`set`](Label::set) it per unit of work (the HTTP
/// server does this per request: method, path and request id).
#[derive(Clone, Default)]
pub struct Label {
    inner: Arc<LabelInner>,
}

#[derive(Default)]
struct LabelInner {
    text: Mutex<String>,
    /// The HTTP request the label's green thread is answering (0: none),
    /// shown after the text. Apart from it so that a connection answering
    /// the same method and path again updates only this: one plain store,
    /// where rewriting the text takes a lock and several copies.
    request: AtomicU64,
}

impl Label {
    /// An empty label.
    pub fn new() -> Label {
        Label::default()
    }

    /// Replaces the text (reusing the buffer).
    pub fn set(&self, args: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        self.set_with(|t| {
            let _ = t.write_fmt(args);
        });
    }

    /// Replaces the text by writing into the (cleared) buffer: the cheapest
    /// form, for labels set on every request.
    pub fn set_with(&self, write: impl FnOnce(&mut String)) {
        self.replace(None, write);
    }

    /// Replaces the text and the HTTP request id shown after it together,
    /// so that a reader never pairs the new text with the old id.
    pub(crate) fn set_with_request(&self, id: u64, write: impl FnOnce(&mut String)) {
        self.replace(Some(id), write);
    }

    /// Rewrites the text, and the request id if given, under the text's lock.
    fn replace(&self, request: Option<u64>, write: impl FnOnce(&mut String)) {
        let mut t = self.inner.text.lock().unwrap_or_else(|e| e.into_inner());
        t.clear();
        write(&mut t);
        if let Some(id) = request {
            self.inner.request.store(id, Ordering::Relaxed);
        }
    }

    /// Sets the HTTP request id shown after the (unchanged) text: one store,
    /// no lock. A reader racing with it sees the previous or the new id,
    /// both of requests with this text.
    pub(crate) fn set_request(&self, id: u64) {
        self.inner.request.store(id, Ordering::Relaxed);
    }

    /// The current text.
    pub fn get(&self) -> String {
        let text = self.inner.text.lock().unwrap_or_else(|e| e.into_inner());
        match self.inner.request.load(Ordering::Relaxed) {
            0 => text.clone(),
            id => format!("{text} (request {id})"),
        }
    }
}

impl std::fmt::Debug for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Label").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_replaced_not_appended() {
        let label = Label::new();
        assert_eq!(label.get(), "");
        label.set(format_args!("GET /a"));
        label.set_with(|t| t.push_str("POST /b"));
        assert_eq!(label.get(), "POST /b");
    }

    #[test]
    fn request_id_shows_after_the_text() {
        let label = Label::new();
        label.set_with_request(7, |t| t.push_str("GET /users/{id}"));
        assert_eq!(label.get(), "GET /users/{id} (request 7)");
        label.set_request(8);
        assert_eq!(label.get(), "GET /users/{id} (request 8)");
        // Text alone keeps the id; an id of 0 means none.
        label.set_with(|t| t.push_str("GET /health"));
        assert_eq!(label.get(), "GET /health (request 8)");
        label.set_request(0);
        assert_eq!(label.get(), "GET /health");
    }

    #[test]
    fn clones_share_one_text() {
        let label = Label::new();
        let shown = LabelText::Shared(label.clone());
        label.set_with(|t| t.push_str("worker"));
        assert_eq!(shown.text(), "worker");
        assert_eq!(LabelText::Fixed("fixed".into()).text(), "fixed");
        assert_eq!(format!("{label:?}"), "Label(\"worker\")");
    }
}
