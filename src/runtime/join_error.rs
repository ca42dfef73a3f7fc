//! How a green thread can fail to produce a value.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Why a green thread produced no value.
pub struct JoinError {
    kind: Kind,
}

enum Kind {
    Panic(Box<dyn Any + Send + 'static>),
    StackOverflow { name: Option<Arc<str>>, stack_size: usize },
    Cancelled,
    Spawn(std::io::Error),
}

impl JoinError {
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError { kind: Kind::Panic(payload) }
    }
    pub(crate) fn stack_overflow(name: Option<Arc<str>>, stack_size: usize) -> JoinError {
        JoinError { kind: Kind::StackOverflow { name, stack_size } }
    }
    pub(crate) fn cancelled() -> JoinError {
        JoinError { kind: Kind::Cancelled }
    }
    pub(crate) fn spawn(e: std::io::Error) -> JoinError {
        JoinError { kind: Kind::Spawn(e) }
    }

    /// The green thread panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, Kind::Panic(_))
    }

    /// The green thread overflowed its stack and was stopped.
    pub fn is_stack_overflow(&self) -> bool {
        matches!(self.kind, Kind::StackOverflow { .. })
    }

    /// The green thread was cancelled because its runtime shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled)
    }

    /// The green thread never started (no stack could be mapped).
    pub fn is_spawn_failure(&self) -> bool {
        matches!(self.kind, Kind::Spawn(_))
    }

    /// The panic message, when the payload was a string (as `panic!` makes it).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.kind {
            Kind::Panic(p) => {
                p.downcast_ref::<&'static str>().copied().or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
            }
            _ => None,
        }
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`; the
    /// error itself when it was not a panic.
    pub fn into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.kind {
            Kind::Panic(p) => Ok(p),
            kind => Err(JoinError { kind }),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "green thread panicked: {m}"),
                None => f.write_str("green thread panicked"),
            },
            Kind::StackOverflow { name, stack_size } => write!(
                f,
                "green thread '{}' overflowed its stack of {} KiB; raise it with \
                 greenloop::Builder::stack_size or GREENLOOP_STACK_SIZE",
                name.as_deref().unwrap_or("<unnamed>"),
                stack_size / 1024
            ),
            Kind::Cancelled => f.write_str("green thread cancelled: its runtime shut down"),
            Kind::Spawn(e) => write!(f, "green thread could not start: {e}"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_answers_only_its_own_question() {
        let kinds = [
            JoinError::panic(Box::new("boom")),
            JoinError::stack_overflow(None, 256 * 1024),
            JoinError::cancelled(),
            JoinError::spawn(std::io::Error::other("no memory")),
        ];
        let answers: Vec<[bool; 4]> = kinds
            .iter()
            .map(|e| [e.is_panic(), e.is_stack_overflow(), e.is_cancelled(), e.is_spawn_failure()])
            .collect();
        for (i, a) in answers.iter().enumerate() {
            for (j, yes) in a.iter().enumerate() {
                assert_eq!(*yes, i == j, "kind {i}, question {j}");
            }
        }
    }

    #[test]
    fn panic_message_reads_both_string_payloads() {
        assert_eq!(JoinError::panic(Box::new("static")).panic_message(), Some("static"));
        assert_eq!(JoinError::panic(Box::new(String::from("owned"))).panic_message(), Some("owned"));
        assert_eq!(JoinError::panic(Box::new(42)).panic_message(), None);
        assert_eq!(JoinError::cancelled().panic_message(), None);
    }

    #[test]
    fn into_panic_gives_the_payload_or_the_error_back() {
        let payload = JoinError::panic(Box::new("boom")).into_panic().ok().unwrap();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
        let back = JoinError::cancelled().into_panic().err().unwrap();
        assert!(back.is_cancelled());
    }

    #[test]
    fn messages_say_what_happened_and_what_to_do() {
        assert_eq!(JoinError::panic(Box::new("boom")).to_string(), "green thread panicked: boom");
        assert_eq!(JoinError::panic(Box::new(42)).to_string(), "green thread panicked");
        let overflow = JoinError::stack_overflow(Some("parser".into()), 64 * 1024).to_string();
        assert!(overflow.contains("'parser'") && overflow.contains("64 KiB"), "{overflow}");
        assert!(overflow.contains("Builder::stack_size") && overflow.contains("GREENLOOP_STACK_SIZE"));
        assert!(JoinError::stack_overflow(None, 1024).to_string().contains("'<unnamed>'"));
        assert_eq!(JoinError::cancelled().to_string(), "green thread cancelled: its runtime shut down");
        assert_eq!(
            JoinError::spawn(std::io::Error::other("no memory")).to_string(),
            "green thread could not start: no memory"
        );
        assert_eq!(format!("{:?}", JoinError::cancelled()), "JoinError(green thread cancelled: its runtime shut down)");
    }
}
