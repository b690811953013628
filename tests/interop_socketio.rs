//! End to end against real Socket.IO servers on one Redis: npm's `symple@2.1.1` (token auth,
//! `@socket.io/redis-adapter` 7.2 inside), and socket.io 4.8 with `@socket.io/redis-adapter` 8
//! (classic, and sharded in each subscription mode) or `@socket.io/redis-streams-adapter`;
//! socket.io-client clients; messages emitted by our CLI, our blocking and our async Rust API,
//! each on the matching target. Each message reaches exactly the right sockets, once each.
//! The socket.io 4.8 kinds run on a single Redis and again on a 3-master Redis Cluster (their
//! node-redis clients made by `createCluster`).

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{shared, symple_bin, Harness, Kind, Redis};
use symple::packet::sharded::{Sharded, SubscriptionMode};
use symple::packet::streams::Streams;
use symple::{Address, Emitter, EmitterBuilder, Target};

/// Expected recipients of each marked message.
type Expect = Vec<(String, &'static [&'static str])>;

/// The Socket.IO servers a test runs against, and the target that reaches them.
#[derive(Clone, Copy, Debug)]
enum Servers {
    /// npm symple@2.1.1 (classic adapter 7.2, key `symple`).
    Symple,
    /// socket.io 4.8 + the classic adapter of @socket.io/redis-adapter 8.
    Classic,
    /// socket.io 4.8 + `createShardedAdapter` in a subscription mode.
    Sharded(SubscriptionMode),
    /// socket.io 4.8 + @socket.io/redis-streams-adapter (default stream).
    Streams,
}

impl Servers {
    fn harness(self, redis: &Redis, n: usize) -> Harness {
        let kind = match self {
            Servers::Symple => "symple".to_owned(),
            Servers::Classic => "classic".to_owned(),
            Servers::Sharded(mode) => format!("sharded:{mode}"),
            Servers::Streams => "streams".to_owned(),
        };
        Harness::start_kind(redis, n, &kind)
    }

    fn target(self) -> Target {
        match self {
            Servers::Symple | Servers::Classic => Target::default(),
            Servers::Sharded(mode) => {
                Target::SocketIoSharded(Sharded::default().subscription_mode(mode))
            }
            Servers::Streams => Target::SocketIoStreams(Streams::default()),
        }
    }

    fn builder(self, redis: &Redis) -> EmitterBuilder {
        Emitter::builder(redis.url()).target(self.target())
    }

    fn emitter(self, redis: &Redis) -> Emitter {
        self.builder(redis).connect().unwrap()
    }

    /// `symple emit --url … <target flags> <args>`, which must succeed.
    fn cli(self, redis: &Redis, args: &[&str]) {
        let target = self.target();
        let mut cmd = Command::new(symple_bin());
        cmd.arg("emit")
            .args(["--url", &redis.url()])
            .args(["--target", target.name()]);
        if let Servers::Sharded(mode) = self {
            cmd.args(["--subscription-mode", mode.as_str()]);
        }
        let out = cmd.args(args).output().expect("run symple");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every case of the suite, on `servers`: a user's room, one socket, a joined room, everybody,
/// except, integer and string rooms, a message's own `to`, several rooms, a room with an
/// exception, the async emitter, another namespace, and a burst of 100 that arrives in order;
/// nobody receives anything else.
fn deliveries(servers: Servers, redis: &Redis) {
    let mut h = servers.harness(redis, 2);
    for (token, user) in [
        ("t-alice", json!("alice")),
        ("t-bob", json!("bob")),
        ("t-carol", json!("carol")),
        ("t-dave", json!(4242)),
    ] {
        h.session(token, json!({"user": user, "name": "someone"}));
    }
    // alice on two devices split across the instances; dave's user is the integer 4242.
    let alice1 = h
        .connect("alice1", 0, json!("alice"), "t-alice", &[])
        .unwrap();
    let alice2 = h
        .connect("alice2", 1, json!("alice"), "t-alice", &[])
        .unwrap();
    h.connect("bob", 1, json!("bob"), "t-bob", &["room-b"])
        .unwrap();
    h.connect("carol", 0, json!("carol"), "t-carol", &[])
        .unwrap();
    h.connect("dave", 1, json!(4242), "t-dave", &[]).unwrap();
    if let Servers::Symple = servers {
        // A token without a session is refused: the server really checks Redis.
        let refused = h
            .connect("mallory", 0, json!("mallory"), "t-none", &[])
            .unwrap_err();
        assert!(refused.contains("No session"), "{refused}");
    }

    let emitter = servers.emitter(redis);
    let mut expect: Expect = Vec::new();
    let mark = |n: usize| format!("m{n}");
    let data = |n: usize| json!({"mark": mark(n)}).to_string();

    // 1. CLI, to a user: both of alice's sockets.
    servers.cli(redis, &["--to", "alice", "--data", &data(1)]);
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
    servers.cli(redis, &["--to", "4242", "--data", &data(8)]);
    expect.push((mark(8), &["dave"]));
    // 9. CLI --message: the object arrives unchanged; its own `to` picks the room.
    let own_to = json!({"type": "message", "to": "carol", "data": {"mark": mark(9)}});
    servers.cli(redis, &["--message", &own_to.to_string()]);
    expect.push((mark(9), &["carol"]));
    // 10. Several rooms: a socket in two of them gets it once.
    emitter
        .to(["alice", "room-b", "bob"])
        .send(json!({"mark": mark(10)}))
        .unwrap();
    expect.push((mark(10), &["alice1", "alice2", "bob"]));
    // 11. CLI to everybody except two rooms.
    servers.cli(
        redis,
        &["--except", "alice", "--except", "4242", "--data", &data(11)],
    );
    expect.push((mark(11), &["bob", "carol"]));
    // 12. The async emitter, pipelined batch.
    let rt = support::runtime();
    rt.block_on(async {
        let a = servers
            .builder(redis)
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
    // 13. A volatile emit in another namespace reaches nobody (the clients use `/`).
    emitter
        .of("/other")
        .volatile()
        .send(json!({"mark": mark(13)}))
        .unwrap();
    expect.push((mark(13), &[]));
    // 14. A room with an exception: alice's room but not her second socket.
    emitter
        .to("alice")
        .except(alice2.as_str())
        .send(json!({"mark": mark(14)}))
        .unwrap();
    expect.push((mark(14), &["alice1"]));
    // 15. CLI, a room with an exception, through a socket-id room.
    // (`--except=<id>`: a socket id may start with `-`.)
    let except = format!("--except={alice1}");
    servers.cli(redis, &["--to", "alice", &except, "--data", &data(15)]);
    expect.push((mark(15), &["alice2"]));
    // 16. A burst of 100 to carol, pipelined: every one arrives, in order.
    let burst: Vec<_> = (0..100)
        .map(|i| json!({"type": "message", "data": {"burst": i}}))
        .collect();
    emitter.to("carol").emit_batch(burst).unwrap();

    let received = h.messages(Duration::from_millis(1500));
    let mut by_mark: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bursts = Vec::new();
    for (client, data) in &received {
        if let Some(i) = data["data"]["burst"].as_i64() {
            assert_eq!(client, "carol", "burst message {i}");
            bursts.push(i);
            continue;
        }
        let m = data["data"]["mark"]
            .as_str()
            .unwrap_or_else(|| panic!("unexpected message {data}"));
        by_mark
            .entry(m.to_owned())
            .or_default()
            .push(client.clone());
    }
    assert_eq!(bursts, (0..100).collect::<Vec<_>>(), "the burst, in order");
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

/// Whether `client` (whose personal room is `own_room`) is in `room` now: a probe to `room`
/// arrives before a fence sent after it to `own_room` (each server delivers in the order Redis
/// got them). Every other message seen meanwhile is returned too.
fn in_room(
    h: &mut Harness,
    emitter: &Emitter,
    client: &str,
    own_room: &str,
    room: &str,
    n: usize,
) -> (bool, Vec<(String, serde_json::Value)>) {
    emitter.to(room).send(json!({"probe": n})).unwrap();
    emitter.to(own_room).send(json!({"fence": n})).unwrap();
    h.wait_for(Duration::from_secs(10), |v| {
        v["event"] == "message" && v["name"] == client && v["data"]["data"]["fence"] == n
    });
    let seen = h.messages(Duration::ZERO);
    let probed = seen
        .iter()
        .any(|(c, d)| c == client && d["data"]["probe"] == n);
    (probed, seen)
}

/// Server-side room operations through the target's own request packets. Every room name
/// starts with `tag`: on a cluster a hash tag puts the probe's room and the fence's room in one
/// slot, so both go to one node in order (rooms in different slots are published on different
/// nodes, and a late probe would pass for a missing one).
fn requests(servers: Servers, redis: &Redis, tag: &str) {
    let (alice, bob, vip) = (
        format!("{tag}alice"),
        format!("{tag}bob"),
        format!("{tag}vip"),
    );
    let mut h = servers.harness(redis, 2);
    h.session("t-a", json!({"user": alice}));
    h.session("t-b", json!({"user": bob}));
    h.connect("alice", 0, json!(alice), "t-a", &[]).unwrap();
    h.connect("bob", 1, json!(bob), "t-b", &[]).unwrap();
    let emitter = servers.emitter(redis);
    let mut n = 0;
    let (before, _) = in_room(&mut h, &emitter, "alice", &alice, &vip, n);
    assert!(!before, "alice starts outside vip");

    // Requests are applied asynchronously and not acknowledged: probe until they take
    // effect (bounded); only alice ever gets a probe.
    emitter.to(&alice).sockets_join(&vip).unwrap();
    let joined = (1..=50).any(|i| {
        n = i;
        let (probed, seen) = in_room(&mut h, &emitter, "alice", &alice, &vip, i);
        assert!(seen.iter().all(|(c, _)| c == "alice"), "{seen:?}");
        probed
    });
    assert!(joined, "alice joined vip");
    emitter.to(&alice).sockets_leave(&vip).unwrap();
    let left = (n + 1..=n + 50).any(|i| {
        n = i;
        let (probed, seen) = in_room(&mut h, &emitter, "alice", &alice, &vip, i);
        assert!(seen.iter().all(|(c, _)| c == "alice"), "{seen:?}");
        !probed
    });
    assert!(left, "alice left vip");

    emitter.to(&bob).disconnect_sockets(true).unwrap();
    let d = h.wait_for(Duration::from_secs(5), |v| v["event"] == "disconnect");
    assert_eq!(d["name"], "bob");
    assert_eq!(d["reason"], "io server disconnect");
    // alice is still connected and still out of vip.
    let (probed, seen) = in_room(&mut h, &emitter, "alice", &alice, &vip, n + 1);
    assert!(!probed && seen.is_empty(), "{seen:?}");
}

macro_rules! on_every_server_kind {
    ($($name:ident: $servers:expr;)*) => {
        mod deliveries {
            use super::*;
            $(#[test] fn $name() { deliveries($servers, &Redis::start()) })*
        }
        mod requests {
            use super::*;
            $(#[test] fn $name() { requests($servers, &Redis::start(), "") })*
        }
    };
}

on_every_server_kind! {
    symple_2_1_1: Servers::Symple;
    classic_adapter_8: Servers::Classic;
    sharded_static: Servers::Sharded(SubscriptionMode::Static);
    sharded_dynamic: Servers::Sharded(SubscriptionMode::Dynamic);
    sharded_dynamic_private: Servers::Sharded(SubscriptionMode::DynamicPrivate);
    streams: Servers::Streams;
}

/// The same on the shared 3-master cluster (one test at a time): the classic target's PUBLISH
/// reaches every node, the sharded target's SPUBLISH and the Streams target's XADD go to the
/// shard of their channel or stream. npm symple@2.1.1 cannot use a cluster.
macro_rules! on_the_cluster {
    ($($name:ident: $servers:expr;)*) => {
        mod cluster {
            use super::*;
            $(#[test] fn $name() {
                let redis = shared(Kind::Cluster);
                deliveries($servers, &redis);
                requests($servers, &redis, "{r}");
            })*
        }
    };
}

on_the_cluster! {
    classic_adapter_8: Servers::Classic;
    sharded_static: Servers::Sharded(SubscriptionMode::Static);
    sharded_dynamic: Servers::Sharded(SubscriptionMode::Dynamic);
    sharded_dynamic_private: Servers::Sharded(SubscriptionMode::DynamicPrivate);
    streams: Servers::Streams;
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

#[test]
fn streams_recovery_delivers_what_a_client_missed() {
    recovery(&Redis::start());
}

#[test]
fn streams_recovery_on_the_cluster() {
    recovery(&shared(Kind::Cluster));
}

/// A client of the Streams adapter with connection-state recovery drops off, our emitter
/// sends meanwhile, and on its return the client gets all of it, in order.
fn recovery(redis: &Redis) {
    let mut h = Servers::Streams.harness(redis, 2);
    h.connect("erin", 0, json!("erin"), "t", &["team"]).unwrap();
    h.connect("frank", 1, json!("frank"), "t", &["team"])
        .unwrap();
    let emitter = Servers::Streams.emitter(redis);
    // A first message gives erin's client an offset in the stream to resume from.
    emitter.to("erin").send(json!({"n": 0})).unwrap();
    let first = h.wait_for(Duration::from_secs(10), |v| v["event"] == "message");
    assert_eq!(
        (&first["name"], &first["data"]["data"]),
        (&json!("erin"), &json!({"n": 0}))
    );

    let dropped = h.call(json!({"cmd": "drop", "name": "erin"}));
    assert_eq!(dropped["event"], "ok", "{dropped}");
    // While erin is away: to her room, to a room she is in, and a burst, the CLI too.
    for n in 1..=3 {
        emitter.to("erin").send(json!({"n": n})).unwrap();
    }
    emitter.to("team").send(json!({"n": 4})).unwrap();
    emitter
        .to("erin")
        .emit_batch((5..=24).map(|n| json!({"type": "message", "data": {"n": n}})))
        .unwrap();
    Servers::Streams.cli(redis, &["--to", "erin", "--data", r#"{"n":25}"#]);
    // frank, connected throughout, gets the team message live, and nothing meant for erin.
    let live = h.wait_for(Duration::from_secs(10), |v| v["event"] == "message");
    assert_eq!(
        (&live["name"], &live["data"]["data"]),
        (&json!("frank"), &json!({"n": 4}))
    );

    let back = h.call(json!({"cmd": "reconnect", "name": "erin"}));
    assert_eq!(back["event"], "connected", "{back}");
    assert_eq!(
        back["recovered"], true,
        "the server restored erin's session: {back}"
    );
    emitter.to("erin").send(json!({"n": 26})).unwrap();
    let got = h.messages(Duration::from_millis(1500));
    let erin: Vec<i64> = got
        .iter()
        .map(|(c, d)| {
            assert_eq!(c, "erin", "{d}");
            d["data"]["n"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(
        erin,
        (1..=26).collect::<Vec<_>>(),
        "what erin missed, once each and in order, then the live one"
    );
}
