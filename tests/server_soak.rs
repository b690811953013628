//! Soak: many clients in one room on two instances, numbered messages from the emitter.
//! Every client that stays connected gets every message once, in order; every client the
//! server disconnects as a slow consumer is told so by its close frame (4008) after a
//! gap-free prefix.
//!
//! CI runs a small variant (100 clients, 5,000 messages on `symple:broadcast`, one Redis),
//! and a shorter one on the 6-node Redis Cluster (50 clients, 2,000 messages on the room's
//! sharded channel: the `native-rooms` target). The full run of issue 14:
//!
//! ```sh
//! SYMPLE_SOAK_CLIENTS=500 SYMPLE_SOAK_MESSAGES=50000 \
//!   cargo test --release --test server_soak -- --nocapture
//! ```

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use support::ws::{Client, ServerProc};
use support::{Kind, Redis};
use symple::{Emitter, Target};
use tokio_tungstenite::tungstenite::Message;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one client saw.
enum Outcome {
    /// Every message, in order.
    All,
    /// Disconnected with this close frame after `got` messages in order.
    Closed { got: u64, code: u16, reason: String },
    /// Anything else: a gap, a duplicate, a reordering, or an end without a close frame.
    Broken(String),
}

/// `"n":<digits>` in a frame (the emitter writes the data object as given).
fn number(text: &str) -> Option<u64> {
    let at = text.find("\"n\":")? + 4;
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

async fn read_all(mut c: Client, total: u64, received: Arc<AtomicU64>) -> Outcome {
    let mut next = 0u64;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), c.ws.next()).await;
        match frame {
            Ok(Some(Ok(Message::Text(t)))) => {
                if !t.contains("\"type\":\"message\"") {
                    continue;
                }
                match number(&t) {
                    Some(n) if n == next => {
                        next += 1;
                        received.fetch_add(1, Ordering::Relaxed);
                        if next == total {
                            return Outcome::All;
                        }
                    }
                    other => return Outcome::Broken(format!("expected {next}, got {other:?}")),
                }
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => {
                return Outcome::Closed {
                    got: next,
                    code: f.code.into(),
                    reason: f.reason.to_string(),
                }
            }
            Ok(Some(Ok(_))) => {}
            other => return Outcome::Broken(format!("after {next}: {other:?}")),
        }
    }
}

#[test]
fn a_room_of_clients_gets_every_message_or_is_told() {
    run(soak(Redis::start(), Target::Native, 100, 5000));
}

/// The same, shorter, on a Redis Cluster, through the room's sharded channel.
#[test]
fn on_a_cluster_a_room_of_clients_gets_every_message_or_is_told() {
    run(soak(
        Redis::start_kind(Kind::Cluster),
        Target::NativeRooms,
        50,
        2000,
    ));
}

fn run(test: impl std::future::Future<Output = ()>) {
    // Its own runtime with worker threads: the clients read in parallel.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(test);
}

/// `clients` and `total` messages unless `SYMPLE_SOAK_CLIENTS` / `SYMPLE_SOAK_MESSAGES` say.
async fn soak(redis: Redis, target: Target, clients: u64, total: u64) {
    let clients = env("SYMPLE_SOAK_CLIENTS", clients);
    let total = env("SYMPLE_SOAK_MESSAGES", total);
    let rate = env("SYMPLE_SOAK_RATE", 1000);
    let kind = redis.kind;
    let servers: Vec<ServerProc> = (0..2)
        .map(|_| ServerProc::start(&[], &[("SYMPLE_REDIS_URL", &redis.url())]))
        .collect();
    for s in &servers {
        s.wait_redis_up().await;
    }
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for i in 0..clients {
        let url = servers[(i % 2) as usize].url();
        // Presence is not what this is about: the roster is read and skipped.
        let c = Client::auth(&url, json!({"user": format!("u{i}"), "rooms": ["soak"]})).await;
        readers.push(tokio::spawn(read_all(c, total, received.clone())));
    }
    // Everyone is in: the last client's presence reached the first instance's peers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let emitter = Emitter::builder(redis.url())
        .target(target)
        .connect()
        .expect("emitter");
    let started = Instant::now();
    let publisher = tokio::task::spawn_blocking(move || {
        // `rate` a second, in bursts of a hundredth of it.
        let burst = (rate / 100).max(1);
        let t0 = Instant::now();
        for n in 0..total {
            emitter.to(["soak"]).send(json!({"n": n})).expect("publish");
            if n % burst == burst - 1 {
                let due = t0 + Duration::from_secs_f64((n + 1) as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        }
    });
    publisher.await.expect("publisher");
    let mut complete = 0;
    let mut told = 0;
    let mut broken = Vec::new();
    for r in readers {
        match r.await.expect("reader") {
            Outcome::All => complete += 1,
            Outcome::Closed {
                code: 4008,
                reason,
                got,
            } if reason.starts_with("Slow consumer") && got < total => told += 1,
            Outcome::Closed { code, reason, got } => {
                broken.push(format!("closed with {code} {reason:?} after {got}"))
            }
            Outcome::Broken(why) => broken.push(why),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "soak ({kind:?}): {clients} clients on 2 instances, {total} messages at {rate}/s: {complete} got \
         all in order, {told} disconnected as slow consumers (4008), {} broken; {} deliveries \
         in {secs:.1} s",
        broken.len(),
        received.load(Ordering::Relaxed)
    );
    assert!(broken.is_empty(), "{broken:?}");
    let slow: u64 = servers
        .iter()
        .map(|s| s.metric("symple_slow_consumers_total"))
        .sum();
    assert_eq!(slow, told, "every slow consumer counted, and told");
    assert!(complete > 0, "someone kept up");
}
