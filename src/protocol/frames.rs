//! The frames the server writes on its own, not routed from a peer: `welcome`, `error`,
//! `join:ok` / `leave:ok`, the shutdown notice and a peer's presence, as typed values, so
//! each shape is defined once (PROTOCOL.md section 1) and written by serde.
//!
//! ```
//! use symple::protocol::frames::{text, ErrorFrame};
//! assert_eq!(text(&ErrorFrame::new(403, "no")), r#"{"type":"error","status":403,"message":"no"}"#);
//! ```

use serde::Serialize;

use crate::protocol::tag::{
    ErrorType, EventType, JoinOkType, LeaveOkType, PresenceType, RecoveryType, WelcomeType,
};
use crate::protocol::Object;

/// The protocol a `welcome` names.
pub const PROTOCOL: &str = "symple/4";

/// A frame's JSON text (these frames always serialize: plain data with string keys).
pub fn text(frame: &impl Serialize) -> String {
    serde_json::to_string(frame).unwrap_or_default()
}

/// `welcome`: the peer object (never a token) and its rooms, its personal room first.
///
/// ```
/// use symple::protocol::frames::{text, Welcome};
/// let peer = serde_json::json!({"id": "p1", "user": "alice"});
/// let w = Welcome::new(peer.as_object().unwrap(), vec!["alice", "team"]);
/// assert_eq!(text(&w), r#"{"type":"welcome","protocol":"symple/4","status":200,"peer":{"id":"p1","user":"alice"},"rooms":["alice","team"]}"#);
/// ```
#[derive(Debug, Serialize)]
pub struct Welcome<'a> {
    #[serde(rename = "type")]
    kind: WelcomeType,
    protocol: &'static str,
    status: u16,
    peer: &'a Object,
    rooms: Vec<&'a str>,
}

impl<'a> Welcome<'a> {
    /// A welcome for `peer` in `rooms`.
    pub fn new(peer: &'a Object, rooms: Vec<&'a str>) -> Self {
        Welcome {
            kind: WelcomeType,
            protocol: PROTOCOL,
            status: 200,
            peer,
            rooms,
        }
    }
}

/// `error` with an HTTP-like status (401, 403, 408, 400, 413, 429, 500, 503).
#[derive(Debug, Serialize)]
pub struct ErrorFrame<'a> {
    #[serde(rename = "type")]
    kind: ErrorType,
    status: u16,
    message: &'a str,
}

impl<'a> ErrorFrame<'a> {
    /// An error with `status` and `message`.
    pub fn new(status: u16, message: &'a str) -> Self {
        ErrorFrame {
            kind: ErrorType,
            status,
            message,
        }
    }
}

/// `join:ok` with the room; for a room with history, its position when joined, as a
/// message's `history` field says it (see [`crate::history`]).
///
/// ```
/// use symple::protocol::frames::{text, JoinOk, LeaveOk};
/// assert_eq!(text(&JoinOk::new("r")), r#"{"type":"join:ok","room":"r"}"#);
/// assert_eq!(text(&LeaveOk::new("r")), r#"{"type":"leave:ok","room":"r"}"#);
/// let at = JoinOk::new("r").at("1733150000000-0".parse().unwrap());
/// assert_eq!(text(&at), r#"{"type":"join:ok","room":"r","history":{"room":"r","offset":"1733150000000-0"}}"#);
/// ```
#[derive(Debug, Serialize)]
pub struct JoinOk<'a> {
    #[serde(rename = "type")]
    kind: JoinOkType,
    room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Position<'a>>,
}

/// A room's position in its history: `{"room", "offset"}`.
#[derive(Debug, Serialize)]
pub struct Position<'a> {
    room: &'a str,
    offset: String,
}

impl<'a> JoinOk<'a> {
    /// The answer to a `join` of `room`.
    pub fn new(room: &'a str) -> Self {
        JoinOk {
            kind: JoinOkType,
            room,
            history: None,
        }
    }

    /// With the room's history position `offset`.
    pub fn at(mut self, offset: crate::history::Offset) -> Self {
        self.history = Some(Position {
            room: self.room,
            offset: offset.to_string(),
        });
        self
    }
}

/// `leave:ok` with the room.
#[derive(Debug, Serialize)]
pub struct LeaveOk<'a> {
    #[serde(rename = "type")]
    kind: LeaveOkType,
    room: &'a str,
}

impl<'a> LeaveOk<'a> {
    /// The answer to a `leave` of `room`.
    pub fn new(room: &'a str) -> Self {
        LeaveOk {
            kind: LeaveOkType,
            room,
        }
    }
}

/// The notice every peer gets before the close frame when the server stops: the reference
/// server's `subtype` and `message`, plus a `name` for code that reads events by name.
///
/// ```
/// use symple::protocol::frames::{text, Shutdown};
/// assert_eq!(text(&Shutdown::new(7)), r#"{"type":"event","subtype":"shutdown","name":"shutdown","message":"Server shutting down","from":"server","time":7,"data":{}}"#);
/// ```
#[derive(Debug, Serialize)]
pub struct Shutdown {
    #[serde(rename = "type")]
    kind: EventType,
    subtype: &'static str,
    name: &'static str,
    message: &'static str,
    from: &'static str,
    time: i64,
    data: Object,
}

impl Shutdown {
    /// The notice, stamped `time` (unix seconds).
    pub fn new(time: i64) -> Self {
        Shutdown {
            kind: EventType,
            subtype: "shutdown",
            name: "shutdown",
            message: "Server shutting down",
            from: "server",
            time,
            data: Object::new(),
        }
    }
}

/// The server's presence of a peer: `from` its address, `data` its peer object with
/// `online`.
///
/// ```
/// use symple::protocol::frames::{text, PeerPresence};
/// let data = serde_json::json!({"id": "p1", "online": false});
/// let p = PeerPresence::new("alice|p1".into(), data.as_object().unwrap().clone());
/// assert_eq!(text(&p), r#"{"type":"presence","from":"alice|p1","data":{"id":"p1","online":false}}"#);
/// ```
#[derive(Debug, Serialize)]
pub struct PeerPresence {
    #[serde(rename = "type")]
    kind: PresenceType,
    from: String,
    data: Object,
}

impl PeerPresence {
    /// The presence `from` a peer, `data` its peer object (with `online` set).
    pub fn new(from: String, data: Object) -> Self {
        PeerPresence {
            kind: PresenceType,
            from,
            data,
        }
    }
}

/// `recovery`: the answer to the `recover` field of an `auth` (see [`crate::history`]), sent
/// after what was replayed and before live messages of those rooms: per room, whether every
/// message since the given offset was replayed (`recovered`), how many were, the offset to
/// continue from, and why not when not.
///
/// ```
/// use symple::protocol::frames::{text, Recovery, Recovered};
/// let mut r = Recovery::default();
/// r.rooms.insert("lobby".into(), Recovered { recovered: true, replayed: 2, offset: Some("5-0".into()), reason: None });
/// assert_eq!(text(&r), r#"{"type":"recovery","rooms":{"lobby":{"recovered":true,"replayed":2,"offset":"5-0"}}}"#);
/// ```
#[derive(Debug, Default, Serialize)]
pub struct Recovery {
    #[serde(rename = "type")]
    kind: RecoveryType,
    /// Each room asked about.
    pub rooms: std::collections::BTreeMap<String, Recovered>,
}

/// One room of a [`Recovery`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// Every message after the offset given was replayed; `false`: some may be lost (the
    /// history was trimmed or expired, or the room cannot be recovered): refetch.
    pub recovered: bool,
    /// Messages replayed.
    pub replayed: usize,
    /// The room's position to continue from (the last offset replayed, or the newest), when
    /// known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// Why not recovered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
