//! The chunked transfer coding (RFC 9112 §7.1): an incremental decoder that
//! accepts input in pieces of any size, and encoder helpers.

use http::StatusCode;

use super::head::ParseError;

/// The last chunk with an empty trailer section: ends a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Most bytes of trailer section accepted (and dropped) after the last chunk.
pub const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Hex digits in a chunk size; 16 covers every `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

const INVALID: ParseError = ParseError::bad("invalid chunked encoding");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size (`digits` read so far).
    Size { size: u64, digits: u8 },
    /// Whitespace after the size; only `;` may follow (BWS before an extension).
    SizeWs { size: u64 },
    /// Inside chunk extensions, outside a quoted string.
    Ext { size: u64 },
    /// Inside a quoted string of a chunk extension.
    ExtQuoted { size: u64 },
    /// After a backslash inside a quoted string.
    ExtQuotedEscape { size: u64 },
    /// Saw CR after the size line; expecting LF.
    SizeLf { size: u64 },
    /// Inside chunk data.
    Data { remaining: u64 },
    /// After chunk data; expecting CR.
    DataCr,
    /// After chunk data and CR; expecting LF.
    DataLf,
    /// At the start of a trailer line (or of the final CRLF).
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// Saw CR ending a trailer line; expecting LF.
    TrailerLf,
    /// Saw the final CR; expecting the final LF.
    FinalLf,
    /// The body is complete.
    Done,
}

/// Incremental decoder for a chunked message body.
///
/// Feed it whatever bytes have arrived; it copies body bytes out and tells
/// how much input it consumed. Input after the end of the body (the next
/// pipelined message) is never consumed.
///
/// Chunk extensions carry no meaning for us: they are checked byte by byte
/// (no control bytes, quoted strings closed) and skipped, never buffered,
/// in constant memory whatever their length. So that they cannot be an
/// endless stream of non-body bytes, they count toward the body limit.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    max_body: u64,
    body_total: u64,
    /// Chunk-extension bytes skipped so far (counted with `body_total`
    /// against `max_body`).
    ext_bytes: u64,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder that rejects bodies whose chunks add up to more than
    /// `max_body_bytes` (413).
    pub fn new(max_body_bytes: u64) -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
            max_body: max_body_bytes,
            body_total: 0,
            ext_bytes: 0,
            trailer_bytes: 0,
        }
    }

    /// Decodes as much of `input` as possible, copying body bytes into
    /// `out`. Returns `(input bytes consumed, body bytes written to out)`.
    ///
    /// It stops when the input is used up, when `out` is full while inside
    /// chunk data, or when the body is complete ([`is_done`](Self::is_done));
    /// call again with the unconsumed input (plus any new bytes) and/or a
    /// fresh `out`. `out` may be empty: framing bytes are still consumed.
    /// After an error the decoder must not be used again.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), ParseError> {
        let mut i = 0;
        let mut o = 0;
        while i < input.len() {
            if let State::Data { remaining } = self.state {
                let room = out.len() - o;
                if room == 0 {
                    break;
                }
                let avail = input.len() - i;
                // min(remaining, avail, room) fits in usize as avail does.
                let n = remaining.min(avail.min(room) as u64) as usize;
                out[o..o + n].copy_from_slice(&input[i..i + n]);
                i += n;
                o += n;
                let left = remaining - n as u64;
                self.state = if left == 0 { State::DataCr } else { State::Data { remaining: left } };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            if let State::Ext { .. } | State::ExtQuoted { .. } = self.state {
                // Skip a run of extension bytes that cannot change the state
                // in one go, rather than byte by byte.
                let quoted = matches!(self.state, State::ExtQuoted { .. });
                let run = input[i..].iter().take_while(|&&b| is_plain_ext_byte(b, quoted)).count();
                if run > 0 {
                    self.count_ext(run as u64)?;
                    i += run;
                    continue;
                }
            }
            let b = input[i];
            i += 1;
            self.state = self.step(b)?;
        }
        Ok((i, o))
    }

    /// One framing byte (never called in `Data` or `Done`).
    fn step(&mut self, b: u8) -> Result<State, ParseError> {
        Ok(match self.state {
            State::Size { size, digits } => match hex_val(b) {
                Some(v) => {
                    if digits >= MAX_SIZE_DIGITS {
                        return Err(INVALID);
                    }
                    State::Size { size: (size << 4) | u64::from(v), digits: digits + 1 }
                }
                None if digits == 0 => return Err(INVALID),
                None => self.after_size(size, b)?,
            },
            State::SizeWs { size } => match b {
                b' ' | b'\t' => State::SizeWs { size },
                b';' => self.ext_byte(State::Ext { size })?,
                _ => return Err(INVALID),
            },
            State::Ext { size } => match b {
                b'\r' => State::SizeLf { size },
                b'"' => self.ext_byte(State::ExtQuoted { size })?,
                b'\t' | b' '..=b'~' | 0x80..=0xff => self.ext_byte(State::Ext { size })?,
                _ => return Err(INVALID),
            },
            State::ExtQuoted { size } => match b {
                b'"' => self.ext_byte(State::Ext { size })?,
                b'\\' => self.ext_byte(State::ExtQuotedEscape { size })?,
                b'\t' | b' '..=b'~' | 0x80..=0xff => self.ext_byte(State::ExtQuoted { size })?,
                _ => return Err(INVALID),
            },
            State::ExtQuotedEscape { size } => match b {
                b'\t' | b' '..=b'~' | 0x80..=0xff => self.ext_byte(State::ExtQuoted { size })?,
                _ => return Err(INVALID),
            },
            State::SizeLf { size } => {
                if b != b'\n' {
                    return Err(INVALID);
                }
                if size == 0 { State::TrailerStart } else { State::Data { remaining: size } }
            }
            State::DataCr => {
                if b != b'\r' {
                    return Err(INVALID);
                }
                State::DataLf
            }
            State::DataLf => {
                if b != b'\n' {
                    return Err(INVALID);
                }
                State::Size { size: 0, digits: 0 }
            }
            State::TrailerStart => match b {
                b'\r' => State::FinalLf,
                _ if is_tchar(b) => self.trailer_byte(State::TrailerName)?,
                _ => return Err(INVALID),
            },
            State::TrailerName => match b {
                b':' => self.trailer_byte(State::TrailerValue)?,
                _ if is_tchar(b) => self.trailer_byte(State::TrailerName)?,
                _ => return Err(INVALID),
            },
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                b'\t' | b' '..=b'~' | 0x80..=0xff => self.trailer_byte(State::TrailerValue)?,
                _ => return Err(INVALID),
            },
            State::TrailerLf => {
                if b != b'\n' {
                    return Err(INVALID);
                }
                State::TrailerStart
            }
            State::FinalLf => {
                if b != b'\n' {
                    return Err(INVALID);
                }
                State::Done
            }
            State::Data { .. } | State::Done => return Err(INVALID),
        })
    }

    /// First byte after the hex digits of a size; the size is now known.
    fn after_size(&mut self, size: u64, b: u8) -> Result<State, ParseError> {
        let total = self.body_total.checked_add(size);
        match total {
            Some(t) if t.checked_add(self.ext_bytes).is_some_and(|all| all <= self.max_body) => self.body_total = t,
            _ => {
                return Err(ParseError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"));
            }
        }
        match b {
            b'\r' => Ok(State::SizeLf { size }),
            b';' => self.ext_byte(State::Ext { size }),
            b' ' | b'\t' => Ok(State::SizeWs { size }),
            _ => Err(INVALID),
        }
    }

    fn ext_byte(&mut self, next: State) -> Result<State, ParseError> {
        self.count_ext(1)?;
        Ok(next)
    }

    /// Counts `n` skipped extension bytes toward the body limit.
    fn count_ext(&mut self, n: u64) -> Result<(), ParseError> {
        self.ext_bytes += n;
        if self.body_total.saturating_add(self.ext_bytes) > self.max_body {
            return Err(ParseError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large (chunk extensions count toward the limit)",
            ));
        }
        Ok(())
    }

    fn trailer_byte(&mut self, next: State) -> Result<State, ParseError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ParseError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "trailers too large"));
        }
        Ok(next)
    }

    /// True once the last chunk, the trailer section and the final CRLF have
    /// all been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Sum of the chunk sizes announced so far (body bytes, delivered or
    /// about to be).
    pub fn body_bytes(&self) -> u64 {
        self.body_total
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An extension byte that leaves the state as it is: not a control byte,
/// and none of `"` (opens or closes a quoted string), `\` (escapes, when
/// quoted) and CR (ends the line).
fn is_plain_ext_byte(b: u8, quoted: bool) -> bool {
    match b {
        b'"' | b'\r' => false,
        b'\\' => !quoted,
        b'\t' | b' '..=b'~' | 0x80..=0xff => true,
        _ => false,
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Appends a chunk-size line, `"{len:x}\r\n"`, to `out`. Do not call it with
/// `len == 0` for a data chunk: that would end the body (use [`LAST_CHUNK`]).
pub fn encode_chunk_header(len: usize, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 2 * std::mem::size_of::<usize>() + 2];
    let mut pos = buf.len() - 2;
    buf[pos] = b'\r';
    buf[pos + 1] = b'\n';
    let mut n = len;
    loop {
        pos -= 1;
        buf[pos] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[pos..]);
}

/// Appends one complete chunk (size line, `data`, CRLF) to `out`. Empty
/// `data` appends nothing (an empty chunk would end the body).
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.reserve(data.len() + 20);
    encode_chunk_header(data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` in one call with a big output buffer.
    fn decode_all(input: &[u8], max: u64) -> Result<(Vec<u8>, usize, bool), ParseError> {
        let mut d = ChunkedDecoder::new(max);
        let mut out = vec![0u8; input.len() + 16];
        let (c, w) = d.decode(input, &mut out)?;
        out.truncate(w);
        Ok((out, c, d.is_done()))
    }

    /// Decodes with the input split at `split`, then fed in two parts, and
    /// with a tiny output buffer, checking the result each time.
    fn decode_split(input: &[u8], split: usize, out_size: usize) -> Result<(Vec<u8>, usize, bool), ParseError> {
        let mut d = ChunkedDecoder::new(1 << 20);
        let mut body = Vec::new();
        let mut out = vec![0u8; out_size];
        let mut pending: Vec<u8> = Vec::new();
        let mut consumed_total = 0;
        for part in [&input[..split], &input[split..]] {
            pending.extend_from_slice(part);
            loop {
                let (c, w) = d.decode(&pending, &mut out)?;
                body.extend_from_slice(&out[..w]);
                pending.drain(..c);
                consumed_total += c;
                if (c == 0 && w == 0) || d.is_done() {
                    break;
                }
            }
        }
        Ok((body, consumed_total, d.is_done()))
    }

    const SAMPLE: &[u8] = b"5\r\nhello\r\n7;ext=1;q=\"a;\\\"b\"\r\n, world\r\n0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n";

    #[test]
    fn basic() {
        let (body, c, done) = decode_all(b"3\r\nabc\r\n0\r\n\r\n", 100).unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(c, 13);
        assert!(done);
    }

    #[test]
    fn extensions_and_trailers() {
        let (body, c, done) = decode_all(SAMPLE, 100).unwrap();
        assert_eq!(body, b"hello, world");
        assert_eq!(c, SAMPLE.len());
        assert!(done);
        let (body, _, done) = decode_all(b"A ; x = \"y\"\r\n0123456789\r\n0;end\r\n\r\n", 100).unwrap();
        assert_eq!(body, b"0123456789");
        assert!(done);
    }

    #[test]
    fn every_split_point_and_tiny_outputs() {
        for out_size in [1, 2, 3, 64] {
            for split in 0..=SAMPLE.len() {
                let (body, c, done) = decode_split(SAMPLE, split, out_size).unwrap();
                assert_eq!(body, b"hello, world", "split {split} out {out_size}");
                assert_eq!(c, SAMPLE.len());
                assert!(done);
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut d = ChunkedDecoder::new(100);
        let mut body = Vec::new();
        let mut out = [0u8; 8];
        for (k, b) in SAMPLE.iter().enumerate() {
            assert!(!d.is_done(), "done early at {k}");
            let (c, w) = d.decode(std::slice::from_ref(b), &mut out).unwrap();
            assert_eq!(c, 1);
            body.extend_from_slice(&out[..w]);
        }
        assert!(d.is_done());
        assert_eq!(body, b"hello, world");
    }

    #[test]
    fn stops_at_end_of_body_for_pipelining() {
        let mut input = b"2\r\nhi\r\n0\r\n\r\n".to_vec();
        let end = input.len();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let (body, c, done) = decode_all(&input, 100).unwrap();
        assert_eq!(body, b"hi");
        assert_eq!(c, end);
        assert!(done);
        // Further calls consume nothing.
        let mut d = ChunkedDecoder::new(100);
        let mut out = [0u8; 16];
        d.decode(&input, &mut out).unwrap();
        assert_eq!(d.decode(&input[end..], &mut out).unwrap(), (0, 0));
    }

    #[test]
    fn empty_out_still_consumes_framing() {
        let mut d = ChunkedDecoder::new(100);
        let (c, w) = d.decode(b"3\r\nabc", &mut []).unwrap();
        assert_eq!((c, w), (3, 0));
        let mut out = [0u8; 3];
        assert_eq!(d.decode(b"abc\r\n0\r\n\r\n", &mut out).unwrap(), (10, 3));
        assert!(d.is_done());
    }

    #[test]
    fn invalid_inputs() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b";ext\r\n",
            b"-1\r\n",
            b"+1\r\n",
            b"0x1\r\n",
            b"3\r\nabcX",             // data not followed by CRLF
            b"3\r\nabc\rX",           // CR not followed by LF
            b"3\r\nabc\n0\r\n",       // bare LF after data
            b"3\nabc\r\n",            // bare LF after size
            b"3 \r\nabc\r\n",         // whitespace then CRLF (no extension)
            b"3;a\nabc",              // bare LF ending an extension
            b"3;a=\"x\r\n",           // CR inside a quoted string
            b"3;a\0\r\n",             // control char in extension
            b"11111111111111111\r\n", // 17 hex digits
            b"0\r\nX: y\n\r\n",       // bare LF in trailer
            b"0\r\n X: y\r\n\r\n",    // obs-fold / space in trailer
            b"0\r\nX y\r\n\r\n",      // no colon in trailer
            b"0\r\n\n",               // bare LF as the final line
            b"0\r\n\rX",
        ] {
            let e = decode_all(bad, u64::MAX).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(e.reason, "invalid chunked encoding");
        }
        // 16 hex digits is accepted syntactically (then hits the limit).
        let e = decode_all(b"ffffffffffffffff\r\n", 1000).unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        let (_, _, done) = decode_all(b"0000000000000000\r\n\r\n", 1000).unwrap();
        assert!(done);
    }

    #[test]
    fn body_limit() {
        let (body, _, done) = decode_all(b"5\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n", 10).unwrap();
        assert_eq!(body.len(), 10);
        assert!(done);
        let e = decode_all(b"5\r\nabcde\r\n6\r\nfghijk\r\n0\r\n\r\n", 10).unwrap_err();
        assert_eq!((e.status.as_u16(), e.reason), (413, "request body too large"));
        // Rejected as soon as the size line says so, before the data.
        let e = decode_all(b"b\r\n", 10).unwrap_err();
        assert_eq!(e.status.as_u16(), 413);
        // u64 overflow across chunks.
        let e = decode_all(b"ffffffffffffffff\r\n", u64::MAX).map(|_| ());
        assert!(e.is_ok());
        let mut d = ChunkedDecoder::new(u64::MAX);
        let mut out = [0u8; 4];
        d.decode(b"2\r\nab\r\n", &mut out).unwrap();
        let e = d.decode(b"ffffffffffffffff\r\n", &mut out).unwrap_err();
        assert_eq!(e.status.as_u16(), 413);
    }

    #[test]
    fn trailer_and_extension_limits() {
        let mut t = b"0\r\nX: ".to_vec();
        t.extend(std::iter::repeat_n(b'a', MAX_TRAILER_BYTES));
        t.extend_from_slice(b"\r\n\r\n");
        let e = decode_all(&t, 100).unwrap_err();
        assert_eq!(e.status.as_u16(), 431);
        let mut t = b"0\r\nX: ".to_vec();
        t.extend(std::iter::repeat_n(b'a', MAX_TRAILER_BYTES - 10));
        t.extend_from_slice(b"\r\n\r\n");
        assert!(decode_all(&t, 100).unwrap().2);

        // Extension bytes count toward the body limit: 10 of body, 1 + 92 of extensions.
        let mut x = b"5;".to_vec();
        x.extend(std::iter::repeat_n(b'e', 92));
        x.extend_from_slice(b"\r\nabcde\r\n5\r\nfghij\r\n0\r\n\r\n");
        assert_eq!(decode_all(&x, 103).unwrap().0, b"abcdefghij");
        let e = decode_all(&x, 102).unwrap_err();
        assert_eq!(e.status.as_u16(), 413, "{e:?}");
    }

    /// A chunk line with a long extension (quoted strings, escapes, 8-bit
    /// bytes), then data; the whole body.
    fn with_extension(ext_len: usize) -> (Vec<u8>, Vec<u8>) {
        let mut x = b"5 ; name=value;q=\"a;\\\"b\" ;x=".to_vec();
        x.extend((0..ext_len).map(|i| b"abc \t\xff~"[i % 7]));
        x.extend_from_slice(b";last=\"\xe9\"\r\nhello\r\n3;e\r\n, w\r\n0;end=\"x\"\r\n\r\n");
        (x, b"hello, w".to_vec())
    }

    #[test]
    fn an_extension_split_at_every_byte_is_skipped() {
        let (x, body) = with_extension(300);
        for out_size in [1, 5, 64] {
            for split in 0..=x.len() {
                let (got, c, done) = decode_split(&x, split, out_size).unwrap();
                assert_eq!((got.as_slice(), c, done), (body.as_slice(), x.len(), true), "split {split} out {out_size}");
            }
        }
    }

    #[test]
    fn a_megabyte_extension_is_skipped_in_constant_memory() {
        let (x, body) = with_extension(1 << 20);
        // Fed in pieces as a socket would deliver them.
        let mut d = ChunkedDecoder::new(16 << 20);
        let mut out = [0u8; 16];
        let mut got = Vec::new();
        for piece in x.chunks(4093) {
            let mut rest = piece;
            // Never more than a piece in hand: nothing is kept between calls.
            while !rest.is_empty() {
                let (c, w) = d.decode(rest, &mut out).unwrap();
                got.extend_from_slice(&out[..w]);
                rest = &rest[c..];
                assert!(c > 0 || w > 0 || d.is_done());
            }
        }
        assert!(d.is_done());
        assert_eq!(got, body);
        // Still strict inside it: a control byte, a bare LF, an unclosed quote.
        for bad in [&b"5;a\x01b\r\n"[..], b"5;a\nhello", b"5;a=\"b\r\nhello"] {
            let mut long = b"5;".to_vec();
            long.extend(std::iter::repeat_n(b'z', 100_000));
            long.extend_from_slice(&bad[2..]);
            assert_eq!(decode_all(&long, 16 << 20).unwrap_err(), INVALID, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn large_body_copies_in_bulk() {
        let data: Vec<u8> = (0..65536u32).map(|i| i as u8).collect();
        let mut enc = Vec::new();
        for c in data.chunks(4096) {
            encode_chunk(c, &mut enc);
        }
        enc.extend_from_slice(LAST_CHUNK);
        let (body, c, done) = decode_all(&enc, 1 << 20).unwrap();
        assert_eq!(body, data);
        assert_eq!(c, enc.len());
        assert!(done);
    }

    #[test]
    fn encoder() {
        let mut v = Vec::new();
        encode_chunk_header(0, &mut v);
        encode_chunk_header(1, &mut v);
        encode_chunk_header(255, &mut v);
        encode_chunk_header(4096, &mut v);
        encode_chunk_header(usize::MAX, &mut v);
        let mut expected = b"0\r\n1\r\nff\r\n1000\r\n".to_vec();
        expected.extend_from_slice(format!("{:x}\r\n", usize::MAX).as_bytes());
        assert_eq!(v, expected);
        let mut v = Vec::new();
        encode_chunk(b"", &mut v);
        assert!(v.is_empty());
        encode_chunk(b"hello", &mut v);
        assert_eq!(v, b"5\r\nhello\r\n");
    }

    #[test]
    fn no_panic_on_noise() {
        let alphabet = b"0123456789abcdefABCDEFxyz;=\"\\ \t\r\n:\0\x7f\xff";
        for v in super::super::noise(99, alphabet, 60, 20_000) {
            let mut d = ChunkedDecoder::new(1000);
            let mut out = [0u8; 7];
            let mut rest = &v[..];
            while let Ok((c, _)) = d.decode(rest, &mut out) {
                if c == 0 {
                    break;
                }
                rest = &rest[c..];
            }
        }
    }
}
