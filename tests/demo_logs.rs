//! What the demo writes to its log, run as a user runs it: text a client
//! chose is escaped.

use std::time::Duration;

mod support;
use support::demo::Demo;
use support::raw::request;

/// Characters that must never reach a terminal raw, one of each class: an
/// 8-bit control (U+009B, CSI), the line separator, the bidi marks, an
/// embedding, the right-to-left override and an isolate.
const EVIL: &str = "\u{9b}31m\u{2028}\u{200e}\u{200f}\u{202a}\u{202e}gpj.exe\u{2066}\u{2069}";
/// How the log shows [`EVIL`].
const ESCAPED: &str = r"\u{009b}31m\u{2028}\u{200e}\u{200f}\u{202a}\u{202e}gpj.exe\u{2066}\u{2069}";

/// Whether `line` holds a control or a character of U+2000..=U+206F raw.
fn raw_chars(line: &str) -> Vec<char> {
    line.chars().filter(|&c| c.is_control() || ('\u{2000}'..='\u{206f}').contains(&c)).collect()
}

#[test]
fn a_request_target_cannot_write_controls_or_bidi_characters_into_the_log() {
    let demo = Demo::start(&[]);
    let target = format!("/block?ms=60&q={EVIL}");
    let (status, _) = request(
        demo.addr(),
        &format!("GET {target} HTTP/1.1\r\nHost: d\r\nUser-Agent: x{EVIL}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200, "the server accepts such a target (the http crate allows UTF-8 in paths)");
    let (_, report) =
        demo.wait_for_line("has held the loop", Duration::from_secs(10)).expect("a watchdog warning on stderr");
    assert!(report.contains(&format!("'GET /block?ms=60&q={ESCAPED} (request ")), "{report:?}");
    assert!(raw_chars(&report).is_empty(), "raw {:?} in {report:?}", raw_chars(&report));
    let (_, access) = demo.wait_for_line(" uri=", Duration::from_secs(10)).expect("an access log line");
    assert!(access.contains(&format!(" uri=\"/block?ms=60&q={ESCAPED}\" ")), "{access:?}");
    assert!(access.contains(&format!(" ua=\"x{ESCAPED}\"")), "{access:?}");
    assert!(raw_chars(&access).is_empty(), "raw {:?} in {access:?}", raw_chars(&access));
}
