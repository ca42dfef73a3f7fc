//! tokio libraries called from blocking-style handlers through
//! `greenloop::block_on`, against the real services on this machine: on one
//! worker, twenty requests each waiting ~1 s inside the library finish in
//! ≤ 1.5 s while `/health` answers in < 100 ms.
//!
//! Each test reads its service's URL from an environment variable (see
//! `greenloop_ecosystem::Service`); a missing service skips the test with a
//! reason, or fails it under `CI`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use greenloop::block_on;
use greenloop::http::{Server, worker_state};
use greenloop_ecosystem::{MQTT, MYSQL, NATS, POSTGRES, RABBITMQ, REDIS, Service, slow_upstream, twenty_at_once};

fn server() -> Server {
    Server::bind("127.0.0.1:0")
}

#[test]
fn tokio_time_sleep() {
    twenty_at_once(server(), |_| {
        block_on(async { tokio::time::sleep(Duration::from_secs(1)).await });
        Ok("slept".into())
    })
    .assert_green();
}

#[test]
fn tokio_spawn() {
    twenty_at_once(server(), |i| {
        block_on(async move {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                format!("task {i} on {}", std::thread::current().name().unwrap_or_default())
            })
            .await
            .map_err(|e| e.to_string())
        })
    })
    .assert_green();
}

#[test]
fn reqwest_http() {
    let upstream = slow_upstream(Server::bind("127.0.0.1:0"));
    let url = format!("http://{}/", upstream.local_addr().unwrap());
    let overlap = twenty_at_once(
        server().with_worker_state(|| reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()),
        move |i| {
            let client = worker_state::<reqwest::Client>().unwrap();
            block_on(async { client.get(format!("{url}?{i}")).send().await?.error_for_status()?.text().await })
                .map_err(|e| e.to_string())
        },
    );
    overlap.assert_green();
    assert_eq!(overlap.answers[7].1, "upstream 7");
    upstream.stop().unwrap();
}

#[test]
fn reqwest_https_against_greenloops_own_tls_server() {
    let (ca_pem, cert_pem, key_pem) = certificates();
    let tls = greenloop::http::tls::ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let upstream = slow_upstream(Server::bind("127.0.0.1:0").tls(tls));
    let addr = upstream.local_addr().unwrap();
    let url = format!("https://localhost:{}/", addr.port());
    let ca = Arc::new(ca_pem);
    let overlap = twenty_at_once(
        server().with_worker_state(move || {
            reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
                .resolve("localhost", addr)
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap()
        }),
        move |i| {
            let client = worker_state::<reqwest::Client>().unwrap();
            block_on(async { client.get(format!("{url}?{i}")).send().await?.error_for_status()?.text().await })
                .map_err(|e| e.to_string())
        },
    );
    overlap.assert_green();
    assert_eq!(overlap.answers[3].1, "upstream 3");
    upstream.stop().unwrap();
}

/// A private CA and a certificate for `localhost` it signed: (CA, cert, key) PEMs.
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "greenloop ecosystem test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[test]
fn sqlx_mysql_pool() {
    let Some(url) = MYSQL.url() else { return };
    twenty_at_once(
        server().with_worker_state(move || {
            block_on(sqlx::mysql::MySqlPoolOptions::new().max_connections(21).connect(&url))
                .expect("connect to MariaDB")
        }),
        |_| {
            let pool = worker_state::<sqlx::MySqlPool>().unwrap();
            block_on(async { sqlx::query_scalar::<_, i64>("SELECT SLEEP(1)").fetch_one(&*pool).await })
                .map(|v| format!("SLEEP(1) = {v}"))
                .map_err(|e| e.to_string())
        },
    )
    .assert_green();
}

#[test]
fn sqlx_postgres_pool() {
    let Some(url) = POSTGRES.url() else { return };
    twenty_at_once(
        server().with_worker_state(move || {
            block_on(sqlx::postgres::PgPoolOptions::new().max_connections(21).connect(&url))
                .expect("connect to Postgres")
        }),
        |_| {
            let pool = worker_state::<sqlx::PgPool>().unwrap();
            block_on(async { sqlx::query("SELECT pg_sleep(1)").execute(&*pool).await })
                .map(|_| "pg_sleep(1)".to_owned())
                .map_err(|e| e.to_string())
        },
    )
    .assert_green();
}

fn redis_response_timeout() -> Option<Duration> {
    Some(Duration::from_secs(10))
}

#[test]
fn redis_async_connection() {
    // A blocking command (BLPOP) holds its connection on the server, so each
    // request opens its own; non-blocking commands share one (below).
    let Some(url) = REDIS.url() else { return };
    let client = redis::Client::open(url).unwrap();
    twenty_at_once(server(), move |i| {
        let config = redis::AsyncConnectionConfig::new().set_response_timeout(redis_response_timeout());
        block_on(async {
            let mut con = client.get_multiplexed_async_connection_with_config(&config).await?;
            let key = format!("greenloop:eco:empty:{i}:{}", std::process::id());
            redis::cmd("BLPOP").arg(&key).arg(1).query_async::<Option<(String, String)>>(&mut con).await
        })
        .map(|popped| format!("{popped:?}"))
        .map_err(|e| e.to_string())
    })
    .assert_green();
}

#[test]
fn redis_connection_manager() {
    // One ConnectionManager per worker, shared by every request; each request
    // waits ~1 s for a value that a tokio task pushes through the same manager.
    let Some(url) = REDIS.url() else { return };
    let client = redis::Client::open(url).unwrap();
    let overlap = twenty_at_once(
        server().with_worker_state(move || {
            let config = redis::aio::ConnectionManagerConfig::new().set_response_timeout(redis_response_timeout());
            block_on(redis::aio::ConnectionManager::new_with_config(client.clone(), config)).expect("connect to Redis")
        }),
        |i| {
            let manager = worker_state::<redis::aio::ConnectionManager>().unwrap();
            let key = format!("greenloop:eco:counter:{}:{i}", std::process::id());
            block_on(async move {
                let mut con = (*manager).clone();
                redis::cmd("DEL").arg(&key).query_async::<()>(&mut con).await?;
                for _ in 0..10 {
                    redis::cmd("INCR").arg(&key).query_async::<i64>(&mut con).await?;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let n = redis::cmd("GET").arg(&key).query_async::<i64>(&mut con).await?;
                redis::cmd("DEL").arg(&key).query_async::<()>(&mut con).await?;
                Ok::<_, redis::RedisError>(n)
            })
            .map(|n| n.to_string())
            .map_err(|e| e.to_string())
        },
    );
    overlap.assert_green();
    assert!(overlap.answers.iter().all(|(_, n)| n == "10"), "{:?}", overlap.answers);
}

#[test]
fn lapin_publish_and_consume() {
    // Each request publishes to a queue whose messages expire after 1 s into
    // the request's reply queue (dead-lettering): the broker does the waiting.
    let Some(url) = RABBITMQ.url() else { return };
    let overlap = twenty_at_once(
        server().with_worker_state(move || {
            block_on(lapin::Connection::connect(&url, lapin::ConnectionProperties::default()))
                .expect("connect to RabbitMQ")
        }),
        |i| {
            let connection = worker_state::<lapin::Connection>().unwrap();
            block_on(async move { amqp_round_trip(&connection, i).await }).map_err(|e| e.to_string())
        },
    );
    overlap.assert_green();
    assert_eq!(overlap.answers[5].1, "message 5");
}

async fn amqp_round_trip(connection: &lapin::Connection, i: usize) -> lapin::Result<String> {
    use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::{AMQPValue, FieldTable, ShortString};
    let channel = connection.create_channel().await?;
    let tag = format!("greenloop-eco-{}-{i}-{:?}", std::process::id(), std::time::Instant::now());
    let (delay, reply) = (format!("{tag}-delay"), format!("{tag}-reply"));
    let temporary = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    channel.queue_declare(reply.as_str().into(), temporary, FieldTable::default()).await?;
    let mut args = FieldTable::default();
    args.insert(ShortString::from("x-message-ttl"), AMQPValue::LongUInt(1000));
    args.insert(ShortString::from("x-dead-letter-exchange"), AMQPValue::LongString("".into()));
    args.insert(ShortString::from("x-dead-letter-routing-key"), AMQPValue::LongString(reply.as_str().into()));
    channel.queue_declare(delay.as_str().into(), temporary, args).await?;
    let mut consumer = channel
        .basic_consume(
            reply.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    channel
        .basic_publish(
            "".into(),
            delay.as_str().into(),
            BasicPublishOptions::default(),
            format!("message {i}").as_bytes(),
            lapin::BasicProperties::default(),
        )
        .await?
        .await?;
    let delivery = consumer.next().await.expect("the consumer ended early")?;
    delivery.ack(BasicAckOptions::default()).await?;
    let body = String::from_utf8_lossy(&delivery.data).into_owned();
    channel.close(200, "done".into()).await?;
    Ok(body)
}

#[test]
fn async_nats_request_reply() {
    let Some(url) = NATS.url() else { return };
    let subject = format!("greenloop.eco.slow.{}", std::process::id());
    // The responder answers each request after 1 s, on a tokio runtime of its own.
    let responder_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (u, s) = (url.clone(), subject.clone());
    responder_rt.block_on(async move {
        let client = async_nats::connect(&u).await.expect("connect to NATS");
        let mut requests = client.subscribe(s).await.unwrap();
        client.flush().await.unwrap();
        tokio::spawn(async move {
            while let Some(msg) = requests.next().await {
                let client = client.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if let Some(reply) = msg.reply {
                        let mut answer = b"reply to ".to_vec();
                        answer.extend_from_slice(&msg.payload);
                        let _ = client.publish(reply, answer.into()).await;
                    }
                });
            }
        });
    });
    let overlap = twenty_at_once(
        server().with_worker_state(move || block_on(async_nats::connect(&url)).expect("connect to NATS")),
        move |i| {
            let client = worker_state::<async_nats::Client>().unwrap();
            let subject = subject.clone();
            block_on(async move { client.request(subject, format!("{i}").into()).await })
                .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
                .map_err(|e| e.to_string())
        },
    );
    overlap.assert_green();
    assert_eq!(overlap.answers[4].1, "reply to 4");
    responder_rt.shutdown_background();
}

#[test]
fn rumqttc_async_client_through_mosquitto() {
    // Each request subscribes to its own topic, has a tokio task publish to
    // it after 1 s through the same client, and waits for the message in
    // rumqttc's event loop, polled on the green thread.
    let Some(url) = MQTT.url() else { return };
    let (host, port) = Service::host_port(&url, 1883);
    let overlap = twenty_at_once(server(), move |i| {
        let id = format!("greenloop-eco-{}-{i}-{}", std::process::id(), rand_suffix());
        let mut options = rumqttc::MqttOptions::new(id.clone(), host.clone(), port);
        options.set_keep_alive(Duration::from_secs(5));
        block_on(async move { mqtt_round_trip(options, &id, i).await })
    });
    overlap.assert_green();
    assert_eq!(overlap.answers[9].1, "mqtt 9");
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

async fn mqtt_round_trip(options: rumqttc::MqttOptions, id: &str, i: usize) -> Result<String, String> {
    use rumqttc::{Event, Packet, QoS};
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    let topic = format!("greenloop/eco/{id}");
    client.subscribe(&topic, QoS::AtLeastOnce).await.map_err(|e| e.to_string())?;
    let mut published = false;
    loop {
        match events.poll().await.map_err(|e| e.to_string())? {
            Event::Incoming(Packet::SubAck(_)) if !published => {
                published = true;
                let (client, topic) = (client.clone(), topic.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = client.publish(topic, QoS::AtLeastOnce, false, format!("mqtt {i}")).await;
                });
            }
            Event::Incoming(Packet::Publish(p)) => {
                let body = String::from_utf8_lossy(&p.payload).into_owned();
                let _ = client.disconnect().await;
                return Ok(body);
            }
            _ => {}
        }
    }
}
