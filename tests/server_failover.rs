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

fn numsub(redis: &Redis, node: usize, channel: &str) -> i64 {
    let mut c = redis.node_conn(node);
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
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

#[tokio::test]
async fn a_master_failover_drops_no_client_and_traffic_resumes() {
    let mut redis = Redis::start_kind(Kind::Cluster);
    let (a, b) = (instance(&redis), instance(&redis));
    a.wait_redis_up().await;
    b.wait_redis_up().await;
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["R"]})).await;
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["R"]})).await;
    alice.drain().await;
    bob.drain().await;

    // The master that serves the room's traffic: the one holding a subscription to it if
    // any, else the master of its channel's slot.
    let channel = "symple:room:R";
    let victim = (0..redis.nodes.len())
        .find(|&i| is_master(&redis, i) && numsub(&redis, i, channel) > 0)
        .unwrap_or_else(|| redis.master_of(channel));
    eprintln!("killing node {victim} (a master)");
    redis.nodes[victim].kill();
    let killed = Instant::now();

    // alice keeps sending numbered messages to R until bob has STREAK in a row.
    let (mut sent, mut got, mut last, mut streak) = (0u64, 0u64, None::<u64>, 0u64);
    while streak < STREAK {
        assert!(
            killed.elapsed() < RECOVERY,
            "no recovery within {RECOVERY:?}"
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
