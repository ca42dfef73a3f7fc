//! logfmt values: [`push_value`] writes a value bare or quoted and
//! escaped, so a line cannot be broken or a terminal fooled.

use std::fmt::Write as _;

/// Appends `v` as a logfmt value, quoting and escaping when needed.
pub(super) fn push_value(out: &mut String, v: &str) {
    let special = |c: char| c == '"' || is_unsafe(c) || c.is_whitespace();
    if !(v.is_empty() || v == "-" || v.contains(special)) {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Characters that would break a line or fool a terminal.
fn is_unsafe(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
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
    }
}
