//! One WebSocket connection: authentication, then frames in and out until it ends.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message, Utf8Bytes};

use crate::protocol::Object;
use crate::server::auth::{self, Authorized};
use crate::server::limits::TokenBucket;
use crate::server::metrics::Dropped;
use crate::server::outbox::{outbox, Inbox};
use crate::server::registry::LocalPeer;
use crate::server::routing::{self, Sender, Target};
use crate::server::shared::Shared;
use crate::server::ws::{self, Socket};

/// Frames waiting for a slow client before new ones are dropped for it.
const OUTBOUND_QUEUE: usize = 1024;

fn error_frame(status: u16, message: &str) -> Message {
    Message::Text(
        json!({"type": "error", "status": status, "message": message})
            .to_string()
            .into(),
    )
}

async fn refuse(ws: &mut Socket, shared: &Shared, status: u16, message: &str) {
    shared.metrics.refused.fetch_add(1, Ordering::Relaxed);
    let _ = ws.send(error_frame(status, message)).await;
    let _ = ws.send(Message::Close(None)).await;
}

/// Keeps the connection gauge right however the task ends.
struct Counted<'a>(&'a Shared);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs a connection, from the upgrade to its end. `max_size` bounds incoming frames.
///
/// A task's memory is fixed by its largest state, so everything but the idle loop of
/// [`Peer::serve`] runs boxed and only small values are held across it: an idle connection
/// pays for what that loop needs and no more. (Large arguments of an `async fn` are also
/// stored twice, hence the small ones here.)
pub async fn run(shared: Arc<Shared>, upgrade: OnUpgrade, host: String, max_size: usize) {
    let open = shared.metrics.connections.fetch_add(1, Ordering::Relaxed) + 1;
    shared
        .metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    let _counted = Counted(&shared);
    let Some((peer, inbox)) = Box::pin(admit(&shared, upgrade, host, max_size, open)).await else {
        return;
    };
    peer.serve(inbox).await;
}

/// Completes the upgrade, checks the connection limit, authenticates, registers and
/// welcomes the peer; `None` when it was refused or went away.
async fn admit(
    shared: &Arc<Shared>,
    upgrade: OnUpgrade,
    host: String,
    max_size: usize,
    open: u64,
) -> Option<(Peer, Inbox)> {
    let mut ws = ws::socket(upgrade.await.ok()?, max_size).await;
    let max = shared.config.max_connections;
    if max > 0 && open > max as u64 {
        refuse(&mut ws, shared, 503, "Too many connections").await;
        return None;
    }
    let authorized = authenticate(&mut ws, shared).await?;
    Peer::start(shared.clone(), ws, authorized, host).await
}

/// Reads and checks the `auth` frame; a refusal is sent from here.
async fn authenticate(ws: &mut Socket, shared: &Shared) -> Option<Authorized> {
    let (status, msg) =
        match tokio::time::timeout(shared.config.auth_timeout, read_auth(ws, shared)).await {
            Err(_) => (408, "Authentication timeout".to_owned()),
            Ok(None) => return None,
            Ok(Some(Err(refusal))) => refusal,
            Ok(Some(Ok(auth))) => {
                let sessions = if shared.config.authentication {
                    shared.redis.as_ref().map(|r| &r.sessions)
                } else {
                    None
                };
                match auth::authenticate(&auth, sessions).await {
                    Ok(a) => return Some(a),
                    Err(refusal) => refusal,
                }
            }
        };
    refuse(ws, shared, status, &msg).await;
    None
}

/// Waits for the first frame; it must be an `auth` object.
async fn read_auth(ws: &mut Socket, shared: &Shared) -> Option<Result<Object, (u16, String)>> {
    loop {
        let text = match ws.next().await? {
            Ok(Message::Text(t)) => t,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Binary(_)) => return Some(Err((401, "Expected an auth message".into()))),
            Ok(Message::Close(_)) | Err(_) => return None,
        };
        shared.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        if text.len() > shared.config.max_message_size {
            return Some(Err((413, "Message too large".into())));
        }
        return Some(match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(obj)) if obj.get("type") == Some(&json!("auth")) => Ok(obj),
            _ => Err((401, "Expected an auth message".into())),
        });
    }
}

/// An authenticated connection.
struct Peer {
    shared: Arc<Shared>,
    ws: Socket,
    id: String,
    user: String,
    rooms: Vec<String>,
    token: Option<String>,
    bucket: TokenBucket,
    last_touch: Instant,
}

/// What the loop does after a frame.
enum Flow {
    Continue,
    Close,
}

impl Peer {
    /// Registers the peer, welcomes it and sends its roster; `None` if the client went away.
    async fn start(
        shared: Arc<Shared>,
        mut ws: Socket,
        a: Authorized,
        host: String,
    ) -> Option<(Peer, Inbox)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut rooms = vec![a.user.clone()];
        for r in a.rooms {
            if !rooms.contains(&r) {
                rooms.push(r);
            }
        }
        let mut peer = a.peer;
        peer.insert("id".into(), Value::String(id.clone()));
        if !matches!(peer.get("name"), Some(Value::String(n)) if !n.is_empty()) {
            peer.insert("name".into(), Value::String(a.user.clone()));
        }
        peer.insert("online".into(), Value::Bool(true));
        peer.insert("host".into(), Value::String(host));

        let welcome = json!({
            "type": "welcome", "protocol": "symple/4", "status": 200,
            "peer": &peer, "rooms": &rooms,
        })
        .to_string();
        // Registered before the welcome goes out: once welcomed, a client can count on being
        // reachable (messages routed meanwhile wait in its queue, behind the welcome).
        let (tx, inbox) = outbox(OUTBOUND_QUEUE);
        shared.claim_user(&a.user);
        let local = LocalPeer {
            id: id.clone(),
            user: a.user.clone(),
            peer: Value::Object(peer).to_string().into(),
            rooms: rooms.iter().cloned().collect::<HashSet<_>>(),
            tx,
        };
        let online = local.presence(true);
        shared.registry().add(local);
        if ws.send(Message::Text(welcome.into())).await.is_err() {
            shared.registry().remove(&id);
            return None;
        }
        let c = &shared.config;
        let mut me = Peer {
            bucket: TokenBucket::new(
                c.rate_limit,
                Duration::from_secs_f64(c.rate_seconds),
                Instant::now(),
            ),
            shared: shared.clone(),
            ws,
            id,
            user: a.user,
            rooms,
            token: a.token,
            last_touch: Instant::now(),
        };
        me.touch_session(true);
        shared.route_from_peer(&me.sender(), &Target::Rooms, online);
        let rooms = me.rooms.clone();
        if me.send_roster(&rooms).await.is_err() {
            me.finish();
            return None;
        }
        Some((me, inbox))
    }

    fn sender(&self) -> Sender {
        Sender {
            id: self.id.clone(),
            user: self.user.clone(),
            rooms: self.rooms.clone(),
        }
    }

    fn address(&self) -> String {
        format!("{}|{}", self.user, self.id)
    }

    /// Serves the peer until it leaves, then takes it out of the registry.
    ///
    /// Not an `async fn`: that would store the peer twice in the future.
    #[allow(clippy::manual_async_fn)]
    fn serve(mut self, inbox: Inbox) -> impl Future<Output = ()> + Send {
        async move {
            self.serve_loop(inbox).await;
            self.finish();
        }
    }

    /// The idle loop: what it holds across its `select!` is what an idle connection costs.
    async fn serve_loop(&mut self, mut inbox: Inbox) {
        let ping_every = self.shared.config.ping_interval;
        let mut last_heard = Instant::now();
        let mut pulse = self.shared.pulse();
        loop {
            tokio::select! {
                frame = self.ws.next() => {
                    let Some(Ok(frame)) = frame else { return };
                    last_heard = Instant::now();
                    // Boxed, like the writes below: handling a frame (joins, Redis lookups)
                    // needs far more state than waiting for one.
                    if let Flow::Close = Box::pin(self.on_frame(frame)).await {
                        let _ = self.ws.send(Message::Close(None)).await;
                        return;
                    }
                }
                first = inbox.recv() => {
                    if Box::pin(self.write_queued(first, &mut inbox)).await.is_err() { return }
                }
                changed = pulse.changed() => {
                    if changed.is_err() || *pulse.borrow_and_update() {
                        return Box::pin(self.say_goodbye()).await;
                    }
                    // A keepalive tick. A client that vanished without a close frame answers
                    // no ping.
                    if last_heard.elapsed() > ping_every * 2 { return }
                    if self.ws.send(Message::Ping(Default::default())).await.is_err() { return }
                }
            }
        }
    }

    async fn on_frame(&mut self, frame: Message) -> Flow {
        match frame {
            Message::Text(t) => self.on_text(&t).await,
            Message::Binary(_) => {
                self.shared.metrics.drop(Dropped::Binary);
                self.send_error(400, "Binary frames are not supported")
                    .await
            }
            Message::Close(_) => Flow::Close,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Flow::Continue,
        }
    }

    /// The server is stopping: tell the client, then close.
    async fn say_goodbye(&mut self) {
        let bye = json!({"type": "event", "name": "shutdown", "from": "server",
            "time": chrono::Utc::now().timestamp(), "data": {}});
        let _ = self.ws.send(Message::Text(bye.to_string().into())).await;
        let _ = self.ws.send(Message::Close(None)).await;
    }

    /// Writes the presence of local peers sharing `rooms` straight to the socket (a large
    /// room must not overflow the queue), and asks other instances for theirs.
    async fn send_roster(&mut self, rooms: &[String]) -> Result<(), tungstenite::Error> {
        let local = self.shared.roster(&self.sender(), rooms);
        self.shared
            .metrics
            .messages_out
            .fetch_add(local.len() as u64, Ordering::Relaxed);
        for m in local {
            self.ws
                .feed(Message::Text(Utf8Bytes::from(m.to_string())))
                .await?;
        }
        self.ws.flush().await?;
        self.shared.request_remote_roster(&self.sender(), rooms);
        Ok(())
    }

    /// Writes `first` and whatever else is queued, with one flush: under load a busy room
    /// costs one write per batch instead of one per message.
    async fn write_queued(
        &mut self,
        first: Utf8Bytes,
        inbox: &mut Inbox,
    ) -> Result<(), tungstenite::Error> {
        self.ws.feed(Message::Text(first)).await?;
        for _ in 0..OUTBOUND_QUEUE {
            match inbox.try_recv() {
                Some(t) => self.ws.feed(Message::Text(t)).await?,
                None => break,
            }
        }
        self.ws.flush().await
    }

    async fn send_error(&mut self, status: u16, message: &str) -> Flow {
        match self.ws.send(error_frame(status, message)).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn send_json(&mut self, v: Value) -> Flow {
        match self
            .ws
            .send(Message::Text(Utf8Bytes::from(v.to_string())))
            .await
        {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close,
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let shared = self.shared.clone();
        shared.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        if text.len() > shared.config.max_message_size {
            shared.metrics.drop(Dropped::TooLarge);
            return self.send_error(413, "Message too large").await;
        }
        if let Err(report) = self.bucket.take(Instant::now()) {
            shared.metrics.drop(Dropped::RateLimited);
            return if report {
                self.send_error(429, "Rate limit exceeded: messages are being dropped")
                    .await
            } else {
                Flow::Continue
            };
        }
        let mut msg = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return self.invalid("A message must be a JSON object").await,
            Err(_) => return self.invalid("Invalid JSON").await,
        };
        self.touch_session(false);
        let kind = match msg.get("type") {
            Some(Value::String(t)) => t.clone(),
            _ => return self.invalid("Message has no type").await,
        };
        match kind.as_str() {
            "message" | "command" | "event" | "presence" => {
                let target = match routing::parse_to(msg.get("to")) {
                    Ok(t) => t,
                    Err(why) => return self.invalid(&why).await,
                };
                if let Target::List(rooms) = &target {
                    if rooms.iter().any(|r| !self.rooms.contains(r)) {
                        shared.metrics.drop(Dropped::NotPermitted);
                    }
                }
                // No spoofing: `from` is always the sender.
                msg.insert("from".into(), Value::String(self.address()));
                if kind == "presence" {
                    self.own_presence(&mut msg);
                }
                shared.route_from_peer(&self.sender(), &target, Value::Object(msg));
                Flow::Continue
            }
            "join" => self.join(msg.get("room")).await,
            "leave" => self.leave(msg.get("room")).await,
            "close" => Flow::Close,
            "auth" => self.invalid("Already authenticated").await,
            other => {
                self.invalid(&format!("Unknown message type {other:?}"))
                    .await
            }
        }
    }

    async fn invalid(&mut self, why: &str) -> Flow {
        self.shared.metrics.drop(Dropped::Invalid);
        self.send_error(400, why).await
    }

    /// Client presence keeps `probe`, but speaks only for the sender.
    fn own_presence(&self, msg: &mut Object) {
        let reg = self.shared.registry();
        let mut data = match msg.remove("data") {
            Some(Value::Object(d)) => d,
            _ => Object::new(),
        };
        if let Some(me) = reg.get(&self.id) {
            for (k, v) in me.fields() {
                data.entry(k).or_insert(v);
            }
        }
        data.insert("id".into(), Value::String(self.id.clone()));
        data.insert("user".into(), Value::String(self.user.clone()));
        data.remove("token");
        msg.insert("data".into(), Value::Object(data));
    }

    fn room_name(v: Option<&Value>) -> Option<String> {
        match v {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            _ => None,
        }
    }

    async fn join(&mut self, room: Option<&Value>) -> Flow {
        if !self.shared.config.dynamic_rooms {
            return self.send_error(403, "Dynamic rooms are disabled").await;
        }
        let Some(room) = Self::room_name(room) else {
            return self.invalid("`room` must be a non-empty string").await;
        };
        if !self.rooms.contains(&room) {
            if is_personal_room(&self.shared, &room).await {
                return self
                    .send_error(403, "Cannot join another user's personal room")
                    .await;
            }
            self.shared.registry().join(&self.id, &room);
            self.rooms.push(room.clone());
            let online = self
                .shared
                .registry()
                .get(&self.id)
                .map(|p| p.presence(true));
            let only = Target::List(vec![room.clone()]);
            if let Some(online) = online {
                self.shared.route_from_peer(&self.sender(), &only, online);
            }
            if let Flow::Close = self
                .send_json(json!({"type": "join:ok", "room": room}))
                .await
            {
                return Flow::Close;
            }
            // Then who is already in the room.
            return match self.send_roster(std::slice::from_ref(&room)).await {
                Ok(()) => Flow::Continue,
                Err(_) => Flow::Close,
            };
        }
        self.send_json(json!({"type": "join:ok", "room": room}))
            .await
    }

    async fn leave(&mut self, room: Option<&Value>) -> Flow {
        if !self.shared.config.dynamic_rooms {
            return self.send_error(403, "Dynamic rooms are disabled").await;
        }
        let Some(room) = Self::room_name(room) else {
            return self.invalid("`room` must be a non-empty string").await;
        };
        if room == self.user {
            return self.send_error(403, "Cannot leave your own room").await;
        }
        if self.shared.registry().leave(&self.id, &room) {
            self.rooms.retain(|r| r != &room);
        }
        self.send_json(json!({"type": "leave:ok", "room": room}))
            .await
    }

    /// Extends the session's TTL on activity, at most every quarter TTL; never creates one.
    fn touch_session(&mut self, now: bool) {
        let (Some(ttl), Some(token), Some(redis)) = (
            self.shared.config.session_ttl,
            &self.token,
            &self.shared.redis,
        ) else {
            return;
        };
        if !now && self.last_touch.elapsed() < ttl / 4 {
            return;
        }
        self.last_touch = Instant::now();
        let (store, token) = (redis.sessions.clone(), token.clone());
        let secs = ttl.as_secs().max(1) as i64;
        tokio::spawn(async move {
            let _ = store.touch(&token, secs).await;
        });
    }

    /// Leaves the registry and tells the rooms.
    fn finish(&self) {
        let gone = self.shared.registry().remove(&self.id);
        if let Some(p) = gone {
            self.shared
                .route_from_peer(&self.sender(), &Target::Rooms, p.presence(false));
        }
    }
}

/// Whether `room` is some other user's personal room, so it cannot be joined.
async fn is_personal_room(shared: &Shared, room: &str) -> bool {
    if shared.is_known_user(room) {
        return true;
    }
    // Users with sessions in Redis have bookkeeping under the session store's index.
    match &shared.redis {
        Some(r) => {
            let mut c = r.conn.clone();
            let key = crate::session::keys::user_index(room);
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<bool>(&mut c)
                .await
                .unwrap_or(false)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Config;

    #[test]
    fn the_connection_task_stays_small() {
        // Its size is what every idle connection pays (plus the peer's registry entry):
        // keep the idle loop lean and everything else boxed.
        let shared = Arc::new(Shared::new(Config::default(), None));
        let upgrade = hyper::upgrade::on(axum::http::Request::new(()));
        let task = run(shared, upgrade, String::new(), 1 << 20);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 1200, "{size} bytes");
    }
}
