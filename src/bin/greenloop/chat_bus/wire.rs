//! What travels on the bus: `INSTANCE\nLINE`, the sender's instance id and
//! the line as its members saw it.

/// Largest payload accepted from the bus: a chat message is at most one
/// WebSocket message (1 MiB by default) plus its prefixes.
pub const MAX_PAYLOAD: usize = (1 << 20) + 256;

/// Tags `line` with the sending instance.
pub fn encode(instance: &str, line: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(instance.len() + 1 + line.len());
    v.extend_from_slice(instance.as_bytes());
    v.push(b'\n');
    v.extend_from_slice(line.as_bytes());
    v
}

/// `(instance, line)`, or `None` for a payload no instance sent (too long,
/// not UTF-8, no tag): something else publishing on the subject.
pub fn decode(payload: &[u8]) -> Option<(&str, &str)> {
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let (from, line) = text.split_once('\n')?;
    (!from.is_empty() && from.len() <= 64).then_some((from, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strangers() {
        let p = encode("ab12", "7: hello\nworld");
        assert_eq!(decode(&p), Some(("ab12", "7: hello\nworld")));
        assert_eq!(decode(b"no tag"), None);
        assert_eq!(decode(b"\nempty tag"), None);
        assert_eq!(decode(&[0xff, b'\n', b'x']), None);
        assert_eq!(decode(&vec![b'a'; MAX_PAYLOAD + 1]), None);
    }
}
