//! What the server logs: start-up, Redis lost and resubscribed after a restart (one node) or
//! a master's failover (a cluster), and never a token, at any level, in either format.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use support::ws::{Client, ServerProc};
use support::{Kind, Redis};

/// A token that no session has: refused, and never logged.
const BAD_TOKEN: &str = "not-a-session-token-42";

fn log_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("symple-log-{}-{name}.log", std::process::id()))
}

/// Waits (bounded) until the log holds a line with `text`.
async fn wait_for(path: &Path, text: &str) -> String {
    for _ in 0..400 {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.contains(text) {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no {text:?} in the log:\n{}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}

/// A logged instance in token mode on `redis`, with alice connected by her session's token
/// (returned) and a refused token tried.
async fn logged(redis: &Redis, format: &str, level: &str) -> (ServerProc, PathBuf, Client, String) {
    let data = symple::session::data_object(json!({"user": "alice", "rooms": ["r"]})).unwrap();
    let store = symple::session::SessionStore::connect(redis.url()).unwrap();
    let token = store.create(&data, Some(600)).unwrap();
    if redis.kind == Kind::Cluster {
        // The failover test kills a master: her session must be on its replica by then.
        redis.wait_replicated(&symple::session::keys::session(&token));
    }
    let path = log_path(&format!("{:?}-{format}", redis.kind));
    let srv = ServerProc::start_logged(
        &[
            "--authentication",
            "true",
            "--log-format",
            format,
            "--log-level",
            level,
        ],
        &[("SYMPLE_REDIS_URL", &redis.url())],
        &path,
    );
    srv.wait_redis_up().await;
    let mut alice = Client::auth(&srv.url(), json!({"token": token})).await;
    alice.drain().await;
    let mut bad = Client::raw(&srv.url()).await;
    {
        use futures_util::SinkExt;
        bad.send(tokio_tungstenite::tungstenite::Message::text(
            json!({"type": "auth", "token": BAD_TOKEN}).to_string(),
        ))
        .await
        .unwrap();
    }
    (srv, path, alice, token)
}

/// Waits until the log says Redis was lost and then resubscribed, after the start-up line.
async fn lost_and_resubscribed(srv: &ServerProc, path: &Path) {
    wait_for(path, "Redis lost").await;
    let log = wait_for(path, "resubscribed").await;
    assert!(log.contains("symple server starting"), "{log}");
    assert_eq!(srv.metric("symple_redis_up"), 1);
}

/// No token in the log, and (json) every line a JSON object with a level and fields.
fn no_token_in(path: &Path, format: &str, token: &str) {
    let log = std::fs::read_to_string(path).unwrap();
    for secret in [token, BAD_TOKEN] {
        assert!(!log.contains(secret), "a token in the {format} log:\n{log}");
    }
    if format == "json" {
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        }
    }
}

#[tokio::test]
async fn redis_lost_and_resubscribed_are_logged_and_tokens_never_are() {
    let mut redis = Redis::start();
    for (format, level) in [("text", "trace"), ("json", "debug")] {
        // A fresh session each round: the restart below loses the one before (no persistence).
        let (srv, path, mut alice, token) = logged(&redis, format, level).await;
        redis.restart();
        lost_and_resubscribed(&srv, &path).await;
        // The session went with the restarted Redis: alice is logged out (4401), logged
        // without her token.
        assert_eq!(alice.close_frame().await.map(|(code, _)| code), Some(4401));
        no_token_in(&path, format, &token);
        drop(srv);
        let _ = std::fs::remove_file(&path);
    }
}

/// On a Redis Cluster: the master holding the instance's subscription of alice's room dies
/// (SIGKILL); its replica takes over. Lost and resubscribed are logged, alice stays (her
/// session was replicated), no token is logged. One round (a second failover would leave a
/// shard without a replica): json at trace level, the most verbose.
#[tokio::test]
async fn on_a_cluster_a_failover_is_logged_and_tokens_never_are() {
    let mut redis = Redis::start_kind(Kind::Cluster);
    let (srv, path, mut alice, token) = logged(&redis, "json", "trace").await;
    let holds = |i: usize| {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("SHARDNUMSUB")
            .arg("symple:room:r")
            .query(&mut redis.node_conn(i))
            .unwrap();
        n > 0
    };
    let victim = (0..redis.nodes.len())
        .find(|&i| holds(i))
        .expect("a master holds the sharded subscription of alice's room");
    redis.nodes[victim].kill();
    lost_and_resubscribed(&srv, &path).await;
    // Sessions are checked after resubscribing: hers is there, she stays.
    alice.drain().await;
    assert_eq!(srv.metric("symple_logouts_total"), 0);
    assert_eq!(srv.metric("symple_peers"), 1);
    no_token_in(&path, "json", &token);
    drop(srv);
    let _ = std::fs::remove_file(&path);
}
