//! The server under attack and load (issue 14): rooms that a user name cannot take, memory
//! freed under churn, slow consumers disconnected with a reason, descriptors that cannot be
//! exhausted, joins limited by the session, logout that disconnects, forwarded headers
//! believed only from trusted proxies, and the reference server's protocol details. Real
//! tokio-tungstenite clients against the real binary; two instances where it is about a
//! cluster.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::ws::{http_get, Client, ServerProc, QUIET, WAIT};
use support::{Kind, Redis};
use symple::session::{data_object, SessionStore};
use symple::{Emitter, Target};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

fn instance(redis: &Redis, args: &[&str]) -> ServerProc {
    ServerProc::start(args, &[("SYMPLE_REDIS_URL", &redis.url())])
}

/// Polls `f` until it holds (bounded).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened (within 30 s): {what}");
}

fn marks(v: &[Value]) -> Vec<String> {
    v.iter()
        .filter(|m| m["type"] == "message")
        .map(|m| m["data"]["mark"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn msg(mark: &str, to: Option<Value>) -> Value {
    let mut m = json!({"type": "message", "data": {"mark": mark}});
    if let Some(to) = to {
        m["to"] = to;
    }
    m
}

// Point 1: a user named like a room takes nothing from the room's members.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn a_user_name_cannot_take_over_a_room() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        a_user_name_cannot_take_over_a_room_on(&redis).await;
    }
}

async fn a_user_name_cannot_take_over_a_room_on(redis: &Redis) {
    let (a, b) = (instance(redis, &[]), instance(redis, &[]));
    a.wait_redis_up().await;
    b.wait_redis_up().await;
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["lobby"]})).await;
    let mut bob = Client::auth(&a.url(), json!({"user": "bob", "rooms": ["lobby"]})).await;
    let mut carol = Client::auth(&b.url(), json!({"user": "carol", "rooms": ["lobby"]})).await;
    let mut eve = Client::auth(&b.url(), json!({"user": "lobby"})).await;
    let mut eve_a = Client::auth(&a.url(), json!({"user": "lobby"})).await;
    for c in [&mut alice, &mut bob, &mut carol, &mut eve, &mut eve_a] {
        c.drain().await;
    }
    alice.send(msg("to-room", Some(json!(["lobby"])))).await;
    alice.send(msg("broadcast", None)).await;
    for c in [&mut bob, &mut carol] {
        assert_eq!(marks(&c.drain().await), ["to-room", "broadcast"]);
    }
    for c in [&mut eve, &mut eve_a] {
        assert!(
            marks(&c.drain().await).is_empty(),
            "the user \"lobby\" is not in the room"
        );
    }
    bob.send(json!({"type": "join", "room": "lobby"})).await;
    bob.expect("join:ok", |v| v["type"] == "join:ok").await;
    alice.send(msg("after-join", Some(json!(["lobby"])))).await;
    assert_eq!(
        marks(&bob.drain().await),
        ["after-join"],
        "once, still a member"
    );
    assert_eq!(marks(&carol.drain().await), ["after-join"]);

    // Nobody gets into another user's personal room, and eve's own room is hers.
    let mut mallory = Client::auth(&a.url(), json!({"user": "mallory"})).await;
    mallory.send(json!({"type": "join", "room": "alice"})).await;
    assert_eq!(
        mallory.expect("error", |v| v["type"] == "error").await["status"],
        403
    );
    eve.send(msg("eve-broadcast", None)).await;
    assert_eq!(
        marks(&eve_a.drain().await),
        ["eve-broadcast"],
        "own other session"
    );
    assert!(marks(&alice.drain().await).is_empty());
    assert!(marks(&carol.drain().await).is_empty());
    assert!(marks(&mallory.drain().await).is_empty());
}

// Point 2: per-user and per-room state is freed; RSS stays flat under churn on every instance.
#[tokio::test]
async fn memory_stays_flat_under_churn() {
    let redis = Redis::start();
    // Ticks every second: the server hands freed memory back to the system on each tick.
    let fast_ticks = ["--ping-interval", "1"];
    let (a, b) = (instance(&redis, &fast_ticks), instance(&redis, &fast_ticks));
    a.wait_redis_up().await;
    b.wait_redis_up().await;
    // A peer on B in the room every churning client passes through: B sees them all.
    let mut watcher = Client::auth(&b.url(), json!({"user": "watcher", "rooms": ["hall"]})).await;
    // It reads everything (presence of every churning client), or it would rightly be
    // disconnected as a slow consumer.
    let reading = tokio::spawn(async move {
        let mut seen = 0u64;
        while let Some(Ok(_)) = watcher.ws.next().await {
            seen += 1;
        }
        seen
    });
    let cycles = std::env::var("SYMPLE_CHURN_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000usize);
    let name = "n".repeat(1000);
    let churn = |from: usize, to: usize| {
        let url = a.url();
        let name = name.clone();
        async move {
            // Eight clients at a time.
            let mut tasks = Vec::new();
            for lane in 0..8 {
                let (url, name) = (url.clone(), name.clone());
                tasks.push(tokio::spawn(async move {
                    for i in (from + lane..to).step_by(8) {
                        let mut c = Client::auth(
                            &url,
                            json!({"user": format!("{name}-{i}"), "rooms": ["hall", format!("room-{name}-{i}")]}),
                        )
                        .await;
                        c.ws.close(None).await.expect("close");
                        while let Some(Ok(_)) = c.ws.next().await {}
                    }
                }));
            }
            for t in tasks {
                t.await.expect("churn lane");
            }
        }
    };
    // The allocator's pools grow during the first thousand or so cycles, then stay.
    let warm = 2_000.min(cycles);
    churn(0, warm).await;
    let settle = || async {
        eventually("connections gone", || a.metric("symple_connections") == 0).await;
        eventually("B holds only the watcher", || b.metric("symple_rooms") == 2).await;
        tokio::time::sleep(Duration::from_millis(1500)).await; // a tick
        (a.rss_kib(), b.rss_kib())
    };
    // Two equal rounds after the warm-up. Left-over state grows RSS in each round; a one-off
    // rise (a burst that outgrew the allocator's pools on a loaded machine, seen at +15 to
    // +25 % once in a few runs, never twice) grows it in one round only. So a leak is growth
    // of over 5 % in both rounds.
    let mut rss = vec![settle().await];
    let half = cycles / 2;
    for round in 0..2 {
        let from = warm + round * half;
        if std::env::var_os("SYMPLE_CHURN_TRACE").is_some() {
            for k in 0..5 {
                churn(from + k * half / 5, from + (k + 1) * half / 5).await;
                eprintln!(
                    "round {round}, {}/5: A {} KiB B {} KiB",
                    k + 1,
                    a.rss_kib(),
                    b.rss_kib()
                );
            }
        } else {
            churn(from, from + half).await;
        }
        rss.push(settle().await);
    }
    eprintln!(
        "RSS (A, B) in KiB after {warm} warm-up cycles, then after each round of {half}: {rss:?}"
    );
    for (name, series) in [
        ("A", rss.iter().map(|r| r.0).collect::<Vec<_>>()),
        ("B", rss.iter().map(|r| r.1).collect()),
    ] {
        let grew = |i: usize| series[i + 1] * 100 > series[i] * 105;
        assert!(
            !(grew(0) && grew(1)),
            "{name} grew by over 5 % in each round: {series:?} KiB"
        );
    }
    assert_eq!(a.metric("symple_rooms"), 0, "no room or user left behind");
    assert_eq!(b.metric("symple_peers"), 1, "the watcher kept up");
    reading.abort();
}

/// A client that reads nothing until the server says it disconnected `n` slow consumers,
/// then everything: the messages it got (a gap-free prefix of 0, 1, 2, ...) and the close
/// frame that ended it.
async fn pausing_reader(
    mut c: Client,
    srv: &ServerProc,
    n: u64,
) -> (u64, Result<(u16, String), String>) {
    eventually("the slow consumers disconnected", || {
        srv.metric("symple_slow_consumers_total") >= n
    })
    .await;
    let mut next = 0u64;
    loop {
        match tokio::time::timeout(WAIT * 3, c.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "message" {
                    assert_eq!(v["data"]["n"], next, "a gap-free prefix");
                    next += 1;
                }
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return (next, Ok((u16::from(f.code), f.reason.to_string())))
            }
            Ok(Some(Ok(_))) => {}
            other => return (next, Err(format!("no close frame after {next}: {other:?}"))),
        }
    }
}

/// Publishes `total` numbered 10 KB messages to `room`, `per_10ms` every 10 ms.
fn flood(
    redis: &Redis,
    room: &'static str,
    total: u64,
    per_10ms: u64,
) -> tokio::task::JoinHandle<()> {
    let emitter = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    let pad = "x".repeat(10_000);
    tokio::task::spawn_blocking(move || {
        for n in 0..total {
            emitter
                .to([room])
                .send(json!({"n": n, "pad": pad}))
                .unwrap();
            if n % per_10ms == per_10ms - 1 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    })
}

// Point 3: a client whose queue overflows, or whose write times out, is disconnected with
// close code 4008 and a reason, after a gap-free prefix; it is counted; a client that reads
// loses nothing; one that reads nothing at all is dropped by the write timeout.
#[tokio::test]
async fn slow_consumers_are_disconnected_and_told() {
    let redis = Redis::start();
    // The queue overflows first: a short queue, a long write timeout.
    let srv = instance(&redis, &["--max-queued", "50", "--write-timeout", "60"]);
    srv.wait_redis_up().await;
    let slow = Client::auth(&srv.url(), json!({"user": "slow", "rooms": ["flood"]})).await;
    let publisher = flood(&redis, "flood", 1500, 10);
    let (got, close) = pausing_reader(slow, &srv, 1).await;
    publisher.await.unwrap();
    let (code, reason) = close.expect("told by a close frame");
    assert_eq!(code, 4008, "{reason}");
    assert!(reason.contains("too many messages waiting"), "{reason}");
    assert!(got < 1500, "it was disconnected before the end ({got})");
    assert_eq!(srv.metric("symple_slow_consumers_total"), 1);
    assert!(srv.metric("symple_dropped_total{reason=\"slow_consumer\"}") >= 1);
    assert_eq!(srv.metric("symple_peers"), 0);

    // A write that does not finish in time: a long queue, a short write timeout.
    let srv = instance(&redis, &["--max-queued", "5000", "--write-timeout", "2"]);
    srv.wait_redis_up().await;
    let url = srv.url();
    let mut fast = Client::auth(&url, json!({"user": "fast", "rooms": ["flood2"]})).await;
    let slow = Client::auth(&url, json!({"user": "slow", "rooms": ["flood2"]})).await;
    let stalled = Client::auth(&url, json!({"user": "stalled", "rooms": ["flood2"]})).await;
    fast.drain().await;
    let total = 3000u64;
    let offline = |v: &Value| v["type"] == "presence" && v["data"]["online"] == false;
    let fast_reader = tokio::spawn(async move {
        let mut next = 0u64;
        let mut gone = Vec::new();
        while next < total {
            let Some(v) = fast.next().await else {
                panic!(
                    "fast client stopped at {next}: {:?}",
                    fast.close_frame().await
                );
            };
            if v["type"] == "message" {
                assert_eq!(v["data"]["n"], next, "in order, none missing");
                next += 1;
            } else if offline(&v) {
                gone.push(v["data"]["user"].clone());
            }
        }
        (fast, gone)
    });
    let publisher = flood(&redis, "flood2", total, 10);
    let (got, close) = pausing_reader(slow, &srv, 2).await;
    publisher.await.unwrap();
    let (code, reason) = close.expect("told by a close frame");
    assert_eq!(code, 4008, "{reason}");
    assert!(reason.contains("timed out"), "{reason}");
    assert!(got < total, "it was disconnected before the end ({got})");
    let (mut fast, mut gone) = fast_reader.await.unwrap();
    while gone.len() < 2 {
        let v = fast.expect("offline presence", offline).await;
        gone.push(v["data"]["user"].clone());
    }
    gone.sort_by_key(|v| v.to_string());
    assert_eq!(gone, [json!("slow"), json!("stalled")]);
    assert_eq!(srv.metric("symple_slow_consumers_total"), 2);
    assert_eq!(srv.metric("symple_peers"), 1);
    drop(stalled);
}

// Point 4: idle and trickling sockets cannot exhaust descriptors or lock clients out.
#[tokio::test]
async fn a_slowloris_does_not_lock_clients_out() {
    use tokio::io::AsyncWriteExt;
    // 100 descriptors: the server keeps 64 in reserve, so it takes 36 connections.
    let srv = ServerProc::start_with_nofile_args(
        100,
        &[
            "--upgrade-timeout",
            "1",
            "--max-connections-per-address",
            "10",
        ],
    );
    let port: u16 = srv.addr.rsplit(':').next().unwrap().parse().unwrap();
    // The attacker: 300 sockets from 127.0.0.2, idle or sending a header a byte at a time.
    let attacker = tokio::spawn(async move {
        let mut held = Vec::new();
        for i in 0..300 {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            if let Ok(Ok(mut s)) = tokio::time::timeout(
                Duration::from_secs(1),
                sock.connect(([127, 0, 0, 1], port).into()),
            )
            .await
            {
                if i % 2 == 0 {
                    let _ = s.write_all(b"G").await;
                }
                held.push(s);
            }
        }
        for byte in b"ET / HTTP/1.1\r\n".iter().take(8) {
            for s in held.iter_mut() {
                let _ = s.write_all(&[*byte]).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        held.len()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Meanwhile, legitimate clients (from 127.0.0.1, under its own limit of 10) connect and
    // /health answers.
    let mut ok = Vec::new();
    for i in 0..8 {
        ok.push(Client::auth(&srv.url(), json!({"user": format!("u{i}")})).await);
    }
    assert_eq!(srv.http("/health").0, 200);
    attacker.await.unwrap();
    assert!(srv.metric("symple_refused_per_address_total") > 0);
    eventually("idle sockets timed out", || {
        srv.metric("symple_upgrade_timeouts_total") >= 10
    })
    .await;
    assert_eq!(srv.metric("symple_peers"), 8);
}

// Point 4, without a per-address limit: past --max-connections every accepted socket counts,
// and a client is told (503, code 4503) rather than left hanging.
#[tokio::test]
async fn idle_sockets_count_against_the_limit_and_time_out() {
    let srv = ServerProc::start(&["--max-connections", "5", "--upgrade-timeout", "0.5"], &[]);
    let idle: Vec<std::net::TcpStream> = (0..5)
        .map(|_| std::net::TcpStream::connect(&srv.addr).unwrap())
        .collect();
    let mut c = Client {
        ws: Client::raw(&srv.url()).await,
        welcome: Value::Null,
    };
    assert_eq!(c.next().await.expect("an answer")["status"], 503);
    assert_eq!(c.close_frame().await.map(|f| f.0), Some(4503));
    // Once the idle ones time out, there is room again.
    eventually("idle sockets timed out", || {
        srv.metric("symple_upgrade_timeouts_total") >= 5
    })
    .await;
    Client::auth(&srv.url(), json!({"user": "late"})).await;
    drop(idle);
}

fn session(store: &SessionStore, v: Value) -> String {
    store.create(&data_object(v).unwrap(), Some(600)).unwrap()
}

// Point 5: in token mode a session is an access list for joins.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn token_mode_joins_only_what_the_session_permits() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        token_mode_joins_only_what_the_session_permits_on(&redis).await;
    }
}

async fn token_mode_joins_only_what_the_session_permits_on(redis: &Redis) {
    let store = SessionStore::connect(redis.url()).unwrap();
    let srv = instance(redis, &["--authentication", "true"]);
    srv.wait_redis_up().await;
    let t = session(
        &store,
        json!({"user": "alice", "rooms": ["team-a"], "join": ["team-*", "lobby"]}),
    );
    let plain = session(&store, json!({"user": "bob", "rooms": ["team-a"]}));
    let mut alice = Client::auth(&srv.url(), json!({"token": t})).await;
    let mut bob = Client::auth(&srv.url(), json!({"token": plain})).await;
    assert!(
        alice.welcome["peer"].get("join").is_none(),
        "the access list is not published"
    );
    alice.drain().await;
    bob.drain().await;
    for (room, ok) in [
        ("team-b", true),
        ("lobby", true),
        ("team-secret", true),
        ("secret", false),
    ] {
        alice.send(json!({"type": "join", "room": room})).await;
        let v = alice
            .expect("an answer", |v| {
                v["type"] == "join:ok" || v["type"] == "error"
            })
            .await;
        assert_eq!(v["type"] == "join:ok", ok, "{room}: {v}");
        if !ok {
            assert_eq!(v["status"], 403);
        }
    }
    bob.send(json!({"type": "join", "room": "team-b"})).await;
    assert_eq!(
        bob.expect("error", |v| v["type"] == "error").await["status"],
        403
    );
    let e = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    e.to("secret").send(json!({"mark": "secret"})).unwrap();
    e.to("team-b").send(json!({"mark": "team-b"})).unwrap();
    assert_eq!(marks(&alice.drain().await), ["team-b"]);
    assert!(marks(&bob.drain().await).is_empty());

    // Opened explicitly by the operator: any join.
    let open = instance(redis, &["--authentication", "true", "--open-joins"]);
    let mut bob2 = Client::auth(&open.url(), json!({"token": plain})).await;
    bob2.send(json!({"type": "join", "room": "secret"})).await;
    bob2.expect("join:ok", |v| v["type"] == "join:ok").await;
}

// Point 6: deleting a session closes its sockets on every instance, with code 4401.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn logout_disconnects_on_every_instance() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        logout_disconnects_on_every_instance_on(&redis).await;
    }
}

async fn logout_disconnects_on_every_instance_on(redis: &Redis) {
    let store = SessionStore::connect(redis.url()).unwrap();
    let (a, b) = (
        instance(redis, &["--authentication", "true"]),
        instance(redis, &["--authentication", "true"]),
    );
    a.wait_redis_up().await;
    b.wait_redis_up().await;
    let phone = session(&store, json!({"user": "alice", "rooms": ["team"]}));
    let laptop = session(&store, json!({"user": "alice", "rooms": ["team"]}));
    let bob_t = session(&store, json!({"user": "bob", "rooms": ["team"]}));
    let mut p1 = Client::auth(&a.url(), json!({"token": phone})).await;
    let mut p2 = Client::auth(&b.url(), json!({"token": phone})).await;
    let mut l = Client::auth(&a.url(), json!({"token": laptop})).await;
    let mut bob = Client::auth(&b.url(), json!({"token": bob_t})).await;

    assert!(store.delete(&phone).unwrap());
    for c in [&mut p1, &mut p2] {
        let (code, reason) = c.close_frame().await.expect("a close frame");
        assert_eq!(code, 4401);
        assert!(reason.contains("logged out"), "{reason}");
    }
    // The other session and other users stay.
    let e = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    e.to("team").send(json!({"mark": "still"})).unwrap();
    assert_eq!(marks(&l.drain().await), ["still"]);
    assert_eq!(marks(&bob.drain().await), ["still"]);

    // Every session of a user, through the CLI.
    let out = std::process::Command::new(support::symple_bin())
        .args(["session", "--url", &redis.url(), "delete-user", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(l.close_frame().await.map(|f| f.0), Some(4401));
    assert_eq!(
        a.metric("symple_logouts_total") + b.metric("symple_logouts_total"),
        3
    );
    e.to("team").send(json!({"mark": "bob only"})).unwrap();
    assert_eq!(marks(&bob.drain().await), ["bob only"]);
}

async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Client, u16> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut()
            .insert(axum_header(k), v.parse().expect("header value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(Client {
            ws,
            welcome: Value::Null,
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("connect: {e}"),
    }
}

fn axum_header(k: &str) -> tokio_tungstenite::tungstenite::http::HeaderName {
    k.parse().expect("header name")
}

async fn welcome(mut c: Client, user: &str) -> Client {
    c.send(json!({"type": "auth", "user": user})).await;
    let w = c.expect("welcome", |v| v["type"] == "welcome").await;
    c.welcome = w;
    c
}

// Point 7: forwarding headers only from trusted proxies; origins; host out of presence;
// /metrics on its own address.
#[tokio::test]
async fn headers_are_believed_only_from_trusted_proxies() {
    let direct = ServerProc::start(&[], &[]);
    let spoof = [("x-forwarded-for", "6.6.6.6"), ("x-real-ip", "6.6.6.7")];
    let c = welcome(connect_with(&direct.url(), &spoof).await.unwrap(), "a").await;
    assert_eq!(c.welcome["peer"]["host"], "127.0.0.1");

    let proxied = ServerProc::start(&["--trusted-proxies", "127.0.0.0/8, ::1"], &[]);
    let chain = [("x-forwarded-for", "6.6.6.6, 10.0.0.1, 127.0.0.5")];
    let c = welcome(connect_with(&proxied.url(), &chain).await.unwrap(), "a").await;
    assert_eq!(
        c.welcome["peer"]["host"], "10.0.0.1",
        "the first hop not trusted"
    );

    let hidden = ServerProc::start(&["--hide-host"], &[]);
    let mut a = Client::auth(&hidden.url(), json!({"user": "a", "rooms": ["r"]})).await;
    let b = Client::auth(&hidden.url(), json!({"user": "b", "rooms": ["r"]})).await;
    assert!(b.welcome["peer"].get("host").is_none(), "{}", b.welcome);
    let p = a.expect("b online", |v| v["type"] == "presence").await;
    assert!(p["data"].get("host").is_none(), "{p}");
}

#[tokio::test]
async fn origins_and_a_separate_metrics_address() {
    let srv = ServerProc::start(
        &[
            "--allowed-origins",
            "https://app.example,http://localhost:3000",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    for (origin, ok) in [
        (Some("https://app.example"), true),
        (Some("http://localhost:3000"), true),
        (Some("https://evil.example"), false),
        (None, false),
    ] {
        let headers: Vec<(&str, &str)> = origin.iter().map(|o| ("origin", *o)).collect();
        match connect_with(&srv.url(), &headers).await {
            Ok(c) => {
                assert!(ok, "{origin:?} let in");
                welcome(c, "x").await;
            }
            Err(status) => {
                assert!(!ok, "{origin:?} refused");
                assert_eq!(status, 403);
            }
        }
    }
    let (_, public) = srv.http("/metrics");
    assert!(
        !public.contains("symple_"),
        "no metrics on the public port: {public}"
    );
    assert_eq!(srv.metric("symple_refused_origin_total"), 2);
    let (code, _) = http_get(srv.metrics_addr.as_deref().unwrap(), "/health");
    assert_eq!(code, 200);
}

// Point 8: the reference server's protocol details.
#[tokio::test]
async fn protocol_details_match_the_reference() {
    let srv = ServerProc::start(&[], &[]);
    // An unparsable frame before auth is ignored; a later auth succeeds.
    let mut c = Client {
        ws: Client::raw(&srv.url()).await,
        welcome: Value::Null,
    };
    c.ws.send(Message::text("{not json")).await.unwrap();
    c.send(json!({"type": "auth", "user": "a"})).await;
    assert_eq!(c.next().await.expect("an answer")["type"], "welcome");

    // A client's close 1000 gets a close 1000 back (the handshake completes).
    let normal = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    c.ws.send(Message::Close(Some(normal))).await.unwrap();
    assert_eq!(c.close_frame().await.map(|f| f.0), Some(1000));
    // A `close` message ends it with 1000 too.
    let mut d = Client::auth(&srv.url(), json!({"user": "d"})).await;
    d.send(json!({"type": "close"})).await;
    assert_eq!(d.close_frame().await.map(|f| f.0), Some(1000));

    // An auth failure: 401, then a close with 4401 and the reason.
    let mut e = Client {
        ws: Client::raw(&srv.url()).await,
        welcome: Value::Null,
    };
    e.send(json!({"type": "auth"})).await;
    assert_eq!(e.next().await.unwrap()["status"], 401);
    let (code, reason) = e.close_frame().await.expect("a close frame");
    assert_eq!(code, 4401);
    assert!(reason.contains("missing user"), "{reason}");

    // Shutdown: the reference's event, then close 1001.
    let mut srv = srv;
    let mut f = Client::auth(&srv.url(), json!({"user": "f"})).await;
    let stop = tokio::task::spawn_blocking(move || srv.signal("TERM"));
    let ev = f.expect("shutdown", |v| v["type"] == "event").await;
    assert_eq!(ev["subtype"], "shutdown");
    assert_eq!(ev["message"], "Server shutting down");
    assert_eq!(f.close_frame().await.map(|f| f.0), Some(1001));
    assert_eq!(stop.await.unwrap(), Some(0));
}

// Issue 10, point 3: a session whose user is an integer (a Rails id) works: its personal
// room and address use the decimal text, so `to(user.id)` on the native target reaches it.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn integer_users_from_sessions() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        integer_users_from_sessions_on(&redis).await;
    }
}

async fn integer_users_from_sessions_on(redis: &Redis) {
    let srv = instance(redis, &["--authentication", "true"]);
    srv.wait_redis_up().await;
    let _: () = redis::Commands::set(
        &mut redis.conn(),
        "symple:session:int-token",
        r#"{"user":4242,"name":"Ada","rooms":["team"]}"#,
    )
    .unwrap();
    let mut ada = Client::auth(&srv.url(), json!({"token": "int-token"})).await;
    assert_eq!(ada.welcome["peer"]["user"], "4242");
    assert_eq!(ada.welcome["rooms"], json!(["4242", "team"]));
    assert!(ada.address().starts_with("4242|"));
    let e = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    e.to(4242).send(json!({"mark": "int"})).unwrap();
    e.to("4242").send(json!({"mark": "text"})).unwrap();
    e.to(4243).send(json!({"mark": "other"})).unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(marks(&ada.drain().await), ["int", "text"]);
}

// Point 9: rooms above --presence-limit get no presence fan-out (join, leave, roster), and
// what was announced is taken back when its peer goes.
#[tokio::test]
async fn big_rooms_get_no_presence_fan_out() {
    let srv = ServerProc::start(&["--presence-limit", "2"], &[]);
    let url = srv.url();
    let online = |v: &Value| v["type"] == "presence" && v["data"]["online"] == true;
    let mut a = Client::auth(&url, json!({"user": "a", "rooms": ["big"]})).await;
    let mut b = Client::auth(&url, json!({"user": "b", "rooms": ["big"]})).await;
    assert_eq!(a.expect("b online", online).await["data"]["user"], "b");
    assert_eq!(b.expect("roster: a", online).await["data"]["user"], "a");
    // The third member makes the room bigger than the limit: nobody is told, no roster.
    let mut c = Client::auth(&url, json!({"user": "c", "rooms": ["big"]})).await;
    assert!(c.drain().await.is_empty(), "no roster in a big room");
    assert!(a.drain().await.is_empty() && b.drain().await.is_empty());
    // Messages still reach everyone.
    c.send(json!({"type": "message", "to": ["big"], "data": {"mark": "hi"}}))
        .await;
    assert_eq!(marks(&a.drain().await), ["hi"]);
    assert_eq!(marks(&b.drain().await), ["hi"]);
    // b was announced, so its going is too, though the room is big now; c's is not.
    drop(b);
    let gone = a
        .expect("b offline", |v| {
            v["type"] == "presence" && v["data"]["online"] == false
        })
        .await;
    assert_eq!(gone["data"]["user"], "b");
    c.ws.close(None).await.unwrap();
    assert!(a.drain().await.is_empty(), "c was never announced");
}
