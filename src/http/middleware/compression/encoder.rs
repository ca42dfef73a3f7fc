//! The three encoders behind one `Write`, at levels chosen for speed, and
//! the two ways a body goes through them: at once (a small body known up
//! front) or as a stream that yields to the loop between slices.

use std::io::{self, BufWriter, Write};
use std::time::{Duration, Instant};

use crate::http::accept_encoding::Coding;
use crate::http::response::Kind;

/// gzip level 6: zlib's default, what nginx's `gzip_comp_level` users pick.
const GZIP_LEVEL: u32 = 6;
/// Brotli quality 4: about gzip 6's speed with a better ratio (11, the
/// maximum, is for files compressed once, ahead of time).
const BROTLI_QUALITY: u32 = 4;
/// The window of streamed bodies: 64 KiB (2^16), for brotli and zstd.
/// Brotli entropy-codes a meta-block of twice its window in one go; with
/// 2^16 that is about a millisecond of work, which keeps the pauses of
/// [`TIME_SLICE`] possible. A smaller window also means less memory per
/// stream (their hash tables are most of it, though).
const STREAM_WINDOW: u32 = 16;
/// zstd level 3: its default, faster than gzip 6 with a better ratio.
const ZSTD_LEVEL: i32 = 3;
/// Compressed output is gathered into pieces this large before it is
/// written (each write of the server's chunked writer is one chunk).
const OUT_PIECE: usize = 16 * 1024;
/// A streamed body is fed to the encoder this much at a time (a fraction
/// of a millisecond of work at these levels; zstd, which works in 128 KiB
/// blocks, takes a little more now and then).
const SLICE: usize = 16 * 1024;
/// After this much compressing since its last pause, a stream lets the
/// loop poll for I/O and run every other green thread before it goes on:
/// other connections wait at most about this long, and the watchdog (20 ms)
/// stays quiet.
const TIME_SLICE: Duration = Duration::from_millis(2);

/// One encoder writing into `W`.
enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Br(Box<brotli::CompressorWriter<Recorded<W>>>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// `window`: log2 of the window brotli and zstd keep (gzip's is fixed at 32 KiB).
    fn new(coding: Coding, w: W, window: u32) -> io::Result<Encoder<W>> {
        Ok(match coding {
            Coding::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(w, flate2::Compression::new(GZIP_LEVEL))),
            Coding::Br => Encoder::Br(Box::new(brotli::CompressorWriter::new(
                Recorded { w, error: None },
                OUT_PIECE,
                BROTLI_QUALITY,
                window,
            ))),
            Coding::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(w, ZSTD_LEVEL)?;
                // The same window as brotli's streams (level 3's own is 2 MiB): memory per stream.
                e.window_log(window)?;
                Encoder::Zstd(e)
            }
        })
    }

    /// Ends the compressed stream and gives the writer back.
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Br(e) => {
                // `into_inner` writes the end of the stream but drops an
                // error doing so; `Recorded` kept it.
                let Recorded { w, error } = e.into_inner();
                error.map_or(Ok(w), Err)
            }
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(data),
            Encoder::Br(e) => e.write(data),
            Encoder::Zstd(e) => e.write(data),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Br(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// A writer that remembers its first error (brotli's `into_inner` would
/// lose it).
struct Recorded<W> {
    w: W,
    error: Option<io::Error>,
}

impl<W: Write> Write for Recorded<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.w.write(data).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// `data` compressed at once (a body small enough to hold twice).
pub(super) fn compress_bytes(coding: Coding, data: &[u8]) -> io::Result<Vec<u8>> {
    if coding == Coding::Zstd {
        // One-shot: zstd sizes its tables to the input, and the context is kept per thread.
        thread_local! {
            static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> = const { std::cell::RefCell::new(None) };
        }
        return ZSTD.with(|z| {
            let mut z = z.borrow_mut();
            if z.is_none() {
                *z = Some(zstd::bulk::Compressor::new(ZSTD_LEVEL)?);
            }
            z.as_mut().map_or_else(|| Err(io::Error::other("zstd context")), |c| c.compress(data))
        });
    }
    // Brotli's window only as large as the body needs (less memory).
    let window = (usize::BITS - data.len().max(1024).leading_zeros()).clamp(10, STREAM_WINDOW);
    let mut enc = Encoder::new(coding, Vec::with_capacity(data.len() / 3 + 64), window)?;
    enc.write_all(data)?;
    enc.finish()
}

/// Writes the body `kind` into `w` compressed: in slices of [`SLICE`]
/// bytes, yielding to the loop between them, and in output pieces of
/// [`OUT_PIECE`] bytes (what is in memory per stream: the encoder's
/// state, one input slice, one output piece).
pub(super) fn compress_stream(coding: Coding, kind: Kind, w: &mut dyn Write) -> io::Result<()> {
    let out = BufWriter::with_capacity(OUT_PIECE, w);
    let mut enc = Encoder::new(coding, out, STREAM_WINDOW)?;
    kind.write_to(&mut Sliced { enc: &mut enc, since_pause: Instant::now() })?;
    enc.finish()?.flush()
}

/// Feeds an encoder at most [`SLICE`] bytes at a time, pausing every
/// [`TIME_SLICE`] of work.
struct Sliced<'a, W: Write> {
    enc: &'a mut Encoder<W>,
    since_pause: Instant,
}

impl<W: Write> Write for Sliced<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.since_pause.elapsed() >= TIME_SLICE {
            // A zero sleep, not `yield_now`: a yield only lets the green
            // threads already queued run (the loop polls for I/O every few
            // dozen switches), while a timer fires after the next poll, so
            // a request that arrived meanwhile is read and answered first.
            crate::sleep(Duration::ZERO);
            self.since_pause = Instant::now();
        }
        self.enc.write(&data[..data.len().min(SLICE)])
    }
    fn flush(&mut self) -> io::Result<()> {
        self.enc.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"{\"id\":12,\"name\":\"greenloop\"},"[i % 29]).collect()
    }

    fn decode(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match coding {
            Coding::Gzip => flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap(),
            Coding::Br => brotli::Decompressor::new(data, 4096).read_to_end(&mut out).unwrap(),
            Coding::Zstd => zstd::stream::read::Decoder::new(data).unwrap().read_to_end(&mut out).unwrap(),
        };
        out
    }

    #[test]
    fn round_trips() {
        for coding in [Coding::Gzip, Coding::Br, Coding::Zstd] {
            let body = sample(20_000);
            let small = compress_bytes(coding, &body).unwrap();
            assert!(small.len() < body.len() / 4, "{coding:?}: {}", small.len());
            assert_eq!(decode(coding, &small), body);
            let big = sample(300_000);
            let mut streamed = Vec::new();
            compress_stream(coding, Kind::Bytes(big.clone().into()), &mut streamed).unwrap();
            assert_eq!(decode(coding, &streamed), big);
        }
    }
}
