//! Dead instances leave no ghosts: when an instance dies without saying goodbye (SIGKILL),
//! the others announce its peers offline within `--instance-timeout`; a graceful stop
//! announces at once; a restarted instance causes no duplicate presence.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::ws::{presence_label, Client, ServerProc};
use support::{Kind, Redis};

/// The bound under test, in seconds (small, so the test is quick).
const TIMEOUT: &str = "2";

fn instance(redis: &Redis) -> ServerProc {
    ServerProc::start(
        &["--instance-timeout", TIMEOUT],
        &[("SYMPLE_REDIS_URL", &redis.url())],
    )
}

/// Presence frames as `online:<user>` / `offline:<user>`, sorted.
fn presence(frames: Vec<Value>) -> Vec<String> {
    let mut out: Vec<String> = frames
        .iter()
        .filter(|v| v["type"] == "presence")
        .map(presence_label)
        .collect();
    out.sort();
    out
}

/// Frames until `n` presence frames arrived (bounded by the client's wait), then until quiet.
async fn presences(c: &mut Client, n: usize) -> Vec<String> {
    let mut frames = Vec::new();
    while frames
        .iter()
        .filter(|v: &&Value| v["type"] == "presence")
        .count()
        < n
    {
        match c.next().await {
            Some(v) => frames.push(v),
            None => break,
        }
    }
    frames.extend(c.drain().await);
    presence(frames)
}

/// On one node and on the Redis Cluster (sharded pub/sub).
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn the_peers_of_a_killed_instance_go_offline_once_and_a_restart_duplicates_nothing() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        killed_instance_on(&redis).await;
    }
}

async fn killed_instance_on(redis: &Redis) {
    let (a, b, mut c) = (instance(redis), instance(redis), instance(redis));
    for srv in [&a, &b, &c] {
        srv.wait_redis_up().await;
    }
    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["R"]})).await;
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["R"]})).await;
    let carol = Client::auth(&c.url(), json!({"user": "carol", "rooms": ["R"]})).await;
    let cara = Client::auth(&c.url(), json!({"user": "cara", "rooms": ["R"]})).await;
    // Outside R, on B: must hear nothing of C's peers.
    let mut zed = Client::auth(&b.url(), json!({"user": "zed", "rooms": ["Z"]})).await;
    assert_eq!(
        presences(&mut alice, 3).await,
        ["online:bob", "online:cara", "online:carol"]
    );
    assert_eq!(
        presences(&mut bob, 3).await,
        ["online:alice", "online:cara", "online:carol"]
    );
    zed.drain().await;

    // SIGKILL: no goodbye from C.
    c.child.kill().expect("SIGKILL");
    c.child.wait().expect("reaped");
    let killed = Instant::now();
    for (name, cl) in [("alice", &mut alice), ("bob", &mut bob)] {
        assert_eq!(
            presences(cl, 2).await,
            ["offline:cara", "offline:carol"],
            "{name}: each of C's peers offline, once"
        );
        eprintln!(
            "{name}: offline presences {:?} after the kill",
            killed.elapsed()
        );
    }
    assert!(zed.drain().await.is_empty(), "zed shares no room with them");
    drop((carol, cara));

    // A newcomer's roster has no ghosts.
    let mut dora = Client::auth(&a.url(), json!({"user": "dora", "rooms": ["R"]})).await;
    assert_eq!(
        presences(&mut dora, 2).await,
        ["online:alice", "online:bob"]
    );
    alice.drain().await;
    bob.drain().await;

    // C again (a new instance), carol reconnects: one online, and later no stale offline.
    let c2 = instance(redis);
    c2.wait_redis_up().await;
    let carol = Client::auth(&c2.url(), json!({"user": "carol", "rooms": ["R"]})).await;
    assert_eq!(presences(&mut alice, 1).await, ["online:carol"]);
    assert_eq!(presences(&mut bob, 1).await, ["online:carol"]);
    // Past the timeout (C's old heartbeat long gone, checks ran many times): nothing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(presence(alice.drain().await).is_empty());
    assert!(presence(bob.drain().await).is_empty());

    // A graceful stop announces at once, and the expiry adds nothing.
    let mut b = b;
    assert_eq!(b.signal("TERM"), Some(0));
    assert_eq!(presences(&mut alice, 1).await, ["offline:bob"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        presence(alice.drain().await).is_empty(),
        "no second offline"
    );
    drop(carol);
}
