//! Routing: matching, parameters, methods, fallbacks and nesting.

use super::*;
use crate::http::{App, Body, RequestExt};

fn req(method: &str, uri: &str) -> Request {
    Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()
}

fn body(res: &Response) -> &str {
    std::str::from_utf8(res.body().as_bytes().expect("bytes body")).unwrap()
}

fn allow(res: &Response) -> &str {
    res.headers().get(header::ALLOW).expect("Allow header").to_str().unwrap()
}

fn echo_params(req: Request) -> String {
    let params = req.params().map(|p| p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","));
    format!("{} {}", req.method(), params.unwrap_or_else(|| "none".into()))
}

fn app() -> Router {
    Router::new()
        .route("/", get(|_req: Request| "root"))
        .route("/users/{id}", get(echo_params).delete(echo_params))
        .route("/users/{id}", put(echo_params))
        .route("/users/{id}/posts/{post}", get(echo_params))
        .route("/files/{*rest}", get(echo_params))
        .route("/static", get(echo_params))
        .route("/only-head", head(|_req: Request| "head"))
        .route("/opt", get(echo_params).options(|_req: Request| "custom options"))
        .route("/anything", any(echo_params))
        .route("/mixed", get(|_req: Request| "get").any(|_req: Request| "any"))
        .route("/ext", on(Method::from_bytes(b"PURGE").unwrap(), echo_params))
}

#[test]
fn matches_params_and_decodes_them() {
    let r = app();
    let res = r.call(req("GET", "/users/42"));
    assert_eq!(res.status(), 200);
    assert_eq!(body(&res), "GET id=42");
    let res = r.call(req("GET", "/users/a%20b+c%2Fd/posts/%E2%82%AC"));
    assert_eq!(body(&res), "GET id=a b+c/d,post=€");
    let res = r.call(req("GET", "/files/a/b/c.txt?x=1"));
    assert_eq!(body(&res), "GET rest=a/b/c.txt");
    let res = r.call(req("PUT", "/users/7"));
    assert_eq!(body(&res), "PUT id=7");
}

#[test]
fn no_params_inserted_for_static_routes() {
    let res = app().call(req("GET", "/static"));
    assert_eq!(body(&res), "GET none");
    assert_eq!(body(&app().call(req("GET", "/"))), "root");
}

#[test]
fn params_accessor() {
    let r = Router::new().route(
        "/a/{x}/{y}",
        get(|req: Request| format!("{:?} {:?} {:?}", req.param("y"), req.param("x"), req.param("z"))),
    );
    assert_eq!(body(&r.call(req("GET", "/a/1/2"))), r#"Some("2") Some("1") None"#);
}

#[test]
fn unknown_path_is_404() {
    let res = app().call(req("GET", "/nope/x"));
    assert_eq!(res.status(), 404);
    assert_eq!(body(&res), "not found: /nope/x\n");
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(app().call(req("GET", "/users")).status(), 404);
    assert_eq!(app().call(req("GET", "/users/1/")).status(), 404);
    assert_eq!(app().call(req("GET", "/files/")).status(), 404);
    assert_eq!(Router::new().call(req("GET", "/")).status(), 404);
    assert_eq!(app().call(req("OPTIONS", "*")).status(), 404);
}

#[test]
fn fallback_replaces_404() {
    let r = app().fallback(|req: Request| (StatusCode::IM_A_TEAPOT, format!("fb {}", req.path())));
    let res = r.call(req("POST", "/zzz"));
    assert_eq!(res.status(), 418);
    assert_eq!(body(&res), "fb /zzz");
    // Known path, wrong method: still a 405, not the fallback.
    assert_eq!(r.call(req("POST", "/static")).status(), 405);
}

#[test]
fn wrong_method_is_405_with_sorted_allow() {
    let res = app().call(req("POST", "/users/1"));
    assert_eq!(res.status(), 405);
    assert_eq!(allow(&res), "DELETE, GET, HEAD, OPTIONS, PUT");
    assert_eq!(body(&res), "method not allowed: POST /users/1\n");
    let res = app().call(req("GET", "/only-head"));
    assert_eq!(res.status(), 405);
    assert_eq!(allow(&res), "HEAD, OPTIONS");
    let res = app().call(req("GET", "/ext"));
    assert_eq!(allow(&res), "OPTIONS, PURGE");
    assert_eq!(body(&app().call(req("PURGE", "/ext"))), "PURGE none");
}

#[test]
fn head_falls_back_to_get() {
    let res = app().call(req("HEAD", "/users/5"));
    assert_eq!(res.status(), 200);
    assert_eq!(body(&res), "HEAD id=5");
    assert_eq!(body(&app().call(req("HEAD", "/only-head"))), "head");
    // GET wins over `any` for HEAD.
    assert_eq!(body(&app().call(req("HEAD", "/mixed"))), "get");
}

#[test]
fn options_answered_with_allow() {
    let res = app().call(req("OPTIONS", "/users/1"));
    assert_eq!(res.status(), 204);
    assert!(res.body().is_empty());
    assert_eq!(allow(&res), "DELETE, GET, HEAD, OPTIONS, PUT");
    assert_eq!(body(&app().call(req("OPTIONS", "/opt"))), "custom options");
    assert_eq!(body(&app().call(req("OPTIONS", "/anything"))), "OPTIONS none");
}

#[test]
fn any_takes_every_method() {
    for m in ["GET", "POST", "DELETE", "PURGE"] {
        assert_eq!(body(&app().call(req(m, "/anything"))), format!("{m} none"));
    }
    assert_eq!(body(&app().call(req("POST", "/mixed"))), "any");
    assert_eq!(body(&app().call(req("GET", "/mixed"))), "get");
}

#[test]
fn works_inside_an_app() {
    let app = App::new(app());
    assert_eq!(body(&app.call(req("GET", "/users/9"))), "GET id=9");
}

#[test]
fn pattern_names() {
    let n = |p| param_names(p).map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
    assert_eq!(n("/a/{x}/b/{*rest}"), Some(vec!["x".into(), "rest".into()]));
    assert_eq!(n("/{{lit}}/{y}"), Some(vec!["y".into()]));
    assert_eq!(n("/plain"), Some(vec![]));
    assert_eq!(n("/a}"), None);
    assert_eq!(n("/{a"), None);
}

#[test]
fn escaped_braces_route() {
    let r = Router::new().route("/{{x}}/{id}", get(echo_params));
    assert_eq!(body(&r.call(req("GET", "/{x}/3"))), "GET id=3");
}

#[test]
#[should_panic(expected = "Router::route(\"/users/{name}\")")]
fn conflicting_route_panics() {
    let _ = Router::new().route("/users/{id}", get(echo_params)).route("/users/{name}", get(echo_params));
}

#[test]
#[should_panic(expected = "a GET handler is already routed")]
fn duplicate_method_panics() {
    let _ = Router::new().route("/x", get(echo_params)).route("/x", get(echo_params).post(echo_params));
}

#[test]
#[should_panic(expected = "Router::route(\"/x/{\")")]
fn invalid_pattern_panics() {
    let _ = Router::new().route("/x/{", get(echo_params));
}

#[test]
#[should_panic(expected = "a POST handler was given twice")]
fn chained_duplicate_panics() {
    let _ = post(echo_params).post(echo_params);
}

#[test]
fn the_exact_table_agrees_with_the_tree() {
    // Static routes overlapping parameters and catch-alls at every depth:
    // for each pattern without parameters, the exact table must give the
    // endpoint `matchit` gives.
    let r = Router::new()
        .route("/", get(echo_params))
        .route("/{top}", get(echo_params))
        .route("/users", get(echo_params))
        .route("/users/", get(echo_params))
        .route("/users/new", get(echo_params))
        .route("/users/{id}", get(echo_params))
        .route("/users/{id}/edit", get(echo_params))
        .route("/users/me/edit", get(echo_params))
        .route("/files/{*rest}", get(echo_params))
        .route("/files/index.html", get(echo_params))
        .route("/a{{b}}", get(echo_params))
        .route("/api/v1/items", post(echo_params))
        .route("/api/v1/{kind}", get(echo_params));
    let mut n = 0;
    for (path, i) in r.exact.iter() {
        let tree = *r.matcher.at(path).expect("a static pattern matches its own path").value;
        assert_eq!(tree, i, "{path}");
        n += 1;
    }
    assert_eq!(n, 7, "every pattern without braces, and only those");
    assert_eq!(body(&r.call(req("GET", "/users/new"))), "GET none");
    assert_eq!(body(&r.call(req("GET", "/users/7"))), "GET id=7");
    assert_eq!(body(&r.call(req("GET", "/a{b}"))), "GET none");
    assert_eq!(body(&r.call(req("GET", "/files/index.html"))), "GET none");
    assert_eq!(body(&r.call(req("GET", "/files/other.html"))), "GET rest=other.html");
    // A static path with a method it lacks is a 405 naming its own methods,
    // not the parameter route's.
    let res = r.call(req("GET", "/api/v1/items"));
    assert_eq!(res.status(), 405);
    assert_eq!(allow(&res), "OPTIONS, POST");
    assert_eq!(body(&r.call(req("POST", "/api/v1/items"))), "POST none");
    assert_eq!(body(&r.call(req("GET", "/api/v1/things"))), "GET kind=things");
    // HEAD runs GET's handler on the exact path too; a trailing slash is another route.
    assert_eq!(body(&r.call(req("HEAD", "/users"))), "HEAD none");
    assert_eq!(body(&r.call(req("GET", "/users/"))), "GET none");
    assert_eq!(body(&r.call(req("GET", "/users?x=1"))), "GET none");
}
