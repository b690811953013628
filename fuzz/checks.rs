//! What each fuzz target checks, shared by the fuzz targets (`fuzz/fuzz_targets/`, run with
//! cargo-fuzz) and `tests/fuzz_corpus.rs` (every saved input, replayed on stable Rust by
//! `cargo test`). Each takes arbitrary bytes, runs one parser of outside input, and asserts
//! what must hold; a panic is a finding.

// Each fuzz target uses one of these.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::LazyLock;
use std::task::{Context, Poll};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use serde_json::{json, Value};
use symple::packet::native::{self, Fill};
use symple::packet::sharded::Sharded;
use symple::packet::socketio::{Broadcast, Server};
use symple::packet::streams::Streams;
use symple::packet::view::{self, Ser};
use symple::packet::{json, msgpack};
use symple::packet::{Adapter, EventArgs};
use symple::protocol::envelope::{Body, Envelope};
use symple::protocol::Object;
use symple::redis::ConnectOptions;
use symple::server::handler::{self, Frame};
use symple::server::outbox::outbox;
use symple::server::registry::{LocalPeer, Registry};
use symple::server::routing::{self, Sender, Target};
use symple::server::{canonical, parse_networks, websocket_config, Config, Lean};
use symple::session::keys;
use symple::{Address, Room, To};

/// One target's check.
pub type Check = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: [(&str, Check); 10] = [
    ("ws", ws),
    ("frame", frame),
    ("to", to),
    ("auth", auth),
    ("session", session),
    ("envelope", envelope),
    ("json_view", json_view),
    ("redis_url", redis_url),
    ("http", http),
    ("resp", resp),
];

fn json_of(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}

fn peer(id: &str, user: &str, rooms: &[&str]) -> LocalPeer {
    LocalPeer {
        id: id.into(),
        user: user.into(),
        peer: format!(r#"{{"id":"{id}","user":"{user}"}}"#).into(),
        rooms: rooms.iter().map(|r| (r.to_string(), 1)).collect(),
        events: 1,
        tx: outbox(4).0,
        token: None,
    }
}

/// A few peers whose names collide on purpose (a user called like a room, a room called
/// like a user, a peer id that is also a user); built once.
fn world() -> &'static Registry {
    static WORLD: LazyLock<Registry> = LazyLock::new(build_world);
    &WORLD
}

fn build_world() -> Registry {
    let mut reg = Registry::default();
    reg.add(peer("a1", "alice", &["team", "lobby"]));
    reg.add(peer("a2", "alice", &[]));
    reg.add(peer("b1", "bob", &["team", "alice"]));
    reg.add(peer("l1", "lobby", &["7"]));
    reg.add(peer("bob", "carol", &["lobby"]));
    reg
}

/// The rooms rule: a client's message reaches only peers sharing a room with the sender
/// (its own user's sessions, or a named room both are in), never the sender, once each.
fn check_peer_routing(reg: &Registry, sender: &Sender, target: &Target) {
    let out = routing::from_peer(reg, sender, target);
    let mut seen = HashSet::new();
    for p in &out {
        assert_ne!(*p.id, *sender.id, "the sender got its own message");
        assert!(seen.insert(p.id.clone()), "{} twice", p.id);
        let shares =
            *p.user == *sender.user || sender.rooms.iter().any(|r| p.rooms.contains_key(r));
        assert!(shares, "{} shares no room with {}", p.id, sender.id);
    }
    if let Some(backend) = routing::from_backend(reg, target) {
        let mut seen = HashSet::new();
        assert!(backend.iter().all(|p| seen.insert(p.id.clone())));
    }
}

/// The per-frame handler: any text gives a frame or a refusal (4xx), and a routed frame
/// follows the rooms rule.
pub fn frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let reg = world();
    let sender = Sender {
        id: "a1".into(),
        user: "alice".into(),
        rooms: vec!["team".into(), "lobby".into()],
    };
    match handler::parse(text, 4096) {
        Ok(Frame::Route {
            target, message, ..
        }) => {
            check_peer_routing(reg, &sender, &target);
            assert_relays_unchanged(&Value::Object(message));
        }
        Ok(Frame::Join(r) | Frame::Leave(r)) => assert!(!r.is_empty()),
        Ok(Frame::Close) => {}
        Err(refused) => assert!((400..500).contains(&refused.status), "{refused:?}"),
    }
}

/// `to`, rooms and addresses: the server's parser and the protocol types agree on what is
/// valid, and a valid `to` survives a round trip.
pub fn to(data: &[u8]) {
    let Some(v) = json_of(data) else {
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(a) = s.parse::<Address>() {
                assert_eq!(a.to_string().parse::<Address>().ok(), Some(a));
            }
        }
        return;
    };
    let theirs = To::from_json(&v);
    if let Ok(t) = &theirs {
        let back = serde_json::to_value(t).expect("a To serializes");
        assert_eq!(
            To::from_json(&back).ok().as_ref(),
            Some(t),
            "round trip of {v}"
        );
    }
    if let Value::Array(items) = &v {
        for item in items {
            if let Ok(room) = Room::from_json(item) {
                assert!(room.validate().is_ok());
            }
        }
    }
    let ours = routing::parse_to(Some(&v));
    // What an emitter accepts, the server reads the same way (64-bit rooms aside).
    if theirs.is_ok() && !v.to_string().contains('.') {
        assert!(ours.is_ok(), "the server refuses {v}, which To accepts");
    }
    if let Ok(target) = ours {
        let reg = world();
        let sender = Sender {
            id: "b1".into(),
            user: "bob".into(),
            rooms: vec!["team".into(), "alice".into()],
        };
        check_peer_routing(reg, &sender, &target);
    }
}

/// An `auth` message and a session value: authentication gives a peer without a token and
/// without server-owned fields, or a refusal with a 4xx status. Its `recover` field (history
/// offsets per room) is read or refused with a reason, and offsets print as they were read.
pub fn auth(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_offset(text);
    }
    let Some(Value::Object(msg)) = json_of(data) else {
        return;
    };
    match symple::history::Request::from_auth(&msg) {
        Ok(Some(req)) => {
            assert!(req.rooms.len() <= symple::history::MAX_REQUEST_ROOMS);
            for (room, offset) in &req.rooms {
                assert!(!room.is_empty());
                if let Some(Ok(o)) = offset {
                    check_offset(&o.to_string());
                }
            }
        }
        Ok(None) => assert!(!msg.contains_key(symple::history::REQUEST_FIELD)),
        Err(reason) => assert!(!reason.is_empty()),
    }
    let check = |r: Result<symple::server::auth::Authorized, (u16, String)>| match r {
        Ok(a) => {
            assert!(!a.user.is_empty());
            assert_eq!(a.peer.get("user"), Some(&Value::String(a.user.clone())));
            for owned in [
                "token", "id", "online", "host", "rooms", "join", "type", "recover",
            ] {
                assert!(!a.peer.contains_key(owned), "{owned} in {:?}", a.peer);
            }
            assert!(a.rooms.iter().all(|r| !r.is_empty()));
        }
        Err((status, _)) => assert!((400..500).contains(&status)),
    };
    check(symple::server::auth::anonymous(&msg));
    // The same object as a session found in Redis, under a client's auth message.
    let client: Object = json!({"type": "auth", "user": "mallory", "rooms": ["x"], "token": "t"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    for open in [false, true] {
        let r = symple::server::auth::from_session(&client, "t", &msg, open);
        if let Ok(a) = &r {
            assert_eq!(a.token.as_deref(), Some("t"));
            // The client's rooms are ignored: only the session's count.
            let session_rooms = symple::server::auth::anonymous(&msg).map(|s| s.rooms);
            if let Ok(expected) = session_rooms {
                assert_eq!(a.rooms, expected, "the session's rooms, not the client's");
            }
        }
        check(r);
    }
}

/// A history offset read from `text` prints back as `text` (Redis's own form: digits, a
/// dash, digits, no leading zeros), or is refused.
fn check_offset(text: &str) {
    if let Ok(o) = text.parse::<symple::history::Offset>() {
        let printed = o.to_string();
        let again: symple::history::Offset = printed.parse().expect("a printed offset reads");
        assert_eq!(again, o);
        let canonical = text.split('-').all(|p| p == "0" || !p.starts_with('0'));
        if canonical {
            assert_eq!(printed, text);
        }
    }
}

/// A stored session value: read as a JSON object or an error naming the key; its join list
/// matches patterns without panicking.
pub fn session(data: &[u8]) {
    match symple::session::parse_stored_value("symple:session:t", data) {
        Ok(obj) => {
            let _ = symple::session::validate_data(&obj);
            if let Some(Value::Array(list)) = obj.get("join") {
                let patterns: Vec<String> = list
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect();
                let joins = symple::server::Joins::Only(patterns);
                for room in ["", "a", "team-a", "*", "lobby"] {
                    let _ = joins.permits(room);
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("symple:session:t"), "{e}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        // A member of the expiry index, read by cleanup: its token and user write back to
        // a member that reads the same.
        if let Some((token, user)) = keys::parse_expiry_member(text) {
            let member = keys::expiry_member(&token, &user);
            assert_eq!(
                keys::parse_expiry_member(&member),
                Some((token, user)),
                "{member:?}"
            );
        }
        // Split as a pattern and a name, for the glob matcher.
        let (p, n) = text.split_once('\n').unwrap_or((text, ""));
        let joins = symple::server::Joins::Only(vec![p.to_owned()]);
        let hit = joins.permits(n);
        if !p.contains('*') {
            assert_eq!(hit, p == n);
        }
        if p == "*" {
            assert!(hit);
        }
    }
}

/// A message relayed between instances reaches every recipient as the same bytes: the text
/// an instance writes for a value reads back to a value it writes as the same text. (The
/// client's own text cannot survive in general: `1.0`, `1e2` and a 103-digit integer are
/// read as f64 and written in serde_json's shortest form. What must hold is that the first
/// instance's text is a fixed point, so local and remote recipients see one text, and that
/// every number is the same f64 everywhere, which needs serde_json's `float_roundtrip`.)
fn assert_relays_unchanged(v: &Value) {
    let text = v.to_string();
    let again: Value = serde_json::from_str(&text).expect("serde_json reads its own JSON");
    assert_eq!(again.to_string(), text, "changed when relayed");
}

/// A cluster envelope from Redis: read or refused with a reason; one that is read routes by
/// the same rules as a local message, and relaying it again changes nothing: its bytes are a
/// fixed point, and each message reaches the peers of another instance as the bytes the
/// first instance gave its own peers.
pub fn envelope(data: &[u8]) {
    let Ok(env) = Envelope::decode(data) else {
        return;
    };
    let back = env.encode();
    let again = Envelope::decode(&back).expect("an envelope reads back");
    let twice = again.encode();
    assert_eq!(
        String::from_utf8_lossy(&twice),
        String::from_utf8_lossy(&back),
        "an envelope changed when relayed"
    );
    let reg = world();
    match (env.body, again.body) {
        (
            Body::Route {
                sender, message, ..
            },
            Body::Route { message: m2, .. },
        ) => {
            // What `route_from_peer` writes to local peers, and `on_envelope` elsewhere.
            assert_eq!(m2.to_string(), message.to_string());
            if let Ok(target) = routing::parse_to(message.get("to")) {
                check_peer_routing(reg, &sender, &target);
                for c in routing::channels(&sender, &target) {
                    assert!(c.starts_with("symple:"), "{c}");
                }
            }
        }
        (
            Body::Roster {
                requester, rooms, ..
            },
            Body::Roster { .. },
        ) => {
            for r in rooms.iter().filter(|r| requester.is_in(r)) {
                let _ = reg.members(r).count() + reg.sessions(r).count();
            }
        }
        (Body::Emit { message }, Body::Emit { message: m2 }) => {
            assert_eq!(m2.to_string(), message.to_string());
            if let Ok(to) = To::from_json(&message["to"]) {
                let c = symple::protocol::envelope::emitter_channel(&to);
                assert!(c.is_none_or(|c| c.starts_with("symple:")));
            }
            if let Ok(target) = routing::parse_to(message.get("to")) {
                let _ = routing::from_backend(reg, &target);
            }
        }
        (Body::Present { peers, .. }, Body::Present { peers: p2, .. }) => {
            assert_eq!(p2.len(), peers.len());
            for (a, b) in peers.iter().zip(&p2) {
                assert_eq!(a.presence.to_string(), b.presence.to_string());
            }
        }
        _ => panic!("an envelope changed kind when relayed"),
    }
}

/// A JSON value through the `JsonView` and every encoder: `Ser` writes serde_json's bytes;
/// the text is a fixed point; the MessagePack bytes (notepack's) and the JavaScript-exact
/// JSON read back to the value JavaScript would hold (same numbers, keys in JavaScript's
/// order); a message object becomes a native packet with serde_json's bytes, and a
/// Socket.IO, sharded or streams packet whose message reads back as JavaScript's value.
pub fn json_view(data: &[u8]) {
    let Some(v) = json_of(data) else {
        return;
    };
    let text = v.to_string();
    let ser = serde_json::to_string(&Ser(&v)).expect("a Value serializes");
    assert_eq!(ser, text, "Ser writes other bytes than serde_json");
    assert_eq!(view::to_value(&v).ok().as_ref(), Some(&v));
    assert_relays_unchanged(&v);
    let js = Js::of_json(&v, true);

    let mut out = Vec::new();
    msgpack::write_value(&mut out, &v);
    let mut rest = &out[..];
    let decoded = rmpv::decode::read_value(&mut rest).expect("MessagePack decodes");
    assert!(rest.is_empty(), "trailing bytes after {v}");
    assert_eq!(Js::of_msgpack(&decoded), js, "MessagePack of {v}");

    let mut out = Vec::new();
    json::write_value(&mut out, &v);
    let back: Value = serde_json::from_slice(&out).expect("JavaScript-exact JSON parses");
    assert_eq!(
        Js::of_json(&back, false),
        js,
        "JavaScript-exact JSON of {v}"
    );

    // Any value as an event's argument.
    let one = [v.clone()];
    assert_event_packets(|| EventArgs::<&Value>::Values(&one), &js, &v);
    let Value::Object(obj) = &v else {
        return;
    };
    if let Ok(p) = native::encode(obj, None, Fill::default()) {
        assert_eq!(p.payload, text.as_bytes(), "a native packet is the message");
    }
    // A message with the fields an emitter fills in: last, as if inserted last.
    let extra: Vec<(&str, &str)> = [("id", "m1"), ("from", "srv")]
        .into_iter()
        .filter(|(k, _)| !obj.contains_key(*k))
        .collect();
    let mut filled = obj.clone();
    for (k, val) in &extra {
        filled.insert(k.to_string(), Value::from(*val));
    }
    let expected = Js::of_json(&Value::Object(filled), true);
    assert_event_packets(
        || EventArgs::<&Value>::Message(view::entries(obj), &extra),
        &expected,
        &v,
    );
}

/// Every Socket.IO family's event packet carries the argument as JavaScript holds it.
fn assert_event_packets<'a>(args: impl Fn() -> EventArgs<'a, 'a, &'a Value>, js: &Js, v: &Value) {
    let b = Broadcast::default();
    let p = Server::default()
        .encode(&b, "message", args())
        .expect("a Socket.IO packet");
    let mut rest = &p.payload[..];
    let packet = rmpv::decode::read_value(&mut rest).expect("a Socket.IO packet decodes");
    assert!(rest.is_empty());
    // [uid, {type, data: [event, argument], nsp}, opts]
    let arg = &packet[1]["data"][1];
    assert_eq!(&Js::of_msgpack(arg), js, "Socket.IO packet of {v}");
    let families = [
        (Sharded::default().encode(&b, "message", args()), "/data"),
        (Streams::default().encode(&b, "message", args()), ""),
    ];
    for (packet, at) in families {
        let p = packet.expect("a JSON family's packet");
        let payload: Value = serde_json::from_slice(&p.payload).expect("a JSON packet parses");
        let arg = payload
            .pointer(&format!("{at}/packet/data/1"))
            .expect("the argument in the packet");
        assert_eq!(&Js::of_json(arg, false), js, "JSON packet of {v}");
    }
}

/// A value as JavaScript holds it: one number type, and an object's keys listed array
/// indices first, ascending, then the others as inserted (built here independently of the
/// encoders' own key ordering).
#[derive(Debug, PartialEq)]
enum Js {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
    List(Vec<Js>),
    Map(Vec<(String, Js)>),
}

/// A number as written: an integer (exact) or a float.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

/// Integers compare exactly (the encoders write 64-bit integers exactly). Where a float is
/// involved, the numbers are equal when JavaScript reads them as the same double: an
/// integral double is written in its shortest digits (`18446744073709552` as
/// `18446744073709550`, as JavaScript does), and -0 as 0.
impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        match (*self, *other) {
            (Num::Int(a), Num::Int(b)) => a == b,
            (Num::Float(a), Num::Float(b)) => a == b,
            // `as` rounds to nearest, as JavaScript reads decimal digits.
            (Num::Int(i), Num::Float(f)) | (Num::Float(f), Num::Int(i)) => i as f64 == f,
        }
    }
}

impl Js {
    /// A JSON value; `reorder` lists object keys as JavaScript would (for a value read
    /// from a `Value`), else as they are (for an encoder's output, whose order is checked).
    fn of_json(v: &Value, reorder: bool) -> Js {
        match v {
            Value::Null => Js::Null,
            Value::Bool(b) => Js::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Js::Num(Num::Int(i.into())),
                (_, Some(u), _) => Js::Num(Num::Int(u.into())),
                (_, _, Some(f)) => Js::Num(Num::Float(f)),
                _ => panic!("a number that is neither integer nor f64: {n}"),
            },
            Value::String(s) => Js::Str(s.clone()),
            Value::Array(a) => Js::List(a.iter().map(|v| Js::of_json(v, reorder)).collect()),
            Value::Object(o) => {
                let entries = o.iter().map(|(k, v)| (k.clone(), Js::of_json(v, reorder)));
                if reorder {
                    js_order(entries)
                } else {
                    Js::Map(entries.collect())
                }
            }
        }
    }

    fn of_msgpack(v: &rmpv::Value) -> Js {
        match v {
            rmpv::Value::Nil => Js::Null,
            rmpv::Value::Boolean(b) => Js::Bool(*b),
            rmpv::Value::Integer(i) => match (i.as_i64(), i.as_u64()) {
                (Some(i), _) => Js::Num(Num::Int(i.into())),
                (_, Some(u)) => Js::Num(Num::Int(u.into())),
                _ => unreachable!("a MessagePack integer is i64 or u64"),
            },
            rmpv::Value::F64(f) => Js::Num(Num::Float(*f)),
            rmpv::Value::String(s) => Js::Str(s.as_str().expect("UTF-8 text").to_owned()),
            rmpv::Value::Array(a) => Js::List(a.iter().map(Js::of_msgpack).collect()),
            // Keys as written, not reordered: the order is part of what is checked.
            rmpv::Value::Map(m) => Js::Map(
                m.iter()
                    .map(|(k, v)| {
                        let k = k.as_str().expect("a MessagePack map key is text");
                        (k.to_owned(), Js::of_msgpack(v))
                    })
                    .collect(),
            ),
            other => panic!("the encoder wrote {other:?}, which no JSON value gives"),
        }
    }
}

/// Object entries in JavaScript's order: canonical decimal keys below 2^32 - 1 first,
/// ascending, then the rest as inserted.
fn js_order(entries: impl Iterator<Item = (String, Js)>) -> Js {
    let index = |k: &str| {
        k.parse::<u32>()
            .ok()
            .filter(|i| *i != u32::MAX && i.to_string() == k)
    };
    let (mut indexed, named): (Vec<_>, Vec<_>) = entries.partition(|(k, _)| index(k).is_some());
    indexed.sort_by_key(|(k, _)| index(k));
    indexed.extend(named);
    Js::Map(indexed)
}

/// The frame and message limit of the `ws` target: small, so inputs cross it.
const WS_LIMIT: usize = 256;

/// Bytes a client sends once upgraded, read as a connection reads them: tungstenite with the
/// server's settings over `Lean`, the bytes arriving in pieces of a size the first byte
/// picks, and writes taking a piece at a time after a stall. Each text message goes through
/// `frame` and is sent back. Reading ends (an error, a close or the end of the bytes)
/// without a panic, no message is above the limit, and what was sent back reads, as a
/// client reads it, as the same texts in the same order.
pub fn ws(data: &[u8]) {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let piece = match first {
        0..128 => 1 + first as usize,
        _ => (first as usize - 127) * 64,
    };
    let written = Rc::new(RefCell::new(Vec::new()));
    let io = Pieces {
        input,
        piece,
        written: written.clone(),
        stall: false,
    };
    let mut sent = Vec::new();
    RUNTIME.with(|rt| {
        rt.block_on(async {
            let mut socket = WebSocketStream::from_raw_socket(
                Lean::new(io),
                Role::Server,
                Some(websocket_config(WS_LIMIT)),
            )
            .await;
            while let Some(Ok(m)) = socket.next().await {
                match m {
                    Message::Text(t) => {
                        assert!(t.len() <= WS_LIMIT, "a text of {} bytes", t.len());
                        frame(t.as_bytes());
                        if socket.send(Message::Text(t.clone())).await.is_ok() {
                            sent.push(t.to_string());
                        }
                    }
                    Message::Binary(b) => assert!(b.len() <= WS_LIMIT, "{} bytes", b.len()),
                    _ => {}
                }
            }
        })
    });
    let written = written.take();
    let mut client =
        tungstenite::WebSocket::from_raw_socket(io::Cursor::new(written), Role::Client, None);
    let mut got = Vec::new();
    while let Ok(m) = client.read() {
        if let Message::Text(t) = m {
            got.push(t.to_string());
        }
    }
    assert_eq!(got, sent, "the texts sent back, as a client reads them");
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
}

/// A client's socket: reads give the input a piece at a time; every other write stalls
/// (and asks to be polled again), the others take at most a piece.
struct Pieces<'a> {
    input: &'a [u8],
    piece: usize,
    written: Rc<RefCell<Vec<u8>>>,
    stall: bool,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.piece.min(self.input.len()).min(buf.remaining());
        buf.put_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Pieces<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stall = !self.stall;
        if self.stall {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = self.piece.min(data.len());
        self.written.borrow_mut().extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The password the `redis_url` target puts into URLs.
const URL_SECRET: &str = "pw0SECRET0pw";

/// A Redis URL (`--url`, the gem's `redis:`, `SYMPLE_REDIS_URL`): accepted, or refused with
/// an `InvalidUrl` error; and put together as `<first line>:<password>@<rest>`, no error or
/// warning shows the password.
pub fn redis_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A CA file named in the URL is never read: the option set in code wins (a fuzzer could
    // name /dev/zero).
    let names_ca = percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .to_ascii_lowercase()
        .contains("tls_ca");
    let with_ca = |o: ConnectOptions| match names_ca {
        true => o.tls_ca_file("/nonexistent/symple-fuzz/ca.pem"),
        false => o,
    };
    let opts = with_ca(ConnectOptions::new(text));
    if let Err(e) = opts.check() {
        assert!(matches!(e, symple::Error::InvalidUrl { .. }), "{e:?}");
    }
    assert_eq!(opts.is_insecure(), opts.insecure_warning().is_some());
    if text.to_ascii_lowercase().contains("secret") {
        return;
    }
    let (head, rest) = text.split_once('\n').unwrap_or((text, "127.0.0.1:6379"));
    let url = format!("{head}:{URL_SECRET}@{rest}");
    for opts in [
        with_ca(ConnectOptions::new(&url)),
        with_ca(ConnectOptions::new(&url)).tls_insecure(true),
    ] {
        let shown = [
            opts.check().err().map(|e| e.to_string()),
            opts.insecure_warning(),
        ];
        for s in shown.into_iter().flatten() {
            assert!(
                !s.to_ascii_lowercase()
                    .contains(&URL_SECRET.to_ascii_lowercase()),
                "the password shown: {s}"
            );
        }
    }
}

/// The proxies the `http` target trusts.
static HTTP_CONFIG: LazyLock<Config> = LazyLock::new(|| Config {
    trusted_proxies: parse_networks("127.0.0.0/8, 10.0.0.0/8, ::1").expect("networks"),
    allowed_origins: vec!["https://app.example".into()],
    ..Config::default()
});

/// The headers of a WebSocket upgrade (the first byte picks the peer's address, the rest
/// are `name: value` lines): the client's address is the peer's, or, from a trusted proxy
/// only, one its forwarding headers name; an `Origin` is allowed only when listed.
pub fn http(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let peers = [
        "127.0.0.1",
        "10.1.2.3",
        "203.0.113.9",
        "::ffff:10.0.0.5",
        "::1",
        "2001:db8::1",
    ];
    let remote: IpAddr = peers[first as usize % peers.len()]
        .parse()
        .expect("an address");
    let mut headers = HeaderMap::new();
    for line in rest.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let c = &*HTTP_CONFIG;
    let client = c.client_address(remote, &headers);
    let plain = canonical(remote);
    if !c.trusts_proxy(remote) {
        assert_eq!(client, plain, "a direct client's headers were believed");
    } else if client != plain {
        let named = ["x-forwarded-for", "x-real-ip"]
            .iter()
            .flat_map(|h| headers.get_all(*h))
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .any(|ip| canonical(ip) == client);
        assert!(named, "{client} is named by no forwarding header");
    }
    for origin in headers.get_all("origin") {
        let o = origin.to_str().ok();
        let listed = o.is_some_and(|o| o.eq_ignore_ascii_case("https://app.example"));
        assert_eq!(c.origin_allowed(o), listed, "origin {o:?}");
    }
}

/// Bytes from a Redis server, as the one-node connection measures its replies: no panic; a
/// reply found is whole (the same length alone or followed by anything) and no shorter
/// prefix of it is one.
pub fn resp(data: &[u8]) {
    let Ok(Some(n)) = symple::redis::reply_len(data) else {
        return;
    };
    assert!(n > 0 && n <= data.len(), "{n} of {}", data.len());
    assert_eq!(symple::redis::reply_len(&data[..n]), Ok(Some(n)));
    let mut more = data[..n].to_vec();
    more.extend_from_slice(b"?\r\n");
    assert_eq!(symple::redis::reply_len(&more), Ok(Some(n)));
    for cut in [0, n / 2, n - 1] {
        assert_eq!(
            symple::redis::reply_len(&data[..cut]),
            Ok(None),
            "cut at {cut}"
        );
    }
}
