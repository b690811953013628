//! What the server logs: start-up, Redis lost and resubscribed after a restart, and never a
//! token, at any level, in either format.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::ws::{Client, ServerProc};
use support::Redis;

fn log_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("symple-log-{}-{name}.log", std::process::id()))
}

/// Waits (bounded) until the log holds a line with `text`.
async fn wait_for(path: &std::path::Path, text: &str) -> String {
    for _ in 0..200 {
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

#[tokio::test]
async fn redis_lost_and_resubscribed_are_logged_and_tokens_never_are() {
    let mut redis = Redis::start();
    let data = symple::session::data_object(json!({"user": "alice", "rooms": ["r"]})).unwrap();
    for (format, level) in [("text", "trace"), ("json", "debug")] {
        // A fresh session each round: the restart below loses the one before (no persistence).
        let store = symple::session::SessionStore::connect(redis.url()).unwrap();
        let token = store.create(&data, Some(600)).unwrap();
        let path = log_path(format);
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
        // A refused token and a logout-free run: nothing of either may be logged.
        let mut bad = Client::raw(&srv.url()).await;
        {
            use futures_util::SinkExt;
            bad.send(tokio_tungstenite::tungstenite::Message::text(
                json!({"type": "auth", "token": "not-a-session-token-42"}).to_string(),
            ))
            .await
            .unwrap();
        }

        redis.restart();
        wait_for(&path, "Redis lost").await;
        let log = wait_for(&path, "resubscribed").await;
        assert!(log.contains("symple server starting"), "{log}");
        assert_eq!(srv.metric("symple_redis_up"), 1);
        // The session went with the restarted Redis: alice is logged out (4401), logged
        // without her token.
        assert_eq!(alice.close_frame().await.map(|(code, _)| code), Some(4401));
        let log = std::fs::read_to_string(&path).unwrap();
        for secret in [token.as_str(), "not-a-session-token-42"] {
            assert!(!log.contains(secret), "a token in the {format} log:\n{log}");
        }
        if format == "json" {
            for line in log.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
            }
        }
        drop(srv);
        let _ = std::fs::remove_file(&path);
    }
}
