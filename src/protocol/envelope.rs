//! What the project's server instances tell each other through Redis: typed, versioned
//! envelopes on interest channels, one channel per room, per user and per peer.
//!
//! An instance subscribes to the channels of its local peers' rooms (a user's personal room
//! included) and ids, and publishes an envelope to the channels of its recipients, so an
//! instance that holds no member of a room receives none of its traffic. Emitters (the
//! `native-rooms` target) publish [`Body::Emit`] envelopes on the same channels. An envelope published to several channels
//! (a message to two rooms) says how many (`copies`): an instance subscribed to more than one
//! of them handles it once (by `origin` and `seq`).
//!
//! ```
//! use symple::protocol::envelope::{channel, Body, Envelope, Sender};
//! let env = Envelope::new("i1", 7, 1, Body::Roster {
//!     requester: Sender { id: "p1".into(), user: "alice".into(), rooms: vec!["team".into()] },
//!     rooms: vec!["team".into()],
//!     event: 1,
//! });
//! let bytes = env.encode();
//! assert!(bytes.starts_with(br#"{"v":2,"origin":"i1","seq":7,"kind":"roster""#));
//! assert_eq!(Envelope::decode(&bytes)?, env);
//! assert_eq!(channel::room("team"), "symple:room:team");
//! # Ok::<(), String>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::To;

/// The envelope format this build reads and writes; envelopes of another version are
/// refused (counted as invalid): every instance of a cluster must run the same version.
pub const VERSION: u32 = 2;

/// The interest channels: `symple:room:<name>` for every room called `name` (a user's
/// personal room and a named room of that name share it: the receiving instance tells
/// them apart), and `symple:peer:<id>` for one peer (session).
pub mod channel {
    /// Prefix of rooms' channels.
    pub const ROOM: &str = "symple:room:";
    /// Prefix of one peer's channel (direct messages, roster answers).
    pub const PEER: &str = "symple:peer:";

    /// The channel of the rooms called `name` (user `name`'s sessions, and named room
    /// `name`).
    pub fn room(name: &str) -> String {
        [ROOM, name].concat()
    }

    /// The channel of peer (session) `id`.
    pub fn peer(id: &str) -> String {
        [PEER, id].concat()
    }

    /// Whether `name` is an interest channel (a room's or a peer's). On a Redis Cluster these
    /// use sharded pub/sub (SPUBLISH / SSUBSCRIBE): each is served by its slot's shard
    /// only, so the traffic spreads over the masters instead of reaching every node.
    ///
    /// ```
    /// use symple::protocol::envelope::channel;
    /// assert!(channel::is_interest(&channel::room("lobby")));
    /// assert!(channel::is_interest(&channel::peer("s1")));
    /// assert!(!channel::is_interest("symple:broadcast"));
    /// ```
    pub fn is_interest(name: &str) -> bool {
        name.starts_with(ROOM) || name.starts_with(PEER)
    }
}

/// The key of an instance's heartbeat (`SET … PX`): while it exists the instance is alive.
///
/// ```
/// assert_eq!(symple::protocol::envelope::heartbeat_key("i1"), "symple:instance:i1");
/// ```
pub fn heartbeat_key(instance: &str) -> String {
    ["symple:instance:", instance].concat()
}

/// The channel an emitter's `native-rooms` packet for `to` goes to: the channel of its one
/// room, user or peer; `None` when it names several rooms (such a packet goes to
/// `symple:broadcast`, which every instance reads).
///
/// ```
/// use symple::protocol::envelope::emitter_channel;
/// use symple::{Room, To};
/// let to = |s: &str| To::Address(s.parse().unwrap());
/// assert_eq!(emitter_channel(&to("alice")).as_deref(), Some("symple:room:alice"));
/// assert_eq!(emitter_channel(&to("alice|s1")).as_deref(), Some("symple:peer:s1"));
/// assert_eq!(emitter_channel(&To::Rooms(vec![Room::Id(7)])).as_deref(), Some("symple:room:7"));
/// assert_eq!(emitter_channel(&To::Rooms(vec!["a".into(), "b".into()])), None);
/// ```
pub fn emitter_channel(to: &To) -> Option<String> {
    match to {
        To::Address(a) => Some(match a.id() {
            Some(id) if !id.is_empty() => channel::peer(id),
            _ => channel::room(a.user()),
        }),
        To::Rooms(rooms) => match rooms.as_slice() {
            [room] => Some(channel::room(&room.to_string())),
            _ => None,
        },
    }
}

/// Wraps an emitter's native packet payload (a Symple message as JSON) as the
/// [`Body::Emit`] envelope published on an interest channel.
///
/// ```
/// use symple::protocol::envelope::{wrap_emitted, Body, Envelope};
/// let env = Envelope::decode(&wrap_emitted(br#"{"type":"message","to":"r"}"#))?;
/// assert!(matches!(env.body, Body::Emit { .. }));
/// # Ok::<(), String>(())
/// ```
pub fn wrap_emitted(message_json: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"v":2,"kind":"emit","message":"#;
    let mut out = Vec::with_capacity(HEAD.len() + message_json.len() + 1);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(message_json);
    out.push(b'}');
    out
}

/// The sender of a client message, as every instance needs to know it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Sender {
    /// Session id.
    pub id: String,
    /// User.
    pub user: String,
    /// Named rooms the sender is in (its personal room is `user`).
    pub rooms: Vec<String>,
}

impl Sender {
    /// Whether the sender may address `room`: its own user's room or a named room it is in.
    pub fn is_in(&self, room: &str) -> bool {
        self.user == room || self.rooms.iter().any(|r| r == room)
    }
}

/// One envelope: a header (version, origin instance, sequence number, number of channels it
/// was published to) and a [`Body`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    /// [`VERSION`].
    pub v: u32,
    /// The instance that sent it (empty from an emitter).
    #[serde(default)]
    pub origin: String,
    /// Its number among the origin's envelopes (increasing).
    #[serde(default)]
    pub seq: u64,
    /// Channels it was published to, when more than one.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub copies: u32,
    /// What it says.
    #[serde(flatten)]
    pub body: Body,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What an envelope says.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Body {
    /// A client's message, routed by each instance to its own peers.
    Route {
        /// The sending peer.
        sender: Sender,
        /// The message, `from` already set.
        message: Value,
        /// The rooms it goes to when the server chose them (its own presence of `sender`,
        /// which has no `to`); otherwise the message's `to` says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rooms: Option<Vec<String>>,
        /// Set on the server's own presence of `sender`: `true` when it came online in the
        /// rooms of `message.to`, `false` when it went. Instances remember who is online
        /// where, so they can announce the peers of an instance that died.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        announce: Option<bool>,
        /// With `announce: Some(true)`: the number of the sender's presence event told of
        /// (1 for its arrival, one more per room it joined), so that an instance that also
        /// learns of it from a roster answer ([`Known::events`]) shows it once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event: Option<u64>,
    },
    /// A new peer (or one that joined rooms) wants the presence of peers sharing `rooms`.
    Roster {
        /// Who asks.
        requester: Sender,
        /// Rooms to consider.
        rooms: Vec<String>,
        /// The requester's presence event asking (its arrival, or the room it joined),
        /// echoed in the answer ([`Body::Present`]); 0 when not told.
        #[serde(default, skip_serializing_if = "is_zero")]
        event: u64,
    },
    /// A packet from a trusted backend (an emitter's `native-rooms` target): routed like one
    /// from `symple:broadcast`, to every recipient of its `to`.
    Emit {
        /// The Symple message.
        message: Value,
    },
    /// A message appended to a room's history (see [`crate::history`]), published by the
    /// script that appended it: every instance holding the room delivers it, the sending
    /// instance too, in the order of the stream.
    History {
        /// Its stream id (written by the script: see [`Envelope::split_offset`]).
        offset: String,
        /// The room.
        room: String,
        /// The sending peer (its session id is left out of delivery); `None` from a
        /// backend, whose message reaches the room's members and the user's sessions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<Box<Sender>>,
        /// The message, `from` already set, without the `history` field.
        message: Value,
    },
    /// The answer to a [`Body::Roster`]: the presence of the answering instance's peers.
    Present {
        /// The requester's peer id.
        to: String,
        /// The rooms the requester asked about.
        #[serde(default)]
        rooms: Vec<String>,
        /// The requester's presence event it answers ([`Body::Roster`]'s `event`).
        #[serde(default, skip_serializing_if = "is_zero")]
        event: u64,
        /// Each peer and its presence message.
        peers: Vec<Known>,
    },
}

/// A peer of another instance and its presence message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Known {
    /// Who it is and its rooms.
    pub sender: Sender,
    /// Its presence (`online: true`).
    pub presence: Value,
    /// The numbers of its presence events that put it in the rooms asked about (see
    /// [`Body::Route`]'s `event`); empty when not told.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<u64>,
}

impl Envelope {
    /// A current-version envelope.
    pub fn new(origin: impl Into<String>, seq: u64, copies: u32, body: Body) -> Self {
        Envelope {
            v: VERSION,
            origin: origin.into(),
            seq,
            copies: copies.max(1),
            body,
        }
    }

    /// The JSON bytes published.
    pub fn encode(&self) -> Vec<u8> {
        // Plain data with string keys: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A [`Body::History`] envelope as the bytes before and after its offset, for the script
    /// that learns the offset as it appends (its `offset` is written as the empty string).
    ///
    /// ```
    /// use symple::protocol::envelope::{Body, Envelope};
    /// let env = Envelope::new("i1", 3, 1, Body::History {
    ///     offset: String::new(),
    ///     room: "r".into(),
    ///     sender: None,
    ///     message: serde_json::json!({"type": "message", "offset": ""}),
    /// });
    /// let (head, tail) = env.split_offset().unwrap();
    /// let bytes = [head, b"1-0".to_vec(), tail].concat();
    /// let Body::History { offset, message, .. } = Envelope::decode(&bytes)?.body else { panic!() };
    /// assert_eq!((offset.as_str(), &message["offset"]), ("1-0", &serde_json::json!("")));
    /// # Ok::<(), String>(())
    /// ```
    pub fn split_offset(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        // Up to the opening quote of the empty offset; the header before it holds only the
        // version, an instance id and numbers.
        const MARK: &[u8] = br#""kind":"history","offset":""#;
        let bytes = self.encode();
        let at = bytes.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
        Some((bytes[..at].to_vec(), bytes[at..].to_vec()))
    }

    /// Reads an envelope; `Err` names what is wrong (not JSON, not an envelope, another
    /// version).
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Version {
            v: Option<u32>,
        }
        match serde_json::from_slice::<Version>(bytes) {
            Ok(Version { v: Some(VERSION) }) => {}
            Ok(Version { v: Some(v) }) => {
                return Err(format!(
                    "envelope version {v}, this instance reads {VERSION}"
                ))
            }
            Ok(Version { v: None }) => return Err("not an envelope: no version".into()),
            Err(e) => return Err(format!("not an envelope: {e}")),
        }
        serde_json::from_slice(bytes).map_err(|e| format!("bad envelope: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alice() -> Sender {
        Sender {
            id: "a1".into(),
            user: "alice".into(),
            rooms: vec!["team".into()],
        }
    }

    #[test]
    fn every_kind_round_trips() {
        let bodies = [
            Body::Route {
                sender: alice(),
                message: json!({"type": "message", "from": "alice|a1", "data": {"x": [1, 2.5]}}),
                rooms: None,
                announce: None,
                event: None,
            },
            Body::Route {
                sender: alice(),
                message: json!({"type": "presence", "data": {"online": true}}),
                rooms: Some(vec!["alice".into(), "team".into()]),
                announce: Some(true),
                event: Some(3),
            },
            Body::Roster {
                requester: alice(),
                rooms: vec!["alice".into(), "team".into()],
                event: 2,
            },
            Body::Emit {
                message: json!({"type": "message", "to": "team", "id": "m1"}),
            },
            Body::History {
                offset: "1733150000000-0".into(),
                room: "team".into(),
                sender: Some(Box::new(alice())),
                message: json!({"type": "message", "to": "team", "from": "alice|a1"}),
            },
            Body::History {
                offset: "1-0".into(),
                room: "team".into(),
                sender: None,
                message: json!({"type": "event", "to": ["team"]}),
            },
            Body::Present {
                to: "b1".into(),
                rooms: vec!["team".into()],
                event: 2,
                peers: vec![
                    Known {
                        sender: alice(),
                        presence: json!({"type": "presence"}),
                        events: vec![1, 4],
                    },
                    Known {
                        sender: alice(),
                        presence: json!({"type": "presence"}),
                        events: vec![],
                    },
                ],
            },
        ];
        for (i, body) in bodies.into_iter().enumerate() {
            let env = Envelope::new("inst", i as u64, (i % 3) as u32 + 1, body);
            let bytes = env.encode();
            assert_eq!(Envelope::decode(&bytes).as_ref(), Ok(&env), "{env:?}");
        }
    }

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
                r#"{{"v":2,"origin":"i1","seq":1,"kind":"route","sender":{{"id":"a1","user":"a","rooms":[]}},"message":{{"type":"message","to":"b","data":{number}}}}}"#
            );
            let env = Envelope::decode(text.as_bytes()).unwrap();
            let Body::Route { message, .. } = &env.body else {
                panic!("a route envelope")
            };
            let local = message.to_string();
            let relayed = Envelope::decode(&env.encode()).unwrap();
            let Body::Route { message, .. } = relayed.body else {
                panic!("a route envelope")
            };
            assert_eq!(message.to_string(), local, "{number}");
        }
    }

    #[test]
    fn copies_default_to_one_and_versions_are_checked() {
        let text = br#"{"v":2,"origin":"i","seq":1,"kind":"roster","requester":{"id":"a","user":"u","rooms":[]},"rooms":["u"]}"#;
        let env = Envelope::decode(text).unwrap();
        assert_eq!(env.copies, 1);
        assert_eq!(env.encode(), text.to_vec(), "written back byte for byte");
        let old = br#"{"kind":"direct","origin":"i","to":"a","messages":[]}"#;
        assert!(Envelope::decode(old).unwrap_err().contains("no version"));
        let next = br#"{"v":3,"origin":"i","seq":1,"kind":"roster"}"#;
        assert!(Envelope::decode(next).unwrap_err().contains("version 3"));
        assert!(Envelope::decode(b"nope").is_err());
        // What an emitter writes: no origin, no sequence number.
        let emit = Envelope::decode(br#"{"v":2,"kind":"emit","message":{"to":"r"}}"#).unwrap();
        assert_eq!((emit.origin.as_str(), emit.seq, emit.copies), ("", 0, 1));
        assert!(Envelope::decode(br#"{"v":2,"origin":"i","seq":1,"kind":"what"}"#).is_err());
    }
}
