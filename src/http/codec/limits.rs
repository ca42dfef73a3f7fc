//! [`CodecLimits`]: the size limits the parsers apply.

/// Size limits applied while parsing. All limits are inclusive maxima.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecLimits {
    /// Largest head (request/status line + headers + final CRLF), in bytes,
    /// counted from the start of the buffer, leading empty lines included.
    /// Default 16 KiB.
    pub max_head_bytes: usize,
    /// Largest number of header fields. Default 100. Heads with up to
    /// [`STACK_HEADERS`] fields parse into a stack array; larger ones are
    /// parsed again into a temporary heap array of this size.
    pub max_headers: usize,
    /// Longest request line (or status line), without its CRLF. Default 8 KiB.
    pub max_request_line: usize,
    /// Largest message body, for `Content-Length` and for the sum of the
    /// chunks of a chunked body. Default 16 MiB.
    pub max_body_bytes: u64,
}

/// Number of header slots parsed without a heap allocation. Small on
/// purpose: the array lives on a green thread's stack, and every 4 KiB it
/// reserves is a page that stays resident for that connection.
pub const STACK_HEADERS: usize = 32;

impl Default for CodecLimits {
    fn default() -> Self {
        CodecLimits {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_request_line: 8 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}
