//! The demo's long-lived connections: `GET /ws/echo`, `GET /ws/chat` (a
//! broadcast room, spanning instances with `--chat-bus`: see `chat_bus`)
//! and the page `GET /chat` that uses it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use greenloop::http::ws::{Message, WebSocket, WsConfig};
use greenloop::http::{Request, Response, Router, get, header};
use greenloop::sync::channel::{Sender, TrySendError, bounded};

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

/// Messages a member's outbox holds: a member whose outbox is full reads
/// too slowly for the room and is dropped (as in gorilla/websocket's chat
/// example), so a slow or silent reader costs at most this much memory.
const OUTBOX: usize = 256;

/// One member of the room: its outbox, and the flag that tells its
/// reader it was dropped.
struct Member {
    id: u64,
    outbox: Sender<Message>,
    dropped: Arc<AtomicBool>,
}

/// The chat room: every member, on every worker. A std `Mutex` is fine
/// here: it is never held across a park (`try_send` never waits).
static ROOM: Mutex<Vec<Member>> = Mutex::new(Vec::new());
static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

/// Sends a line another instance's member said (through the chat bus) to
/// this instance's members.
pub fn deliver(line: &str) {
    broadcast(&Message::text(line.to_owned()));
}

/// How members are named: their number, and with a chat bus the instance
/// too, as numbers repeat across instances.
fn member_name(id: u64) -> String {
    match crate::chat_bus::instance() {
        Some(instance) => format!("{id}@{instance}"),
        None => id.to_string(),
    }
}

/// Sends `msg` to every member, dropping those whose outbox is full or
/// gone; returns how many remain.
fn broadcast(msg: &Message) -> usize {
    let mut room = ROOM.lock().unwrap_or_else(|e| e.into_inner());
    room.retain(|m| match m.outbox.try_send(msg.clone()) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            log::info!("chat: member {} dropped: {OUTBOX} messages unread", m.id);
            m.dropped.store(true, Ordering::Relaxed);
            false
        }
        Err(TrySendError::Disconnected(_)) => false,
    });
    room.len()
}

/// Joins the room: this green thread reads what the member says and
/// broadcasts it; a second one writes what the room says to the member.
fn chat(req: Request) -> Response {
    greenloop::http::ws::upgrade(&req, WsConfig::default(), |ws| {
        let id = NEXT_MEMBER.fetch_add(1, Ordering::Relaxed);
        let (outbox, inbox) = bounded::<Message>(OUTBOX);
        let dropped = Arc::new(AtomicBool::new(false));
        let online = {
            let mut room = ROOM.lock().unwrap_or_else(|e| e.into_inner());
            room.push(Member { id, outbox, dropped: dropped.clone() });
            room.len()
        };
        let writer = {
            let ws: WebSocket = ws.clone();
            let dropped = dropped.clone();
            greenloop::spawn(move || {
                // Ends when the member leaves, or at once when the room drops it.
                while let Ok(msg) = inbox.recv() {
                    if dropped.load(Ordering::Relaxed) || ws.send(msg).is_err() {
                        break;
                    }
                }
            })
        };
        // Only to the newcomer: announcing every join to everyone would cost
        // n² messages as a crowd arrives.
        let name = member_name(id);
        let _ = ws.send(Message::text(format!("* you are member {name} ({online} online)")));
        while let Ok(Some(msg)) = ws.recv() {
            if dropped.load(Ordering::Relaxed) {
                break;
            }
            if let Message::Text(t) = msg {
                let line = format!("{name}: {}", t.as_str());
                broadcast(&Message::text(line.clone()));
                crate::chat_bus::publish(&line);
            }
        }
        // Closed, reset or gone silent: forget the member.
        let online = {
            let mut room = ROOM.lock().unwrap_or_else(|e| e.into_inner());
            room.retain(|m| m.id != id);
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
