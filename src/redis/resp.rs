//! RESP2, the Redis wire format: an encoder for commands and an
//! incremental parser for replies that rejects malformed or oversized
//! input with an error (never a panic, never unbounded memory).

use std::fmt;

/// Longest bulk string accepted (Redis' own `proto-max-bulk-len` default).
pub const MAX_BULK: usize = 512 * 1024 * 1024;
/// Most elements accepted in one array reply.
pub const MAX_ARRAY: usize = 64 * 1024 * 1024;
/// Deepest nesting of arrays accepted.
pub const MAX_DEPTH: usize = 64;
/// Longest status, error or integer line accepted.
const MAX_LINE: usize = 64 * 1024;

/// One reply from the server.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// The null bulk string or null array (`GET` of a missing key).
    Nil,
    /// An integer reply (`INCR`, `DEL`, ...).
    Int(i64),
    /// A bulk string: binary-safe bytes.
    Data(Vec<u8>),
    /// A status reply (`OK`, `PONG`, `QUEUED`).
    Status(String),
    /// An error reply (`ERR wrong number of arguments ...`): inside a
    /// pipeline, one command's failure.
    Error(String),
    /// An array reply (`MGET`, `LRANGE`, pub/sub messages).
    Array(Vec<Value>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(i) => write!(f, "int({i})"),
            Value::Data(d) => write!(f, "data({:?})", String::from_utf8_lossy(d)),
            Value::Status(s) => write!(f, "status({s})"),
            Value::Error(e) => write!(f, "error({e})"),
            Value::Array(a) => f.debug_list().entries(a).finish(),
        }
    }
}

/// Appends one command as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(itoa::Buffer::new().format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Malformed input from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

/// Parses one complete reply at the start of `buf`: `Ok(Some((value,
/// bytes used)))`, `Ok(None)` if more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(v) => Ok(Some((v, pos))),
        None => Ok(None),
    }
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ProtocolError> {
    if depth > MAX_DEPTH {
        return Err(ProtocolError(format!("reply nested deeper than {MAX_DEPTH} arrays")));
    }
    let Some(line) = line(buf, *pos)? else { return Ok(None) };
    let (kind, body) = (buf[*pos], &buf[*pos + 1..line]);
    let after = line + 2;
    match kind {
        b'+' => {
            *pos = after;
            Ok(Some(Value::Status(text(body)?)))
        }
        b'-' => {
            *pos = after;
            Ok(Some(Value::Error(text(body)?)))
        }
        b':' => {
            *pos = after;
            Ok(Some(Value::Int(int(body)?)))
        }
        b'$' => {
            let n = int(body)?;
            if n == -1 {
                *pos = after;
                return Ok(Some(Value::Nil));
            }
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_BULK)
                .ok_or_else(|| ProtocolError(format!("bulk string length {n} out of range")))?;
            let end = after + n;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ProtocolError("bulk string not followed by CRLF".into()));
            }
            *pos = end + 2;
            Ok(Some(Value::Data(buf[after..end].to_vec())))
        }
        b'*' => {
            let n = int(body)?;
            if n == -1 {
                *pos = after;
                return Ok(Some(Value::Nil));
            }
            let n = usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_ARRAY)
                .ok_or_else(|| ProtocolError(format!("array length {n} out of range")))?;
            let mut at = after;
            // Each element takes at least 3 bytes: do not reserve for more than can be there.
            let mut items = Vec::with_capacity(n.min((buf.len() - at.min(buf.len())) / 3 + 1));
            for _ in 0..n {
                match parse_at(buf, &mut at, depth + 1)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            *pos = at;
            Ok(Some(Value::Array(items)))
        }
        other => Err(ProtocolError(format!("unknown reply type byte 0x{other:02x}"))),
    }
}

/// The index of the CR ending the line at `start`, if the whole line is there.
fn line(buf: &[u8], start: usize) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[start.min(buf.len())..];
    match memchr::memchr(b'\r', rest) {
        Some(i) if i + 1 < rest.len() => {
            if rest[i + 1] != b'\n' {
                return Err(ProtocolError("CR not followed by LF".into()));
            }
            if i == 0 {
                return Err(ProtocolError("empty reply line".into()));
            }
            Ok(Some(start + i))
        }
        Some(_) => Ok(None),
        None if rest.len() > MAX_LINE => Err(ProtocolError(format!("reply line longer than {MAX_LINE} bytes"))),
        None => Ok(None),
    }
}

fn text(b: &[u8]) -> Result<String, ProtocolError> {
    Ok(String::from_utf8_lossy(b).into_owned())
}

fn int(b: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtocolError(format!("not an integer: {:?}", String::from_utf8_lossy(b))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut out = Vec::new();
        encode(&mut out, &["SET", "k", "v\r\n"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n");
    }

    #[test]
    fn parses_every_kind() {
        let input = b"+OK\r\n-ERR no\r\n:-42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n*-1\r\n";
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((v, n)) = parse(&input[at..]).unwrap() {
            got.push(v);
            at += n;
        }
        assert_eq!(at, input.len());
        assert_eq!(
            got,
            vec![
                Value::Status("OK".into()),
                Value::Error("ERR no".into()),
                Value::Int(-42),
                Value::Data(b"abc".to_vec()),
                Value::Nil,
                Value::Array(vec![Value::Int(1), Value::Array(vec![Value::Data(vec![])])]),
                Value::Nil,
            ]
        );
    }

    #[test]
    fn partial_input_asks_for_more() {
        let full = b"*2\r\n$5\r\nhello\r\n:7\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse(full).unwrap().is_some());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b"?x\r\n"[..],
            b":abc\r\n",
            b"$-5\r\n",
            b"$99999999999\r\n",
            b"*-7\r\n",
            b"$3\r\nabcXY",
            b"+OK\rX",
            b"\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert!(parse(deep.as_bytes()).is_err());
        assert!(parse(&vec![b'+'; MAX_LINE + 2]).is_err());
    }
}
