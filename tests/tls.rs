//! HTTPS served and fetched, against real peers: curl, `openssl s_client`,
//! Python's `ssl` module, and greenloop's own client; a TLS stream read and
//! written at once from two green threads; bad peers on the TLS port.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream as StdTcp;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use greenloop::http::tls::{ServerTls, TlsStream};
use greenloop::http::{Client, Limits, Request, RequestExt, RunningServer, Server};
use support::certs::TestCerts;

fn hello(req: Request) -> String {
    format!("hello over tls from port {}\n", req.peer_addr().map_or(0, |a| a.port()))
}

fn start(certs: &TestCerts, limits: Limits) -> RunningServer {
    let tls = ServerTls::from_pem_files(&certs.cert_path, &certs.key_path).unwrap();
    Server::bind("127.0.0.1:0").tls(tls).limits(limits).handle_signals(false).start(hello).unwrap()
}

#[test]
fn curl_verifies_and_reuses_the_connection() {
    let certs = TestCerts::new();
    let server = start(&certs, Limits::default());
    let port = server.local_addr().unwrap().port();
    let url = format!("https://localhost:{port}/");
    let out = Command::new("curl")
        .args(["-sS", "-v", "--http1.1", "--cacert"])
        .arg(&certs.ca_path)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1"), &url, &url])
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(stdout.matches("hello over tls").count(), 2, "{stdout}");
    assert!(stderr.contains("ALPN: server accepted http/1.1"), "{stderr}");
    // The second request went over the first connection.
    let ports: Vec<&str> = stdout.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(ports[0], ports[1], "two connections: {stdout}");
    // Without the CA, curl refuses the certificate.
    let out = Command::new("curl")
        .args(["-sS", "--resolve", &format!("localhost:{port}:127.0.0.1"), &url])
        .env("SSL_CERT_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    server.stop().unwrap();
}

#[test]
fn openssl_s_client_negotiates_http11() {
    let certs = TestCerts::new();
    let server = start(&certs, Limits::default());
    let port = server.local_addr().unwrap().port();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost", "-alpn", "http/1.1"])
        .arg("-CAfile")
        .arg(&certs.ca_path)
        .args(["-verify_return_error", "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child.stdin.take().unwrap().write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    assert!(stdout.contains("ALPN protocol: http/1.1"), "{stdout}");
    assert!(stdout.contains("HTTP/1.1 200 OK") && stdout.contains("hello over tls"), "{stdout}");
    server.stop().unwrap();
}

#[test]
fn python_ssl_client_keeps_alive() {
    let certs = TestCerts::new();
    // Between its requests the client pauses past `idle_stackless_after`:
    // the TLS connection sleeps without its green thread and wakes for each.
    let limits = Limits { idle_stackless_after: Some(Duration::from_millis(20)), ..Limits::default() };
    let server = start(&certs, limits);
    let port = server.local_addr().unwrap().port();
    let script = r#"
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", port)) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "http/1.1", s.selected_alpn_protocol()
        f = s.makefile("rb")
        for i in range(3):
            time.sleep(0.2 * i)
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status = f.readline()
            assert status.startswith(b"HTTP/1.1 200"), status
            length = 0
            while True:
                line = f.readline()
                if line == b"\r\n":
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = f.read(length)
            assert body.startswith(b"hello over tls"), body
        print("ok", s.version())
"#;
    let out = Command::new("python3").args(["-c", script, &port.to_string()]).arg(&certs.ca_path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("ok TLSv1.3"), "{stdout}");
    server.stop().unwrap();
}

#[test]
fn greenloop_client_verifies_pools_and_refuses_unknown_cas() {
    let certs = TestCerts::new();
    let server = start(&certs, Limits::default());
    let port = server.local_addr().unwrap().port();
    let ca = certs.ca_pem.clone();
    greenloop::run(move || {
        let client = Client::builder().add_root_certificate(ca.as_bytes()).unwrap().build();
        let url = format!("https://localhost:{port}/");
        let a = client.get(&url).send().unwrap().text(1024).unwrap();
        let b = client.get(&url).send().unwrap().text(1024).unwrap();
        assert!(a.starts_with("hello over tls"), "{a}");
        assert_eq!(a, b, "the pooled TLS connection was not reused");
        assert_eq!(client.idle_connections(), 1);
        // By IP address: the certificate names 127.0.0.1 too.
        let c = client.get(format!("https://127.0.0.1:{port}/")).send().unwrap().text(1024).unwrap();
        assert!(c.starts_with("hello over tls"));
        // A plain http:// request to the same port is a different pool entry and fails.
        assert!(client.get(format!("http://localhost:{port}/")).send().is_err());

        let strict = Client::new();
        let err = strict.get(&url).send().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("certificate") && msg.contains("UnknownIssuer"), "{msg}");
    });
    assert!(Client::builder().add_root_certificate(b"not a pem").is_err());
    server.stop().unwrap();
}

#[test]
fn plain_http_garbage_and_truncated_hellos_are_closed_and_harm_nobody() {
    let certs = TestCerts::new();
    let limits = Limits { header_timeout: Duration::from_secs(1), ..Limits::default() };
    let server = start(&certs, limits);
    let addr = server.local_addr().unwrap();
    let closed_within = |bytes: &[u8]| {
        let mut s = StdTcp::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        let t = Instant::now();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        (t.elapsed(), sink)
    };
    let (took, _) = closed_within(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(took < Duration::from_secs(2), "plain HTTP held {took:?}");
    let (took, _) = closed_within(&[0x55; 300]);
    assert!(took < Duration::from_secs(2), "garbage held {took:?}");
    // A ClientHello cut short: closed by the handshake deadline (the header timeout).
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut s = StdTcp::connect(addr).unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]).unwrap();
        idle.push(s);
    }
    // Meanwhile a real client is served at once.
    let ca = certs.ca_pem.clone();
    let t = Instant::now();
    greenloop::run(move || {
        let client = Client::builder().add_root_certificate(ca.as_bytes()).unwrap().build();
        let body = client.get(format!("https://localhost:{}/", addr.port())).send().unwrap().text(1024).unwrap();
        assert!(body.starts_with("hello over tls"));
    });
    assert!(t.elapsed() < Duration::from_millis(900), "served in {:?}", t.elapsed());
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        assert!(t.elapsed() < Duration::from_secs(5), "a truncated hello was held {:?}", t.elapsed());
    }
    server.stop().unwrap();
}

/// Both ends write 8 MiB while they read 8 MiB, each direction on its own
/// green thread over one `TlsStream`: a stream that read by first flushing
/// (or held its state across a park) would stall with both send buffers full.
#[test]
fn full_duplex_large_transfers_both_ways_at_once() {
    const N: usize = 8 * 1024 * 1024;
    let certs = TestCerts::new();
    let tls = ServerTls::from_pem(certs.cert_pem.as_bytes(), certs.key_pem.as_bytes()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        greenloop::run(move || {
            let l = greenloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            let (sock, _) = l.accept().unwrap();
            let s = std::rc::Rc::new(TlsStream::accept(sock, tls.config().clone(), None).unwrap());
            duplex(s, 7)
        })
    });
    let addr = rx.recv().unwrap();
    let ca = certs.ca_pem.clone();
    let client_got = greenloop::run(move || {
        let sock = greenloop::net::TcpStream::connect(addr).unwrap();
        let mut roots = greenloop::http::tls::rustls::RootCertStore::empty();
        for c in rustls_pem_certs(&ca) {
            roots.add(c).unwrap();
        }
        // ring's provider, as the server's (deprecated in rustls 0.23.48 only
        // for its lack of post-quantum key exchange).
        #[allow(deprecated)]
        let provider = greenloop::http::tls::rustls::crypto::ring::default_provider();
        let config = greenloop::http::tls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = "localhost".try_into().unwrap();
        let s = TlsStream::connect(sock, std::sync::Arc::new(config), name, None).unwrap();
        duplex(std::rc::Rc::new(s), 3)
    });
    let server_got = server.join().unwrap();
    assert_eq!(client_got, (N, checksum(7)));
    assert_eq!(server_got, (N, checksum(3)));

    fn pattern(seed: u8, i: usize) -> u8 {
        (i as u8).wrapping_mul(31).wrapping_add(seed)
    }
    fn checksum(seed: u8) -> u64 {
        (0..N).map(|i| pattern(seed, i) as u64).sum()
    }
    /// Writes N bytes of the pattern `seed` on one green thread while this
    /// one reads the peer's N; returns what was read and its checksum.
    fn duplex(s: std::rc::Rc<TlsStream>, seed: u8) -> (usize, u64) {
        let w = s.clone();
        let writer = greenloop::spawn(move || {
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| pattern(seed, i)).collect();
            let mut sent = 0;
            while sent < N {
                (&*w).write_all(&chunk).unwrap();
                sent += chunk.len();
            }
        });
        let mut buf = vec![0u8; 64 * 1024];
        let (mut got, mut sum) = (0usize, 0u64);
        while got < N {
            let n = (&*s).read(&mut buf).unwrap();
            assert!(n > 0, "EOF after {got} bytes");
            sum += buf[..n].iter().map(|&b| b as u64).sum::<u64>();
            got += n;
        }
        writer.join().unwrap();
        (got, sum)
    }
}

fn rustls_pem_certs(pem: &str) -> Vec<greenloop::http::tls::rustls::pki_types::CertificateDer<'static>> {
    use greenloop::http::tls::rustls::pki_types::pem::PemObject;
    greenloop::http::tls::rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(Result::unwrap)
        .collect()
}

/// The demo as a user runs it: `--tls-cert`/`--tls-key` to serve HTTPS, and
/// a second demo calling it through `--upstream https://... --upstream-ca`.
#[test]
fn demo_serves_https_and_calls_an_https_upstream() {
    use support::demo::Demo;
    let certs = TestCerts::new();
    let (cert, key, ca) =
        (certs.cert_path.to_str().unwrap(), certs.key_path.to_str().unwrap(), certs.ca_path.to_str().unwrap());
    let https = Demo::start(&["--tls-cert", cert, "--tls-key", key, "--upstream-ca", ca, "--quiet"]);
    let port = https.addr().port();
    let out = Command::new("curl")
        .args(["-sS", "--cacert", ca, "--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/api/aggregated/?num=3"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("3 calls to https://localhost:") && !body.contains("error"), "{body}");
    let upstream = format!("https://localhost:{port}");
    let plain = Demo::start(&["--upstream", &upstream, "--upstream-ca", ca, "--quiet"]);
    let (status, body) = plain.get("/api/aggregated/?num=2");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"task_id\":\"1\""), "{body}");
    // Without the CA the upstream's certificate is refused: verification is never off.
    let strict = Demo::start(&["--upstream", &upstream, "--quiet"]);
    let (_, body) = strict.get("/api/aggregated/?num=1");
    assert!(body.contains("invalid peer certificate"), "{body}");
    let out = Command::new(support::demo::BIN).args(["--tls-cert", cert]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("go together"));
}
