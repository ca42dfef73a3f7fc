//! CORS and cookies in a real browser: a page from one origin calls an API
//! on another with `fetch(..., {credentials: "include"})` in headless
//! Chromium. The browser runs the preflight, keeps the API's signed cookie
//! and sends it back, reads the exposed `X-Request-Id`, and refuses to
//! show the page an answer from an API that does not allow its origin.

use std::sync::{Arc, Mutex};

use greenloop::http::cookies::{Cookie, Key, RequestCookies, SameSite};
use greenloop::http::middleware::{Cors, RequestIds};
use greenloop::http::{
    App, Html, Json, Method, Next, Rejection, Request, Router, RunningServer, Server, StatusCode, TypedRequest, get,
    post,
};
use serde::Deserialize;

mod support;

fn start(app: App) -> RunningServer {
    Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts")
}

fn origin(s: &RunningServer) -> String {
    format!("http://{}", s.local_addr().unwrap())
}

#[derive(Deserialize)]
struct Login {
    user: String,
}

/// The API: `POST /api/login` sets a signed `user` cookie, `GET /api/me`
/// reads it. `seen` records (method, whether the handler ran) per request.
fn api(allowed: Option<&str>, key: Key, seen: Arc<Mutex<Vec<(String, bool)>>>) -> App {
    let me_key = key.clone();
    let ran = seen.clone();
    let router = Router::new()
        .route(
            "/api/login",
            post(move |mut req: Request| -> Result<_, Rejection> {
                ran.lock().unwrap().push(("POST".into(), true));
                let login: Login = req.json()?;
                let mut jar = req.cookies();
                jar.signed_mut(&key)
                    .add(Cookie::build(("user", login.user)).path("/").http_only(true).same_site(SameSite::Lax));
                Ok((jar, StatusCode::NO_CONTENT))
            }),
        )
        .route(
            "/api/me",
            get(move |req: Request| match req.cookies().signed(&me_key).get("user") {
                Some(c) => Ok(Json(serde_json::json!({ "user": c.value() }))),
                None => Err(Rejection::new(StatusCode::UNAUTHORIZED, "no signed user cookie")),
            }),
        );
    let mut cors = Cors::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["content-type"])
        .allow_credentials(true)
        .expose_headers(["x-request-id"]);
    if let Some(o) = allowed {
        cors = cors.allow_origin(o);
    }
    // The recorder is the outermost layer: it sees what reaches the server.
    App::new(router)
        .wrap(move |req: Request, next: Next<'_>| {
            let method = req.method().to_string();
            let res = next.run(req);
            if method == "OPTIONS" {
                seen.lock().unwrap().push((method, false));
            }
            res
        })
        .wrap(RequestIds::new())
        .wrap(cors)
}

const PAGE: &str = r#"<!doctype html><html><body><pre id="out">running</pre><script>
(async () => {
  const out = [];
  try {
    let r = await fetch("API/api/login", {method: "POST", credentials: "include",
      headers: {"content-type": "application/json"}, body: JSON.stringify({user: "ada"})});
    out.push("login " + r.status + " id-length " + (r.headers.get("x-request-id") || "").length);
    r = await fetch("API/api/me", {credentials: "include"});
    out.push("me " + r.status + " " + await r.text());
    try {
      r = await fetch("OTHER/api/me", {credentials: "include"});
      out.push("other readable " + r.status);
    } catch (e) {
      out.push("other refused " + e.name);
    }
  } catch (e) {
    out.push("error " + e);
  }
  document.getElementById("out").textContent = out.join(" | ");
})();
</script></body></html>"#;

#[test]
fn a_page_from_another_origin_logs_in_with_a_cookie_through_cors_in_headless_chromium() {
    let Some(browser) = support::chromium::browser() else { return };
    let key = Key::generate();
    let seen = Arc::new(Mutex::new(Vec::new()));
    // The page's server first: its origin is what the API allows.
    let page_html = Arc::new(Mutex::new(String::new()));
    let html = page_html.clone();
    let page = start(App::new(Router::new().route("/", get(move |_req: Request| Html(html.lock().unwrap().clone())))));
    let api_server = start(api(Some(&origin(&page)), key.clone(), seen.clone()));
    let other = start(api(None, key, Arc::new(Mutex::new(Vec::new()))));
    *page_html.lock().unwrap() = PAGE.replace("API", &origin(&api_server)).replace("OTHER", &origin(&other));

    let dom = support::chromium::dump_dom(&browser, &format!("{}/", origin(&page)), Some(5000), "web-cors");
    let out = dom.split("<pre id=\"out\">").nth(1).and_then(|s| s.split("</pre>").next()).unwrap_or(&dom);
    assert_eq!(out, "login 204 id-length 36 | me 200 {\"user\":\"ada\"} | other refused TypeError", "{dom}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first().map(|s| s.0.as_str()), Some("OPTIONS"), "a preflight came first: {seen:?}");
    assert!(seen.iter().all(|(m, ran)| (m == "OPTIONS") != *ran), "the handler never saw the preflight: {seen:?}");
}
