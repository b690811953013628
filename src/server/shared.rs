//! State shared by every connection of one instance, and the delivery of messages to it.
//! Traffic to and from other instances goes through the [`Bus`]; this side decides who
//! receives what (the registry and the routing rules) and which channels the bus holds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::protocol::envelope::{channel, Body, Envelope, Known};
use crate::server::bus::{Bus, Inbound, Incoming};
use crate::server::config::Config;
use crate::server::interest::Channel;
use crate::server::metrics::{Dropped, Metrics};
use crate::server::outbox::{Ended, Refused};
use crate::server::presented::Presented;
use crate::server::registry::{LocalPeer, Registry, ARRIVAL};
use crate::server::remote::{Remote, RemotePeer};
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
    /// Commands other than sessions (room checks).
    pub(crate) conn: crate::redis::aio::AsyncConnection,
    /// Envelopes to and from other instances.
    pub bus: Arc<Bus>,
}

/// One instance's state.
pub struct Shared {
    /// Settings.
    pub config: Config,
    /// This instance's id (uuid), unique in the cluster.
    pub instance: String,
    registry: Mutex<Registry>,
    /// Peers of other instances announced here, to announce offline if their instance dies.
    remote: Mutex<Remote>,
    /// Presence events of other instances' peers shown to local peers, to show each once
    /// (locked after the registry).
    presented: Mutex<Presented>,
    /// Connections by session token (token mode), so a logout finds them.
    tokens: Mutex<HashMap<Box<str>, HashSet<String>>>,
    /// Live history messages held for peers recovering now.
    pub(crate) gates: crate::server::history::Gates,
    /// Counters.
    pub metrics: Metrics,
    /// Accepted sockets, counted against the connection limits.
    pub sockets: crate::server::http::Sockets,
    /// Redis, when configured.
    pub redis: Option<RedisLink>,
    /// Whether the subscription is live.
    pub redis_up: AtomicBool,
    /// Whether it ever was (a later start is a reconnect).
    was_up: AtomicBool,
    /// Flipped to true once on SIGINT/SIGTERM (by [`stop`](Self::stop)); wait on
    /// [`stopping`](Self::stopping).
    pub shutdown: watch::Sender<bool>,
    /// Keepalive ticks so far (and one more on stopping); each wakes every connection
    /// through its queue: one timer for all of them, and nothing stored in an idle
    /// connection's task to wait on it.
    pulse: AtomicU64,
}

impl Shared {
    /// New state for `config`.
    pub fn new(config: Config, redis: Option<RedisLink>) -> Self {
        Shared {
            config,
            instance: redis.as_ref().map_or_else(
                || uuid::Uuid::new_v4().to_string(),
                |r| r.bus.instance().to_owned(),
            ),
            registry: Mutex::new(Registry::default()),
            remote: Mutex::default(),
            presented: Mutex::default(),
            tokens: Mutex::new(HashMap::new()),
            gates: Default::default(),
            metrics: Metrics::default(),
            sockets: Default::default(),
            redis,
            redis_up: AtomicBool::new(false),
            was_up: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            pulse: AtomicU64::new(0),
        }
    }

    /// Begins shutdown: serving tasks stop, connections say goodbye.
    pub fn stop(&self) {
        // Stored even when nobody is subscribed: `is_stopping` reads it.
        self.shutdown.send_replace(true);
        self.beat();
    }

    /// A keepalive tick for every connection (none once stopping).
    pub fn tick(&self) {
        if !self.is_stopping() {
            self.beat();
        }
    }

    /// Counts a pulse, then wakes every registered connection (see [`pulse`](Self::pulse)).
    fn beat(&self) {
        self.pulse.fetch_add(1, Ordering::SeqCst);
        for peer in self.registry().peers() {
            peer.tx.wake();
        }
    }

    /// The pulses so far: a connection that sees the count move had a keepalive tick, or
    /// the server is [stopping](Self::is_stopping). Its queue is woken after each count; a
    /// connection reads the count, then checks `is_stopping`, so a stop just before is
    /// not missed.
    pub fn pulse(&self) -> u64 {
        self.pulse.load(Ordering::SeqCst)
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopping(&self) -> bool {
        *self.shutdown.borrow()
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

    /// Registers a peer (and its token, for logouts), wants its channels and announces it
    /// to the local peers of the rooms `presence_rooms` picks (see [`Arrival`]).
    pub fn add_peer(
        &self,
        peer: LocalPeer,
        sender: &Sender,
        presence_rooms: impl FnOnce(&Registry) -> Vec<String>,
    ) -> Arrival {
        if let Some(t) = &peer.token {
            self.tokens_map()
                .entry(t.clone())
                .or_default()
                .insert(peer.id.to_string());
        }
        let channels: Vec<Channel> = [
            Channel::Peer(peer.id.clone()),
            Channel::Room(peer.user.clone()),
        ]
        .into_iter()
        .chain(peer.rooms.keys().map(|r| Channel::Room(r.as_str().into())))
        .collect();
        let online = peer.presence(true);
        // Under the registry lock, so interest follows the registry's order of events.
        self.arrive(sender, online, |reg| {
            reg.add(peer);
            (Some(self.want(channels, &[])), presence_rooms(reg))
        })
    }

    /// Puts peer `id` in named room `room` and announces it there when `presence_rooms`
    /// keeps the room (see [`Arrival`]); `None` when it is not registered.
    pub fn join(
        &self,
        id: &str,
        room: &str,
        sender: &Sender,
        presence_rooms: impl FnOnce(&Registry) -> Vec<String>,
    ) -> Option<Arrival> {
        let online = self.registry().get(id)?.presence(true);
        Some(self.arrive(sender, online, |reg| {
            let generation = reg
                .join(id, room)
                .then(|| self.want([Channel::Room(room.into())], &[]));
            (generation, presence_rooms(reg))
        }))
    }

    /// Under one registry lock: `change` (a peer arrives or joins a room), the peer's
    /// online presence to the local peers of the rooms `change` returns, and their
    /// presence back (the roster).
    fn arrive(
        &self,
        sender: &Sender,
        online: Value,
        change: impl FnOnce(&mut Registry) -> (Option<u64>, Vec<String>),
    ) -> Arrival {
        let text = Utf8Bytes::from(online.to_string());
        let mut reg = self.registry();
        let (generation, announced) = change(&mut reg);
        let event = reg.get(&sender.id).map_or(0, |p| p.events);
        let target = Target::List(announced.clone());
        self.deliver(routing::from_peer(&reg, sender, &target), &text);
        let roster = roster(&reg, sender, &announced)
            .into_iter()
            .map(|k| k.presence)
            .collect();
        Arrival {
            generation,
            event,
            announced,
            roster,
            online,
        }
    }

    /// Tells the instances holding the rooms of `arrival` and asks them for their peers
    /// there (once they can reach the peer: after [`wait_synced`](Self::wait_synced)), before
    /// the client is answered: a client that waits for its answer before anything else
    /// cannot race its own roster request.
    pub fn announce_remotely(&self, sender: &Sender, arrival: &Arrival) {
        if !arrival.announced.is_empty() {
            self.publish_route(
                sender,
                &Target::List(arrival.announced.clone()),
                arrival.online.clone(),
                Some(true),
                Some(arrival.event),
            );
            self.request_remote_roster(sender, &arrival.announced, arrival.event);
        }
    }

    /// Unregisters a peer (and drops the channels nobody here needs any more) and tells the
    /// local peers of `rooms` it is offline, under one lock (see [`Arrival`]), then the
    /// other instances; `None` when it was not registered.
    pub fn remove_peer(&self, sender: &Sender, rooms: Vec<String>) -> Option<LocalPeer> {
        let id = sender.id.as_str();
        let mut reg = self.registry();
        let gone = reg.remove(id)?;
        let offline = gone.presence(false);
        let target = Target::List(rooms);
        let text = Utf8Bytes::from(offline.to_string());
        self.deliver(routing::from_peer(&reg, sender, &target), &text);
        // A room's channel serves its members and the sessions of the user of that name.
        let unused = |name: &str| reg.room_size(name) == 0 && !reg.has_user(name);
        let mut unwanted = vec![Channel::Peer(id)];
        unwanted.extend(
            std::iter::once(&*gone.user)
                .chain(gone.rooms.keys().map(String::as_str))
                .filter(|r| unused(r))
                .map(Channel::Room),
        );
        self.want([], &unwanted);
        self.presented().forget_local(id);
        drop(reg);
        self.publish_route(sender, &target, offline, Some(false), None);
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

    /// Takes peer `id` out of named room `room`; false when it was not in it.
    pub fn leave(&self, id: &str, room: &str) -> bool {
        let mut reg = self.registry();
        let left = reg.leave(id, room);
        if left && reg.room_size(room) == 0 && !reg.has_user(room) {
            self.want([], &[Channel::Room(room)]);
        }
        left
    }

    fn want(&self, add: impl IntoIterator<Item = Channel>, remove: &[Channel<&str>]) -> u64 {
        match &self.redis {
            Some(r) => r.bus.want(add, remove),
            None => 0,
        }
    }

    /// Waits (bounded) until the bus holds the channels of `generation`.
    pub async fn wait_synced(&self, generation: u64) {
        if let Some(r) = &self.redis {
            r.bus.wait_synced(generation).await;
        }
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

    fn publish(&self, channels: Vec<String>, body: Body) {
        if let Some(r) = &self.redis {
            r.bus.publish(channels, body);
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

    /// Routes a client's message (its `from` already set) here and to the instances holding
    /// its recipients. `announce` marks the server's own presence of the sender (see
    /// [`Body::Route`]).
    pub fn route_from_peer(
        &self,
        sender: &Sender,
        target: &Target,
        message: Value,
        announce: Option<bool>,
    ) {
        if announce.is_none() {
            if let Some(room) = self.recorded_room(sender, &target_names(target), &message) {
                // Delivered here too when it comes back from Redis, with its offset.
                if let Some(r) = &self.redis {
                    r.bus.publish_recorded(
                        &room,
                        Some(sender.clone()),
                        message,
                        &self.config.history_settings,
                    );
                }
                return;
            }
        }
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
        self.publish_route(sender, target, message, announce, None);
    }

    /// The part of [`route_from_peer`](Self::route_from_peer) for other instances.
    fn publish_route(
        &self,
        sender: &Sender,
        target: &Target,
        message: Value,
        announce: Option<bool>,
        event: Option<u64>,
    ) {
        self.publish(
            routing::channels(sender, target),
            Body::Route {
                sender: sender.clone(),
                message,
                // The server's own presence has no `to`: its rooms travel with it.
                rooms: match (announce, target) {
                    (Some(_), Target::List(rooms)) => Some(rooms.clone()),
                    _ => None,
                },
                announce,
                event,
            },
        );
    }

    /// Routes a packet an emitter published on `symple:broadcast`.
    pub fn route_from_backend(&self, payload: &[u8]) {
        let Ok(text) = std::str::from_utf8(payload) else {
            return self.metrics.drop(Dropped::Invalid);
        };
        match serde_json::from_str::<Value>(text) {
            Ok(msg) => self.route_emitted(&msg, || Utf8Bytes::from(text.to_owned())),
            Err(_) => self.metrics.drop(Dropped::Invalid),
        }
    }

    /// Delivers an emitter's message (`text` is its JSON) to its recipients here.
    fn route_emitted(&self, msg: &Value, text: impl FnOnce() -> Utf8Bytes) {
        let Value::Object(msg) = msg else {
            return self.metrics.drop(Dropped::Invalid);
        };
        let Ok(target) = routing::parse_to(msg.get("to")) else {
            return self.metrics.drop(Dropped::Invalid);
        };
        let reg = self.registry();
        match routing::from_backend(&reg, &target) {
            Some(recipients) => self.deliver(recipients, &text()),
            None => self.metrics.drop(Dropped::NoRecipient),
        }
    }

    fn remote(&self) -> MutexGuard<'_, Remote> {
        self.remote.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn presented(&self) -> MutexGuard<'_, Presented> {
        self.presented.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles an envelope from another instance.
    pub fn on_envelope(&self, env: Envelope) {
        match env.body {
            Body::Route {
                sender,
                message,
                rooms,
                announce,
                event,
            } => {
                let target = match rooms {
                    Some(rooms) => Target::List(rooms),
                    None => match routing::parse_to(message.get("to")) {
                        Ok(t) => t,
                        Err(_) => return self.metrics.drop(Dropped::Invalid),
                    },
                };
                match (announce, &target) {
                    (Some(true), Target::List(rooms)) => {
                        let rooms = rooms.iter().filter(|r| sender.is_in(r)).cloned();
                        self.remote().online(&env.origin, &sender, &message, rooms);
                    }
                    (Some(false), _) => self.remote().offline(&env.origin, &sender.id),
                    _ => {}
                }
                let text = Utf8Bytes::from(message.to_string());
                let reg = self.registry();
                let mut recipients = routing::from_peer(&reg, &sender, &target);
                match (announce, event) {
                    (Some(true), Some(event)) => {
                        // Each once, also when a roster answer told of it (server::presented).
                        let mut shown = self.presented();
                        recipients.retain(|p| shown.announced(&p.id, p.events, &sender.id, event));
                    }
                    (Some(false), _) => self.presented().forget_remote(&sender.id),
                    _ => {}
                }
                self.deliver(recipients, &text);
            }
            Body::History {
                offset,
                room,
                sender,
                message,
            } => match offset.parse() {
                Ok(offset) => {
                    if sender.is_none() {
                        self.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                    }
                    self.deliver_recorded(&room, offset, sender.as_deref(), message)
                }
                Err(_) => self.metrics.drop(Dropped::Invalid),
            },
            Body::Emit { message } => {
                self.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                self.route_emitted(&message, || Utf8Bytes::from(message.to_string()));
            }
            Body::Roster {
                requester,
                rooms,
                event,
            } => {
                let peers = self.roster_of(&requester, &rooms);
                if !peers.is_empty() {
                    self.publish(
                        vec![channel::peer(&requester.id)],
                        Body::Present {
                            to: requester.id,
                            rooms,
                            event,
                            peers,
                        },
                    );
                }
            }
            Body::Present {
                to,
                rooms,
                event,
                mut peers,
            } => {
                {
                    let mut remote = self.remote();
                    for k in &peers {
                        let shared = rooms.iter().filter(|r| k.sender.is_in(r)).cloned();
                        remote.online(&env.origin, &k.sender, &k.presence, shared);
                    }
                }
                let tx = {
                    let reg = self.registry();
                    reg.get(&to).map(|p| {
                        // Each once, also when an announcement told of it (server::presented).
                        let mut shown = self.presented();
                        peers.retain(|k| {
                            shown.listed(&to, p.events, event, &k.sender.id, &k.events)
                        });
                        p.tx.clone()
                    })
                };
                // A roster can outgrow the outbound queue: wait for room instead of dropping.
                if let Some(tx) = tx {
                    self.metrics
                        .messages_out
                        .fetch_add(peers.len() as u64, Ordering::Relaxed);
                    tokio::spawn(async move {
                        for known in peers {
                            let text = Utf8Bytes::from(known.presence.to_string());
                            if tx.send(text).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    }

    /// Local peers (other than the requester) sharing one of `rooms` with it.
    fn roster_of(&self, requester: &Sender, rooms: &[String]) -> Vec<Known> {
        roster(&self.registry(), requester, rooms)
    }

    /// Asks the instances holding `rooms` for the presence of their peers sharing them with
    /// the requester (the local part is written by the connection itself, with
    /// back-pressure). Their answers come on the requester's own channel.
    fn request_remote_roster(&self, requester: &Sender, rooms: &[String], event: u64) {
        self.publish(
            routing::channels(requester, &Target::List(rooms.to_vec())),
            Body::Roster {
                requester: requester.clone(),
                rooms: rooms.to_vec(),
                event,
            },
        );
    }

    /// Closes connections whose session no longer exists (token mode): logouts published
    /// while this instance was not listening.
    async fn check_sessions(self: Arc<Self>) {
        let Some(redis) = &self.redis else { return };
        // The subscription can be back before the command connection notices that Redis
        // restarted (its first command then fails with a broken pipe and reconnects): a few
        // tries, a bounded while apart.
        let mut pause = std::time::Duration::from_millis(100);
        for attempt in 1..=5 {
            let mut failed = None;
            for token in self.tokens() {
                match redis.sessions.exists(&token).await {
                    Ok(false) => {
                        self.end_session(&token);
                    }
                    Ok(true) => {}
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let Some(e) = failed else { return };
            tracing::warn!(error = %e, attempt, "cannot check sessions after (re)subscribing");
            if attempt == 5 {
                return;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

impl Shared {
    /// Tells local peers that the peers of a dead instance are offline (each instance
    /// tells its own peers: nothing is published).
    fn announce_dead(&self, instance: &str, gone: Vec<RemotePeer>) {
        tracing::warn!(
            instance,
            peers = gone.len(),
            "instance expired (no heartbeat): announcing its peers offline"
        );
        let reg = self.registry();
        let mut shown = self.presented();
        for p in gone {
            shown.forget_remote(&p.sender.id);
            let target = Target::List(p.rooms.iter().cloned().collect());
            let text = Utf8Bytes::from(p.offline().to_string());
            self.deliver(routing::from_peer(&reg, &p.sender, &target), &text);
        }
    }
}

impl Inbound for Shared {
    fn watched(&self) -> Vec<String> {
        self.remote().instances()
    }

    fn checked(&self, instance: &str, alive: bool, grace: std::time::Duration) {
        let gone = self
            .remote()
            .checked(instance, alive, std::time::Instant::now(), grace);
        if !gone.is_empty() {
            self.announce_dead(instance, gone);
        }
    }

    fn deliver(&self, message: Incoming<'_>) {
        match message {
            Incoming::Broadcast(payload) => {
                self.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                self.route_from_backend(payload);
            }
            Incoming::Logout(payload) => match std::str::from_utf8(payload) {
                Ok(token) => {
                    self.end_session(token);
                }
                Err(_) => self.metrics.drop(Dropped::Invalid),
            },
            Incoming::Envelope(env) => self.on_envelope(env),
        }
    }

    fn link(self: Arc<Self>, up: bool) {
        self.redis_up.store(up, Ordering::Relaxed);
        if !up {
            tracing::warn!("Redis lost: the subscription's connection closed; reconnecting");
            return;
        }
        if self.was_up.swap(true, Ordering::Relaxed) {
            self.metrics
                .redis_reconnects
                .fetch_add(1, Ordering::Relaxed);
            // A restarted Redis lost every heartbeat: give the instances time to write theirs
            // again before counting any as dead.
            self.remote()
                .quiet(std::time::Instant::now(), self.config.instance_timeout / 2);
            tracing::info!(
                channels = self.redis.as_ref().map_or(0, |r| r.bus.channels()),
                "Redis connected again: resubscribed"
            );
        } else {
            tracing::info!("Redis connected: subscribed");
        }
        tokio::spawn(self.check_sessions());
    }
}

/// A peer's arrival in rooms, or its joining one, as this instance took it: the change to
/// the registry, the peer's online presence to the local peers of `announced` and their
/// presence back (`roster`) all under one registry lock, as leaving is with the offline
/// presence. Of two peers arriving at once, the earlier is then in the later one's roster
/// and the later one's presence reaches the earlier one: each sees the other once, never
/// twice and never not at all. Other instances are told by
/// [`Shared::announce_remotely`].
pub struct Arrival {
    /// The bus generation to [`wait_synced`](Shared::wait_synced) for before the peer counts
    /// on being reachable from other instances; `None` when nothing new was wanted.
    pub generation: Option<u64>,
    /// The peer's presence event it is (see [`LocalPeer::events`]).
    pub event: u64,
    /// The rooms told (for an arrival, the personal room first).
    pub announced: Vec<String>,
    /// Presence of the local peers sharing them, for the connection to write.
    pub roster: Vec<Value>,
    online: Value,
}

/// The names a `to` gives, when it is one name or a list.
fn target_names(target: &Target) -> Vec<&str> {
    match target {
        Target::Name(n) => vec![n.as_str()],
        Target::List(rooms) => rooms.iter().map(String::as_str).collect(),
        Target::Rooms | Target::Session { .. } => Vec::new(),
    }
}

/// Peers in `reg` (other than the requester) sharing one of `rooms` with it, each with the
/// presence events that put it there.
fn roster(reg: &Registry, requester: &Sender, rooms: &[String]) -> Vec<Known> {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Known> = Vec::new();
    for r in rooms.iter().filter(|r| requester.is_in(r)) {
        let members: Box<dyn Iterator<Item = (&LocalPeer, u64)>> = if *r == requester.user {
            Box::new(reg.sessions(r).map(|p| (p, ARRIVAL)))
        } else {
            Box::new(
                reg.members(r)
                    .map(|p| (p, p.rooms.get(r.as_str()).copied().unwrap_or(ARRIVAL))),
            )
        };
        for (p, event) in members.filter(|(p, _)| *p.id != *requester.id) {
            let i = *at.entry(&*p.id).or_insert_with(|| {
                out.push(Known {
                    sender: p.sender(),
                    presence: p.presence(true),
                    events: Vec::new(),
                });
                out.len() - 1
            });
            if !out[i].events.contains(&event) {
                out[i].events.push(event);
            }
        }
    }
    out
}
