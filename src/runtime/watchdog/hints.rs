//! What to use instead, when the stack that blocked a loop runs through a
//! crate known to block its thread: the sync clients of services that have
//! a green or async counterpart. The watchdog's report adds the hint line.

/// Known blocking call paths (a frame's symbol starts with one) and the
/// alternative that parks only the green thread. First match wins, so the
/// more specific paths come first.
const HINTS: &[(&str, &str)] = &[
    (
        "reqwest::blocking::",
        "reqwest::blocking blocks the worker's thread; use the async reqwest::Client through \
         greenloop::block_on (feature `tokio`), or greenloop::http::Client",
    ),
    (
        "ureq::",
        "ureq blocks the worker's thread; use greenloop::http::Client, or reqwest through greenloop::block_on \
         (feature `tokio`)",
    ),
    (
        "postgres::",
        "the sync `postgres` crate blocks the worker's thread (it runs its own tokio runtime per call); use \
         greenloop::postgres (feature `postgres`), or sqlx / tokio-postgres through greenloop::block_on \
         (feature `tokio`)",
    ),
    (
        "redis::connection::",
        "the sync `redis` connection blocks the worker's thread; use greenloop::redis (feature `redis`), or \
         redis' async connection or ConnectionManager through greenloop::block_on (feature `tokio`)",
    ),
    (
        "redis::client::Client::get_connection",
        "the sync `redis` connection blocks the worker's thread; use greenloop::redis (feature `redis`), or \
         redis' async connection or ConnectionManager through greenloop::block_on (feature `tokio`)",
    ),
    (
        "redis::cmd::Cmd::query",
        "the sync `redis` connection blocks the worker's thread; use greenloop::redis (feature `redis`), or \
         redis' async connection or ConnectionManager through greenloop::block_on (feature `tokio`)",
    ),
    (
        "rumqttc::client::",
        "rumqttc::Client and Connection block the worker's thread; use rumqttc::AsyncClient and its EventLoop \
         through greenloop::block_on (feature `tokio`)",
    ),
    (
        "mysql::",
        "the sync `mysql` crate blocks the worker's thread; use sqlx (MySQL) through greenloop::block_on \
         (feature `tokio`)",
    ),
    (
        "tokio::runtime::runtime::Runtime::block_on",
        "a tokio runtime's block_on blocks the worker's thread; use greenloop::block_on (feature `tokio`), \
         which parks only the green thread",
    ),
];

/// The hint for the first frame (innermost first) whose symbol starts with a
/// known blocking path; `None` when nothing known is on the stack.
pub(crate) fn hint<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    names.into_iter().find_map(|name| {
        // greenloop's own clients (`greenloop::postgres::`, `greenloop::redis::`)
        // never start with these paths; async code (`tokio_postgres::`,
        // `redis::aio::`) does not either.
        HINTS.iter().find(|(path, _)| name.starts_with(path)).map(|(_, hint)| *hint)
    })
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn known_blocking_paths_name_their_green_alternative() {
        let h = hint(["std::net::tcp::TcpStream::read", "reqwest::blocking::client::Client::execute"]).unwrap();
        assert!(h.contains("greenloop::block_on") && h.contains("reqwest::Client"), "{h}");
        let h = hint(["postgres::client::Client::query", "app::handler"]).unwrap();
        assert!(h.contains("greenloop::postgres"), "{h}");
        let h = hint(["redis::connection::Connection::req_packed_command"]).unwrap();
        assert!(h.contains("greenloop::redis") && h.contains("ConnectionManager"), "{h}");
        let h = hint(["rumqttc::client::Connection::recv"]).unwrap();
        assert!(h.contains("AsyncClient"), "{h}");
    }

    #[test]
    fn green_and_async_clients_get_no_hint() {
        for name in [
            "greenloop::postgres::Client::query",
            "greenloop::redis::Connection::get",
            "tokio_postgres::client::Client::query",
            "redis::aio::multiplexed_connection::MultiplexedConnection::send_packed_command",
            "std::thread::sleep",
            "app::handler",
        ] {
            assert_eq!(hint([name]), None, "{name}");
        }
    }
}
