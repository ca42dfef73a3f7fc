//! [`BodyDecoder`]: one decoder of message bodies for both roles (a
//! server reading a request body, a client reading a response body), over
//! bytes the caller has read. No I/O: the caller reads, the decoder says
//! what of it is body and when the body ends.

use super::chunked::ChunkedDecoder;
use super::head::{BodyFraming, ParseError};

/// Where a message body stands, as its framing says: how many bytes are
/// left of a `Content-Length` body, the chunked decoder's state, or a body
/// that runs until the connection closes.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    /// Complete (or there was none).
    Done,
    /// `Content-Length` bytes still to come (never 0: that is `Done`).
    Length(u64),
    /// Chunked, mid-way.
    Chunked(Box<ChunkedDecoder>),
    /// Until the peer closes the connection.
    UntilClose,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`; a chunked body whose
    /// chunks add up to more than `max_chunked_body` bytes fails with 413.
    pub fn new(framing: BodyFraming, max_chunked_body: u64) -> BodyDecoder {
        let state = match framing {
            BodyFraming::None | BodyFraming::Length(0) => State::Done,
            BodyFraming::Length(n) => State::Length(n),
            BodyFraming::Chunked => State::Chunked(Box::new(ChunkedDecoder::new(max_chunked_body))),
            BodyFraming::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    /// A decoder of a body that is already complete (or absent).
    pub const fn done() -> BodyDecoder {
        BodyDecoder { state: State::Done }
    }

    /// Whether the body is complete: nothing more of it will come.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Body bytes still to come, when the framing says: `Some(0)` for a
    /// complete body, the rest of a `Content-Length` body; `None` for a
    /// chunked body mid-way and a body that runs until close.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Done => Some(0),
            State::Length(n) => Some(n),
            State::Chunked(_) | State::UntilClose => None,
        }
    }

    /// Decodes what it can of `input` (bytes received after the head, or
    /// after what an earlier call consumed), copying body bytes into `out`.
    /// Returns `(input bytes consumed, body bytes written to out)`. Bytes
    /// after the end of the body (the next pipelined message) are never
    /// consumed. With `out` empty, framing bytes may still be consumed.
    /// After an error the body's end is unknown: the connection cannot be
    /// reused, and the decoder must not be used again.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), ParseError> {
        match &mut self.state {
            State::Done => Ok((0, 0)),
            State::Length(remaining) => {
                let n = (*remaining).min(input.len().min(out.len()) as u64) as usize;
                out[..n].copy_from_slice(&input[..n]);
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.state = State::Done;
                }
                Ok((n, n))
            }
            State::Chunked(decoder) => {
                let result = decoder.decode(input, out)?;
                if decoder.is_done() {
                    self.state = State::Done;
                }
                Ok(result)
            }
            State::UntilClose => {
                let n = input.len().min(out.len());
                out[..n].copy_from_slice(&input[..n]);
                Ok((n, n))
            }
        }
    }

    /// How many bytes the caller may read from the connection straight into
    /// its own buffer of `room` bytes, bypassing decoding (when nothing is
    /// buffered): all of a body's rest up to `room` when it has no framing
    /// bytes in it (`Content-Length`, until close); 0 when it has (chunked)
    /// or is complete. Report what was read with [`advance`](Self::advance).
    pub fn direct_limit(&self, room: usize) -> usize {
        match self.state {
            State::Length(remaining) => remaining.min(room as u64) as usize,
            State::UntilClose => room,
            State::Done | State::Chunked(_) => 0,
        }
    }

    /// Counts `n` body bytes the caller read directly (at most
    /// [`direct_limit`](Self::direct_limit)).
    pub fn advance(&mut self, n: usize) {
        if let State::Length(remaining) = &mut self.state {
            *remaining = remaining.saturating_sub(n as u64);
            if *remaining == 0 {
                self.state = State::Done;
            }
        }
    }

    /// The peer closed the connection: true if that is where the body ends
    /// (it ran until close, or was complete already), and the body is then
    /// complete; false if the body was cut short (the state is left as it
    /// was, for the caller's error message).
    pub fn end_at_close(&mut self) -> bool {
        match self.state {
            State::Done => true,
            State::UntilClose => {
                self.state = State::Done;
                true
            }
            State::Length(_) | State::Chunked(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes into `out` pieces of `room` bytes.
    fn decode_all(mut d: BodyDecoder, wire: &[u8], step: usize, room: usize) -> (Vec<u8>, usize) {
        let mut body = Vec::new();
        let mut pos = 0;
        let mut avail = 0;
        while !d.is_done() && pos < wire.len() {
            avail = (avail + step).min(wire.len());
            let mut out = vec![0u8; room];
            let (used, wrote) = d.decode(&wire[pos..avail], &mut out).unwrap();
            body.extend_from_slice(&out[..wrote]);
            pos += used;
        }
        (body, pos)
    }

    #[test]
    fn a_length_body_stops_at_its_length_and_leaves_the_next_message() {
        let wire = b"helloGET / HTTP/1.1\r\n";
        for step in 1..8 {
            for room in 1..8 {
                let (body, used) = decode_all(BodyDecoder::new(BodyFraming::Length(5), 0), wire, step, room);
                assert_eq!(body, b"hello");
                assert_eq!(used, 5, "step {step} room {room}");
            }
        }
    }

    #[test]
    fn a_chunked_body_is_decoded_in_pieces_of_any_size() {
        let wire = b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nNEXT";
        for step in 1..6 {
            for room in 1..5 {
                let (body, used) = decode_all(BodyDecoder::new(BodyFraming::Chunked, 100), wire, step, room);
                assert_eq!(body, b"abcde");
                assert_eq!(used, wire.len() - 4, "step {step} room {room}");
            }
        }
    }

    #[test]
    fn chunks_over_the_limit_fail_with_413() {
        let mut d = BodyDecoder::new(BodyFraming::Chunked, 3);
        let e = d.decode(b"4\r\nabcd\r\n", &mut [0u8; 16]).unwrap_err();
        assert_eq!(e.status, http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn direct_reads_count_toward_the_length_and_only_where_there_is_no_framing() {
        let mut d = BodyDecoder::new(BodyFraming::Length(10), 0);
        assert_eq!(d.direct_limit(4), 4);
        d.advance(4);
        assert_eq!(d.remaining(), Some(6));
        assert_eq!(d.direct_limit(100), 6);
        d.advance(6);
        assert!(d.is_done());
        assert_eq!(d.direct_limit(100), 0);
        assert_eq!(BodyDecoder::new(BodyFraming::Chunked, 10).direct_limit(100), 0);
        assert_eq!(BodyDecoder::new(BodyFraming::UntilClose, 0).direct_limit(100), 100);
    }

    #[test]
    fn only_a_close_delimited_or_complete_body_ends_at_close() {
        let mut d = BodyDecoder::new(BodyFraming::UntilClose, 0);
        assert_eq!(d.remaining(), None);
        assert!(d.end_at_close());
        assert!(d.is_done());
        assert!(BodyDecoder::new(BodyFraming::None, 0).end_at_close());
        let mut d = BodyDecoder::new(BodyFraming::Length(3), 0);
        assert!(!d.end_at_close());
        assert_eq!(d.remaining(), Some(3), "state kept for the error message");
        assert!(!BodyDecoder::new(BodyFraming::Chunked, 10).end_at_close());
    }
}
