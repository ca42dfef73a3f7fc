//! What the `Compression` middleware costs per response: a 16 KiB JSON
//! body through the middleware in each coding, beside the same response
//! left as it is (`identity`). Criterion's throughput line gives MB/s of
//! input.
//!
//! Run: `cargo bench --bench compression`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use greenloop::http::middleware::Compression;
use greenloop::http::{App, Body, HeaderValue, IntoResponse, Request, header};

/// 16 KiB of JSON rows with varied values (what an API list endpoint sends).
fn json_body() -> String {
    let mut s = String::from("[");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    while s.len() < 16 * 1024 - 120 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(&format!(
            "{{\"id\":{},\"name\":\"user {}\",\"email\":\"u{}@example.com\",\"score\":{},\"active\":{}}},",
            x % 100_000,
            x >> 40,
            x % 9973,
            x % 1000,
            x.is_multiple_of(2)
        ));
    }
    s.pop();
    s.push(']');
    s
}

fn bench_compression(c: &mut Criterion) {
    let body = json_body();
    let len = body.len();
    let app = App::new(move |_req: Request| {
        let mut r = body.clone().into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    })
    .wrap(Compression::new());
    let mut g = c.benchmark_group("compress_16k_json");
    g.throughput(Throughput::Bytes(len as u64));
    for accept in ["identity", "gzip", "br", "zstd"] {
        let out = app.call(request(accept));
        let size = out.body().len().unwrap_or(0);
        eprintln!("{accept}: {len} bytes -> {size} bytes");
        g.bench_function(accept, |b| b.iter(|| black_box(app.call(request(accept)))));
    }
    g.finish();
}

fn request(accept: &str) -> Request {
    Request::builder().uri("/api/rows").header("accept-encoding", accept).body(Body::empty()).unwrap()
}

criterion_group!(benches, bench_compression);
criterion_main!(benches);
