//! Making untrusted text (labels come from request targets; frames from
//! symbol names and paths) safe to print on a terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with control characters (C0, DEL, C1) and bidirectional-formatting
/// characters written as `\xNN` / `\u{NNNN}`, so that a label taken from a
/// request cannot move the cursor, recolour the terminal or reorder what a
/// reader sees (Trojan Source). Borrowed when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("GET /a?b=c (request 1)"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(escape("a\u{1b}[2Jb\n\u{7f}"), "a\\x1b[2Jb\\x0a\\x7f");
        assert_eq!(escape("x\u{202e}y\u{2066}"), "x\\u{202e}y\\u{2066}");
        assert_eq!(escape("\u{85}"), "\\x85");
        assert_eq!(escape("héllo ✓"), "héllo ✓");
    }
}
