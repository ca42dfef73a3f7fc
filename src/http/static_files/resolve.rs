//! From a request path to an open file under the served root, refusing
//! every way out of it: `..` segments (also percent-encoded), encoded
//! slashes, NUL bytes, and symbolic links that resolve outside the root.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The path below the root that `decoded` (the percent-decoded part of the
/// request path that names the file) asks for, or `None` when the request
/// must be refused. `raw` is the request path as sent: an encoded slash or
/// backslash in it (`%2f`, `%5c`) is refused outright, as Apache and nginx
/// do by default, since it would let one segment pose as several.
pub(super) fn relative(raw: &str, decoded: &str) -> Option<PathBuf> {
    let lower_has = |needle: &str| raw.as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()));
    if lower_has("%2f") || lower_has("%5c") || lower_has("%00") || decoded.contains('\0') {
        return None;
    }
    let mut rel = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." | ".." => return None,
            s => rel.push(s),
        }
    }
    Some(rel)
}

/// `path` opened, if its real location (symbolic links followed) is
/// `root` or below it; `Ok(None)` when it resolves elsewhere. `root` must
/// be canonical. Opened non-blocking, so a FIFO placed in the tree cannot
/// make the open wait; the caller checks the type on the open descriptor.
pub(super) fn open_within(root: &Path, path: &Path) -> io::Result<Option<(File, Metadata, PathBuf)>> {
    let real = std::fs::canonicalize(path)?;
    if !real.starts_with(root) {
        return Ok(None);
    }
    let file = OpenOptions::new().read(true).custom_flags(crate::sys::O_NONBLOCK).open(&real)?;
    let meta = file.metadata()?;
    Ok(Some((file, meta, real)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_ways_out() {
        assert_eq!(relative("/s/a/b.txt", "a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative("/s/a//b/", "a//b/"), Some(PathBuf::from("a/b")));
        assert_eq!(relative("/s/../x", "../x"), None);
        assert_eq!(relative("/s/%2e%2e/x", "../x"), None);
        assert_eq!(relative("/s/..%2Fx", "../x"), None);
        assert_eq!(relative("/s/a%2fb", "a/b"), None);
        assert_eq!(relative("/s/a%5Cb", "a\\b"), None);
        assert_eq!(relative("/s/a%00b", "a\0b"), None);
        assert_eq!(relative("/s/./a", "./a"), None);
    }
}
