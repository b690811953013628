//! One WebSocket connection: authentication, then frames in and out until it ends.

use std::future::{poll_fn, Future};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::history::Request;
use crate::protocol::frames::{self, ErrorFrame, JoinOk, LeaveOk, Shutdown, Welcome};
use crate::protocol::Object;
use crate::server::auth::{self, Authorized, Joins};
use crate::server::handler::{self, Frame};
use crate::server::history::Member;
use crate::server::limits::TokenBucket;
use crate::server::metrics::Dropped;
use crate::server::outbox::{outbox, Ended, Inbox, Next};
use crate::server::registry::{LocalPeer, Registry, ARRIVAL};
use crate::server::routing::{Sender, Target};
use crate::server::shared::{Arrival, Shared, WRITE_TIMEOUT};
use crate::server::ws::{self, Socket};

/// Closes answering the client's own close, or its `close` message.
const NORMAL: Ended = Ended {
    code: 1000,
    reason: "",
};

/// The close after the shutdown notice.
const SHUTDOWN: Ended = Ended {
    code: 1001,
    reason: "Server shutting down",
};

/// How long the server waits for the client's answer to its close frame: a slow reader
/// must first read what is still in flight (dropping the socket before would reset it, and
/// the client would lose the frames and the close frame that explains why).
const CLOSE_GRACE: Duration = Duration::from_secs(10);

fn error_frame(status: u16, message: &str) -> Message {
    Message::Text(frames::text(&ErrorFrame::new(status, message)).into())
}

/// Sends a close frame and waits (bounded) for the client's, so the close handshake
/// completes and the client sees our code rather than an abrupt end (1006).
async fn close(ws: &mut Socket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let ended = async {
        // An error here means the socket is already gone or closing: nothing more to say.
        if ws.send(Message::Close(Some(frame))).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    };
    if tokio::time::timeout(CLOSE_GRACE, ended).await.is_err() {
        tracing::debug!("client did not answer the close frame in time");
    }
}

/// Answers a client's close frame: tungstenite queued the echo; write it, then wait for
/// the end of the stream (bounded).
async fn answer_close(ws: &mut Socket) {
    use tokio::io::AsyncWriteExt;
    let ended = async {
        if ws.flush().await.is_ok() {
            // Having answered, tungstenite hands the reply to the I/O layer and stops
            // without flushing it: `Lean` still holds it.
            if ws.get_mut().flush().await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        }
    };
    if tokio::time::timeout(CLOSE_GRACE, ended).await.is_err() {
        tracing::debug!("client did not end the stream after the close handshake");
    }
}

/// An auth refusal: the error frame, then a close whose code is 4000 + the status.
async fn refuse(ws: &mut Socket, shared: &Shared, status: u16, message: &str) {
    shared.metrics.refused.fetch_add(1, Ordering::Relaxed);
    if ws.send(error_frame(status, message)).await.is_ok() {
        close(ws, 4000 + status, message).await;
    }
}

/// Keeps the connection gauge right however the task ends.
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a connection is refused before authentication.
#[derive(Clone, Copy, Debug)]
pub enum Refuse {
    /// Over `--max-connections`.
    Limit,
}

/// What a connection starts from. The caller boxes it: an `async fn` keeps its arguments
/// for its whole life, and an idle connection's task should hold a pointer, not these.
pub struct Start {
    /// The pending upgrade of the HTTP request.
    pub upgrade: OnUpgrade,
    /// The client's address, shown in its peer object (None: hidden).
    pub host: Option<String>,
    /// Bounds incoming frames and messages (bytes).
    pub max_size: usize,
    /// Set when the socket was accepted over a limit: it is told so and closed.
    pub refuse: Option<Refuse>,
}

/// Runs a connection, from the upgrade to its end.
///
/// A task's memory is fixed by its largest state, so everything but the idle loop of
/// [`Peer::serve`] runs boxed and only small values are held across it: an idle connection
/// pays for what that loop needs and no more.
///
/// `keep` is held until the connection ends (the accept loop's slot of the socket): inside
/// this task rather than in a wrapper around it, which would add its own state to every
/// connection's task.
///
/// Not an `async fn`: that would keep its arguments twice (as arguments and as locals).
pub fn run(
    shared: Arc<Shared>,
    start: Box<Start>,
    keep: impl Send,
) -> impl Future<Output = ()> + Send {
    shared.metrics.connections.fetch_add(1, Ordering::Relaxed);
    shared
        .metrics
        .connections_total
        .fetch_add(1, Ordering::Relaxed);
    let counted = Counted(shared);
    async move {
        let Some((peer, inbox)) = Box::pin(admit(&counted.0, start)).await else {
            return;
        };
        peer.serve(inbox).await;
        drop((counted, keep));
    }
}

/// Completes the upgrade, applies a refusal, authenticates, registers and welcomes the
/// peer; `None` when it was refused or went away.
async fn admit(shared: &Arc<Shared>, start: Box<Start>) -> Option<(Peer, Inbox)> {
    let Start {
        upgrade,
        host,
        max_size,
        refuse: refusal,
    } = *start;
    let mut ws = ws::socket(upgrade.await.ok()?, max_size).await;
    if let Some(Refuse::Limit) = refusal {
        refuse(&mut ws, shared, 503, "Too many connections").await;
        return None;
    }
    let (authorized, recover) = authenticate(&mut ws, shared).await?;
    Peer::start(shared.clone(), ws, authorized, recover, host).await
}

/// What a client asked to recover (the `recover` field of its `auth`), or why it cannot.
type RecoverField = Result<Option<Request>, String>;

/// Reads and checks the `auth` frame; a refusal is sent from here.
async fn authenticate(ws: &mut Socket, shared: &Shared) -> Option<(Authorized, RecoverField)> {
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
                match auth::authenticate(&auth, sessions, shared.config.open_joins).await {
                    Ok(a) => return Some((a, Request::from_auth(&auth))),
                    Err(refusal) => refusal,
                }
            }
        };
    refuse(ws, shared, status, &msg).await;
    None
}

/// Waits for the first frame that is valid JSON; it must be an `auth` object. Frames that
/// are not JSON are ignored, as the reference server does.
async fn read_auth(ws: &mut Socket, shared: &Shared) -> Option<Result<Object, (u16, String)>> {
    loop {
        let text = match ws.next().await? {
            Ok(Message::Text(t)) => t,
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Binary(_)) => return Some(Err((401, "Expected an auth message".into()))),
            Ok(Message::Close(_)) => {
                answer_close(ws).await;
                return None;
            }
            Err(_) => return None,
        };
        shared.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        if text.len() > shared.config.max_message_size {
            return Some(Err((413, "Message too large".into())));
        }
        return Some(match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(obj)) if obj.get("type") == Some(&json!("auth")) => Ok(obj),
            Ok(_) => Err((401, "Expected an auth message".into())),
            Err(_) => {
                shared.metrics.drop(Dropped::Invalid);
                continue;
            }
        });
    }
}

/// An authenticated connection.
struct Peer {
    shared: Arc<Shared>,
    ws: Socket,
    id: Arc<str>,
    user: Arc<str>,
    /// Named rooms (the personal room is `user`).
    rooms: Vec<String>,
    token: Option<Box<str>>,
    joins: Joins,
    /// Named rooms told that this peer is online (the small ones), so the same rooms are
    /// told when it goes.
    announced: Vec<String>,
    bucket: TokenBucket,
    last_touch: Instant,
}

/// What the idle loop runs on an event, boxed: see [`Peer::serve_loop`].
type Work<'a> = std::pin::Pin<Box<dyn Future<Output = Flow> + Send + 'a>>;

/// What woke the idle loop.
enum Event {
    /// The socket: a frame, an error, or its end.
    Read(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
    /// The queue: a frame to write, or the end.
    Queued(Next),
    /// A keepalive tick, or the server is stopping.
    Pulse,
}

/// What the loop does after a frame.
enum Flow {
    Continue,
    /// Close with this code and reason.
    Close(Ended),
    /// The client closed: answer its close frame.
    ClientClosed,
    /// The socket failed: just stop.
    Gone,
}

impl Peer {
    /// Registers the peer, welcomes it and sends its roster; `None` if the client went away.
    async fn start(
        shared: Arc<Shared>,
        ws: Socket,
        a: Authorized,
        recover: RecoverField,
        host: Option<String>,
    ) -> Option<(Peer, Inbox)> {
        // One allocation each, shared by the connection and the registry.
        let id: Arc<str> = Arc::from(uuid::Uuid::new_v4().simple().to_string());
        let user: Arc<str> = Arc::from(a.user.as_str());
        let mut rooms: Vec<String> = Vec::new();
        for r in a.rooms {
            if r != a.user && !rooms.contains(&r) {
                rooms.push(r);
            }
        }
        let mut peer = a.peer;
        peer.insert("id".into(), Value::String(id.to_string()));
        if !matches!(peer.get("name"), Some(Value::String(n)) if !n.is_empty()) {
            peer.insert("name".into(), Value::String(a.user.clone()));
        }
        peer.insert("online".into(), Value::Bool(true));
        if let Some(host) = host {
            peer.insert("host".into(), Value::String(host));
        }

        let all_rooms: Vec<&str> = std::iter::once(a.user.as_str())
            .chain(rooms.iter().map(String::as_str))
            .collect();
        let welcome = frames::text(&Welcome::new(&peer, all_rooms));
        // Registered before the welcome goes out: once welcomed, a client can count on being
        // reachable (messages routed meanwhile wait in its queue, behind the welcome).
        let (tx, inbox) = outbox(shared.config.max_queued);
        // Kept with its id left empty (same key order): `LocalPeer::fields` puts it back.
        peer.insert("id".into(), Value::String(String::new()));
        let local = LocalPeer {
            id: id.clone(),
            user: user.clone(),
            peer: Value::Object(peer).to_string().into(),
            rooms: rooms.iter().map(|r| (r.clone(), ARRIVAL)).collect(),
            events: ARRIVAL,
            tx,
            token: a.token.as_deref().map(Box::from),
        };
        let sender = Sender {
            id: id.to_string(),
            user: a.user.clone(),
            rooms: rooms.clone(),
        };
        // Live history messages of the rooms it recovers are held from the moment it is
        // registered until its replay is written (see server::history).
        let recover = match recover {
            Ok(Some(req)) if shared.redis.is_some() => {
                let member = Member {
                    id: &id,
                    user: &a.user,
                    rooms: &rooms,
                };
                shared
                    .gates
                    .put_up(&id, shared.rooms_to_gate(&member, &req));
                Ok(Some(req))
            }
            other => other,
        };
        let limit = shared.config.presence_limit;
        let arrival = shared.add_peer(local, &sender, |reg| {
            presence_rooms(reg, &a.user, &rooms, limit)
        });
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
            user,
            rooms,
            token: a.token.map(String::into_boxed_str),
            joins: a.joins,
            announced: arrival.announced[1..].to_vec(),
            last_touch: Instant::now(),
        };
        // Reachable from other instances (its channels subscribed) before they are told
        // and before it is welcomed.
        if let Some(generation) = arrival.generation {
            shared.wait_synced(generation).await;
        }
        shared.announce_remotely(&sender, &arrival);
        if me.write_now(Message::Text(welcome.into())).await.is_err() {
            me.finish();
            return None;
        }
        me.touch_session(true);
        if me.send_roster(arrival).await.is_err() {
            me.finish();
            return None;
        }
        if me.recover(recover).await.is_err() {
            me.finish();
            return None;
        }
        Some((me, inbox))
    }

    /// Replays what the client missed in the rooms it names in `recover` (its channels are
    /// subscribed, its gate is up), then the `recovery` answer; a bad `recover` field gets
    /// an error 400 and nothing else changes.
    async fn recover(&mut self, recover: RecoverField) -> Result<(), Flow> {
        let req = match recover {
            Ok(Some(req)) => req,
            Ok(None) => return Ok(()),
            Err(msg) => {
                self.shared.metrics.drop(Dropped::Invalid);
                return match self.send_error(400, &msg).await {
                    Flow::Continue => Ok(()),
                    end => Err(end),
                };
            }
        };
        let shared = self.shared.clone();
        let member = Member {
            id: &self.id,
            user: &self.user,
            rooms: &self.rooms,
        };
        let mut rec = shared.recover(&member, &req).await;
        rec.frames.push(Utf8Bytes::from(frames::text(&rec.answer)));
        self.send_batch(rec.frames).await
    }

    fn sender(&self) -> Sender {
        Sender {
            id: self.id.to_string(),
            user: self.user.to_string(),
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
            let end = self.serve_loop(inbox).await;
            // Out of the registry first: nothing more is routed to a closing connection.
            self.finish();
            match end {
                Flow::Close(why) => Box::pin(close(&mut self.ws, why.code, why.reason)).await,
                Flow::ClientClosed => Box::pin(answer_close(&mut self.ws)).await,
                Flow::Continue | Flow::Gone => {}
            }
        }
    }

    /// The idle loop: what it holds while it waits is what an idle connection costs. It
    /// waits by polling the socket and the queue in place (no `select!` of stored futures),
    /// and everything it does on an event runs boxed.
    async fn serve_loop(&mut self, mut inbox: Inbox) -> Flow {
        let mut last_heard = Instant::now();
        // Read before `is_stopping`: a stop after this moves the count (see Shared::pulse).
        let mut seen = self.shared.pulse();
        if self.shared.is_stopping() {
            return Box::pin(self.say_goodbye()).await;
        }
        // Which side is polled first alternates, so neither a chatty client nor a busy
        // queue starves the other.
        let mut socket_first = false;
        loop {
            socket_first = !socket_first;
            // The event is handled in a block of its own: once it is moved into its work,
            // the loop keeps only the box while that runs (not the event beside it).
            let work: Work<'_> = {
                let event = poll_fn(|cx| {
                    let ws = &mut self.ws;
                    let mut poll_socket =
                        |cx: &mut Context<'_>| ws.poll_next_unpin(cx).map(Event::Read);
                    if socket_first {
                        if let Poll::Ready(e) = poll_socket(cx) {
                            return Poll::Ready(e);
                        }
                    }
                    if let Poll::Ready(next) = inbox.poll_recv(cx) {
                        return Poll::Ready(Event::Queued(next));
                    }
                    if !socket_first {
                        if let Poll::Ready(e) = poll_socket(cx) {
                            return Poll::Ready(e);
                        }
                    }
                    // After the queue registered its waker: a pulse after this wakes us.
                    let pulse = self.shared.pulse();
                    if pulse != seen {
                        seen = pulse;
                        return Poll::Ready(Event::Pulse);
                    }
                    Poll::Pending
                })
                .await;
                match event {
                    Event::Read(Some(Ok(frame))) => {
                        last_heard = Instant::now();
                        // Handling a frame (joins, Redis lookups) needs far more state
                        // than waiting for one.
                        Box::pin(self.on_frame(frame))
                    }
                    Event::Read(_) => return Flow::Gone,
                    Event::Queued(Next::Frame(first)) => {
                        let (me, inbox) = (&mut *self, &mut inbox);
                        Box::pin(async move {
                            match me.write_queued(first, inbox).await {
                                Ok(()) => Flow::Continue,
                                Err(end) => end,
                            }
                        })
                    }
                    Event::Queued(Next::End(why)) => return Flow::Close(why),
                    Event::Pulse if self.shared.is_stopping() => Box::pin(self.say_goodbye()),
                    Event::Pulse => {
                        // A keepalive tick. A client that vanished without a close frame
                        // answers no ping.
                        if last_heard.elapsed() > self.shared.config.ping_interval * 2 {
                            return Flow::Gone;
                        }
                        let me = &mut *self;
                        Box::pin(async move {
                            let ping = Message::Ping(Default::default());
                            match me.write_now(ping).await {
                                Ok(()) => Flow::Continue,
                                Err(_) => Flow::Gone,
                            }
                        })
                    }
                }
            };
            match work.await {
                Flow::Continue => {}
                end => return end,
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
            Message::Close(_) => Flow::ClientClosed,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Flow::Continue,
        }
    }

    /// The server is stopping: tell the client (in the reference server's words, plus a
    /// `name` for code that reads events by name), then close with 1001.
    async fn say_goodbye(&mut self) -> Flow {
        let bye = frames::text(&Shutdown::new(chrono::Utc::now().timestamp()));
        match self.write_now(Message::Text(bye.into())).await {
            Ok(()) => Flow::Close(SHUTDOWN),
            Err(end) => end,
        }
    }

    /// Writes one frame within the write timeout; `Err` says how the connection ends.
    /// Text goes straight to the socket's buffer (see [`ws::Lean::send_text`]); control frames
    /// through tungstenite.
    async fn write_now(&mut self, m: Message) -> Result<(), Flow> {
        let limit = self.shared.config.write_timeout;
        let ws = &mut self.ws;
        let write = async move {
            match m {
                Message::Text(t) => ws::send_texts(ws, [t]).await.map_err(Into::into),
                other => ws.send(other).await,
            }
        };
        match tokio::time::timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Flow::Gone),
            Err(_) => Err(self.write_timed_out()),
        }
    }

    /// Ends the connection as a slow consumer, counted once (its queue may have overflowed
    /// while the write was stuck, which already counted it).
    fn write_timed_out(&self) -> Flow {
        let ended = match self.shared.registry().get(&self.id) {
            Some(p) => p.tx.end(WRITE_TIMEOUT),
            None => Some(0),
        };
        if let Some(dropped) = ended {
            let m = &self.shared.metrics;
            m.slow_consumers.fetch_add(1, Ordering::Relaxed);
            m.drop_n(Dropped::SlowConsumer, dropped as u64);
            tracing::warn!(peer = %self.address(), timeout = ?self.shared.config.write_timeout,
                dropped, "slow consumer: a write timed out, disconnecting");
        }
        Flow::Close(WRITE_TIMEOUT)
    }

    /// Writes the roster of an arrival (the presence of local peers sharing its rooms)
    /// straight to the socket, in one batch (a large room must not overflow the queue).
    /// Other instances' answers come through the queue.
    async fn send_roster(&mut self, arrival: Arrival) -> Result<(), Flow> {
        let local: Vec<Utf8Bytes> = arrival
            .roster
            .into_iter()
            .map(|m| Utf8Bytes::from(m.to_string()))
            .collect();
        self.shared
            .metrics
            .messages_out
            .fetch_add(local.len() as u64, Ordering::Relaxed);
        self.send_batch(local).await
    }

    /// Writes `frames` straight to the socket, up to a thousand per flush, each flush
    /// within the write timeout.
    async fn send_batch(&mut self, frames: Vec<Utf8Bytes>) -> Result<(), Flow> {
        let limit = self.shared.config.write_timeout;
        let mut frames = frames.into_iter().peekable();
        while frames.peek().is_some() {
            let write = ws::send_texts(&mut self.ws, frames.by_ref().take(1000));
            match tokio::time::timeout(limit, write).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Flow::Gone),
                Err(_) => return Err(self.write_timed_out()),
            }
        }
        Ok(())
    }

    /// Writes `first` and whatever else is queued, with one flush: under load a busy room
    /// costs one write per batch instead of one per message. The whole batch must go out
    /// within the write timeout. If the queue overflowed meanwhile, what is left in it is
    /// dropped and the loop then closes the connection with the reason.
    async fn write_queued(&mut self, first: Utf8Bytes, inbox: &mut Inbox) -> Result<(), Flow> {
        let limit = self.shared.config.write_timeout;
        let max = self.shared.config.max_queued;
        let lean = self.ws.get_mut();
        let write = async {
            use tokio::io::AsyncWriteExt;
            lean.send_text(first.as_bytes()).await?;
            for _ in 0..max {
                match inbox.try_recv() {
                    Some(t) => lean.send_text(t.as_bytes()).await?,
                    None => break,
                }
            }
            lean.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Flow::Gone),
            Err(_) => Err(self.write_timed_out()),
        }
    }

    async fn send_error(&mut self, status: u16, message: &str) -> Flow {
        match self.write_now(error_frame(status, message)).await {
            Ok(()) => Flow::Continue,
            Err(end) => end,
        }
    }

    async fn send_text(&mut self, text: String) -> Flow {
        match self.write_now(Message::Text(Utf8Bytes::from(text))).await {
            Ok(()) => Flow::Continue,
            Err(end) => end,
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        let shared = self.shared.clone();
        shared.metrics.messages_in.fetch_add(1, Ordering::Relaxed);
        if let Err(report) = self.bucket.take(Instant::now()) {
            shared.metrics.drop(Dropped::RateLimited);
            return if report {
                self.send_error(429, "Rate limit exceeded: messages are being dropped")
                    .await
            } else {
                Flow::Continue
            };
        }
        let frame = match handler::parse(text, shared.config.max_message_size) {
            Ok(f) => f,
            Err(refused) => {
                shared.metrics.drop(refused.reason);
                return self.send_error(refused.status, &refused.message).await;
            }
        };
        self.touch_session(false);
        match frame {
            Frame::Route {
                kind,
                target,
                mut message,
            } => {
                let sender = self.sender();
                if let Target::List(rooms) = &target {
                    if rooms.iter().any(|r| !sender.is_in(r)) {
                        shared.metrics.drop(Dropped::NotPermitted);
                    }
                }
                // No spoofing: `from` is always the sender.
                message.insert("from".into(), Value::String(self.address()));
                if kind == "presence" {
                    self.own_presence(&mut message);
                }
                shared.route_from_peer(&sender, &target, Value::Object(message), None);
                Flow::Continue
            }
            Frame::Join(room) => self.join(room).await,
            Frame::Leave(room) => self.leave(room).await,
            Frame::Close => Flow::Close(NORMAL),
        }
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
        data.insert("id".into(), Value::String(self.id.to_string()));
        data.insert("user".into(), Value::String(self.user.to_string()));
        data.remove("token");
        msg.insert("data".into(), Value::Object(data));
    }

    async fn join(&mut self, room: String) -> Flow {
        if !self.shared.config.dynamic_rooms {
            return self.send_error(403, "Dynamic rooms are disabled").await;
        }
        if *room == *self.user || self.rooms.contains(&room) {
            return self.send_text(frames::text(&JoinOk::new(&room))).await;
        }
        if !self.joins.permits(&room) {
            self.shared.metrics.drop(Dropped::NotPermitted);
            return self
                .send_error(403, "Joining this room is not permitted by your session")
                .await;
        }
        if is_personal_room(&self.shared, &room).await {
            return self
                .send_error(403, "Cannot join another user's personal room")
                .await;
        }
        self.rooms.push(room.clone());
        // Announced to the room and answered with who is there, unless it is too big.
        let limit = self.shared.config.presence_limit;
        let sender = self.sender();
        let Some(arrival) = self.shared.join(&self.id, &room, &sender, |reg| {
            (reg.room_size(&room) <= limit)
                .then(|| room.clone())
                .into_iter()
                .collect()
        }) else {
            // Not registered (ending): nobody to tell.
            return self.send_text(frames::text(&JoinOk::new(&room))).await;
        };
        self.announced.extend(arrival.announced.iter().cloned());
        if let Some(generation) = arrival.generation {
            // Its traffic reaches this instance before anyone is told it is in.
            self.shared.wait_synced(generation).await;
        }
        self.shared.announce_remotely(&sender, &arrival);
        // Read once the room's traffic reaches this instance: what is recorded after this
        // position arrives live, so a client that recovers from it misses nothing.
        let ok = match self.shared.join_position(&room).await {
            Some(x) => JoinOk::new(&room).at(x),
            None => JoinOk::new(&room),
        };
        if let Flow::Close(why) = self.send_text(frames::text(&ok)).await {
            return Flow::Close(why);
        }
        if arrival.announced.is_empty() {
            return Flow::Continue;
        }
        match self.send_roster(arrival).await {
            Ok(()) => Flow::Continue,
            Err(end) => end,
        }
    }

    async fn leave(&mut self, room: String) -> Flow {
        if !self.shared.config.dynamic_rooms {
            return self.send_error(403, "Dynamic rooms are disabled").await;
        }
        if *room == *self.user {
            return self.send_error(403, "Cannot leave your own room").await;
        }
        if self.shared.leave(&self.id, &room) {
            self.rooms.retain(|r| r != &room);
            self.announced.retain(|r| r != &room);
        }
        self.send_text(frames::text(&LeaveOk::new(&room))).await
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
            if let Err(e) = store.touch(&token, secs).await {
                tracing::warn!(error = %e, "could not extend a session's TTL");
            }
        });
    }

    /// Leaves the registry and tells the rooms that were told it came.
    fn finish(&self) {
        self.shared.gates.remove(&self.id);
        let rooms = std::iter::once(self.user.to_string())
            .chain(self.announced.iter().cloned())
            .collect();
        self.shared.remove_peer(&self.sender(), rooms);
    }
}

/// The personal room and those of `rooms` small enough for presence fan-out.
fn presence_rooms(reg: &Registry, user: &str, rooms: &[String], limit: usize) -> Vec<String> {
    std::iter::once(user.to_owned())
        .chain(rooms.iter().filter(|r| reg.room_size(r) <= limit).cloned())
        .collect()
}

/// Whether `room` is some user's personal room, so it cannot be joined as a named room: a
/// user connected to this instance, or (with Redis) one that has sessions in the store.
async fn is_personal_room(shared: &Shared, room: &str) -> bool {
    if shared.registry().has_user(room) {
        return true;
    }
    match &shared.redis {
        Some(r) => {
            // The personal room of an integer user is its decimal text.
            let mut users = vec![crate::session::User::from(room)];
            users.extend(room.parse::<i64>().ok().map(crate::session::User::from));
            let keys: Vec<String> = users.iter().map(crate::session::keys::user_index).collect();
            let mut exists = redis::cmd("EXISTS");
            exists.arg(keys);
            let found = r
                .conn
                .run(&[exists], crate::redis::Order::Any)
                .await
                .and_then(|mut v| {
                    redis::from_redis_value::<bool>(v.pop().unwrap_or(redis::Value::Nil))
                        .map_err(|e| e.into())
                });
            match found {
                Ok(exists) => exists,
                Err(e) => {
                    // Refuse rather than risk putting someone in another user's room.
                    tracing::warn!(error = %e, "cannot check a room name against the session store");
                    true
                }
            }
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
        let start = Box::new(Start {
            upgrade: hyper::upgrade::on(axum::http::Request::new(())),
            host: None,
            max_size: 1 << 20,
            refuse: None,
        });
        let task = run(shared, start, Arc::new(()));
        let size = std::mem::size_of_val(&task);
        eprintln!("the connection task: {size} bytes");
        // tokio keeps a task in a cell aligned to 128 bytes, with 104 bytes of its own: up
        // to 664 bytes of future it is 768 bytes, above that 896 (-Zprint-type-sizes).
        assert!(size <= 664, "{size} bytes");
    }
}
