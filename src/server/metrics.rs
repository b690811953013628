//! Counters for `/metrics` (Prometheus text) and `/health`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a message was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Not valid JSON, not an object, unknown type, bad `to`.
    Invalid,
    /// Larger than the size limit.
    TooLarge,
    /// Over the peer's rate limit.
    RateLimited,
    /// A packet from Redis without `to`.
    NoRecipient,
    /// A client's `to` outside its rooms.
    NotPermitted,
    /// The recipient's outbound queue was full.
    SlowConsumer,
    /// A binary frame.
    Binary,
}

const DROPS: [(Dropped, &str); 7] = [
    (Dropped::Invalid, "invalid"),
    (Dropped::TooLarge, "too_large"),
    (Dropped::RateLimited, "rate_limited"),
    (Dropped::NoRecipient, "no_recipient"),
    (Dropped::NotPermitted, "not_permitted"),
    (Dropped::SlowConsumer, "slow_consumer"),
    (Dropped::Binary, "binary"),
];

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections.
    pub connections: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused (limit, auth failure, timeout).
    pub refused: AtomicU64,
    /// Frames received from clients and packets from Redis.
    pub messages_in: AtomicU64,
    /// Frames sent to clients.
    pub messages_out: AtomicU64,
    /// Times the Redis subscription was re-established.
    pub redis_reconnects: AtomicU64,
    /// Connections closed as slow consumers (queue full or write timeout).
    pub slow_consumers: AtomicU64,
    /// Connections closed because their session was deleted.
    pub logouts: AtomicU64,
    /// Connections refused before authentication, by reason: the server-wide limit, the
    /// per-address limit, an upgrade that did not finish in time, a disallowed Origin.
    pub refused_limit: AtomicU64,
    /// See [`refused_limit`](Self::refused_limit).
    pub refused_per_address: AtomicU64,
    /// See [`refused_limit`](Self::refused_limit).
    pub upgrade_timeouts: AtomicU64,
    /// See [`refused_limit`](Self::refused_limit).
    pub refused_origin: AtomicU64,
    drops: [AtomicU64; 7],
}

impl Metrics {
    /// Counts a dropped message.
    pub fn drop(&self, why: Dropped) {
        self.drop_n(why, 1);
    }

    /// Counts `n` dropped messages.
    pub fn drop_n(&self, why: Dropped, n: u64) {
        if let Some(i) = DROPS.iter().position(|(d, _)| *d == why) {
            self.drops[i].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// How many were dropped for `why`.
    pub fn dropped(&self, why: Dropped) -> u64 {
        DROPS
            .iter()
            .position(|(d, _)| *d == why)
            .map_or(0, |i| self.drops[i].load(Ordering::Relaxed))
    }

    /// Prometheus text exposition; `peers` and `rooms` are gauges read from the registry.
    pub fn render(&self, peers: usize, rooms: usize, redis_up: Option<bool>) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP symple_{name} {help}\n# TYPE symple_{name} {kind}\nsymple_{name} {value}"
            );
        };
        metric(
            "connections",
            "gauge",
            "Open WebSocket connections.",
            get(&self.connections),
        );
        metric(
            "connections_total",
            "counter",
            "Connections accepted.",
            get(&self.connections_total),
        );
        metric(
            "connections_refused_total",
            "counter",
            "Connections refused.",
            get(&self.refused),
        );
        metric(
            "peers",
            "gauge",
            "Authenticated peers on this instance.",
            peers as u64,
        );
        metric(
            "rooms",
            "gauge",
            "Rooms with at least one local peer.",
            rooms as u64,
        );
        metric(
            "messages_in_total",
            "counter",
            "Messages received.",
            get(&self.messages_in),
        );
        metric(
            "messages_out_total",
            "counter",
            "Messages sent to clients.",
            get(&self.messages_out),
        );
        metric(
            "redis_reconnects_total",
            "counter",
            "Redis subscription reconnects.",
            get(&self.redis_reconnects),
        );
        metric(
            "slow_consumers_total",
            "counter",
            "Connections closed as slow consumers (code 4008).",
            get(&self.slow_consumers),
        );
        metric(
            "logouts_total",
            "counter",
            "Connections closed because their session was deleted (code 4401).",
            get(&self.logouts),
        );
        metric(
            "refused_limit_total",
            "counter",
            "Connections refused by --max-connections.",
            get(&self.refused_limit),
        );
        metric(
            "refused_per_address_total",
            "counter",
            "Connections refused by --max-connections-per-address.",
            get(&self.refused_per_address),
        );
        metric(
            "upgrade_timeouts_total",
            "counter",
            "Connections closed because the HTTP upgrade did not finish in time.",
            get(&self.upgrade_timeouts),
        );
        metric(
            "refused_origin_total",
            "counter",
            "WebSocket upgrades refused for their Origin (403).",
            get(&self.refused_origin),
        );
        if let Some(up) = redis_up {
            metric(
                "redis_up",
                "gauge",
                "Whether the Redis subscription is live.",
                u64::from(up),
            );
        }
        let _ = writeln!(out, "# HELP symple_dropped_total Messages dropped, by reason.\n# TYPE symple_dropped_total counter");
        for (i, (_, reason)) in DROPS.iter().enumerate() {
            let _ = writeln!(
                out,
                "symple_dropped_total{{reason=\"{reason}\"}} {}",
                get(&self.drops[i])
            );
        }
        out
    }
}
