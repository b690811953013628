//! End to end against the real Socket.IO-based Symple server: two instances of npm's
//! `symple@2.1.1` on one Redis with token auth, socket.io-client clients, and messages emitted
//! by our CLI and our Rust API. Each message reaches exactly the right sockets, once each.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{symple_bin, Harness, Redis};
use symple::{Address, Emitter};

/// Expected recipients of each marked message.
type Expect = Vec<(String, &'static [&'static str])>;

fn cli_emit(redis: &Redis, args: &[&str]) {
    let out = Command::new(symple_bin())
        .arg("emit")
        .args(["--url", &redis.url()])
        .args(args)
        .output()
        .expect("run symple");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn emitted_messages_reach_exactly_the_right_sockets() {
    let redis = Redis::start();
    let mut h = Harness::start(&redis, 2);
    for (token, user) in [
        ("t-alice", json!("alice")),
        ("t-bob", json!("bob")),
        ("t-carol", json!("carol")),
        ("t-dave", json!(4242)),
    ] {
        h.session(token, json!({"user": user, "name": "someone"}));
    }
    // alice on two devices split across the instances; dave's user is the integer 4242.
    h.connect("alice1", 0, json!("alice"), "t-alice", &[])
        .unwrap();
    let alice2 = h
        .connect("alice2", 1, json!("alice"), "t-alice", &[])
        .unwrap();
    h.connect("bob", 1, json!("bob"), "t-bob", &["room-b"])
        .unwrap();
    h.connect("carol", 0, json!("carol"), "t-carol", &[])
        .unwrap();
    h.connect("dave", 1, json!(4242), "t-dave", &[]).unwrap();
    // A token without a session is refused: the server really checks Redis.
    let refused = h
        .connect("mallory", 0, json!("mallory"), "t-none", &[])
        .unwrap_err();
    assert!(refused.contains("No session"), "{refused}");

    let emitter = Emitter::connect(redis.url()).unwrap();
    let mut expect: Expect = Vec::new();
    let mark = |n: usize| format!("m{n}");

    // 1. CLI, to a user: both of alice's sockets.
    cli_emit(
        &redis,
        &[
            "--to",
            "alice",
            "--data",
            &json!({"mark": mark(1)}).to_string(),
        ],
    );
    expect.push((mark(1), &["alice1", "alice2"]));
    // 2. Rust, to one session: alice|<socket id> reaches that socket only.
    let one: Address = format!("alice|{alice2}").parse().unwrap();
    emitter.to(&one).send(json!({"mark": mark(2)})).unwrap();
    expect.push((mark(2), &["alice2"]));
    // 3. Rust, to a room bob joined.
    emitter.to("room-b").send(json!({"mark": mark(3)})).unwrap();
    expect.push((mark(3), &["bob"]));
    // 4. Rust, to everybody.
    emitter.send(json!({"mark": mark(4)})).unwrap();
    expect.push((mark(4), &["alice1", "alice2", "bob", "carol", "dave"]));
    // 5. Rust, to everybody except a room (bob's personal room).
    emitter
        .except("bob")
        .send(json!({"mark": mark(5)}))
        .unwrap();
    expect.push((mark(5), &["alice1", "alice2", "carol", "dave"]));
    // 6. An integer room reaches the integer user; the string "4242" is another room.
    emitter.to(4242).send(json!({"mark": mark(6)})).unwrap();
    expect.push((mark(6), &["dave"]));
    emitter.to("4242").send(json!({"mark": mark(7)})).unwrap();
    expect.push((mark(7), &[]));
    cli_emit(
        &redis,
        &[
            "--to",
            "4242",
            "--data",
            &json!({"mark": mark(8)}).to_string(),
        ],
    );
    expect.push((mark(8), &["dave"]));
    // 9. CLI --message: the object arrives unchanged; its own `to` picks the room.
    cli_emit(
        &redis,
        &[
            "--message",
            &json!({"type": "message", "to": "carol", "data": {"mark": mark(9)}}).to_string(),
        ],
    );
    expect.push((mark(9), &["carol"]));
    // 10. Several rooms: a socket in two of them gets it once.
    emitter
        .to(["alice", "room-b", "bob"])
        .send(json!({"mark": mark(10)}))
        .unwrap();
    expect.push((mark(10), &["alice1", "alice2", "bob"]));
    // 11. CLI to everybody except two rooms.
    cli_emit(
        &redis,
        &[
            "--except",
            "alice",
            "--except",
            "4242",
            "--data",
            &json!({"mark": mark(11)}).to_string(),
        ],
    );
    expect.push((mark(11), &["bob", "carol"]));
    // 12. The async emitter, pipelined batch.
    let rt = support::runtime();
    rt.block_on(async {
        let a = Emitter::builder(redis.url())
            .from("worker|7")
            .connect_async()
            .await
            .unwrap();
        a.to("carol")
            .emit_batch(vec![json!({"type": "message", "data": {"mark": mark(12)}})])
            .await
            .unwrap();
    });
    expect.push((mark(12), &["carol"]));
    // 13. A volatile emit in another namespace reaches nobody (Symple uses `/`).
    emitter
        .of("/other")
        .volatile()
        .send(json!({"mark": mark(13)}))
        .unwrap();
    expect.push((mark(13), &[]));

    let received = h.messages(Duration::from_millis(1500));
    let mut by_mark: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (client, data) in &received {
        let m = data["data"]["mark"]
            .as_str()
            .unwrap_or_else(|| panic!("unexpected message {data}"));
        by_mark
            .entry(m.to_owned())
            .or_default()
            .push(client.clone());
    }
    for (m, who) in &expect {
        let mut got = by_mark.remove(m).unwrap_or_default();
        got.sort();
        assert_eq!(got, who.to_vec(), "recipients of {m} (exactly once each)");
    }
    assert!(by_mark.is_empty(), "unexpected: {by_mark:?}");

    // What arrived is a Symple message: type, id, from, data.
    let (_, m4) = received
        .iter()
        .find(|(c, d)| c == "carol" && d["data"]["mark"] == "m4")
        .unwrap();
    assert_eq!(
        (m4["type"].as_str(), m4["from"].as_str()),
        (Some("message"), Some("server"))
    );
    assert!(
        m4["id"]
            .as_str()
            .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()),
        "{m4}"
    );
    let (_, m12) = received
        .iter()
        .find(|(_, d)| d["data"]["mark"] == "m12")
        .unwrap();
    assert_eq!(m12["from"], "worker|7");
}

#[test]
fn server_side_requests_move_and_disconnect_sockets() {
    let redis = Redis::start();
    let mut h = Harness::start(&redis, 2);
    h.session("t-a", json!({"user": "alice"}));
    h.session("t-b", json!({"user": "bob"}));
    h.connect("alice", 0, json!("alice"), "t-a", &[]).unwrap();
    h.connect("bob", 1, json!("bob"), "t-b", &[]).unwrap();
    let emitter = Emitter::connect(redis.url()).unwrap();

    // alice joins "vip" by request; requests are not acknowledged, so retry the probe emit
    // until it lands (bounded), then check that only alice ever got a probe.
    emitter.to("alice").sockets_join("vip").unwrap();
    let mut arrived = false;
    for i in 0..50 {
        emitter.to("vip").send(json!({"probe": i})).unwrap();
        if h.messages(Duration::from_millis(100))
            .iter()
            .any(|(c, _)| c == "alice")
        {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "alice joined vip");
    emitter.to("vip").send(json!({"probe": "final"})).unwrap();
    let got = h.messages(Duration::from_millis(500));
    assert_eq!(
        got.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );

    emitter.to("bob").disconnect_sockets(true).unwrap();
    let d = h.wait_for(Duration::from_secs(5), |v| v["event"] == "disconnect");
    assert_eq!(d["name"], "bob");
    assert_eq!(d["reason"], "io server disconnect");
}

#[test]
fn sessions_from_our_store_authenticate_on_symple_2_1_1() {
    use symple::session::{data_object, SessionStore};
    let redis = Redis::start();
    let mut h = Harness::start(&redis, 1);
    let store = SessionStore::connect(redis.url()).unwrap();
    let data = data_object(json!({"user": "erin", "name": "Erin", "rooms": ["team-e"]})).unwrap();
    let token = store.create(&data, Some(600)).unwrap();

    h.connect("erin", 0, json!("erin"), &token, &[]).unwrap();
    let emitter = Emitter::connect(redis.url()).unwrap();
    emitter
        .to("erin")
        .send(json!({"mark": "user-room"}))
        .unwrap();
    // symple@2.1.1 joins only the user's room: a session's `rooms` are not joined by it (our
    // own server joins them). The backend can join them with a server-side request.
    emitter
        .to("team-e")
        .send(json!({"mark": "session-room-before"}))
        .unwrap();
    let got = h.messages(Duration::from_millis(800));
    let marks: Vec<&str> = got
        .iter()
        .filter_map(|(_, d)| d["data"]["mark"].as_str())
        .collect();
    assert_eq!(marks, ["user-room"]);

    emitter.to("erin").sockets_join(vec!["team-e"]).unwrap();
    let mut reached = false;
    for _ in 0..50 {
        emitter
            .to("team-e")
            .send(json!({"mark": "session-room"}))
            .unwrap();
        if !h.messages(Duration::from_millis(100)).is_empty() {
            reached = true;
            break;
        }
    }
    assert!(
        reached,
        "a message to the session's room reaches the client once joined"
    );

    // After logout the same token is refused.
    assert!(store.delete(&token).unwrap());
    let err = h
        .connect("erin-again", 0, json!("erin"), &token, &[])
        .unwrap_err();
    assert!(err.contains("No session"), "{err}");
    // A value that is not an object is refused too (symple reports it, does not crash).
    let _: () = redis::Commands::set(&mut redis.conn(), "symple:session:num", "5").unwrap();
    let err = h.connect("num", 0, json!("erin"), "num", &[]).unwrap_err();
    assert!(!err.is_empty());
}
