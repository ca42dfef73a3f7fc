//! Where a WebSocket's incoming bytes stand in the frame sequence: at a
//! boundary between messages, or inside a frame or a fragmented message.
//!
//! The bytes are tungstenite's input, watched on their way to it; knowing
//! that they end between two messages is what lets a quiet socket give
//! tungstenite's state back (see `WebSocket::doze`). Only the frame heads
//! are looked at: payloads are counted, never copied.

/// The longest frame head: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEAD: usize = 14;

/// The position of a WebSocket's input in its frames.
#[derive(Default)]
pub(super) struct Frames {
    /// The bytes of a frame head received so far.
    head: [u8; MAX_HEAD],
    head_len: usize,
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// A data frame without FIN came, and its message's last frame has not.
    fragmented: bool,
}

impl Frames {
    /// Takes note of `bytes`, the next ones of the input.
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = bytes.len().min(usize::try_from(self.payload_left).unwrap_or(usize::MAX));
                self.payload_left -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.head[self.head_len] = bytes[0];
            self.head_len += 1;
            bytes = &bytes[1..];
            if self.head_len >= 2 && self.head_len == self.head_size() {
                self.head_done();
            }
        }
    }

    /// Whether the input so far ends between two messages.
    pub(super) fn between_messages(&self) -> bool {
        self.head_len == 0 && self.payload_left == 0 && !self.fragmented
    }

    /// The size of the head being received (its first two bytes are in).
    fn head_size(&self) -> usize {
        let length = match self.head[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.head[1] & 0x80 != 0 { 4 } else { 0 };
        2 + length + mask
    }

    /// A whole head is in: its payload comes next.
    fn head_done(&mut self) {
        let h = &self.head;
        self.payload_left = match h[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([h[2], h[3]])),
            127 => u64::from_be_bytes([h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9]]),
            n => u64::from(n),
        };
        let fin = h[0] & 0x80 != 0;
        // Data frames (continuation, text, binary) make up messages;
        // control frames (0x8 and above) may come between their fragments.
        if h[0] & 0x0f < 0x8 {
            self.fragmented = !fin;
        }
        self.head_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked frame with `payload` (the mask is zero: the bytes are the payload).
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn whole_messages_end_between_messages_and_every_cut_inside_one_does_not() {
        let mut input = frame(true, 0x1, b"hello");
        input.extend(frame(true, 0x2, &[7; 300]));
        input.extend(frame(true, 0x2, &vec![1; 70_000]));
        input.extend(frame(true, 0x9, b""));
        let ends: Vec<usize> = {
            let mut at = 0;
            [5 + 6, 300 + 8, 70_000 + 14, 6]
                .iter()
                .map(|n| {
                    at += n;
                    at
                })
                .collect()
        };
        assert_eq!(*ends.last().unwrap(), input.len());
        for cut in [1, 2, 3, 6, 10, 11, 12, 100, 318, 319, 330, 1000, 70_000, input.len() - 1, input.len()] {
            let mut f = Frames::default();
            // In two reads, the second one cut anywhere.
            f.feed(&input[..cut / 2]);
            f.feed(&input[cut / 2..cut]);
            assert_eq!(f.between_messages(), ends.contains(&cut), "cut after {cut} bytes");
        }
    }

    #[test]
    fn a_fragmented_message_is_under_way_until_its_last_fragment_even_across_a_ping() {
        let mut f = Frames::default();
        f.feed(&frame(false, 0x1, b"hel"));
        assert!(!f.between_messages());
        f.feed(&frame(true, 0x9, b"ping"));
        assert!(!f.between_messages());
        f.feed(&frame(false, 0x0, b"l"));
        assert!(!f.between_messages());
        f.feed(&frame(true, 0x0, b"o"));
        assert!(f.between_messages());
    }

    #[test]
    fn a_head_arriving_byte_by_byte_is_still_read() {
        let input = frame(true, 0x2, &[9; 200]);
        let mut f = Frames::default();
        for b in &input[..input.len() - 1] {
            f.feed(std::slice::from_ref(b));
            assert!(!f.between_messages());
        }
        f.feed(&input[input.len() - 1..]);
        assert!(f.between_messages());
    }
}
