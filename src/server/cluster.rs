//! Instances on one Redis behave as one server: client messages, roster requests and
//! roster answers travel as envelopes on `symple:cluster`; emitter packets arrive on
//! `symple:broadcast`. Every instance delivers only to its own peers, so nobody gets a
//! message twice. A session store that deletes a session publishes its token on
//! `symple:logout`; every instance closes the connections authenticated with it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::packet::native::CHANNEL as BROADCAST;
use crate::packet::Packet;
use crate::redis::aio::AsyncConnection;
use crate::redis::ConnectOptions;
use crate::server::metrics::Dropped;
use crate::server::routing::Sender;
use crate::server::shared::Shared;
use crate::session::keys::LOGOUT_CHANNEL;

/// The channel instances talk on.
pub const CLUSTER: &str = "symple:cluster";

/// What instances tell each other.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Envelope {
    /// A client's message, to be routed by each instance to its own peers.
    Route {
        /// Instance that sent it.
        origin: String,
        /// The sending peer.
        sender: Sender,
        /// The message, `from` already set.
        message: Value,
    },
    /// A new peer (or a peer that joined rooms) wants the presence of peers sharing `rooms`.
    Roster {
        /// Instance that asked.
        origin: String,
        /// Who asks.
        requester: Sender,
        /// Rooms to consider.
        rooms: Vec<String>,
    },
    /// Messages for one peer.
    Direct {
        /// Instance that sent it.
        origin: String,
        /// The peer id.
        to: String,
        /// The messages.
        messages: Vec<Value>,
    },
}

impl Envelope {
    fn origin(&self) -> &str {
        match self {
            Envelope::Route { origin, .. }
            | Envelope::Roster { origin, .. }
            | Envelope::Direct { origin, .. } => origin,
        }
    }
}

/// Publishes envelopes in order through one connection, pipelining what queues up.
pub(crate) fn spawn_publisher(conn: AsyncConnection) -> mpsc::UnboundedSender<Envelope> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Envelope>();
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 512).await > 0 {
            let packets: Vec<Packet> = batch
                .drain(..)
                .filter_map(|env| serde_json::to_vec(&env).ok())
                .map(|payload| Packet::new(CLUSTER, payload))
                .collect();
            // A failed publish loses cluster traffic for this moment; clients stay connected
            // and the connection reconnects.
            if let Err(e) = conn.publish(&packets).await {
                tracing::warn!(error = %e, "cluster publish failed: other instances missed some traffic");
            }
        }
    });
    tx
}

/// Subscribes to `symple:broadcast` and `symple:cluster`, resubscribing after Redis restarts.
/// On a Redis Cluster it subscribes on one live node (PUBLISH reaches every node) and moves to
/// another when that one goes away.
pub async fn run_subscriber(shared: Arc<Shared>, opts: ConnectOptions) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    let mut shutdown = shared.stopping();
    loop {
        let conn = shared.redis.as_ref().map(|r| r.conn.clone());
        let pubsub = match &conn {
            Some(conn) => crate::redis::aio::pubsub(&opts, conn).await.ok(),
            None => None,
        };
        if let Some(mut pubsub) = pubsub {
            if pubsub
                .subscribe(&[BROADCAST, CLUSTER, LOGOUT_CHANNEL])
                .await
                .is_ok()
            {
                if !first {
                    shared
                        .metrics
                        .redis_reconnects
                        .fetch_add(1, Ordering::Relaxed);
                }
                first = false;
                backoff = Duration::from_millis(100);
                shared.redis_up.store(true, Ordering::Relaxed);
                // Logouts published while this instance was not listening were missed.
                tokio::spawn(check_sessions(shared.clone()));
                let mut stream = pubsub.on_message();
                loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some(msg) => on_message(&shared, msg.get_channel_name(), msg.get_payload_bytes()),
                            None => break,
                        },
                        _ = shutdown.changed() => return,
                    }
                }
                shared.redis_up.store(false, Ordering::Relaxed);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Closes connections whose session no longer exists (token mode).
async fn check_sessions(shared: Arc<Shared>) {
    let Some(redis) = &shared.redis else { return };
    for token in shared.tokens() {
        match redis.sessions.exists(&token).await {
            Ok(false) => {
                shared.end_session(&token);
            }
            Ok(true) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot check sessions after (re)subscribing");
                return;
            }
        }
    }
}

fn on_message(shared: &Shared, channel: &str, payload: &[u8]) {
    if channel == LOGOUT_CHANNEL {
        match std::str::from_utf8(payload) {
            Ok(token) => {
                shared.end_session(token);
            }
            Err(_) => shared.metrics.drop(Dropped::Invalid),
        }
        return;
    }
    if channel == BROADCAST {
        shared.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        shared.route_from_backend(payload);
        return;
    }
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(env) if env.origin() == shared.instance => {}
        Ok(env) => shared.on_envelope(env),
        Err(_) => shared.metrics.drop(Dropped::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message relayed through another instance reaches its peers as the bytes the first
    /// instance gave its own (needs serde_json's correctly rounded float parsing).
    #[test]
    fn relayed_numbers_keep_their_bytes() {
        let long = "1".repeat(103);
        for number in [
            "0.1",
            "1e-7",
            "123456789.123456789",
            long.as_str(),
            "2.2250738585072011e-308",
            "1.7976931348623157e308",
            "-0.0",
            "18446744073709551616",
        ] {
            let text = format!(
                r#"{{"kind":"route","origin":"i1","sender":{{"id":"a1","user":"a","rooms":[]}},"message":{{"type":"message","to":"b","data":{number}}}}}"#
            );
            let env: Envelope = serde_json::from_str(&text).unwrap();
            let Envelope::Route { message, .. } = &env else {
                panic!("a route envelope")
            };
            let local = message.to_string();
            let relayed: Envelope =
                serde_json::from_slice(&serde_json::to_vec(&env).unwrap()).unwrap();
            let Envelope::Route { message, .. } = relayed else {
                panic!("a route envelope")
            };
            assert_eq!(message.to_string(), local, "{number}");
        }
    }
}
