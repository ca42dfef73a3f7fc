//! A WebSocket whose peer goes quiet gives its protocol state back after a
//! second between messages and builds it again when the peer speaks: every
//! kind of quiet spell (between messages, inside a fragmented message,
//! inside a frame head, before a ping) must leave the conversation as it
//! was. Raw frames over a plain socket, against the demo's `/ws/echo`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::demo::Demo;

/// Longer than the server's quiet time before it gives the state back.
const QUIET: Duration = Duration::from_millis(1500);

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The next server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

fn connect(demo: &Demo) -> TcpStream {
    let mut s = TcpStream::connect(demo.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /ws/echo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

#[test]
fn a_websocket_that_goes_quiet_anywhere_carries_on_as_it_was() {
    let demo = Demo::start(&["--quiet"]);
    let mut s = connect(&demo);

    s.write_all(&frame(true, 0x1, b"first")).unwrap();
    assert_eq!(read_frame(&mut s), (0x1, b"first".to_vec()));

    // Quiet between messages.
    std::thread::sleep(QUIET);
    s.write_all(&frame(true, 0x2, b"after a quiet spell")).unwrap();
    assert_eq!(read_frame(&mut s), (0x2, b"after a quiet spell".to_vec()));

    // Quiet inside a fragmented message, with a ping between its fragments.
    s.write_all(&frame(false, 0x1, b"hel")).unwrap();
    std::thread::sleep(QUIET);
    s.write_all(&frame(true, 0x9, b"p")).unwrap();
    assert_eq!(read_frame(&mut s), (0xa, b"p".to_vec()));
    std::thread::sleep(QUIET);
    s.write_all(&frame(true, 0x0, b"lo")).unwrap();
    assert_eq!(read_frame(&mut s), (0x1, b"hello".to_vec()));

    // Quiet inside a frame head, then inside a payload.
    std::thread::sleep(QUIET);
    let f = frame(true, 0x1, b"split frame");
    s.write_all(&f[..3]).unwrap();
    std::thread::sleep(QUIET);
    s.write_all(&f[3..10]).unwrap();
    std::thread::sleep(QUIET);
    s.write_all(&f[10..]).unwrap();
    assert_eq!(read_frame(&mut s), (0x1, b"split frame".to_vec()));

    // Quiet, then a ping first.
    std::thread::sleep(QUIET);
    s.write_all(&frame(true, 0x9, b"hi")).unwrap();
    assert_eq!(read_frame(&mut s), (0xa, b"hi".to_vec()));
    s.write_all(&frame(true, 0x1, b"last")).unwrap();
    assert_eq!(read_frame(&mut s), (0x1, b"last".to_vec()));

    // The close handshake still works.
    s.write_all(&frame(true, 0x8, &1000u16.to_be_bytes())).unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!((op, &payload[..2]), (0x8, &1000u16.to_be_bytes()[..]));
}
