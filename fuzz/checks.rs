//! What each fuzz target checks, shared by the fuzz targets (`fuzz/fuzz_targets/`, run with
//! cargo-fuzz) and `tests/fuzz_corpus.rs` (every saved input, replayed on stable Rust by
//! `cargo test`). Each takes arbitrary bytes, runs one parser of outside input, and asserts
//! what must hold; a panic is a finding.

// Each fuzz target uses one of these.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::LazyLock;

use serde_json::{json, Value};
use symple::packet::msgpack;
use symple::packet::native::{self, Fill};
use symple::packet::sharded::Sharded;
use symple::packet::socketio::{Broadcast, Server};
use symple::packet::streams::Streams;
use symple::packet::view::{self, Ser};
use symple::packet::{Adapter, EventArgs};
use symple::protocol::Object;
use symple::server::cluster::Envelope;
use symple::server::handler::{self, Frame};
use symple::server::outbox::outbox;
use symple::server::registry::{LocalPeer, Registry};
use symple::server::routing::{self, Sender, Target};
use symple::{Address, Room, To};

/// One target's check.
pub type Check = fn(&[u8]);

/// Every target, by the name of its corpus folder.
pub const TARGETS: [(&str, Check); 6] = [
    ("frame", frame),
    ("to", to),
    ("auth", auth),
    ("session", session),
    ("envelope", envelope),
    ("json_view", json_view),
];

fn json_of(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}

fn peer(id: &str, user: &str, rooms: &[&str]) -> LocalPeer {
    LocalPeer {
        id: id.into(),
        user: user.into(),
        peer: format!(r#"{{"id":"{id}","user":"{user}"}}"#).into(),
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
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
        assert_ne!(p.id, sender.id, "the sender got its own message");
        assert!(seen.insert(p.id.clone()), "{} twice", p.id);
        let shares = p.user == sender.user || sender.rooms.iter().any(|r| p.rooms.contains(r));
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
        Ok(Frame::Route { target, .. }) => check_peer_routing(reg, &sender, &target),
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
/// without server-owned fields, or a refusal with a 4xx status.
pub fn auth(data: &[u8]) {
    let Some(Value::Object(msg)) = json_of(data) else {
        return;
    };
    let check = |r: Result<symple::server::auth::Authorized, (u16, String)>| match r {
        Ok(a) => {
            assert!(!a.user.is_empty());
            assert_eq!(a.peer.get("user"), Some(&Value::String(a.user.clone())));
            for owned in ["token", "id", "online", "host", "rooms", "join", "type"] {
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

/// A cluster envelope from Redis: parsed or refused; a parsed one routes by the same rules
/// as a local message, and serializes back to an equal envelope.
pub fn envelope(data: &[u8]) {
    let Ok(env) = serde_json::from_slice::<Envelope>(data) else {
        return;
    };
    let back = serde_json::to_vec(&env).expect("an envelope serializes");
    let again: Envelope = serde_json::from_slice(&back).expect("and reads back");
    assert_eq!(
        serde_json::to_value(&again).ok(),
        serde_json::to_value(&env).ok()
    );
    let reg = world();
    match env {
        Envelope::Route {
            sender, message, ..
        } => {
            if let Ok(target) = routing::parse_to(message.get("to")) {
                check_peer_routing(reg, &sender, &target);
            }
        }
        Envelope::Roster {
            requester, rooms, ..
        } => {
            for r in rooms.iter().filter(|r| requester.is_in(r)) {
                let _ = reg.members(r).count() + reg.sessions(r).count();
            }
        }
        Envelope::Direct { messages, .. } => {
            for m in messages {
                let _ = m.to_string();
            }
        }
    }
}

/// A JSON value through the `JsonView` and both encoders: `Ser` writes the same JSON, the
/// MessagePack bytes decode whole to a value of the same shape, and a message object
/// becomes a native packet holding the same fields.
pub fn json_view(data: &[u8]) {
    let Some(v) = json_of(data) else {
        return;
    };
    let ser = serde_json::to_string(&Ser(&v)).expect("a Value serializes");
    let again: Value = serde_json::from_str(&ser).expect("Ser writes JSON");
    assert_eq!(view::to_value(&v).ok().as_ref(), Some(&v));
    assert_eq!(shape(&again), shape(&v));
    let mut out = Vec::new();
    msgpack::write_value(&mut out, &v);
    let mut rest = &out[..];
    let decoded = rmpv::decode::read_value(&mut rest).expect("MessagePack decodes");
    assert!(rest.is_empty(), "trailing bytes after {v}");
    assert_eq!(msgpack_shape(&decoded), shape(&v), "{v}");
    if let Value::Object(obj) = &v {
        if let Ok(p) = native::encode(obj, None, Fill::default()) {
            let back: Object = serde_json::from_slice(&p.payload).expect("a native packet is JSON");
            assert_eq!(back.len(), obj.len());
        }
        let b = Broadcast::default();
        let args = || EventArgs::<&Value>::Message(view::entries(obj), &[]);
        if let Ok(p) = Server::default().encode(&b, "message", args()) {
            let mut rest = &p.payload[..];
            rmpv::decode::read_value(&mut rest).expect("a Socket.IO packet decodes");
            assert!(rest.is_empty());
        }
        // The JSON families write the message as JSON.
        for p in [
            Sharded::default().encode(&b, "message", args()),
            Streams::default().encode(&b, "message", args()),
        ]
        .into_iter()
        .flatten()
        {
            serde_json::from_slice::<Value>(&p.payload).expect("a JSON packet parses");
        }
    }
}

/// Nesting and sizes, which any faithful encoding keeps.
#[derive(Debug, PartialEq)]
enum Shape {
    Scalar,
    Str(usize),
    List(Vec<Shape>),
    Map(usize),
}

fn shape(v: &Value) -> Shape {
    match v {
        Value::String(s) => Shape::Str(s.len()),
        Value::Array(a) => Shape::List(a.iter().map(shape).collect()),
        Value::Object(o) => Shape::Map(o.len()),
        _ => Shape::Scalar,
    }
}

fn msgpack_shape(v: &rmpv::Value) -> Shape {
    match v {
        rmpv::Value::String(s) => Shape::Str(s.as_bytes().len()),
        rmpv::Value::Array(a) => Shape::List(a.iter().map(msgpack_shape).collect()),
        rmpv::Value::Map(m) => Shape::Map(m.len()),
        _ => Shape::Scalar,
    }
}
