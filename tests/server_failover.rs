//! A Redis Cluster master fails over while clients are connected to two server instances:
//! no WebSocket client is dropped, and traffic resumes without a restart. Prints what the
//! switch cost (messages lost, time to recover).

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::ws::{Client, ServerProc};
use support::{Kind, Redis};

/// Bound on the recovery (promotion takes a few seconds here: node timeout 1 s).
const RECOVERY: Duration = Duration::from_secs(60);
/// Messages in a row that count as "traffic resumed".
const STREAK: u64 = 10;

fn instance(redis: &Redis) -> ServerProc {
    ServerProc::start(&[], &[("SYMPLE_REDIS_URL", &redis.url())])
}

/// Sharded subscribers of `channel` on `node`.
fn numsub(redis: &Redis, node: usize, channel: &str) -> i64 {
    let mut c = redis.node_conn(node);
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("SHARDNUMSUB")
        .arg(channel)
        .query(&mut c)
        .unwrap();
    n
}

fn is_master(redis: &Redis, node: usize) -> bool {
    let mut c = redis.node_conn(node);
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut c).unwrap();
    redis::from_redis_value::<String>(role[0].clone()).unwrap() == "master"
}

/// Each live node's role and sharded subscribers of `channel`, for a failure message.
fn state(redis: &Redis, dead: usize, channel: &str) -> String {
    (0..redis.nodes.len())
        .filter(|&i| i != dead)
        .map(|i| {
            let role = if is_master(redis, i) {
                "master"
            } else {
                "replica"
            };
            format!("node {i} {role} {}", numsub(redis, i, channel))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn a_master_failover_drops_no_client_and_traffic_resumes() {
    let mut redis = Redis::start_kind(Kind::Cluster);
    let (a, b) = (instance(&redis), instance(&redis));
    a.wait_redis_up().await;
    b.wait_redis_up().await;
    // More rooms than masters: each master serves channels of several slots, which must all
    // be subscribed again on the promoted replica.
    let mut rooms: Vec<String> = (0..12).map(|i| format!("x{i}")).collect();
    rooms.push("R".into());
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": rooms})).await;
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": rooms})).await;
    alice.drain().await;
    bob.drain().await;

    // The master that serves the room's traffic: the one holding its (sharded) subscription.
    let channel = "symple:room:R";
    let victim = (0..redis.nodes.len())
        .find(|&i| is_master(&redis, i) && numsub(&redis, i, channel) > 0)
        .expect("a master holds the sharded subscription of R");
    eprintln!("killing node {victim} (a master)");
    redis.nodes[victim].kill();
    let killed = Instant::now();

    // alice keeps sending numbered messages to R until bob has STREAK in a row.
    let (mut sent, mut got, mut last, mut streak) = (0u64, 0u64, None::<u64>, 0u64);
    while streak < STREAK {
        assert!(
            killed.elapsed() < RECOVERY,
            "no recovery within {RECOVERY:?}: {}",
            state(&redis, victim, channel)
        );
        alice
            .send(json!({"type": "message", "to": ["R"], "data": {"n": sent}}))
            .await;
        sent += 1;
        if let Some(v) = bob.next_within(Duration::from_millis(200)).await {
            if v["type"] != "message" {
                continue;
            }
            let n = v["data"]["n"].as_u64().unwrap();
            got += 1;
            streak = if last.is_some_and(|l| n == l + 1) {
                streak + 1
            } else {
                1
            };
            last = Some(n);
        }
    }
    // What is still in flight arrives.
    let rest: Vec<_> = bob
        .drain()
        .await
        .into_iter()
        .filter(|v| v["type"] == "message")
        .collect();
    got += rest.len() as u64;
    eprintln!(
        "failover: recovered after {:?}; {sent} sent, {got} received, {} lost during the switch",
        killed.elapsed(),
        sent - got
    );
    // Every room's subscription came back, on every master.
    for r in &rooms {
        alice
            .send(json!({"type": "message", "to": [r], "data": {"n": r}}))
            .await;
    }
    let mut after: Vec<String> = bob
        .messages()
        .await
        .iter()
        .map(|v| v["data"]["n"].as_str().unwrap_or("?").to_owned())
        .collect();
    after.sort();
    let mut want = rooms.clone();
    want.sort();
    assert_eq!(after, want, "a room lost its subscription in the failover");
    // Nobody was dropped: both clients are still connected and served both ways.
    bob.send(json!({"type": "message", "to": "alice", "data": {"n": "back"}}))
        .await;
    let back = alice
        .expect("bob's message", |v| {
            v["type"] == "message" && v["data"]["n"] == "back"
        })
        .await;
    assert_eq!(back["from"], bob.address());
    for srv in [&a, &b] {
        assert_eq!(srv.metric("symple_connections"), 1);
        assert_eq!(srv.metric("symple_peers"), 1);
    }
}
