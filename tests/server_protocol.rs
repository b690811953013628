//! The standalone server, one instance, against real WebSocket clients: auth, welcome,
//! routing, rooms, presence, limits and bad input.

mod support;

use std::sync::MutexGuard;

use futures_util::SinkExt;
use serde_json::{json, Value};
use support::ws::{Client, ServerProc, QUIET};
use support::{Kind, Redis};
use symple::session::{data_object, SessionStore};
use tokio_tungstenite::tungstenite::Message;

fn anon(args: &[&str]) -> ServerProc {
    ServerProc::start(args, &[])
}

/// An instance alone, or on `redis` (subscribed): its own peers' traffic then also goes
/// through the bus (channels subscribed before welcome and join:ok, envelopes published).
async fn start(redis: Option<&Redis>, args: &[&str]) -> ServerProc {
    let Some(redis) = redis else {
        return anon(args);
    };
    eprintln!("on the {:?} Redis", redis.kind);
    let srv = ServerProc::start(args, &[("SYMPLE_REDIS_URL", &redis.url())]);
    srv.wait_redis_up().await;
    srv
}

/// No Redis, then the binary's shared Redis Cluster (each guard held while its run lasts).
fn alone_then_on_a_cluster() -> impl Iterator<Item = Option<MutexGuard<'static, Redis>>> {
    [None, Some(Kind::Cluster)]
        .into_iter()
        .map(|kind| kind.map(support::shared))
}

async fn refused(url: &str, first: Message) -> (Value, bool) {
    let mut c = Client {
        ws: Client::raw(url).await,
        welcome: Value::Null,
    };
    c.ws.send(first).await.unwrap();
    let err = c.next().await.unwrap_or(Value::Null);
    (err, c.closed().await)
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn anonymous_welcome_and_presence() {
    for redis in alone_then_on_a_cluster() {
        anonymous_welcome_and_presence_on(redis.as_deref()).await;
    }
}

async fn anonymous_welcome_and_presence_on(redis: Option<&Redis>) {
    let srv = start(redis, &[]).await;
    let mut alice = Client::auth(&srv.url(), json!({"user": "alice", "name": "Alice", "rooms": ["team"], "data": {"agent": "test"}, "token": "secret"})).await;
    let w = &alice.welcome;
    assert_eq!(
        (w["protocol"].as_str(), w["status"].as_i64()),
        (Some("symple/4"), Some(200))
    );
    assert_eq!(w["rooms"], json!(["alice", "team"]));
    let peer = &w["peer"];
    assert_eq!(
        (
            peer["user"].as_str(),
            peer["name"].as_str(),
            peer["online"].as_bool()
        ),
        (Some("alice"), Some("Alice"), Some(true))
    );
    assert_eq!(peer["host"], "127.0.0.1");
    assert_eq!(peer["agent"], "test", "application fields from data");
    assert!(
        peer.get("token").is_none(),
        "the token never leaves the server: {peer}"
    );
    assert_eq!(peer["id"].as_str().unwrap().len(), 32);

    // Bob joins: alice sees bob online; bob is told alice is there (roster).
    let mut bob = Client::auth(&srv.url(), json!({"user": "bob", "rooms": ["team"]})).await;
    assert_eq!(bob.welcome["peer"]["name"], "bob", "name defaults to user");
    let p = alice
        .expect("bob online", |v| v["type"] == "presence")
        .await;
    assert_eq!(
        (p["data"]["user"].as_str(), p["data"]["online"].as_bool()),
        (Some("bob"), Some(true))
    );
    assert_eq!(p["from"], bob.address());
    let r = bob
        .expect("alice in the roster", |v| v["type"] == "presence")
        .await;
    assert_eq!(r["data"]["id"], alice.id().as_str());
    assert!(r["data"].get("token").is_none());

    // Carol shares no room: nobody sees her, she sees nobody.
    let mut carol = Client::auth(&srv.url(), json!({"user": "carol"})).await;
    let (to_carol, to_alice) = (carol.drain().await, alice.drain().await);
    assert!(to_carol.is_empty(), "{to_carol:?}");
    assert!(to_alice.is_empty(), "{to_alice:?}");

    // Bob leaves: alice sees him offline.
    bob.ws.close(None).await.unwrap();
    let p = alice
        .expect("bob offline", |v| v["type"] == "presence")
        .await;
    assert_eq!(
        (p["data"]["user"].as_str(), p["data"]["online"].as_bool()),
        (Some("bob"), Some(false))
    );
}

/// Peers arriving at the same moment (with the room, or joining it right after) see each
/// other exactly once: the earlier one in the later one's roster, or the later one's online
/// presence reaching the earlier one, never both and never neither. (Once alice held a
/// second "bob online": bob was announced to her and was also in her roster, taken after
/// her welcome, by which time bob had arrived.)
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn arrivals_at_the_same_moment_see_each_other_once() {
    for redis in alone_then_on_a_cluster() {
        arrivals_at_the_same_moment_see_each_other_once_on(redis.as_deref()).await;
    }
}

async fn arrivals_at_the_same_moment_see_each_other_once_on(redis: Option<&Redis>) {
    const N: usize = 12;
    let srv = start(redis, &[]).await;
    let url = srv.url();
    let mut clients = futures_util::future::join_all((0..N).map(|i| {
        let url = url.clone();
        async move {
            let rooms = if i % 2 == 0 {
                json!(["storm"])
            } else {
                json!([])
            };
            let mut c = Client::auth(&url, json!({"user": format!("u{i}"), "rooms": rooms})).await;
            if i % 2 == 1 {
                c.send(json!({"type": "join", "room": "storm"})).await;
            }
            c
        }
    }))
    .await;
    let frames = futures_util::future::join_all(clients.iter_mut().map(Client::drain)).await;
    for (i, got) in frames.iter().enumerate() {
        let mut online = std::collections::BTreeMap::new();
        for p in got.iter().filter(|v| v["type"] == "presence") {
            assert_eq!(p["data"]["online"], true, "u{i} got {p}");
            let user = p["data"]["user"].as_str().unwrap_or_default().to_owned();
            *online.entry(user).or_insert(0) += 1;
        }
        let expected: std::collections::BTreeMap<String, i32> = (0..N)
            .filter(|j| *j != i)
            .map(|j| (format!("u{j}"), 1))
            .collect();
        assert_eq!(online, expected, "online presence seen by u{i}");
    }
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn routing_follows_rooms() {
    for redis in alone_then_on_a_cluster() {
        routing_follows_rooms_on(redis.as_deref()).await;
    }
}

async fn routing_follows_rooms_on(redis: Option<&Redis>) {
    let srv = start(redis, &[]).await;
    let url = srv.url();
    let mut a1 = Client::auth(&url, json!({"user": "alice", "rooms": ["team", "ops"]})).await;
    let mut a2 = Client::auth(&url, json!({"user": "alice"})).await;
    let mut bob = Client::auth(&url, json!({"user": "bob", "rooms": ["team", "ops"]})).await;
    let mut carol = Client::auth(&url, json!({"user": "carol", "rooms": ["other"]})).await;
    for c in [&mut a1, &mut a2, &mut bob, &mut carol] {
        c.drain().await;
    }
    let send = |to: Value, mark: &str| json!({"type": "message", "to": to, "from": "spoofed|x", "data": {"mark": mark}});
    let marks = |v: Vec<Value>| {
        v.iter()
            .map(|m| m["data"]["mark"].as_str().unwrap_or("").to_owned())
            .collect::<Vec<_>>()
    };

    // No `to`: every room of the sender, once each, never the sender; `from` is the sender.
    a1.send(json!({"type": "message", "data": {"mark": "all"}}))
        .await;
    let got = bob.messages().await;
    assert_eq!(
        marks(got.clone()),
        ["all"],
        "once, though bob shares two rooms"
    );
    assert_eq!(got[0]["from"], a1.address(), "from is overwritten");
    assert_eq!(
        marks(a2.messages().await),
        ["all"],
        "own other device via the user room"
    );
    assert!(a1.messages().await.is_empty() && carol.messages().await.is_empty());

    // user|id: that session only, and only with a shared room.
    a1.send(send(json!(bob.address()), "direct")).await;
    a1.send(send(json!(carol.address()), "no-shared-room"))
        .await;
    assert_eq!(marks(bob.messages().await), ["direct"]);
    assert!(
        carol.messages().await.is_empty(),
        "a direct message without a shared room is dropped"
    );
    // A bare peer id (as the JS client answers probes).
    a1.send(send(json!(bob.id()), "bare-id")).await;
    assert_eq!(marks(bob.messages().await), ["bare-id"]);

    // user: all of that user's sessions that share a room with the sender.
    bob.send(send(json!("alice"), "to-user")).await;
    assert_eq!(marks(a1.messages().await), ["to-user"]);
    assert!(
        a2.messages().await.is_empty(),
        "alice's second device shares no room with bob"
    );
    carol.send(send(json!("alice"), "stranger")).await;
    assert!(a1.messages().await.is_empty());

    // Rooms: only those the sender is in.
    bob.send(send(json!(["ops", "other"]), "rooms")).await;
    assert_eq!(marks(a1.messages().await), ["rooms"]);
    assert!(carol.messages().await.is_empty(), "bob is not in `other`");
    assert!(srv.metric("symple_dropped_total{reason=\"not_permitted\"}") >= 1);

    // Command and event route the same way.
    a1.send(
        json!({"type": "command", "to": bob.address(), "node": "media:video", "action": "get"}),
    )
    .await;
    a1.send(json!({"type": "event", "to": bob.address(), "name": "ping", "time": 1}))
        .await;
    let got = bob.drain().await;
    assert_eq!(
        got.iter()
            .map(|v| v["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["command", "event"]
    );
    assert!(got.iter().all(|v| v["from"] == a1.address().as_str()));
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn client_presence_speaks_only_for_the_sender() {
    for redis in alone_then_on_a_cluster() {
        client_presence_speaks_only_for_the_sender_on(redis.as_deref()).await;
    }
}

async fn client_presence_speaks_only_for_the_sender_on(redis: Option<&Redis>) {
    let srv = start(redis, &[]).await;
    let mut a = Client::auth(&srv.url(), json!({"user": "alice", "rooms": ["r"]})).await;
    let mut b = Client::auth(&srv.url(), json!({"user": "bob", "rooms": ["r"]})).await;
    a.drain().await;
    b.drain().await;
    b.send(json!({"type": "presence", "probe": true, "data": {"id": "fake", "user": "mallory", "token": "t", "status": "away"}})).await;
    let p = a
        .expect("bob's presence", |v| v["type"] == "presence")
        .await;
    assert_eq!(p["probe"], true);
    assert_eq!(
        (p["data"]["id"].as_str(), p["data"]["user"].as_str()),
        (Some(b.id().as_str()), Some("bob"))
    );
    assert_eq!(p["data"]["status"], "away");
    assert!(p["data"].get("token").is_none());
    // Alice answers the probe by bare id, as the JS client does.
    a.send(json!({"type": "presence", "to": b.id(), "data": {}}))
        .await;
    let p = b
        .expect("alice's answer", |v| v["type"] == "presence")
        .await;
    assert_eq!(p["data"]["user"], "alice");
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn join_and_leave() {
    for redis in alone_then_on_a_cluster() {
        join_and_leave_on(redis.as_deref()).await;
    }
}

async fn join_and_leave_on(redis: Option<&Redis>) {
    let srv = start(redis, &[]).await;
    let url = srv.url();
    let mut a = Client::auth(&url, json!({"user": "alice"})).await;
    let mut b = Client::auth(&url, json!({"user": "bob", "rooms": ["lobby"]})).await;
    a.send(json!({"type": "join", "room": "lobby"})).await;
    assert_eq!(
        a.expect("join:ok", |v| v["type"] == "join:ok").await["room"],
        "lobby"
    );
    // Each learns of the other on join.
    let r = a
        .expect("roster of the joined room", |v| v["type"] == "presence")
        .await;
    assert_eq!(r["data"]["user"], "bob");
    let p = b.expect("alice joined", |v| v["type"] == "presence").await;
    assert_eq!(p["data"]["user"], "alice");

    b.send(json!({"type": "message", "to": ["lobby"], "data": 1}))
        .await;
    assert_eq!(a.messages().await.len(), 1);

    // Another user's personal room cannot be joined, nor your own left.
    a.send(json!({"type": "join", "room": "bob"})).await;
    let e = a.expect("error", |v| v["type"] == "error").await;
    assert_eq!(e["status"], 403);
    a.send(json!({"type": "leave", "room": "alice"})).await;
    assert_eq!(
        a.expect("error", |v| v["type"] == "error").await["status"],
        403
    );

    a.send(json!({"type": "leave", "room": "lobby"})).await;
    assert_eq!(
        a.expect("leave:ok", |v| v["type"] == "leave:ok").await["room"],
        "lobby"
    );
    b.send(json!({"type": "message", "to": ["lobby"], "data": 2}))
        .await;
    assert!(a.messages().await.is_empty());

    let closed = anon(&["--dynamic-rooms", "false"]);
    let mut c = Client::auth(&closed.url(), json!({"user": "c"})).await;
    c.send(json!({"type": "join", "room": "x"})).await;
    let e = c.expect("error", |v| v["type"] == "error").await;
    assert_eq!(e["status"], 403);
    assert!(e["message"].as_str().unwrap().contains("Dynamic rooms"));
}

#[tokio::test]
async fn auth_failures_are_401_and_close() {
    let srv = anon(&["--auth-timeout", "0.5"]);
    let url = srv.url();
    for (frame, what) in [
        (Message::text(r#"{"type":"auth"}"#), "missing user"),
        (Message::text(r#"{"type":"message","data":1}"#), "not auth"),
        (Message::text("null"), "null"),
        (Message::text("[1,2]"), "array"),
        (Message::binary(vec![1, 2, 3]), "binary"),
    ] {
        let (err, closed) = refused(&url, frame).await;
        assert_eq!(
            (err["type"].as_str(), err["status"].as_i64()),
            (Some("error"), Some(401)),
            "{what}: {err}"
        );
        assert!(closed, "{what}: closed after the error");
    }
    // Silence: 408 after the auth timeout, then close.
    let mut c = Client {
        ws: Client::raw(&url).await,
        welcome: Value::Null,
    };
    let err = c.next().await.unwrap();
    assert_eq!(err["status"], 408);
    assert!(c.closed().await);
    // The server is fine.
    Client::auth(&url, json!({"user": "ok"})).await;
    assert_eq!(srv.metric("symple_connections_refused_total"), 6);
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn bad_frames_after_auth_keep_the_connection() {
    for redis in alone_then_on_a_cluster() {
        bad_frames_after_auth_keep_the_connection_on(redis.as_deref()).await;
    }
}

async fn bad_frames_after_auth_keep_the_connection_on(redis: Option<&Redis>) {
    let srv = start(redis, &["--max-message-size", "1000"]).await;
    let mut a = Client::auth(&srv.url(), json!({"user": "a", "rooms": ["r"]})).await;
    let mut b = Client::auth(&srv.url(), json!({"user": "b", "rooms": ["r"]})).await;
    a.drain().await;
    let cases: Vec<(Message, i64)> = vec![
        (Message::text("{bad json"), 400),
        (Message::text("null"), 400),
        (Message::text("42"), 400),
        (Message::text(r#"{"type":"unknown"}"#), 400),
        (Message::text(r#"{"data":1}"#), 400),
        (Message::text(r#"{"type":"message","to":{"x":1}}"#), 400),
        (Message::text(r#"{"type":"message","to":""}"#), 400),
        (Message::binary(vec![0u8; 10]), 400),
        (
            Message::text(format!(
                r#"{{"type":"message","data":"{}"}}"#,
                "x".repeat(2000)
            )),
            413,
        ),
    ];
    for (frame, status) in cases {
        a.ws.send(frame.clone()).await.unwrap();
        let e = a.expect("error", |v| v["type"] == "error").await;
        assert_eq!(e["status"], status, "{frame:?}");
    }
    // Still connected and routing.
    a.send(json!({"type": "message", "data": "still here"}))
        .await;
    assert_eq!(b.messages().await[0]["data"], "still here");
    assert!(
        b.drain().await.iter().all(|v| v["type"] != "error"),
        "b got nothing of a's errors"
    );

    // A frame far beyond the limit ends that connection only.
    let _ = a.ws.send(Message::text("x".repeat(2 << 20))).await;
    assert!(a.closed().await);
    b.send(json!({"type": "message", "to": "b", "data": 1}))
        .await;
    assert_eq!(srv.http("/health").0, 200);
}

#[tokio::test]
async fn limits_connections_and_rate() {
    let srv = anon(&[
        "--max-connections",
        "2",
        "--rate-limit",
        "5",
        "--rate-seconds",
        "60",
    ]);
    let url = srv.url();
    let mut a = Client::auth(&url, json!({"user": "a", "rooms": ["r"]})).await;
    let mut b = Client::auth(&url, json!({"user": "b", "rooms": ["r"]})).await;
    let mut third = Client {
        ws: Client::raw(&url).await,
        welcome: Value::Null,
    };
    let e = third.next().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["status"], 503);
    assert!(third.closed().await);

    a.drain().await;
    b.drain().await;
    for i in 0..20 {
        a.send(json!({"type": "message", "data": i})).await;
    }
    let errors: Vec<Value> = a
        .drain()
        .await
        .into_iter()
        .filter(|v| v["type"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "reported once: {errors:?}");
    assert_eq!(errors[0]["status"], 429);
    assert_eq!(b.messages().await.len(), 5, "excess dropped");
    assert_eq!(
        srv.metric("symple_dropped_total{reason=\"rate_limited\"}"),
        15
    );
}

#[tokio::test]
async fn past_the_open_file_limit_clients_are_refused_not_left_hanging() {
    // 100 descriptors: the server keeps 64 in reserve, so it takes 36 connections.
    let srv = ServerProc::start_with_nofile(100);
    let mut held = Vec::new();
    for i in 0..36 {
        held.push(Client::auth(&srv.url(), json!({"user": format!("u{i}")})).await);
    }
    let mut extra = Client {
        ws: Client::raw(&srv.url()).await,
        welcome: Value::Null,
    };
    let e = extra.next().await.expect("an answer, not a hang");
    assert_eq!(e["status"], 503);
    assert!(extra.closed().await);
    assert_eq!(srv.http("/health").0, 200);
}

#[tokio::test]
async fn vanished_client_is_cleaned_up() {
    let srv = anon(&["--ping-interval", "0.3"]);
    let mut a = Client::auth(&srv.url(), json!({"user": "a", "rooms": ["r"]})).await;
    let b = Client::auth(&srv.url(), json!({"user": "b", "rooms": ["r"]})).await;
    a.drain().await;
    // Drop the TCP connection with no close frame.
    drop(b);
    let p = a.expect("b offline", |v| v["type"] == "presence").await;
    assert_eq!(p["data"]["online"], false);
    assert_eq!(srv.metric("symple_peers"), 1);
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn token_mode_lets_the_session_decide() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        token_mode_lets_the_session_decide_on(&redis).await;
    }
}

async fn token_mode_lets_the_session_decide_on(redis: &Redis) {
    let store = SessionStore::connect(redis.url()).unwrap();
    let token = store
        .create(
            &data_object(
                json!({"user": "alice", "name": "Alice", "rooms": ["team"], "plan": "pro"}),
            )
            .unwrap(),
            Some(600),
        )
        .unwrap();
    let bob_token = store
        .create(
            &data_object(json!({"user": "bob", "rooms": ["team"]})).unwrap(),
            None,
        )
        .unwrap();
    let srv = ServerProc::start(
        &["--authentication", "true"],
        &[("SYMPLE_REDIS_URL", &redis.url())],
    );
    // Subscribed (on a cluster, one connection per master): /health says so below.
    srv.wait_redis_up().await;
    let url = srv.url();

    let mut alice = Client::auth(
        &url,
        json!({"user": "mallory", "token": token, "rooms": ["admins"], "name": "M"}),
    )
    .await;
    let w = &alice.welcome;
    assert_eq!(w["peer"]["user"], "alice", "the session's user wins");
    assert_eq!(w["peer"]["name"], "Alice");
    assert_eq!(w["peer"]["plan"], "pro");
    assert_eq!(w["rooms"], json!(["alice", "team"]), "client rooms ignored");
    assert!(w["peer"].get("token").is_none());

    let mut bob = Client::auth(&url, json!({"user": "bob", "token": bob_token})).await;
    let p = alice
        .expect("bob online", |v| v["type"] == "presence")
        .await;
    assert!(p["data"].get("token").is_none());
    let r = bob.expect("roster", |v| v["type"] == "presence").await;
    assert!(
        !r.to_string().contains(&token),
        "no token anywhere in presence"
    );

    // Failures: 401 and close.
    let _: () = redis::Commands::set(&mut redis.conn(), "symple:session:notobj", "[1]").unwrap();
    let _: () = redis::Commands::set(
        &mut redis.conn(),
        "symple:session:nouser",
        "{\"name\":\"x\"}",
    )
    .unwrap();
    for auth in [
        json!({"user": "x"}),
        json!({"user": "x", "token": "unknown"}),
        json!({"token": "notobj"}),
        json!({"token": "nouser"}),
    ] {
        let mut m = auth.clone();
        m["type"] = json!("auth");
        let (err, closed) = refused(&url, Message::text(m.to_string())).await;
        assert_eq!(err["status"], 401, "{auth}: {err}");
        assert!(closed);
    }
    // After logout the token is refused.
    store.delete(&token).unwrap();
    let (err, _) = refused(
        &url,
        Message::text(json!({"type": "auth", "token": token}).to_string()),
    )
    .await;
    assert_eq!(err["status"], 401);
    assert_eq!(srv.http("/health").0, 200);
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn active_peers_keep_their_session_alive() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        active_peers_keep_their_session_alive_on(&redis).await;
    }
}

async fn active_peers_keep_their_session_alive_on(redis: &Redis) {
    let store = SessionStore::connect(redis.url()).unwrap();
    let token = store
        .create(&data_object(json!({"user": "alice"})).unwrap(), Some(30))
        .unwrap();
    let srv = ServerProc::start(
        &["--authentication", "true"],
        &[
            ("SYMPLE_REDIS_URL", &redis.url()),
            ("SYMPLE_SESSION_TTL", "10"),
        ],
    );
    let _alice = Client::auth(&srv.url(), json!({"token": token})).await;
    let mut extended = false;
    for _ in 0..50 {
        if matches!(store.ttl(&token).unwrap(), Some(symple::session::Ttl::Seconds(s)) if s > 500) {
            extended = true;
            break;
        }
        tokio::time::sleep(QUIET / 4).await;
    }
    assert!(
        extended,
        "SYMPLE_SESSION_TTL=10 (minutes) extends the session on connect"
    );
    // Touching never creates: a deleted session stays deleted while the peer is active.
    store.delete(&token).unwrap();
    assert!(!store.exists(&token).unwrap());
}

#[tokio::test]
async fn health_and_metrics() {
    let srv = anon(&[]);
    let (code, body) = srv.http("/health");
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["redis"].as_str()),
        (Some("ok"), Some("disabled"))
    );
    let _c = Client::auth(&srv.url(), json!({"user": "a", "rooms": ["x", "y"]})).await;
    assert_eq!(srv.metric("symple_peers"), 1);
    assert_eq!(srv.metric("symple_rooms"), 3);
    assert_eq!(srv.metric("symple_connections"), 1);
    let (_, text) = srv.http("/metrics");
    assert!(text.contains("# TYPE symple_messages_in_total counter"));
    assert_eq!(srv.http("/").0, 200, "plain GET explains itself");
}
