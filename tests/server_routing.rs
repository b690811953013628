//! Interest-based routing between instances: each instance receives from Redis only the
//! traffic of rooms, users and peers it holds, and still delivers everything once to
//! every recipient with the rooms rule.

mod support;

use std::collections::HashMap;

use serde_json::{json, Value};
use support::ws::{presence_label, Client, ServerProc};
use support::{Kind, Redis};
use symple::{Emitter, Target};

fn instance(redis: &Redis) -> ServerProc {
    ServerProc::start(&[], &[("SYMPLE_REDIS_URL", &redis.url())])
}

/// Marks of the `message` frames, and presence as `online:<user>` / `offline:<user>`.
fn seen(frames: Vec<Value>) -> Vec<String> {
    frames
        .iter()
        .filter_map(|v| match v["type"].as_str() {
            Some("message") => Some(v["data"]["mark"].as_str().unwrap_or("?").to_owned()),
            Some("presence") => Some(presence_label(v)),
            _ => None,
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// C's counters of what Redis sent it on interest channels (rooms, peers).
fn interest_received(srv: &ServerProc) -> (u64, u64) {
    (
        srv.metric("symple_bus_received_total{class=\"room\"}"),
        srv.metric("symple_bus_received_total{class=\"peer\"}"),
    )
}

/// Subscribers of `channel` over every node (one node, or each node of a cluster), with
/// `PUBSUB NUMSUB` (classic) or `PUBSUB SHARDNUMSUB` (sharded).
fn subscribers(redis: &Redis, channel: &str, sharded: bool) -> i64 {
    let what = if sharded { "SHARDNUMSUB" } else { "NUMSUB" };
    (0..redis.nodes.len())
        .map(|i| {
            let mut c = redis.node_conn(i);
            let (_, n): (String, i64) = redis::cmd("PUBSUB")
                .arg(what)
                .arg(channel)
                .query(&mut c)
                .unwrap();
            n
        })
        .sum()
}

/// Subscribers of an interest channel: classic on one node, sharded on a cluster (and then
/// no classic subscriber at all).
fn numsub(redis: &Redis, channel: &str) -> i64 {
    if redis.kind != Kind::Cluster {
        return subscribers(redis, channel, false);
    }
    assert_eq!(
        subscribers(redis, channel, false),
        0,
        "classic subscription of {channel}"
    );
    subscribers(redis, channel, true)
}

/// `PUBSUB <what> <pattern>` on node `i`.
fn pubsub_list(redis: &Redis, i: usize, what: &str, pattern: &str) -> Vec<String> {
    redis::cmd("PUBSUB")
        .arg(what)
        .arg(pattern)
        .query(&mut redis.node_conn(i))
        .unwrap()
}

fn is_master(redis: &Redis, i: usize) -> bool {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut redis.node_conn(i)).unwrap();
    redis::from_redis_value::<String>(role[0].clone()).unwrap() == "master"
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn an_instance_without_members_of_a_room_receives_none_of_its_traffic() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        three_instances_on(&redis).await;
    }
}

async fn three_instances_on(redis: &Redis) {
    let (a, b, c) = (instance(redis), instance(redis), instance(redis));
    for srv in [&a, &b, &c] {
        srv.wait_redis_up().await;
    }
    // C holds a peer, in another room.
    let mut carol = Client::auth(&c.url(), json!({"user": "carol", "rooms": ["elsewhere"]})).await;
    carol.drain().await;
    let before = interest_received(&c);

    // Room R: alice on A, bob and bert on B. Presence and rosters cross A and B.
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["R"]})).await;
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["R"]})).await;
    let mut bert = Client::auth(&b.url(), json!({"user": "bert", "rooms": ["R"]})).await;
    assert_eq!(
        sorted(seen(alice.drain().await)),
        ["online:bert", "online:bob"]
    );
    // bob: alice in his roster, bert online (or in the roster: once either way).
    assert_eq!(
        sorted(seen(bob.drain().await)),
        ["online:alice", "online:bert"]
    );
    assert_eq!(
        sorted(seen(bert.drain().await)),
        ["online:alice", "online:bob"]
    );
    assert_eq!(
        numsub(redis, "symple:room:R"),
        2,
        "A and B hold R, C does not"
    );

    // Messages to R: from a peer on A (to the room, and to all its rooms), from the emitter
    // (on R's channel: the native-rooms target), and from a peer on B.
    alice
        .send(json!({"type": "message", "to": ["R"], "data": {"mark": "a-room"}}))
        .await;
    alice
        .send(json!({"type": "message", "data": {"mark": "a-rooms"}}))
        .await;
    let e = Emitter::builder(redis.url())
        .target(Target::NativeRooms)
        .connect()
        .unwrap();
    e.to("R").send(json!({"mark": "e-room"})).unwrap();
    e.to(["R"]).send(json!({"mark": "e-list"})).unwrap();
    e.to(bob.address().as_str())
        .send(json!({"mark": "e-bob"}))
        .unwrap();
    bob.send(json!({"type": "message", "to": "alice", "data": {"mark": "b-alice"}}))
        .await;
    // Sorted: the sources (two sockets, the emitter) race each other.
    assert_eq!(
        sorted(seen(alice.drain().await)),
        ["b-alice", "e-list", "e-room"]
    );
    assert_eq!(
        sorted(seen(bob.drain().await)),
        ["a-room", "a-rooms", "e-bob", "e-list", "e-room"]
    );
    assert_eq!(
        sorted(seen(bert.drain().await)),
        ["a-room", "a-rooms", "e-list", "e-room"]
    );

    // Presence in R: bert leaves; alice (on A) and bob see it once.
    drop(bert);
    assert_eq!(seen(alice.drain().await), ["offline:bert"]);
    assert_eq!(seen(bob.drain().await), ["offline:bert"]);

    // C got none of it: not one message on a room or peer channel, nothing for carol.
    assert!(carol.drain().await.is_empty());
    assert_eq!(interest_received(&c), before, "C received traffic of R");
    // While A and B did (a check that the counters count).
    let (a_rooms, _) = interest_received(&a);
    assert!(a_rooms >= 3, "A received {a_rooms} room messages");
}

/// Direct, user, room and broadcast routing across three instances, with the shared-room
/// rule: what may not be delivered is not, wherever the recipient is.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn three_instances_route_by_the_rooms_rule() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        route_by_the_rooms_rule_on(&redis).await;
    }
}

async fn route_by_the_rooms_rule_on(redis: &Redis) {
    let (a, b, c) = (instance(redis), instance(redis), instance(redis));
    for srv in [&a, &b, &c] {
        srv.wait_redis_up().await;
    }
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["team"]})).await;
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["team", "side"]})).await;
    let mut carol = Client::auth(&c.url(), json!({"user": "carol", "rooms": ["side"]})).await;
    let mut alice2 = Client::auth(&c.url(), json!({"user": "alice"})).await;
    let mut dan = Client::auth(&c.url(), json!({"user": "dan", "rooms": ["team"]})).await;
    let mut clients = [&mut alice, &mut bob, &mut carol, &mut alice2, &mut dan];
    for cl in clients.iter_mut() {
        cl.drain().await;
    }

    alice
        .send(json!({"type": "message", "to": bob.address(), "data": {"mark": "direct"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": carol.address(), "data": {"mark": "no-room"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": "carol", "data": {"mark": "no-user"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": ["side"], "data": {"mark": "not-in-side"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": ["team"], "data": {"mark": "team"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": "bob", "data": {"mark": "user"}}))
        .await;
    // A bare peer id (the JS client answers probes this way).
    alice
        .send(json!({"type": "message", "to": dan.id(), "data": {"mark": "bare-id"}}))
        .await;
    bob.send(json!({"type": "message", "data": {"mark": "bob-rooms"}}))
        .await;
    // The emitter reaches anyone (trusted), once each, on either target.
    let native = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    native
        .to(["team", "side"])
        .send(json!({"mark": "broadcast"}))
        .unwrap();
    let rooms = Emitter::builder(redis.url())
        .target(Target::NativeRooms)
        .connect()
        .unwrap();
    rooms.to("carol").send(json!({"mark": "e-carol"})).unwrap();
    rooms.to("alice").send(json!({"mark": "e-alice"})).unwrap();

    let mut got = HashMap::new();
    for (name, cl) in [
        ("alice", &mut alice),
        ("bob", &mut bob),
        ("carol", &mut carol),
        ("alice2", &mut alice2),
        ("dan", &mut dan),
    ] {
        // Sorted: the sources (sockets, emitters) race each other.
        got.insert(name, sorted(seen(cl.messages().await)));
    }
    assert_eq!(got["alice"], ["bob-rooms", "broadcast", "e-alice"]);
    assert_eq!(got["bob"], ["broadcast", "direct", "team", "user"]);
    assert_eq!(got["carol"], ["bob-rooms", "broadcast", "e-carol"]);
    assert_eq!(got["alice2"], ["e-alice"], "alice's other session");
    assert_eq!(got["dan"], ["bare-id", "bob-rooms", "broadcast", "team"]);
}

/// On a Redis Cluster the interest channels are sharded: an instance's rooms are subscribed
/// with SSUBSCRIBE on the masters of their slots (more than one master for 24 rooms), none
/// with classic SUBSCRIBE, and a room's messages still cross instances.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn on_a_cluster_room_channels_are_sharded_over_the_masters() {
    let redis = support::shared(Kind::Cluster);
    let (a, b) = (instance(&redis), instance(&redis));
    a.wait_redis_up().await;
    b.wait_redis_up().await;
    let rooms: Vec<String> = (0..24).map(|i| format!("shard-{i}")).collect();
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": rooms})).await;
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["shard-7"]})).await;
    alice.drain().await;
    bob.drain().await;

    let mut holding = 0;
    let mut sharded = Vec::new();
    for i in 0..redis.nodes.len() {
        assert!(
            pubsub_list(&redis, i, "CHANNELS", "symple:room:*").is_empty(),
            "node {i} has classic room subscriptions"
        );
        let here = pubsub_list(&redis, i, "SHARDCHANNELS", "symple:room:shard-*");
        if !here.is_empty() {
            assert!(is_master(&redis, i), "node {i} (a replica) holds {here:?}");
            holding += 1;
        }
        sharded.extend(here);
    }
    sharded.sort();
    sharded.dedup();
    assert_eq!(
        sharded.len(),
        rooms.len(),
        "every room subscribed: {sharded:?}"
    );
    assert!(
        holding > 1,
        "the rooms' channels sit on {holding} master(s)"
    );

    // SPUBLISH from a peer reaches the other instance, both ways; rooms nobody else holds
    // reach no one.
    alice
        .send(json!({"type": "message", "to": ["shard-7"], "data": {"mark": "a7"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": ["shard-8"], "data": {"mark": "a8"}}))
        .await;
    bob.send(json!({"type": "message", "to": ["shard-7"], "data": {"mark": "b7"}}))
        .await;
    assert_eq!(seen(bob.drain().await), ["a7"]);
    assert_eq!(seen(alice.drain().await), ["b7"]);
}

/// Presence labels (`online:<user>`) a client gets until it has every one of `expected`
/// (bounded), then until quiet: what it got, sorted, duplicates kept.
async fn presence_until(client: &mut Client, expected: &[String]) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !expected.iter().all(|e| got.contains(e)) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next_within(left).await {
            Some(v) if v["type"] == "presence" => got.push(presence_label(&v)),
            Some(_) => {}
            None => break,
        }
    }
    got.extend(seen(client.drain().await));
    sorted(got)
}

/// Peers arriving on two instances at the same moment each see every other one online
/// exactly once: an instance's roster answer and the peer's own announcement can both
/// reach the other instance (the race of issue 12); it shows the news once. Many rounds,
/// each in its own room with its own users, on one Redis and on the cluster.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn arrivals_on_two_instances_at_once_see_each_other_once() {
    for (kind, rounds) in [(Kind::Plain, 30), (Kind::Cluster, 15)] {
        let redis = support::shared(kind);
        let (a, b) = (instance(&redis), instance(&redis));
        a.wait_redis_up().await;
        b.wait_redis_up().await;
        for round in 0..rounds {
            let room = format!("round-{round}");
            let users: Vec<String> = (0..6).map(|i| format!("u{round}-{i}")).collect();
            let connects = users.iter().enumerate().map(|(i, user)| {
                let url = if i % 2 == 0 { a.url() } else { b.url() };
                let auth = json!({"user": user, "rooms": [room]});
                async move { Client::auth(&url, auth).await }
            });
            let mut clients = futures_util::future::join_all(connects).await;
            let seen_by = clients.iter_mut().enumerate().map(|(i, c)| {
                let expected: Vec<String> = (users.iter().enumerate())
                    .filter(|(j, _)| *j != i)
                    .map(|(_, u)| format!("online:{u}"))
                    .collect();
                async move { (presence_until(c, &expected).await, expected) }
            });
            for (i, (got, expected)) in futures_util::future::join_all(seen_by)
                .await
                .into_iter()
                .enumerate()
            {
                assert_eq!(got, expected, "{kind:?}, round {round}, {}", users[i]);
            }
        }
    }
}

/// A remote mate's later presence events are still shown: joining a second room shared
/// with a peer on another instance announces it there again, and joining a room a remote
/// peer is in shows that peer in the joiner's roster and the joiner to that peer, once each.
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn a_remote_mate_joining_another_shared_room_is_shown_again() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        let (a, b) = (instance(&redis), instance(&redis));
        a.wait_redis_up().await;
        b.wait_redis_up().await;
        let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["R", "S"]})).await;
        let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["R"]})).await;
        let mut carol = Client::auth(&a.url(), json!({"user": "carol", "rooms": ["S"]})).await;
        let (bob_on, alice_on) = (
            vec!["online:bob".to_owned()],
            vec!["online:alice".to_owned()],
        );
        assert_eq!(
            presence_until(&mut alice, &bob_on).await,
            ["online:bob", "online:carol"]
        );
        assert_eq!(presence_until(&mut bob, &alice_on).await, alice_on);
        assert_eq!(presence_until(&mut carol, &alice_on).await, alice_on);

        // bob joins S, which alice (already his mate in R) and carol are in.
        bob.send(json!({"type": "join", "room": "S"})).await;
        bob.expect("join:ok", |v| v["type"] == "join:ok").await;
        assert_eq!(
            presence_until(&mut alice, &bob_on).await,
            bob_on,
            "{kind:?}"
        );
        assert_eq!(
            presence_until(&mut carol, &bob_on).await,
            bob_on,
            "{kind:?}"
        );
        // His roster of S: both, alice too though he knew her from R (as on one instance).
        let both = vec!["online:alice".to_owned(), "online:carol".to_owned()];
        assert_eq!(presence_until(&mut bob, &both).await, both, "{kind:?}");

        // bob joins T alone, then alice joins it: she gets him in her roster, he gets her.
        bob.send(json!({"type": "join", "room": "T"})).await;
        bob.expect("join:ok", |v| v["type"] == "join:ok").await;
        alice.send(json!({"type": "join", "room": "T"})).await;
        assert_eq!(
            presence_until(&mut alice, &bob_on).await,
            bob_on,
            "{kind:?}"
        );
        assert_eq!(
            presence_until(&mut bob, &alice_on).await,
            alice_on,
            "{kind:?}"
        );
        assert!(seen(carol.drain().await).is_empty(), "carol is not in T");
    }
}
