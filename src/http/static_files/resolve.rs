//! From a request path to an open file under the served root, refusing
//! every way out of it: `..` segments (also percent-encoded), encoded
//! slashes, NUL bytes, and symbolic links that resolve outside the root.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
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

/// The served directory: its real path, and a handle on it that anchors
/// every lookup below it.
#[derive(Debug)]
pub(super) struct Root {
    /// Resolved once (symbolic links followed), when the server was built.
    path: PathBuf,
    /// `None` when the directory could not be opened then (it may appear
    /// later): each request resolves the path by hand.
    dir: Option<File>,
}

impl Root {
    pub(super) fn new(root: &Path) -> Root {
        let path = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        let dir = OpenOptions::new().read(true).custom_flags(crate::sys::O_PATH_DIRECTORY).open(&path).ok();
        Root { path, dir }
    }

    /// `rel` (a path [`relative`] accepted) opened, if its real location
    /// (symbolic links followed) is under the root; `Ok(None)` when it
    /// resolves elsewhere. Opened non-blocking, so a FIFO placed in the tree
    /// cannot make the open wait; the caller checks the type of what it got.
    ///
    /// The kernel checks the whole walk in one `openat2` call
    /// (`RESOLVE_BENEATH`). Where that call is refused (an absolute link
    /// that points back inside, a kernel before 5.6) the path is resolved
    /// component by component and must lie under the root's real path.
    pub(super) fn open(&self, rel: &Path) -> io::Result<Option<(File, Metadata)>> {
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        if let Some(dir) = &self.dir
            && let Ok(c) = std::ffi::CString::new(rel.as_os_str().as_bytes())
        {
            use std::os::fd::AsFd;
            match crate::sys::open_beneath(dir.as_fd(), &c) {
                Ok(fd) => {
                    let file = File::from(fd);
                    let meta = file.metadata()?;
                    return Ok(Some((file, meta)));
                }
                Err(e) if crate::sys::open_beneath_refused(&e) => {}
                Err(e) => return Err(e),
            }
        }
        self.open_resolved(rel)
    }

    /// [`open`](Self::open) the long way: resolve, check, open.
    fn open_resolved(&self, rel: &Path) -> io::Result<Option<(File, Metadata)>> {
        let root = match &self.dir {
            Some(_) => self.path.clone(),
            // Not there at start: resolved now.
            None => std::fs::canonicalize(&self.path)?,
        };
        let real = std::fs::canonicalize(root.join(rel))?;
        if !real.starts_with(&root) {
            return Ok(None);
        }
        let file = OpenOptions::new().read(true).custom_flags(crate::sys::O_NONBLOCK).open(&real)?;
        let meta = file.metadata()?;
        Ok(Some((file, meta)))
    }
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
