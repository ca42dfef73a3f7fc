//! `GET /static/{*path}`: a directory served by `ServeDir`: `--static DIR`,
//! or by default a few built-in files written to a temporary directory at
//! start (so they take the same path as any served file: sendfile,
//! validators, ranges), removed again when the server stops.

use std::io;
use std::path::PathBuf;

use greenloop::http::{IntoResponse, Request, Response, Router, ServeDir, StatusCode, get, header};

/// The built-in files: name and contents.
const BUILT_IN: [(&str, &[u8]); 3] = [
    ("index.html", include_bytes!("assets/index.html")),
    ("style.css", include_bytes!("assets/style.css")),
    ("app.js", include_bytes!("assets/app.js")),
];

/// The built-in files' directory; dropping it removes it.
#[derive(Debug)]
pub struct BuiltIn(PathBuf);

impl Drop for BuiltIn {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Adds `/static/{*path}` (and `/static/`, which points at its index) to
/// `router`, serving `dir` or the built-in files. Keep the returned guard
/// while serving.
pub fn routes(router: Router, dir: Option<&str>) -> io::Result<(Router, Option<BuiltIn>)> {
    let (root, guard) = match dir {
        Some(d) => {
            let meta = std::fs::metadata(d).map_err(|e| io::Error::new(e.kind(), format!("--static {d}: {e}")))?;
            if !meta.is_dir() {
                return Err(io::Error::other(format!("--static {d}: not a directory")));
            }
            (PathBuf::from(d), None)
        }
        None => {
            let root = std::env::temp_dir().join(format!("greenloop-static-{}", std::process::id()));
            let guard = BuiltIn(root.clone());
            std::fs::create_dir_all(&root)?;
            for (name, bytes) in BUILT_IN {
                std::fs::write(root.join(name), bytes)?;
            }
            (root, Some(guard))
        }
    };
    let router = router.route("/static/", get(to_index)).route("/static/{*path}", get(ServeDir::new(root)));
    Ok((router, guard))
}

/// `/static/` itself: the wildcard route needs at least one character.
fn to_index(_req: Request) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(header::LOCATION, header::HeaderValue::from_static("/static/index.html"));
    r
}
