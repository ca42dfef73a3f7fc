//! The live status page: one self-contained HTML page (no external assets)
//! that polls `status.json` every second and draws the server's figures as
//! small inline-SVG charts, with the recent blocking incidents and their stacks.

use greenloop::http::{Request, Response, ResponseBody, header};

const PAGE: &str = include_str!("status.html");

/// `GET /status`: the page.
pub fn page(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from(PAGE));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    r
}
