//! State shared by every connection of one instance, and the delivery of messages to it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::server::cluster::Envelope;
use crate::server::config::Config;
use crate::server::metrics::{Dropped, Metrics};
use crate::server::outbox::{Ended, Refused};
use crate::server::registry::{LocalPeer, Registry};
use crate::server::routing::{self, Sender, Target};
use crate::session::AsyncSessionStore;

/// The close of a connection whose queue overflowed.
pub const SLOW_CONSUMER: Ended = Ended {
    code: 4008,
    reason: "Slow consumer: too many messages waiting to be sent",
};

/// The close of a connection whose write did not finish in time.
pub const WRITE_TIMEOUT: Ended = Ended {
    code: 4008,
    reason: "Slow consumer: a write timed out",
};

/// The close of a connection whose session was deleted.
pub const LOGGED_OUT: Ended = Ended {
    code: 4401,
    reason: "Unauthorized: the session was deleted (logged out)",
};

/// Redis handles of an instance that has Redis.
pub struct RedisLink {
    /// Session lookups and touches.
    pub sessions: AsyncSessionStore,
    /// Commands other than sessions (room checks), and the envelopes' publisher.
    pub(crate) conn: crate::redis::aio::AsyncConnection,
    /// Envelopes to other instances.
    pub publish: mpsc::UnboundedSender<Envelope>,
}

/// One instance's state.
pub struct Shared {
    /// Settings.
    pub config: Config,
    /// This instance's id (uuid), unique in the cluster.
    pub instance: String,
    registry: Mutex<Registry>,
    /// Connections by session token (token mode), so a logout finds them.
    tokens: Mutex<HashMap<Box<str>, HashSet<String>>>,
    /// Counters.
    pub metrics: Metrics,
    /// Accepted sockets, counted against the connection limits.
    pub sockets: crate::server::http::Sockets,
    /// Redis, when configured.
    pub redis: Option<RedisLink>,
    /// Whether the subscription is live.
    pub redis_up: AtomicBool,
    /// Flipped to true once on SIGINT/SIGTERM (by [`stop`](Self::stop)); wait on
    /// [`stopping`](Self::stopping).
    pub shutdown: watch::Sender<bool>,
    /// Wakes every connection on each keepalive tick, and for good once stopping (`true`):
    /// one timer for all of them instead of one each.
    pulse: watch::Sender<bool>,
}

impl Shared {
    /// New state for `config`.
    pub fn new(config: Config, redis: Option<RedisLink>) -> Self {
        Shared {
            config,
            instance: uuid::Uuid::new_v4().to_string(),
            registry: Mutex::new(Registry::default()),
            tokens: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            sockets: Default::default(),
            redis,
            redis_up: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            pulse: watch::channel(false).0,
        }
    }

    /// Begins shutdown: serving tasks stop, connections say goodbye.
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
        self.pulse.send_replace(true);
    }

    /// A keepalive tick for every connection (none once stopping).
    pub fn tick(&self) {
        self.pulse.send_if_modified(|stopping| !*stopping);
    }

    /// A connection's receiver of [`tick`](Self::tick)s and of [`stop`](Self::stop) (the
    /// value turns true), also when shutdown began before it was made.
    pub fn pulse(&self) -> watch::Receiver<bool> {
        let mut rx = self.pulse.subscribe();
        if *rx.borrow() {
            rx.mark_changed();
        }
        rx
    }

    /// A receiver whose `changed()` fires on shutdown, also when shutdown began before it
    /// was made (a task that starts late must still stop).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        let mut rx = self.shutdown.subscribe();
        if *rx.borrow() {
            rx.mark_changed();
        }
        rx
    }

    /// The registry; held only for short, non-async sections.
    pub fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a peer (and its token, for logouts).
    pub fn add_peer(&self, peer: LocalPeer) {
        if let Some(t) = &peer.token {
            self.tokens_map()
                .entry(t.clone())
                .or_default()
                .insert(peer.id.clone());
        }
        self.registry().add(peer);
    }

    /// Unregisters a peer; `None` when it was not registered.
    pub fn remove_peer(&self, id: &str) -> Option<LocalPeer> {
        let gone = self.registry().remove(id)?;
        if let Some(t) = &gone.token {
            let mut tokens = self.tokens_map();
            if let Some(ids) = tokens.get_mut(t) {
                ids.remove(id);
                if ids.is_empty() {
                    tokens.remove(t);
                }
            }
        }
        Some(gone)
    }

    fn tokens_map(&self) -> MutexGuard<'_, HashMap<Box<str>, HashSet<String>>> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes every local connection authenticated with `token` (its session was deleted);
    /// returns how many.
    pub fn end_session(&self, token: &str) -> usize {
        let ids: Vec<String> = self
            .tokens_map()
            .get(token)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        let reg = self.registry();
        let mut n = 0;
        for id in ids {
            if let Some(p) = reg.get(&id) {
                // What was queued for it is dropped: a logged-out client gets nothing more.
                if p.tx.end(LOGGED_OUT).is_some() {
                    n += 1;
                }
            }
        }
        if n > 0 {
            self.metrics.logouts.fetch_add(n as u64, Ordering::Relaxed);
            tracing::info!(connections = n, "session deleted: closing its connections");
        }
        n
    }

    /// Tokens of every local peer (to check after missed logout notices).
    pub fn tokens(&self) -> Vec<Box<str>> {
        self.tokens_map().keys().cloned().collect()
    }

    fn publish(&self, env: Envelope) {
        if let Some(r) = &self.redis {
            let _ = r.publish.send(env);
        }
    }

    /// Queues `text` for each peer. A peer whose queue is full is disconnected as a slow
    /// consumer (its close frame says so), never skipped in silence.
    pub fn deliver<'a>(&self, peers: impl IntoIterator<Item = &'a LocalPeer>, text: &Utf8Bytes) {
        for p in peers {
            match p.tx.push_or_end(text.clone(), SLOW_CONSUMER) {
                Ok(()) => {
                    self.metrics.messages_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(Refused::Overflowed(n)) => {
                    self.metrics.drop_n(Dropped::SlowConsumer, n as u64);
                    self.metrics.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        peer = %p.address(),
                        queued = self.config.max_queued,
                        "slow consumer: outbound queue full, disconnecting"
                    );
                }
                // Already ending (its close frame tells the client why), or gone.
                Err(Refused::Closed | Refused::Full(_)) => self.metrics.drop(Dropped::SlowConsumer),
            }
        }
    }

    /// Routes a client's message (its `from` already set) here and on every other instance.
    pub fn route_from_peer(&self, sender: &Sender, target: &Target, message: Value) {
        let text = Utf8Bytes::from(message.to_string());
        let local_hit = {
            let reg = self.registry();
            let recipients = routing::from_peer(&reg, sender, target);
            let hit = !recipients.is_empty();
            self.deliver(recipients, &text);
            hit
        };
        // A session found here lives nowhere else.
        if matches!(target, Target::Session { .. }) && local_hit {
            return;
        }
        self.publish(Envelope::Route {
            origin: self.instance.clone(),
            sender: sender.clone(),
            message,
        });
    }

    /// Routes a packet an emitter published on `symple:broadcast`.
    pub fn route_from_backend(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return self.metrics.drop(Dropped::Invalid);
        };
        let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(text) else {
            return self.metrics.drop(Dropped::Invalid);
        };
        let Ok(target) = routing::parse_to(msg.get("to")) else {
            return self.metrics.drop(Dropped::Invalid);
        };
        let reg = self.registry();
        match routing::from_backend(&reg, &target) {
            Some(recipients) => self.deliver(recipients, &Utf8Bytes::from(text.to_owned())),
            None => self.metrics.drop(Dropped::NoRecipient),
        }
    }

    /// Handles an envelope from another instance.
    pub fn on_envelope(&self, env: Envelope) {
        match env {
            Envelope::Route {
                sender, message, ..
            } => {
                let Ok(target) = routing::parse_to(message.get("to")) else {
                    return self.metrics.drop(Dropped::Invalid);
                };
                let text = Utf8Bytes::from(message.to_string());
                let reg = self.registry();
                self.deliver(routing::from_peer(&reg, &sender, &target), &text);
            }
            Envelope::Roster {
                requester, rooms, ..
            } => {
                let messages = self.roster(&requester, &rooms);
                if !messages.is_empty() {
                    self.publish(Envelope::Direct {
                        origin: self.instance.clone(),
                        to: requester.id,
                        messages,
                    });
                }
            }
            Envelope::Direct { to, messages, .. } => {
                // A roster can outgrow the outbound queue: wait for room instead of dropping.
                let tx = self.registry().get(&to).map(|p| p.tx.clone());
                if let Some(tx) = tx {
                    self.metrics
                        .messages_out
                        .fetch_add(messages.len() as u64, Ordering::Relaxed);
                    tokio::spawn(async move {
                        for m in messages {
                            let text = Utf8Bytes::from(m.to_string());
                            if tx.send(text).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    }

    /// Presence of local peers (other than the requester) sharing one of `rooms` with it.
    pub fn roster(&self, requester: &Sender, rooms: &[String]) -> Vec<Value> {
        let reg = self.registry();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for r in rooms.iter().filter(|r| requester.is_in(r)) {
            let members: Box<dyn Iterator<Item = &LocalPeer>> = if *r == requester.user {
                Box::new(reg.sessions(r))
            } else {
                Box::new(reg.members(r))
            };
            for p in members {
                if p.id != requester.id && seen.insert(p.id.as_str()) {
                    out.push(p.presence(true));
                }
            }
        }
        out
    }

    /// Asks the other instances for the presence of their peers sharing `rooms` with the
    /// requester (the local part is written by the connection itself, with back-pressure).
    pub fn request_remote_roster(&self, requester: &Sender, rooms: &[String]) {
        self.publish(Envelope::Roster {
            origin: self.instance.clone(),
            requester: requester.clone(),
            rooms: rooms.to_vec(),
        });
    }
}
