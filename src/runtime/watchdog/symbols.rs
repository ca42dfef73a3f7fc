//! Turning a captured stack into the frames a reader cares about, off the
//! loop: names and file:line from the binary's debug information (the
//! `backtrace` crate), user code picked out from the runtime, std and
//! dependencies.

// Without the `stacks` feature nothing is captured or symbolised.
#![cfg_attr(not(feature = "stacks"), allow(dead_code))]

use super::capture::RawStack;
use crate::runtime::log_text::escape;

/// Where a frame's code comes from, which decides whether a report shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The program's own code (or a library outside the three below).
    User,
    /// greenloop itself.
    Runtime,
    /// The Rust standard library.
    Std,
    /// A crate from the registry, or code without debug information (libc).
    Other,
}

/// One symbolised frame (an inlined call is a frame of its own).
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) name: String,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) origin: Origin,
}

impl Frame {
    fn shown(&self) -> String {
        match (&self.file, self.line, self.origin) {
            (Some(f), Some(l), Origin::User) => format!("{} ({f}:{l})", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Symbolises `stack`, innermost frame first.
#[cfg(feature = "stacks")]
pub(crate) fn frames(stack: &RawStack) -> Vec<Frame> {
    let cwd = std::env::current_dir().ok().map(|d| format!("{}/", d.display()));
    let mut out = Vec::new();
    for &ip in stack.user_frames().iter().filter(|&&ip| ip != 0) {
        let mut any = false;
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            any = true;
            let name = sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| format!("{ip:#x}"));
            let file = sym.filename().map(|f| f.display().to_string());
            let origin = origin(&name, file.as_deref());
            let file = file.map(|f| match &cwd {
                Some(c) if f.starts_with(c.as_str()) => f[c.len()..].to_owned(),
                _ => f,
            });
            out.push(Frame { name, file, line: sym.lineno(), origin });
        });
        if !any {
            out.push(Frame { name: format!("{ip:#x}"), file: None, line: None, origin: Origin::Other });
        }
    }
    out
}

/// Drops the debug information read to symbolise: tens of MiB for an
/// optimised binary with line tables, which would otherwise stay resident
/// for the life of a process that blocked its loop once.
pub(crate) fn forget() {
    #[cfg(feature = "stacks")]
    backtrace::clear_symbol_cache();
    // glibc keeps freed memory in the symbolising thread's arena; hand it
    // back to the system, or half of it stays resident.
    #[cfg(feature = "stacks")]
    crate::sys::malloc_trim();
}

#[cfg(not(feature = "stacks"))]
pub(crate) fn frames(_stack: &RawStack) -> Vec<Frame> {
    Vec::new()
}

fn origin(name: &str, file: Option<&str>) -> Origin {
    const OWN: &str = env!("CARGO_MANIFEST_DIR");
    let Some(file) = file else { return Origin::Other };
    if file.starts_with("/rustc/") || file.contains("/library/std/") || file.contains("/library/core/") {
        return Origin::Std;
    }
    if let Some(rest) = file.strip_prefix(OWN)
        && (rest.starts_with("/src/runtime/") || rest.starts_with("/src/http/") || rest == "/src/lib.rs")
    {
        return Origin::Runtime;
    }
    if file.contains("/.cargo/registry/") || file.contains("/.cargo/git/") {
        return Origin::Other;
    }
    if name.starts_with("std::") || name.starts_with("core::") || name.starts_with("alloc::") {
        return Origin::Std;
    }
    if !name.contains("::") {
        // C code with debug information (libc's `clock_nanosleep`,
        // `start_thread`): Rust paths always have a `::`.
        return Origin::Other;
    }
    Origin::User
}

/// The one-line form: the call the user's code made that is blocking (the
/// frame just inside the first user frame), then the user frames around it,
/// outermost last: `std::thread::sleep <- app::routes::block (src/routes.rs:140) <- ...`.
/// Without user frames, the innermost named ones. Escaped for terminals.
pub(crate) fn summary(frames: &[Frame]) -> String {
    const MAX_USER: usize = 5;
    let mut parts: Vec<String> = Vec::new();
    let first_user = frames.iter().position(|f| f.origin == Origin::User);
    let rest_from = match first_user {
        Some(u) => {
            if u > 0 {
                parts.push(frames[u - 1].shown());
            }
            let users: Vec<usize> =
                (u..frames.len()).filter(|&i| frames[i].origin == Origin::User).take(MAX_USER).collect();
            parts.extend(users.iter().map(|&i| frames[i].shown()));
            users.last().map_or(frames.len(), |&i| i + 1)
        }
        None => {
            let named: Vec<usize> = (0..frames.len()).filter(|&i| !frames[i].name.starts_with("0x")).take(4).collect();
            parts.extend(named.iter().map(|&i| frames[i].shown()));
            named.last().map_or(frames.len(), |&i| i + 1)
        }
    };
    if parts.is_empty() {
        return String::new();
    }
    if rest_from < frames.len() {
        parts.push("...".into());
    }
    escape(&parts.join(" <- ")).into_owned()
}

/// Every frame, one per line (`    at name (file:line)`), escaped.
pub(crate) fn full(frames: &[Frame]) -> String {
    let mut out = String::new();
    for f in frames {
        let line = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("{} ({file}:{line})", f.name),
            _ => f.name.clone(),
        };
        out.push_str("    at ");
        out.push_str(&escape(&line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, file: Option<&str>, origin: Origin) -> Frame {
        Frame { name: name.into(), file: file.map(Into::into), line: file.map(|_| 7), origin }
    }

    #[test]
    fn summary_starts_at_the_call_the_user_made() {
        let frames = vec![
            f("clock_nanosleep", None, Origin::Other),
            f("std::sys::thread::sleep", Some("/rustc/x/library/std/src/sys.rs"), Origin::Std),
            f("std::thread::sleep", Some("/rustc/x/library/std/src/thread.rs"), Origin::Std),
            f("app::routes::block", Some("src/routes.rs"), Origin::User),
            f("greenloop::http::handler::call", Some("/x/src/http/handler.rs"), Origin::Runtime),
            f("app::main", Some("src/main.rs"), Origin::User),
            f("corosensei::resume", Some("/r/.cargo/registry/c.rs"), Origin::Other),
        ];
        assert_eq!(
            summary(&frames),
            "std::thread::sleep <- app::routes::block (src/routes.rs:7) <- app::main (src/main.rs:7) <- ..."
        );
    }

    #[test]
    fn summary_without_user_frames_shows_the_innermost_named_ones() {
        let frames = vec![f("0x1234", None, Origin::Other), f("std::a", Some("/rustc/s.rs"), Origin::Std)];
        assert_eq!(summary(&frames), "std::a");
        assert_eq!(summary(&[]), "");
    }

    #[test]
    fn names_are_escaped() {
        let frames = vec![f("evil\u{1b}[2J", Some("src/a\u{202e}.rs"), Origin::User)];
        let s = summary(&frames);
        assert!(!s.contains('\u{1b}') && !s.contains('\u{202e}'), "{s}");
        assert!(full(&frames).starts_with("    at evil\\x1b[2J (src/a\\u{202e}.rs:7)\n"));
    }

    #[test]
    fn origins() {
        assert_eq!(origin("x", None), Origin::Other);
        assert_eq!(origin("__GI___clock_nanosleep", Some("./time/clock_nanosleep.c")), Origin::Other);
        assert_eq!(origin("std::thread::sleep", Some("/rustc/abc/library/std/src/thread/mod.rs")), Origin::Std);
        let own = concat!(env!("CARGO_MANIFEST_DIR"), "/src/runtime/core/turn.rs");
        assert_eq!(origin("greenloop::runtime::x", Some(own)), Origin::Runtime);
        let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin/greenloop/routes.rs");
        assert_eq!(origin("greenloop::routes::block", Some(demo)), Origin::User);
        assert_eq!(origin("http::x", Some("/root/.cargo/registry/src/http-1/src/a.rs")), Origin::Other);
    }
}
