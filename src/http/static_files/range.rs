//! The `Range` field of a request for a file: one byte range, or none.

/// What a `Range` field asks of a representation of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RangeAsk {
    /// No range worth honouring: the whole file, `200`. Malformed fields,
    /// other units and multiple ranges land here (RFC 9110 lets a server
    /// ignore `Range`; one range per request is what video players and
    /// download resumers send).
    Whole,
    /// The bytes `start..end`, `206`.
    Part { start: u64, end: u64 },
    /// A range that starts past the end: `416`.
    Unsatisfiable,
}

/// Reads one `Range` field value against a file of `len` bytes.
pub(super) fn parse(value: &str, len: u64) -> RangeAsk {
    let Some((unit, spec)) = value.split_once('=') else { return RangeAsk::Whole };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeAsk::Whole };
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    if first.is_empty() {
        // `-n`: the last n bytes.
        return match number(last) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if len == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part { start: len.saturating_sub(n), end: len },
            None => RangeAsk::Whole,
        };
    }
    let Some(start) = number(first) else { return RangeAsk::Whole };
    let end = if last.is_empty() {
        len
    } else {
        match number(last) {
            Some(l) if l >= start => l.saturating_add(1).min(len),
            _ => return RangeAsk::Whole,
        }
    };
    if start >= len { RangeAsk::Unsatisfiable } else { RangeAsk::Part { start, end } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse("bytes=0-9", 100), RangeAsk::Part { start: 0, end: 10 });
        assert_eq!(parse("bytes=90-", 100), RangeAsk::Part { start: 90, end: 100 });
        assert_eq!(parse("bytes=-10", 100), RangeAsk::Part { start: 90, end: 100 });
        assert_eq!(parse("bytes=-1000", 100), RangeAsk::Part { start: 0, end: 100 });
        assert_eq!(parse("bytes=50-1000", 100), RangeAsk::Part { start: 50, end: 100 });
        assert_eq!(parse("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse("bytes=0-1,5-6", 100), RangeAsk::Whole);
        assert_eq!(parse("items=0-1", 100), RangeAsk::Whole);
        assert_eq!(parse("bytes=5-1", 100), RangeAsk::Whole);
        assert_eq!(parse("bytes=x-1", 100), RangeAsk::Whole);
        assert_eq!(parse("bytes=0-", 0), RangeAsk::Unsatisfiable);
    }
}
