//! Making untrusted text safe to put in a log line: [`push_escaped`].
//!
//! A log line shows text that came from outside (a request target, a
//! `User-Agent`, a body). Written raw, a newline forges a second line, an
//! escape sequence (ESC, or its 8-bit form U+009B) drives the terminal that
//! shows the log, and a bidirectional-override character (U+202E) makes the
//! rest of the line read backwards. Every log writer in the crate (the
//! watchdog's reports here, the HTTP access log) escapes through this one
//! function, so they agree on what is unsafe. It lives in the runtime because
//! the runtime imports nothing from `http`; `http` uses it crate-internally.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` safe to print on a terminal or in a log line: every unsafe
/// character (`is_unsafe`: controls, line separators, bidirectional
/// formatting) and the backslash written as an escape (`\n`, `\x1b`,
/// `\u{202e}`, `\\`), so a label taken from a request cannot move the
/// cursor, recolour the terminal, forge a line or reorder what a reader
/// sees (Trojan Source). Borrowed when there is nothing to escape. The
/// watchdog's reports, the green-thread dump and the access log all escape
/// through this file, so they agree on what is unsafe.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(|c: char| c == '\\' || is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    // A quote character that is escaped anyway: no quote of its own.
    push_escaped(&mut out, text, '\\');
    Cow::Owned(out)
}

/// Whether `c` could break a log line or fool whoever reads it on a terminal:
/// C0 and C1 controls and DEL, the Unicode line and paragraph separators, and
/// the invisible bidirectional formatting characters (marks U+061C, U+200E,
/// U+200F; embeddings and overrides U+202A to U+202E; isolates U+2066 to
/// U+2069).
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061c}' | '\u{200e}' | '\u{200f}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Appends `text` to `out` with every unsafe character ([`is_unsafe`])
/// written as an escape: `\n`, `\r`, `\t`, `\xNN` below U+0080, `\u{NNNN}`
/// above. A backslash and `quote` (the character the caller encloses the
/// text in) are backslash-escaped, so the result cannot end the quoted text
/// early and an escape in the output always means an escaped character.
/// Safe text is copied in one piece.
pub(crate) fn push_escaped(out: &mut String, text: &str, quote: char) {
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c == '\\' || c == quote || is_unsafe(c)) {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or_default();
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == '\\' || c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_borrows_safe_text_and_escapes_the_rest() {
        assert!(matches!(escape("GET /a?b=c (request 1) héllo ✓"), Cow::Borrowed(_)));
        assert_eq!(escape("a\u{1b}[2Jb\n\u{7f}"), "a\\x1b[2Jb\\n\\x7f");
        assert_eq!(escape("x\u{202e}y\u{2066}\u{85}"), "x\\u{202e}y\\u{2066}\\u{0085}");
        assert_eq!(escape("C:\\path"), "C:\\\\path");
    }

    fn escaped(text: &str, quote: char) -> String {
        let mut s = String::new();
        push_escaped(&mut s, text, quote);
        s
    }

    #[test]
    fn every_class_is_escaped() {
        // C0 controls, DEL, C1 controls (the 8-bit CSI among them).
        assert_eq!(escaped("a\u{1b}[2Jb\u{7f}\u{9b}31m\u{85}", '"'), "a\\x1b[2Jb\\x7f\\u{009b}31m\\u{0085}");
        assert_eq!(escaped("l1\nl2\r\tend", '"'), "l1\\nl2\\r\\tend");
        // Line and paragraph separators.
        assert_eq!(escaped("\u{2028}\u{2029}", '"'), "\\u{2028}\\u{2029}");
        // Bidirectional marks, embeddings, overrides and isolates.
        for c in ['\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'] {
            assert_eq!(escaped(&format!("x{c}y"), '"'), format!("x\\u{{{:04x}}}y", c as u32));
        }
        for c in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(escaped(&format!("{c}"), '"'), format!("\\u{{{:04x}}}", c as u32));
        }
    }

    #[test]
    fn quote_and_backslash_escaped_and_the_rest_kept() {
        assert_eq!(escaped(r#"say "hi" \ 'x'"#, '"'), r#"say \"hi\" \\ 'x'"#);
        assert_eq!(escaped(r#"say "hi" \ 'x'"#, '\''), r#"say "hi" \\ \'x\'"#);
        assert_eq!(escaped("héllo ✓ /a?b=c&d", '"'), "héllo ✓ /a?b=c&d");
        // Neighbours of the unsafe ranges are ordinary text.
        assert_eq!(
            escaped("\u{200d}\u{2029}\u{202f}\u{2065}\u{206a}", '"'),
            "\u{200d}\\u{2029}\u{202f}\u{2065}\u{206a}"
        );
        assert_eq!(escaped("", '"'), "");
    }
}
