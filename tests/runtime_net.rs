//! The runtime's green sockets over real loopback: TCP and Unix echo, and a
//! transfer large enough to park on full socket buffers.

use std::io::{BufRead, BufReader, Read, Write};

use greenloop::net::{TcpListener, TcpStream, UnixListener, UnixStream};

#[test]
fn tcp_echo_between_green_client_and_server() {
    greenloop::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = greenloop::spawn(move || {
            let mut served = 0;
            for _ in 0..20 {
                let (stream, _) = listener.accept().unwrap();
                greenloop::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap() > 0 {
                        (&stream).write_all(line.as_bytes()).unwrap();
                        line.clear();
                    }
                });
                served += 1;
            }
            served
        });
        let clients = (0..20).map(|c| {
            move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(&stream);
                for i in 0..50 {
                    let msg = format!("client {c} line {i}\n");
                    (&stream).write_all(msg.as_bytes()).unwrap();
                    let mut back = String::new();
                    reader.read_line(&mut back).unwrap();
                    assert_eq!(back, msg);
                }
            }
        });
        greenloop::join_all(clients);
        assert_eq!(server.join().unwrap(), 20);
    });
}

#[test]
fn large_transfer_parks_on_full_socket_buffers() {
    greenloop::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let payload: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let writer = greenloop::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&payload).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut s = TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got == expected, "payload corrupted");
        writer.join().unwrap();
    });
}

#[test]
fn unix_socket_echo() {
    let dir = std::env::temp_dir().join(format!("greenloop-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let p = path.clone();
    greenloop::run(move || {
        let listener = UnixListener::bind(&p).unwrap();
        let server = greenloop::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = UnixStream::connect(&p).unwrap();
        for i in 0..100 {
            let msg = format!("hello {i}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, msg.as_bytes());
        }
        drop(c);
        server.join().unwrap();

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"pair").unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pair");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
