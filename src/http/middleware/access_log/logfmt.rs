//! logfmt values: [`push_value`] writes a value bare or quoted and
//! escaped, so a line cannot be broken or a terminal fooled.

use crate::runtime::log_text::{is_unsafe, push_escaped};

/// Appends `v` as a logfmt value, quoting and escaping when needed (the
/// escaping is the runtime's, shared with the watchdog's reports).
pub(super) fn push_value(out: &mut String, v: &str) {
    let special = |c: char| c == '"' || is_unsafe(c) || c.is_whitespace();
    if !(v.is_empty() || v == "-" || v.contains(special)) {
        out.push_str(v);
        return;
    }
    out.push('"');
    push_escaped(out, v, '"');
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_quoting() {
        let q = |v: &str| {
            let mut s = String::new();
            push_value(&mut s, v);
            s
        };
        assert_eq!(q("plain/path?x=1&y=a\\b"), "plain/path?x=1&y=a\\b");
        assert_eq!(q(""), "\"\"");
        assert_eq!(q("-"), "\"-\"");
        assert_eq!(q("a b"), "\"a b\"");
        assert_eq!(q("back\\slash \"q\""), "\"back\\\\slash \\\"q\\\"\"");
        assert_eq!(q("tab\there\r\n"), "\"tab\\there\\r\\n\"");
        assert_eq!(q("bell\u{7}del\u{7f}c1\u{85}ls\u{2028}"), "\"bell\\x07del\\x7fc1\\u{0085}ls\\u{2028}\"");
        assert_eq!(q("héllo✓"), "héllo✓");
        // Bidirectional formatting characters are invisible: quoted and escaped.
        assert_eq!(q("/a\u{202e}gpj.exe"), "\"/a\\u{202e}gpj.exe\"");
        assert_eq!(q("\u{200e}\u{200f}\u{202a}\u{2066}\u{2069}"), "\"\\u{200e}\\u{200f}\\u{202a}\\u{2066}\\u{2069}\"");
    }
}
