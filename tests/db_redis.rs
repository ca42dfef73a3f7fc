//! The green Redis client against a real server: commands, pipelines,
//! pub/sub, errors, and a pool shared by many green threads.
#![cfg(feature = "redis")]

mod db_services;

use std::time::{Duration, Instant};

use greenloop::pool::PoolError;
use greenloop::redis::{Connection, ErrorKind, RedisManager, Value, cmd};

fn key(name: &str) -> String {
    format!("greenloop-test:{name}:{}", std::process::id())
}

#[test]
fn commands_and_pipelines() {
    let Some(url) = db_services::redis() else { return };
    greenloop::run(move || {
        let mut r = Connection::open(&url).unwrap();
        let k = key("cmd");
        r.query::<()>(&cmd("SET").arg(&k).arg("v\r\nwith crlf")).unwrap();
        let v: String = r.query(&cmd("GET").arg(&k)).unwrap();
        assert_eq!(v, "v\r\nwith crlf");
        let missing: Option<String> = r.query(&cmd("GET").arg(key("missing"))).unwrap();
        assert_eq!(missing, None);
        let (a, b, c): (i64, i64, Vec<Option<String>>) = r
            .pipeline(&[
                cmd("INCR").arg(key("n")),
                cmd("INCRBY").arg(key("n")).arg(10),
                cmd("MGET").arg(&k).arg(key("missing")),
            ])
            .unwrap();
        assert_eq!((a + 10, b), (b, b));
        assert_eq!(c, vec![Some("v\r\nwith crlf".to_owned()), None]);
        // One command's error inside a pipeline is that command's value.
        let replies = r.pipeline_values(&[cmd("INCR").arg(&k), cmd("PING")]).unwrap();
        assert!(matches!(&replies[0], Value::Error(e) if e.contains("not an integer")), "{replies:?}");
        assert_eq!(replies[1], Value::Status("PONG".into()));
        // A server error is an error of the call, and the connection stays usable.
        let e = r.query::<i64>(&cmd("INCR").arg(&k)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server);
        assert!(!r.is_broken());
        let n: i64 = r.command(&["DEL", &k, &key("n")]).unwrap();
        assert_eq!(n, 2);
    });
}

#[test]
fn pub_sub() {
    let Some(url) = db_services::redis() else { return };
    greenloop::run(move || {
        let ch = key("ch");
        let mut sub = Connection::open(&url).unwrap().subscribe(&[&ch]).unwrap();
        let publisher_url = url.clone();
        let chan = ch.clone();
        let publisher = greenloop::spawn(move || {
            let mut p = Connection::open(&publisher_url).unwrap();
            for i in 0..3 {
                let receivers: i64 = p.query(&cmd("PUBLISH").arg(&chan).arg(format!("m{i}"))).unwrap();
                assert_eq!(receivers, 1);
            }
        });
        sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for i in 0..3 {
            let m = sub.next_message().unwrap();
            assert_eq!((m.channel.as_str(), m.payload), (ch.as_str(), format!("m{i}").into_bytes()));
        }
        publisher.join().unwrap();
        sub.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert_eq!(sub.next_message().unwrap_err().kind(), ErrorKind::Io);
    });
}

#[test]
fn bad_urls_and_unreachable_servers_are_clear_errors() {
    greenloop::run(|| {
        for (url, says) in [
            ("http://x", "expected redis://"),
            ("redis://", "no host"),
            ("redis://h:notaport", "port"),
            ("redis://h/notadb", "database number"),
        ] {
            let e = Connection::open(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl);
            assert!(e.to_string().contains(says), "{url}: {e}");
        }
        let info = greenloop::redis::ConnectionInfo::parse("redis://ann:s3cret@cache.internal:6380/2").unwrap();
        assert_eq!((info.user.as_deref(), info.password.as_deref(), info.db), (Some("ann"), Some("s3cret"), 2));
        assert!(!format!("{info:?}").contains("s3cret"), "the password stays out of logs");
        let start = Instant::now();
        let e = Connection::open("redis://127.0.0.1:1").unwrap_err();
        assert!(e.to_string().contains("cannot connect to Redis at 127.0.0.1:1"), "{e}");
        assert!(start.elapsed() < Duration::from_secs(1));
        let pool = greenloop::pool::builder().name("redis").build(RedisManager::new("redis://127.0.0.1:1"));
        let e = pool.get().unwrap_err();
        assert!(matches!(e, PoolError::Connect { .. }));
        assert!(e.to_string().starts_with("redis pool: cannot connect"), "{e}");
    });
}

#[test]
fn a_thousand_green_threads_share_a_pool() {
    let Some(url) = db_services::redis() else { return };
    greenloop::run(move || {
        let k = key("shared");
        let pool = greenloop::pool::builder().name("redis").max_size(8).build(RedisManager::new(&url));
        pool.get().unwrap().query::<()>(&cmd("DEL").arg(&k)).unwrap();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (pool, k) = (pool.clone(), k.clone());
                move || pool.get().unwrap().query::<i64>(&cmd("INCR").arg(&k)).unwrap()
            })
            .collect();
        let mut seen = greenloop::join_all(tasks);
        seen.sort();
        assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
        assert!(pool.in_use() == 0 && pool.idle() <= 8 && pool.waiting() == 0);
    });
}

#[test]
fn a_call_cut_short_breaks_the_connection_and_the_pool_drops_it() {
    let Some(url) = db_services::redis() else { return };
    greenloop::run(move || {
        let pool = greenloop::pool::builder().name("redis").max_size(1).build(RedisManager::new(&url));
        let k = key("blpop");
        let cut = greenloop::timeout(Duration::from_millis(100), || {
            let mut c = pool.get().unwrap();
            // Waits for a list that never fills: the timeout unwinds mid-reply.
            c.query::<Value>(&cmd("BLPOP").arg(&k).arg(5))
        });
        assert!(cut.is_err());
        // The half-read connection was closed, not pooled: the next caller gets a fresh one.
        let mut c = pool.get().unwrap();
        assert_eq!(c.query::<String>(&cmd("PING")).unwrap(), "PONG");
    });
}

#[test]
fn an_idle_connection_killed_while_pooled_is_replaced_on_checkout() {
    let Some(url) = db_services::redis() else { return };
    greenloop::run(move || {
        let pool =
            greenloop::pool::builder().name("redis").check_after_idle(Duration::ZERO).build(RedisManager::new(&url));
        assert_eq!(pool.get().unwrap().query::<String>(&cmd("PING")).unwrap(), "PONG");
        let id: i64 = pool.get().unwrap().query(&cmd("CLIENT").arg("ID")).unwrap();
        let mut admin = Connection::open(&url).unwrap();
        let killed: i64 = admin.query(&cmd("CLIENT").arg("KILL").arg("ID").arg(id)).unwrap();
        assert_eq!(killed, 1);
        // PING on checkout finds it closed; a fresh connection takes its place.
        let fresh: i64 = pool.get().unwrap().query(&cmd("CLIENT").arg("ID")).unwrap();
        assert_ne!(id, fresh);
    });
}
