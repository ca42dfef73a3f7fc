//! Micro-benchmarks for the HTTP/1.1 codec hot paths.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use greenloop::http::codec::{
    ChunkedDecoder, CodecLimits, DateCache, LAST_CHUNK, OutgoingBody, ResponseOptions, encode_chunk, parse_request,
    write_response_head,
};
use http::{HeaderMap, HeaderValue, StatusCode, Version, header};

/// What wrk sends by default.
const WRK_GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// A more browser-like head (TechEmpower style).
const TFB_GET: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: server\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Gecko/20130501 Firefox/30.0 AppleWebKit/600.00 Chrome/30.0.0000.0 Trident/10.0 Safari/600.00\r\nCookie: uid=12345678901234567890; __utma=1.1234567890.1234567890.1234567890.1234567890.12; wd=2560x1600\r\nAccept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\nAccept-Language: en-US,en;q=0.5\r\nConnection: keep-alive\r\n\r\n";

fn bench_parse(c: &mut Criterion) {
    let limits = CodecLimits::default();
    let mut g = c.benchmark_group("parse_request");
    for (name, req) in [("wrk_get", WRK_GET), ("tfb_get", TFB_GET)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = parse_request(black_box(req), &limits);
                black_box(r.map(|o| o.map(|(h, n)| (h.keep_alive, n)))).ok();
            })
        });
        // And the owned types built from it, as a handler calling
        // `uri()` and `headers()` makes them.
        g.bench_function(format!("{name}_owned"), |b| {
            b.iter(|| {
                let (h, _) = parse_request(black_box(req), &limits).unwrap().unwrap();
                black_box((h.uri(), h.headers()));
            })
        });
    }
    // Baseline: httparse alone (no http types built), for comparison.
    g.bench_function("httparse_only_wrk_get", |b| {
        b.iter(|| {
            let mut hs = [httparse::EMPTY_HEADER; 16];
            let mut r = httparse::Request::new(&mut hs);
            black_box(r.parse(black_box(WRK_GET)).ok());
        })
    });
    g.finish();
}

fn bench_write(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    let mut dates = DateCache::new();
    let mut out = Vec::with_capacity(4096);
    c.bench_function("write_response_head/plaintext_200", |b| {
        b.iter(|| {
            out.clear();
            let date = dates.get(SystemTime::now());
            let opts = ResponseOptions {
                request_version: Version::HTTP_11,
                is_head: false,
                keep_alive: true,
                date,
                server: b"greenloop",
            };
            let w = write_response_head(StatusCode::OK, black_box(&headers), OutgoingBody::Length(13), &opts, &mut out);
            black_box((&out, w));
        })
    });
    // Same without the clock read, to isolate serialisation.
    let date = *dates.get(SystemTime::now());
    c.bench_function("write_response_head/plaintext_200_no_clock", |b| {
        b.iter(|| {
            out.clear();
            let opts = ResponseOptions {
                request_version: Version::HTTP_11,
                is_head: false,
                keep_alive: true,
                date: &date,
                server: b"greenloop",
            };
            let w = write_response_head(StatusCode::OK, black_box(&headers), OutgoingBody::Length(13), &opts, &mut out);
            black_box((&out, w));
        })
    });
}

fn bench_chunked(c: &mut Criterion) {
    let data: Vec<u8> = (0..64 * 1024u32).map(|i| i as u8).collect();
    let mut enc = Vec::new();
    for chunk in data.chunks(8192) {
        encode_chunk(chunk, &mut enc);
    }
    enc.extend_from_slice(LAST_CHUNK);
    let mut out = vec![0u8; 16 * 1024];
    let mut g = c.benchmark_group("chunked_decode");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("64KiB_8KiB_chunks_16KiB_out", |b| {
        b.iter(|| {
            let mut d = ChunkedDecoder::new(1 << 20);
            let mut input = black_box(&enc[..]);
            let mut total = 0;
            while !d.is_done() {
                let (c, w) = d.decode(input, &mut out).unwrap();
                input = &input[c..];
                total += w;
            }
            black_box(total)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_parse, bench_write, bench_chunked);
criterion_main!(benches);
