//! The cluster bus: what an instance publishes to and receives from Redis. It knows channels,
//! envelopes and subscriptions, not peers: incoming traffic is handed to an [`Inbound`] (the
//! instance's shared state), which calls back only through the [`Bus`] handle, so there is
//! no import loop between the two.
//!
//! - Outgoing envelopes go through a bounded queue to one publisher task, which pipelines
//!   what queued up; what does not fit is counted (`symple_bus_overflow_total`) and logged.
//! - Subscriptions follow [`Interest`]: the channels of the local peers' rooms, users and
//!   ids, brought up to date in batches by one task, plus `symple:broadcast` (emitter
//!   packets) and `symple:logout` (deleted sessions). A lost subscription is re-established
//!   with everything wanted at that moment. On a Redis Cluster the interest channels are
//!   sharded (SSUBSCRIBE / SPUBLISH, see [`crate::redis::subscriber`]); when a node's
//!   connection is lost (a failover) or a node ends a subscription still wanted (a promoted
//!   replica, a moved slot) they are all subscribed again, on a fresh topology, until it
//!   works.
//! - Order: one channel's envelopes arrive in the order they were published. Envelopes of
//!   one sender on different channels (a direct message, then a room message) may arrive in
//!   another order on a cluster, where different channels are served by different masters.
//! - An envelope received on several channels is handed over once; an instance's own
//!   envelopes are not handed back.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use crate::packet::native::CHANNEL as BROADCAST;
use crate::packet::Packet;
use serde_json::Value;

use crate::protocol::envelope::{channel, heartbeat_key, Body, Envelope, Sender};
use crate::redis::aio::AsyncConnection;
use crate::redis::subscriber::{self, Event, Subscriber};
use crate::redis::{ConnectOptions, Order};
use crate::server::interest::{Changes, Channel, Interest};
use crate::session::keys::LOGOUT_CHANNEL;

/// Envelopes waiting to be published before more are refused (see
/// [`Bus::overflowed`]): at ~1 KB each, a stalled Redis holds at most ~64 MB here.
pub const QUEUE: usize = 65_536;

/// How long a new subscription may take before a peer is welcomed anyway.
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// What kind of channel a message came on, for `symple_bus_received_total{class=...}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `symple:broadcast`: emitter packets for every instance.
    Broadcast,
    /// `symple:logout`: deleted sessions.
    Logout,
    /// A room's channel (named rooms and users' personal rooms).
    Room,
    /// A peer's channel.
    Peer,
    /// Anything else (not subscribed on purpose).
    Other,
}

impl Class {
    /// Every class and its label.
    pub const ALL: [(Class, &'static str); 5] = [
        (Class::Broadcast, "broadcast"),
        (Class::Logout, "logout"),
        (Class::Room, "room"),
        (Class::Peer, "peer"),
        (Class::Other, "other"),
    ];

    /// The class of `channel`.
    ///
    /// ```
    /// use symple::server::bus::Class;
    /// assert_eq!(Class::of("symple:room:lobby"), Class::Room);
    /// assert_eq!(Class::of("symple:broadcast"), Class::Broadcast);
    /// ```
    pub fn of(channel_name: &str) -> Class {
        if channel_name.starts_with(channel::ROOM) {
            Class::Room
        } else if channel_name.starts_with(channel::PEER) {
            Class::Peer
        } else if channel_name == BROADCAST {
            Class::Broadcast
        } else if channel_name == LOGOUT_CHANNEL {
            Class::Logout
        } else {
            Class::Other
        }
    }

    fn index(self) -> usize {
        Class::ALL.iter().position(|(c, _)| *c == self).unwrap_or(4)
    }
}

/// What the bus hands to the instance.
#[derive(Debug)]
// Handed over by value once and never stored: boxing the envelope would only add an
// allocation per envelope received.
#[allow(clippy::large_enum_variant)]
pub enum Incoming<'a> {
    /// An emitter packet from `symple:broadcast`.
    Broadcast(&'a [u8]),
    /// A deleted session's token from `symple:logout`.
    Logout(&'a [u8]),
    /// Another instance's envelope (once, however many of its channels this one holds).
    Envelope(Envelope),
}

/// The receiving side of an instance.
pub trait Inbound: Send + Sync + 'static {
    /// Handles one incoming message.
    fn deliver(&self, message: Incoming<'_>);
    /// The subscription is live (`true`, also after a reconnect) or was lost (`false`).
    fn link(self: Arc<Self>, up: bool);
    /// Instances whose heartbeat to check.
    fn watched(&self) -> Vec<String>;
    /// The heartbeat of `instance` was found (`alive`) or not; `grace` is how long one may
    /// be missing before the instance counts as dead.
    fn checked(&self, instance: &str, alive: bool, grace: Duration);
}

/// What goes out: an envelope's bytes and every channel they go to, or the packet that
/// appends a message to a room's history and publishes it (the record script).
enum Outgoing {
    Publish {
        channels: Vec<String>,
        payload: Vec<u8>,
    },
    Record(Packet),
}

/// The bus of one instance; cheap to share.
pub struct Bus {
    instance: String,
    seq: AtomicU64,
    queue: mpsc::Sender<Outgoing>,
    interest: Mutex<Interest>,
    wake: Notify,
    /// The generation of [`Interest`] the live subscription has reached.
    synced: watch::Sender<u64>,
    up: AtomicBool,
    /// Every channel is to be subscribed again (a cluster node was lost).
    resync: AtomicBool,
    received: [AtomicU64; 5],
    overflowed: AtomicU64,
    invalid: AtomicU64,
    pub(crate) conn: AsyncConnection,
}

impl Bus {
    /// A bus for instance `instance` over `conn`; starts its publisher task.
    pub(crate) fn start(instance: String, conn: AsyncConnection) -> Arc<Bus> {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(publish_loop(conn.clone(), rx));
        Arc::new(Bus {
            instance,
            seq: AtomicU64::new(0),
            queue,
            interest: Mutex::default(),
            wake: Notify::new(),
            synced: watch::channel(0).0,
            up: AtomicBool::new(false),
            resync: AtomicBool::new(false),
            received: Default::default(),
            overflowed: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            conn,
        })
    }

    /// Publishes `body` to each of `channels` (nothing when there is none). When the queue is
    /// full the envelope is dropped, counted and logged.
    pub fn publish(&self, channels: Vec<String>, body: Body) {
        if channels.is_empty() {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let copies = u32::try_from(channels.len()).unwrap_or(u32::MAX);
        let payload = Envelope::new(self.instance.clone(), seq, copies, body).encode();
        self.enqueue(Outgoing::Publish { channels, payload });
    }

    /// Appends `message` (its `from` set) to the history of `room` and publishes it there
    /// (see [`crate::history`]): every instance holding the room, this one too, delivers it
    /// when it comes back on the room's channel, in the order of the stream. `sender` is
    /// `None` for a backend's message. Nothing happens when the room has no stream key.
    pub fn publish_recorded(
        &self,
        room: &str,
        sender: Option<Sender>,
        message: Value,
        settings: &crate::history::Settings,
    ) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let Some(packet) = crate::history::record_packet(
            &self.instance,
            seq,
            room,
            sender,
            message.to_string().into_bytes(),
            settings,
        ) else {
            return;
        };
        self.enqueue(Outgoing::Record(packet));
    }

    fn enqueue(&self, out: Outgoing) {
        if self.queue.try_send(out).is_err() {
            let n = self.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
            // Once, then every 1,000: a stalled Redis must not flood the log too.
            if n == 1 || n % 1000 == 0 {
                tracing::warn!(
                    dropped = n,
                    queued = QUEUE,
                    "cluster bus: outgoing queue full (Redis too slow or down): envelope dropped"
                );
            }
        }
    }

    fn interest(&self) -> MutexGuard<'_, Interest> {
        self.interest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Updates the wanted channels: `add` wanted now, `remove` no longer. Returns the
    /// generation to [`wait_synced`](Self::wait_synced) for.
    pub fn want(&self, add: impl IntoIterator<Item = Channel>, remove: &[Channel<&str>]) -> u64 {
        let mut i = self.interest();
        for c in add {
            i.add(c);
        }
        for c in remove {
            i.remove(*c);
        }
        let generation = i.generation();
        let dirty = i.is_dirty();
        drop(i);
        if dirty {
            self.wake.notify_one();
        }
        generation
    }

    /// Waits (bounded) until the subscription covers `generation`; at once when Redis is
    /// down (the channels are subscribed with everything else when it comes back).
    pub async fn wait_synced(&self, generation: u64) {
        if !self.up.load(Ordering::Relaxed) {
            return;
        }
        let mut rx = self.synced.subscribe();
        let reached = rx.wait_for(|g| *g >= generation);
        if tokio::time::timeout(SYNC_WAIT, reached).await.is_err() {
            tracing::warn!(
                "cluster bus: a subscription took over {SYNC_WAIT:?}; going on without it"
            );
        }
    }

    /// This instance's id.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Whether the subscription is live.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Messages received from Redis on channels of `class` (duplicates and the instance's
    /// own envelopes included: this is what Redis sent).
    pub fn received(&self, class: Class) -> u64 {
        self.received[class.index()].load(Ordering::Relaxed)
    }

    /// Envelopes dropped because the outgoing queue was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Channels wanted now.
    pub fn channels(&self) -> usize {
        self.interest().len()
    }

    /// Prometheus lines for the bus.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# HELP symple_bus_received_total Messages received from Redis, by channel class.\n\
             # TYPE symple_bus_received_total counter"
        );
        for (class, label) in Class::ALL {
            let _ = writeln!(
                out,
                "symple_bus_received_total{{class=\"{label}\"}} {}",
                self.received(class)
            );
        }
        let _ = writeln!(
            out,
            "# HELP symple_bus_overflow_total Envelopes dropped: the outgoing queue was full.\n\
             # TYPE symple_bus_overflow_total counter\nsymple_bus_overflow_total {}\n\
             # HELP symple_bus_invalid_total Envelopes that could not be read.\n\
             # TYPE symple_bus_invalid_total counter\nsymple_bus_invalid_total {}\n\
             # HELP symple_bus_channels Interest channels subscribed.\n\
             # TYPE symple_bus_channels gauge\nsymple_bus_channels {}",
            self.overflowed(),
            self.invalid.load(Ordering::Relaxed),
            self.channels()
        );
    }
}

impl Bus {
    /// Takes this instance's heartbeat away (graceful shutdown), bounded by a second.
    pub async fn goodbye(&self) {
        let del = redis::cmd("DEL").arg(heartbeat_key(&self.instance)).clone();
        let cmds = [del];
        let run = self.conn.run(&cmds, Order::Any);
        match tokio::time::timeout(Duration::from_secs(1), run).await {
            Ok(Ok(_)) => tracing::info!("heartbeat removed: leaving the cluster"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot remove the heartbeat"),
            Err(_) => tracing::warn!("cannot remove the heartbeat: Redis did not answer"),
        }
    }
}

/// Keeps this instance's heartbeat (`symple:instance:<id>`, expiring after half of
/// `timeout`) and checks those of the instances `inbound` watches, every eighth of
/// `timeout`: an instance whose heartbeat is missing for a quarter of it is dead, so its
/// peers are announced offline within `timeout` of its last beat.
pub async fn run_heartbeat(
    bus: Arc<Bus>,
    inbound: Arc<dyn Inbound>,
    timeout: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let every = timeout / 8;
    let ttl = u64::try_from((timeout / 2).as_millis()).unwrap_or(u64::MAX);
    let grace = timeout / 4;
    let key = heartbeat_key(&bus.instance);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.changed() => return,
        }
        let beat = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .clone();
        if let Err(e) = bus.conn.run(&[beat], Order::Any).await {
            tracing::debug!(error = %e, "heartbeat not written");
            continue;
        }
        let watched = inbound.watched();
        if watched.is_empty() {
            continue;
        }
        let checks: Vec<redis::Cmd> = watched
            .iter()
            .map(|i| redis::cmd("EXISTS").arg(heartbeat_key(i)).clone())
            .collect();
        match bus.conn.run(&checks, Order::Any).await {
            Ok(replies) => {
                for (instance, reply) in watched.iter().zip(replies) {
                    let alive = redis::from_redis_value::<bool>(reply).unwrap_or(true);
                    inbound.checked(instance, alive, grace);
                }
            }
            Err(e) => tracing::debug!(error = %e, "heartbeats not checked"),
        }
    }
}

/// Publishes what is queued, pipelining up to 512 envelopes and history records per round
/// trip, in order (on a cluster: one pipeline per slot, so in order per channel; a record
/// goes to its room's slot, SPUBLISHing there).
async fn publish_loop(conn: AsyncConnection, mut rx: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::new();
    let mut packets = Vec::new();
    while rx.recv_many(&mut batch, 512).await > 0 {
        let mut records = 0;
        for out in batch.drain(..) {
            match out {
                Outgoing::Publish { channels, payload } => {
                    let last = channels.len().saturating_sub(1);
                    let mut payload = Some(payload);
                    for (i, c) in channels.into_iter().enumerate() {
                        let bytes = if i == last {
                            payload.take().unwrap_or_default()
                        } else {
                            payload.clone().unwrap_or_default()
                        };
                        packets.push(Packet::new(c, bytes));
                    }
                }
                Outgoing::Record(packet) => {
                    records += 1;
                    packets.push(packet);
                }
            }
        }
        // A failure loses this moment's traffic for the other instances, and the recorded
        // messages for everyone (their delivery is the script's publish); clients stay
        // connected and the connection reconnects.
        if let Err(e) = conn.publish(&packets).await {
            tracing::warn!(error = %e, envelopes = packets.len() - records, records,
                "cluster bus: publish failed, other instances missed some traffic (and messages to history rooms, if any, were lost)");
        }
        packets.clear();
    }
}

/// Envelopes already handed over, per origin, to hand each over once: those published to
/// several channels arrive once per channel held.
#[derive(Debug, Default)]
struct Seen {
    origins: HashMap<String, VecDeque<u64>>,
}

impl Seen {
    /// Recent sequence numbers kept per origin.
    const WINDOW: usize = 1024;
    /// Origins kept (one per instance); past this all are forgotten and start over.
    const ORIGINS: usize = 4096;

    /// True the first time (origin, seq) is seen.
    fn first(&mut self, origin: &str, seq: u64) -> bool {
        if self.origins.len() >= Self::ORIGINS && !self.origins.contains_key(origin) {
            self.origins.clear();
        }
        let recent = self.origins.entry(origin.to_owned()).or_default();
        if recent.contains(&seq) {
            return false;
        }
        if recent.len() == Self::WINDOW {
            recent.pop_front();
        }
        recent.push_back(seq);
        true
    }
}

/// Subscribes and hands what arrives to `inbound`, re-establishing the subscription after
/// Redis restarts or failovers (backing off up to 2 s), until `stopping` turns true. Every
/// `keepalive` the subscription's connections are PINGed (see [`Keepalive`]).
pub async fn run_subscriber(
    bus: Arc<Bus>,
    opts: ConnectOptions,
    inbound: Arc<dyn Inbound>,
    keepalive: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let keepalive = Keepalive {
        every: keepalive,
        within: opts.response_timeout,
    };
    let mut backoff = Duration::from_millis(100);
    let mut seen = Seen::default();
    // Failures are logged once per outage (with the reason), not at every retry.
    let mut failing = false;
    loop {
        match subscriber::connect(&opts, &bus.conn).await {
            Ok((mut sub, mut pushes)) => {
                let all = bus.interest().restart();
                let first = async {
                    sub.subscribe_classic(&[BROADCAST, LOGOUT_CHANNEL]).await?;
                    sub.subscribe(&all.subscribe).await
                };
                match first.await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        failing = false;
                        bus.resync.store(false, Ordering::Relaxed);
                        bus.up.store(true, Ordering::Relaxed);
                        bus.synced.send_replace(all.generation);
                        inbound.clone().link(true);
                        let mut syncer =
                            tokio::spawn(sync_loop(bus.clone(), sub, inbound.clone(), keepalive));
                        let stopped = loop {
                            tokio::select! {
                                push = pushes.next() => match push {
                                    Some(push) => match push.event() {
                                        Event::Message { channel, payload } => on_message(
                                            &bus, &*inbound, &mut seen, channel, payload),
                                        Event::NodeLost => bus.node_lost(&inbound),
                                        // Not asked for (still wanted): Redis dropped it.
                                        Event::Unsubscribed(c) if bus.interest().wants(c) => {
                                            tracing::debug!(channel = c,
                                                "cluster bus: a node ended a subscription");
                                            bus.node_lost(&inbound);
                                        }
                                        Event::Unsubscribed(_) => {}
                                        Event::Other => {}
                                    },
                                    None => break false,
                                },
                                // One node's connection failed a command or a PING (its
                                // stream may never end: a silent socket): start over.
                                _ = &mut syncer => break false,
                                _ = stopping.changed() => break true,
                            }
                        };
                        syncer.abort();
                        bus.up.store(false, Ordering::Relaxed);
                        if stopped {
                            return;
                        }
                        inbound.clone().link(false);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Redis: cannot subscribe");
                    }
                }
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, url = %opts.redacted(),
                    "Redis unreachable: retrying (backing off up to 2 s)");
            }
            Err(e) => {
                tracing::debug!(error = %e, "Redis still unreachable");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopping.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

impl Bus {
    /// A cluster node's connection closed, or a node ended a subscription still wanted: the
    /// subscription is down until every channel is subscribed again (by [`sync_loop`]).
    fn node_lost(&self, inbound: &Arc<dyn Inbound>) {
        if self.up.swap(false, Ordering::Relaxed) {
            inbound.clone().link(false);
        }
        self.resync.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }
}

/// How the subscription's connections are checked: a PING `every` so often, answered
/// `within` (the response timeout). A node that stops answering without closing its socket
/// (a partition, a stopped process; a cluster master meanwhile replaced by its replica) is
/// then taken as lost, as a closed connection is, instead of holding dead subscriptions
/// until some command fails.
#[derive(Clone, Copy, Debug)]
struct Keepalive {
    every: Duration,
    within: Duration,
}

/// Sends the subscribe and unsubscribe commands of `changes`.
async fn apply(sub: &mut Subscriber, changes: &Changes) -> redis::RedisResult<()> {
    sub.subscribe(&changes.subscribe).await?;
    sub.unsubscribe(&changes.unsubscribe).await
}

/// Brings the subscription up to date whenever the interest changes; changes that come in
/// while a command is on its way are sent together with the next one. On a cluster it also
/// subscribes everything again after a lost node or a failed command, retrying (backing off
/// up to 0.5 s) until that works; the subscription counts as up again only then. Between
/// changes it PINGs the connections (`keepalive`); on one node it returns when a command or
/// a PING fails (the subscriber starts over).
async fn sync_loop(
    bus: Arc<Bus>,
    mut sub: Subscriber,
    inbound: Arc<dyn Inbound>,
    keepalive: Keepalive,
) {
    let mut backoff = Duration::from_millis(100);
    let mut ping = tokio::time::interval(keepalive.every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.reset();
    loop {
        if bus.resync.swap(false, Ordering::Relaxed) {
            // New connections hold nothing: what is wanted now is all there is to subscribe.
            let all = bus.interest().restart();
            let again = async {
                sub.reopen().await?;
                sub.subscribe_classic(&[BROADCAST, LOGOUT_CHANNEL]).await?;
                sub.subscribe(&all.subscribe).await
            };
            if let Err(e) = again.await {
                tracing::debug!(error = %e, "cluster bus: subscribing again failed; retrying");
                bus.resync.store(true, Ordering::Relaxed);
                tokio::time::sleep(backoff).await;
                // At most half a second: a failover's promotion is waited for closely.
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
            backoff = Duration::from_millis(100);
            bus.synced.send_replace(all.generation);
            if !bus.up.swap(true, Ordering::Relaxed) {
                inbound.clone().link(true);
            }
        }
        let changes = bus.interest().take();
        if !changes.subscribe.is_empty() || !changes.unsubscribe.is_empty() {
            if let Err(e) = apply(&mut sub, &changes).await {
                tracing::warn!(error = %e, "cluster bus: (un)subscribe failed");
                if !sub.is_cluster() {
                    // The stream ends too; the subscriber starts over with everything wanted.
                    return;
                }
                bus.node_lost(&inbound);
                continue;
            }
        }
        bus.synced.send_replace(changes.generation);
        tokio::select! {
            // A notification that comes meanwhile is kept (a permit) for the next wait.
            _ = bus.wake.notified() => {}
            _ = ping.tick() => {
                if let Err(e) = sub.ping(keepalive.within).await {
                    tracing::warn!(error = %e,
                        "Redis: the subscription's connection does not answer; subscribing again");
                    if !sub.is_cluster() {
                        return;
                    }
                    bus.node_lost(&inbound);
                }
            }
        }
    }
}

fn on_message(bus: &Bus, inbound: &dyn Inbound, seen: &mut Seen, name: &str, payload: &[u8]) {
    let class = Class::of(name);
    bus.received[class.index()].fetch_add(1, Ordering::Relaxed);
    match class {
        Class::Broadcast => inbound.deliver(Incoming::Broadcast(payload)),
        Class::Logout => inbound.deliver(Incoming::Logout(payload)),
        _ => match Envelope::decode(payload) {
            // Own envelopes are handled when sent, except history ones: those are delivered
            // here, in the order of the stream, also to this instance's peers.
            Ok(env)
                if env.origin == bus.instance
                    && !env.origin.is_empty()
                    && !matches!(env.body, Body::History { .. }) => {}
            Ok(env) if env.copies > 1 && !seen.first(&env.origin, env.seq) => {}
            Ok(env) => inbound.deliver(Incoming::Envelope(env)),
            Err(e) => {
                let n = bus.invalid.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n % 1000 == 0 {
                    tracing::warn!(channel = name, error = %e, invalid = n,
                        "cluster bus: unreadable envelope dropped");
                }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_seen_once_per_origin_and_seq() {
        let mut s = Seen::default();
        assert!(s.first("a", 1));
        assert!(s.first("b", 1));
        assert!(!s.first("a", 1));
        assert!(s.first("a", 2));
        for n in 3..3000 {
            assert!(s.first("a", n));
        }
        assert!(!s.first("a", 2999));
        assert_eq!(s.origins["a"].len(), Seen::WINDOW);
    }
}
