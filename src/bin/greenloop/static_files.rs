//! `GET /static/{*path}`: a directory served by `ServeDir`: `--static DIR`,
//! or by default a few built-in files written at start to a directory under
//! the system's temporary directory, one per demo version (so they take the
//! same path as any served file: sendfile, validators, ranges). It is not
//! removed at exit: a server killed with SIGKILL could not, and one
//! directory per version cannot pile up. Files already there with the
//! right contents are left alone, so their ETags survive restarts.

use std::io;
use std::path::PathBuf;

use greenloop::http::{IntoResponse, Request, Response, Router, ServeDir, StatusCode, get, header};

/// The built-in files: name and contents.
const BUILT_IN: [(&str, &[u8]); 3] = [
    ("index.html", include_bytes!("assets/index.html")),
    ("style.css", include_bytes!("assets/style.css")),
    ("app.js", include_bytes!("assets/app.js")),
];

/// Adds `/static/{*path}` (and `/static/`, which points at its index) to
/// `router`, serving `dir` or the built-in files.
pub fn routes(router: Router, dir: Option<&str>) -> io::Result<Router> {
    let root = match dir {
        Some(d) => {
            let meta = std::fs::metadata(d).map_err(|e| io::Error::new(e.kind(), format!("--static {d}: {e}")))?;
            if !meta.is_dir() {
                return Err(io::Error::other(format!("--static {d}: not a directory")));
            }
            PathBuf::from(d)
        }
        None => write_built_in().map_err(|e| io::Error::new(e.kind(), format!("the built-in static files: {e}")))?,
    };
    Ok(router.route("/static/", get(to_index)).route("/static/{*path}", get(ServeDir::new(root))))
}

/// Writes the built-in files where they are missing or differ; returns their directory.
fn write_built_in() -> io::Result<PathBuf> {
    let root = std::env::temp_dir().join(format!("greenloop-{}-static", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&root)?;
    for (name, bytes) in BUILT_IN {
        let path = root.join(name);
        if std::fs::read(&path).is_ok_and(|old| old == bytes) {
            continue;
        }
        // Renamed into place: another demo starting at the same time never
        // serves a half-written file.
        let part = root.join(format!(".{name}.{}", std::process::id()));
        std::fs::write(&part, bytes)?;
        std::fs::rename(&part, &path)?;
    }
    Ok(root)
}

/// `/static/` itself: the wildcard route needs at least one character.
fn to_index(_req: Request) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    r.headers_mut().insert(header::LOCATION, header::HeaderValue::from_static("/static/index.html"));
    r
}
