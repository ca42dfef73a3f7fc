//! The demo's long-lived connections: `GET /ws/echo`, `GET /ws/chat` (a
//! broadcast room) and the page `GET /chat` that uses it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use greenloop::http::ws::{Message, WebSocket, WsConfig};
use greenloop::http::{Request, Response, Router, get, header};
use greenloop::sync::channel::{Sender, unbounded};

/// Adds the WebSocket routes.
pub fn routes(router: Router) -> Router {
    router.route("/ws/echo", get(echo)).route("/ws/chat", get(chat)).route("/chat", get(chat_page))
}

/// Sends every message back as it came (text or binary).
fn echo(req: Request) -> Response {
    greenloop::http::ws::upgrade(&req, WsConfig::default(), |ws| {
        while let Ok(Some(msg)) = ws.recv() {
            if ws.send(msg).is_err() {
                break;
            }
        }
    })
}

/// The chat room: every member's outbox, on every worker. A std `Mutex`
/// is fine here: it is never held across a park (sending on an unbounded
/// channel never waits).
static ROOM: Mutex<Vec<(u64, Sender<Message>)>> = Mutex::new(Vec::new());
static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

/// Sends `msg` to every member; returns how many there are.
fn broadcast(msg: &Message) -> usize {
    let room = ROOM.lock().unwrap_or_else(|e| e.into_inner());
    for (_, outbox) in room.iter() {
        let _ = outbox.send(msg.clone());
    }
    room.len()
}

/// Joins the room: this green thread reads what the member says and
/// broadcasts it; a second one writes what the room says to the member.
fn chat(req: Request) -> Response {
    greenloop::http::ws::upgrade(&req, WsConfig::default(), |ws| {
        let id = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
        let (outbox, inbox) = unbounded::<Message>();
        let online = {
            let mut room = ROOM.lock().unwrap_or_else(|e| e.into_inner());
            room.push((id, outbox));
            room.len()
        };
        let writer = {
            let ws: WebSocket = ws.clone();
            greenloop::spawn(move || {
                // Ends when the room drops this member's outbox.
                while let Ok(msg) = inbox.recv() {
                    if ws.send(msg).is_err() {
                        break;
                    }
                }
            })
        };
        // Only to the newcomer: announcing every join to everyone would cost
        // n² messages as a crowd arrives.
        let _ = ws.send(Message::text(format!("* you are member {id} ({online} online)")));
        while let Ok(Some(msg)) = ws.recv() {
            if let Message::Text(t) = msg {
                broadcast(&Message::text(format!("{id}: {}", t.as_str())));
            }
        }
        // Closed, reset or gone silent: forget the member.
        let online = {
            let mut room = ROOM.lock().unwrap_or_else(|e| e.into_inner());
            room.retain(|(m, _)| *m != id);
            room.len()
        };
        let _ = writer.join();
        log::debug!("chat: member {id} left ({online} online)");
    })
}

fn chat_page(_req: Request) -> Response {
    let mut res = Response::new(CHAT_HTML.into());
    res.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

const CHAT_HTML: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>greenloop chat</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}#log{border:1px solid #ccc;height:20rem;overflow-y:auto;padding:.5rem;white-space:pre-wrap}input{width:80%}</style>
</head>
<body>
<h1>chat</h1>
<p>Every message goes to everyone connected to <code>/ws/chat</code> (one green thread reads each member, one writes to it).</p>
<script>
// ?hold=MS: the page's load event waits MS (an image from /sleep), so that a
// headless browser dumping the page after it loads has stayed that long.
const hold = parseInt(new URLSearchParams(location.search).get("hold") || "0", 10);
if (hold > 0) document.write('<img alt="" width="1" height="1" src="/sleep?ms=' + hold + '">');
</script>
<div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" placeholder="say something"> <button>send</button></form>
<p id="state">connecting...</p>
<script>
const log = document.getElementById("log");
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
const ws = new WebSocket(scheme + location.host + "/ws/chat");
// ?say=TEXT: say TEXT a few times once connected (how the headless browser test talks).
const say = new URLSearchParams(location.search).get("say");
ws.onopen = () => {
  document.getElementById("state").textContent = "connected";
  if (say) { let n = 0; const t = setInterval(() => { ws.send(say); if (++n >= 20) clearInterval(t); }, 250); }
};
ws.onclose = () => { document.getElementById("state").textContent = "disconnected"; };
ws.onmessage = (e) => { const line = document.createElement("div"); line.className = "line"; line.textContent = e.data; log.appendChild(line); log.scrollTop = log.scrollHeight; };
document.getElementById("f").onsubmit = (e) => { e.preventDefault(); const m = document.getElementById("msg"); if (m.value) { ws.send(m.value); m.value = ""; } };
</script>
</body>
</html>
"#;
