//! Typed input and output against real clients (curl, Python's
//! `http.client`): JSON, query, form and path parameters into the
//! handler's types; bad input answered with the status and a reason that
//! names the problem; JSON, HTML, redirect and header-tuple responses.

use std::net::SocketAddr;

use greenloop::http::{
    BodyLimit, Html, Json, Next, Redirect, Rejection, Request, Router, RunningServer, Server, StatusCode, TypedRequest,
    get, header, post,
};
use serde::{Deserialize, Serialize};

mod support;
use support::curl::curl;
use support::python;

#[derive(Deserialize)]
struct NewNote {
    text: String,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct NoteQuery {
    notify: Option<bool>,
}

#[derive(Serialize)]
struct Note {
    board: u32,
    text: String,
    tags: Vec<String>,
    notify: bool,
}

#[derive(Deserialize)]
struct Login {
    user: String,
    remember: Option<String>,
}

/// `POST /boards/{board}/notes?notify=true` with a JSON body: all three inputs.
fn add_note(mut req: Request) -> Result<(StatusCode, Json<Note>), Rejection> {
    let board: u32 = req.param_as("board")?;
    let q: NoteQuery = req.query_as()?;
    let new: NewNote = req.json()?;
    Ok((StatusCode::CREATED, Json(Note { board, text: new.text, tags: new.tags, notify: q.notify.unwrap_or(false) })))
}

fn login(mut req: Request) -> Result<Redirect, Rejection> {
    let form: Login = req.form()?;
    Ok(Redirect::see_other(&format!("/welcome/{}?remember={}", form.user, form.remember.is_some())))
}

fn welcome(req: Request) -> Result<Html<String>, Rejection> {
    let user: String = req.param_as("user")?;
    Ok(Html(format!("<h1>hi {user}</h1>")))
}

fn server() -> RunningServer {
    let router = Router::new()
        .route("/boards/{board}/notes", post(add_note))
        .route("/login", post(login))
        .route("/welcome/{user}", get(welcome))
        .route(
            "/csv",
            get(|_req: Request| {
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/csv"), (header::CACHE_CONTROL, "no-store")], "a,b\n")
            }),
        );
    // Bodies of /boards/ are limited to 1 KiB (the default is 2 MiB).
    let app = greenloop::http::App::new(router).wrap(|mut req: Request, next: Next<'_>| {
        if req.uri().path().starts_with("/boards/") {
            req.extensions_mut().insert(BodyLimit(1024));
        }
        next.run(req)
    });
    Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts")
}

fn addr(s: &RunningServer) -> SocketAddr {
    s.local_addr().unwrap()
}

#[test]
fn a_handler_with_a_path_parameter_a_query_and_a_json_body_answers_typed_json() {
    let s = server();
    let url = format!("http://{}/boards/7/notes?notify=true", addr(&s));
    let (status, head, body) =
        curl(&["-H", "content-type: application/json", "-d", r#"{"text":"buy milk","tags":["home"]}"#, &url]);
    assert_eq!(status, 201, "{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v, serde_json::json!({"board": 7, "text": "buy milk", "tags": ["home"], "notify": true}));
}

#[test]
fn bad_json_is_400_naming_line_and_column() {
    let s = server();
    let url = format!("http://{}/boards/7/notes", addr(&s));
    let (status, _, body) =
        curl(&["-H", "content-type: application/json", "-d", "{\"text\": \"x\",\n \"tags\": [\"a\" \"b\"]}", &url]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body, "invalid JSON body at line 2, column 15: expected `,` or `]`\n");
    let (status, _, body) = curl(&["-H", "content-type: application/json", "-d", "{\"text\": \"x\"", &url]);
    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with("JSON body cut short at line 1, column 12"), "{body}");
}

#[test]
fn json_of_the_wrong_shape_is_422_naming_the_field() {
    let s = server();
    let url = format!("http://{}/boards/7/notes", addr(&s));
    let (status, _, body) = curl(&["-H", "content-type: application/json", "-d", r#"{"text":"x"}"#, &url]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("missing field `tags`"), "{body}");
    let (status, _, body) = curl(&["-H", "content-type: application/json", "-d", r#"{"text":5,"tags":[]}"#, &url]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("invalid type: integer `5`, expected a string"), "{body}");
}

#[test]
fn a_body_that_is_not_json_by_content_type_is_415() {
    let s = server();
    let url = format!("http://{}/boards/7/notes", addr(&s));
    // curl -d sends application/x-www-form-urlencoded.
    let (status, _, body) = curl(&["-d", r#"{"text":"x","tags":[]}"#, &url]);
    assert_eq!(status, 415, "{body}");
    assert_eq!(
        body,
        "expected Content-Type: application/json, got Content-Type \"application/x-www-form-urlencoded\"\n"
    );
    let (status, _, body) = curl(&["-H", "content-type:", "--data-binary", "{}", &url]);
    assert_eq!(status, 415, "{body}");
    assert!(body.ends_with("got no Content-Type\n"), "{body}");
}

#[test]
fn bad_path_parameters_and_queries_are_400_naming_them() {
    let s = server();
    let a = addr(&s);
    let json = ["-H", "content-type: application/json", "-d", r#"{"text":"x","tags":[]}"#];
    let (status, _, body) = curl(&[&json[..], &[&format!("http://{a}/boards/seven/notes")]].concat());
    assert_eq!(status, 400);
    assert!(body.starts_with("path parameter `board` (\"seven\"):"), "{body}");
    let (status, _, body) = curl(&[&json[..], &[&format!("http://{a}/boards/7/notes?notify=maybe")]].concat());
    assert_eq!(status, 400);
    assert!(body.starts_with("invalid query string:"), "{body}");
}

#[test]
fn a_body_over_the_limit_is_413_from_python_http_client() {
    let s = server();
    let script = r#"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
body = json.dumps({"text": "x" * 5000, "tags": []})
c.request("POST", "/boards/1/notes", body=body, headers={"Content-Type": "application/json"})
r = c.getresponse()
print(r.status, r.read().decode())
"#;
    let out = python::run(script, &[&addr(&s).port().to_string()]);
    assert!(out.starts_with("413 request body larger than the 1024-byte limit"), "{out}");
}

#[test]
fn a_form_post_redirects_to_an_html_page_with_python_http_client() {
    let s = server();
    let script = r#"
import http.client, sys, urllib.parse
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("POST", "/login", body=urllib.parse.urlencode({"user": "ada", "remember": "on"}),
          headers={"Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse(); r.read()
print(r.status, r.getheader("Location"))
c.request("GET", r.getheader("Location"))
r = c.getresponse()
print(r.status, r.getheader("Content-Type"), r.read().decode())
c.request("POST", "/login", body="remember=on", headers={"Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse()
print(r.status, r.read().decode().strip())
c.request("POST", "/login", body="user=ada", headers={"Content-Type": "text/plain"})
r = c.getresponse()
print(r.status, r.read().decode().strip())
"#;
    let out = python::run(script, &[&addr(&s).port().to_string()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "303 /welcome/ada?remember=true");
    assert_eq!(lines[1], "200 text/html; charset=utf-8 <h1>hi ada</h1>");
    assert_eq!(lines[2], "422 invalid form: missing field `user`");
    assert!(lines[3].starts_with("415 expected Content-Type: application/x-www-form-urlencoded"), "{out}");
}

#[test]
fn a_status_headers_body_tuple_sets_all_three() {
    let s = server();
    let (status, head, body) = curl(&[&format!("http://{}/csv", addr(&s))]);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/csv\r\n") && head.contains("cache-control: no-store"), "{head}");
    assert_eq!(body, "a,b\n");
}
