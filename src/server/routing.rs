//! Who receives a message: pure decisions over the registry, the same on every instance.

use serde_json::Value;

use crate::protocol::envelope::channel;
use crate::protocol::To;
use crate::server::registry::{LocalPeer, Registry};

pub use crate::protocol::envelope::Sender;

/// A parsed `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// No `to`.
    Rooms,
    /// `user|id`: one session (the user part must match when given).
    Session { user: String, id: String },
    /// A bare string: a user, a room, or (from clients) a peer id.
    Name(String),
    /// An array of rooms.
    List(Vec<String>),
}

/// Reads `to`; `Err` names what is wrong.
///
/// ```
/// use symple::server::routing::{parse_to, Target};
/// use serde_json::json;
/// assert_eq!(parse_to(None)?, Target::Rooms);
/// assert_eq!(parse_to(Some(&json!("a|b")))?, Target::Session { user: "a".into(), id: "b".into() });
/// assert_eq!(parse_to(Some(&json!(["r", 7])))?, Target::List(vec!["r".into(), "7".into()]));
/// assert!(parse_to(Some(&json!({"x": 1}))).is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_to(to: Option<&Value>) -> Result<Target, String> {
    match to {
        None | Some(Value::Null) => Ok(Target::Rooms),
        Some(v) => match To::from_json(v).map_err(|e| e.to_string())? {
            To::Address(a) => Ok(match a.id() {
                Some(id) => Target::Session {
                    user: a.user().to_owned(),
                    id: id.to_owned(),
                },
                None => Target::Name(a.user().to_owned()),
            }),
            To::Rooms(rooms) => rooms
                .iter()
                .map(|r| {
                    r.validate()
                        .map(|()| r.to_string())
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<_, _>>()
                .map(Target::List),
        },
    }
}

fn shares_room(peer: &LocalPeer, sender: &Sender) -> bool {
    *peer.user == *sender.user || sender.rooms.iter().any(|r| peer.rooms.contains_key(r))
}

/// Recipients on this instance of a message from a peer. Rooms are the permission boundary:
/// a recipient always shares a room with the sender, and the sender never gets its own message.
pub fn from_peer<'r>(reg: &'r Registry, sender: &Sender, target: &Target) -> Vec<&'r LocalPeer> {
    let mut out = Recipients::default();
    let others = |p: &&LocalPeer| *p.id != *sender.id;
    // A room the sender is in: its own user's sessions, or a named room's members.
    let room = |name: &str, out: &mut Recipients<'r>| {
        if name == sender.user {
            out.extend(reg.sessions(name).filter(others));
        }
        if sender.rooms.iter().any(|r| r == name) {
            out.extend(reg.members(name).filter(others));
        }
    };
    match target {
        Target::Rooms => {
            room(&sender.user, &mut out);
            for r in &sender.rooms {
                room(r, &mut out);
            }
        }
        Target::Session { user, id } => {
            if let Some(p) = reg.get(id) {
                if (user.is_empty() || *p.user == **user) && shares_room(p, sender) {
                    out.extend(Some(p).filter(others));
                }
            }
        }
        Target::Name(name) => {
            // A bare peer id: the official JS client answers presence probes this way.
            if let Some(p) = reg.get(name) {
                if shares_room(p, sender) {
                    out.extend(Some(p).filter(others));
                }
            } else {
                room(name, &mut out);
                out.extend(
                    reg.sessions(name)
                        .filter(|p| shares_room(p, sender))
                        .filter(others),
                );
            }
        }
        Target::List(rooms) => {
            for r in rooms {
                room(r, &mut out);
            }
        }
    }
    out.finish()
}

/// Recipients gathered from one or more member lists, each peer once. A list has no
/// duplicates, so only a second non-empty list calls for the check, done on addresses
/// (hashing every id was a quarter of the server's CPU in a fan-out to 1,000 clients).
#[derive(Default)]
struct Recipients<'r> {
    peers: Vec<&'r LocalPeer>,
    lists: usize,
}

impl<'r> Recipients<'r> {
    fn extend(&mut self, list: impl IntoIterator<Item = &'r LocalPeer>) {
        let before = self.peers.len();
        self.peers.extend(list);
        if self.peers.len() > before {
            self.lists += 1;
        }
    }

    fn finish(mut self) -> Vec<&'r LocalPeer> {
        if self.lists > 1 {
            let address = |p: &&LocalPeer| std::ptr::from_ref::<LocalPeer>(*p) as usize;
            self.peers.sort_unstable_by_key(address);
            self.peers.dedup_by_key(|p| address(p));
        }
        self.peers
    }
}

/// The interest channels of a client message: those of every room it may reach, so the
/// instances holding its recipients (and only those) receive it. The same rooms rule as
/// [`from_peer`]: a named room only if the sender is in it.
///
/// ```
/// use symple::server::routing::{channels, Sender, Target};
/// let s = Sender { id: "a1".into(), user: "alice".into(), rooms: vec!["team".into()] };
/// assert_eq!(channels(&s, &Target::Rooms), ["symple:room:alice", "symple:room:team"]);
/// assert_eq!(channels(&s, &Target::List(vec!["team".into(), "secret".into()])), ["symple:room:team"]);
/// assert_eq!(channels(&s, &Target::Name("bob".into())), ["symple:peer:bob", "symple:room:bob"]);
/// ```
pub fn channels(sender: &Sender, target: &Target) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |c: String| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    let room = |name: &str, push: &mut dyn FnMut(String)| {
        if name == sender.user || sender.rooms.iter().any(|r| r == name) {
            push(channel::room(name));
        }
    };
    match target {
        Target::Rooms => {
            room(&sender.user, &mut push);
            for r in &sender.rooms {
                room(r, &mut push);
            }
        }
        Target::Session { id, .. } => push(channel::peer(id)),
        Target::Name(name) => {
            // A peer id, a user (sessions sharing a room with the sender), or a room.
            push(channel::peer(name));
            push(channel::room(name));
        }
        Target::List(rooms) => {
            for r in rooms {
                room(r, &mut push);
            }
        }
    }
    out
}

/// Recipients on this instance of a message injected through Redis by a trusted backend: a
/// name reaches the user of that name and the named room of that name.
/// `None` when it has no `to` (dropped: native servers never broadcast such a packet).
pub fn from_backend<'r>(reg: &'r Registry, target: &Target) -> Option<Vec<&'r LocalPeer>> {
    let mut out = Recipients::default();
    let name = |n: &str, out: &mut Recipients<'r>| {
        out.extend(reg.sessions(n));
        out.extend(reg.members(n));
    };
    match target {
        Target::Rooms => return None,
        Target::Session { user, id } => {
            if let Some(p) = reg.get(id) {
                if user.is_empty() || *p.user == **user {
                    out.extend(Some(p));
                }
            }
        }
        Target::Name(n) => name(n, &mut out),
        Target::List(rooms) => {
            for r in rooms {
                name(r, &mut out);
            }
        }
    }
    Some(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::registry::tests::peer;
    use serde_json::json;

    fn sender(p: &LocalPeer) -> Sender {
        p.sender()
    }

    fn ids(v: Vec<&LocalPeer>) -> Vec<String> {
        let mut ids: Vec<String> = v.iter().map(|p| p.id.to_string()).collect();
        ids.sort();
        ids
    }

    fn world() -> (Registry, Sender) {
        let mut reg = Registry::default();
        let a1 = peer("a1", "alice", &["team"]);
        let s = sender(&a1);
        reg.add(a1);
        reg.add(peer("a2", "alice", &[]));
        reg.add(peer("b1", "bob", &["team", "other"]));
        reg.add(peer("c1", "carol", &["other"]));
        reg.add(peer("m1", "mallory", &["alice"])); // a named room called "alice"
        (reg, s)
    }

    #[test]
    fn client_routing_respects_rooms() {
        let (reg, alice) = world();
        let to = |v: Value| ids(from_peer(&reg, &alice, &parse_to(Some(&v)).unwrap()));
        assert_eq!(
            ids(from_peer(&reg, &alice, &Target::Rooms)),
            ["a2", "b1"],
            "the named room \"alice\" is not alice's personal room"
        );
        assert_eq!(to(json!("bob|b1")), ["b1"]);
        assert_eq!(
            to(json!("carol|c1")),
            Vec::<String>::new(),
            "no shared room"
        );
        assert_eq!(to(json!("carol")), Vec::<String>::new());
        assert_eq!(to(json!("bob")), ["b1"]);
        assert_eq!(to(json!("b1")), ["b1"], "bare peer id");
        assert_eq!(
            to(json!(["team", "other"])),
            ["b1"],
            "only rooms the sender is in"
        );
        assert_eq!(
            to(json!("wrong|b1")),
            Vec::<String>::new(),
            "user part must match"
        );
    }

    #[test]
    fn backend_routing_is_trusted_but_needs_to() {
        let (reg, _) = world();
        let to = |v: Value| ids(from_backend(&reg, &parse_to(Some(&v)).unwrap()).unwrap());
        assert!(from_backend(&reg, &Target::Rooms).is_none());
        assert_eq!(to(json!("carol|c1")), ["c1"]);
        assert_eq!(to(json!("other")), ["b1", "c1"]);
        assert_eq!(
            to(json!(["team", "other"])),
            ["a1", "b1", "c1"],
            "once each"
        );
        assert_eq!(to(json!("bob|zz")), Vec::<String>::new());
        assert_eq!(to(json!("alice")), ["a1", "a2", "m1"], "user and room");
    }

    #[test]
    fn a_peer_reached_through_several_lists_gets_one_copy() {
        let mut reg = Registry::default();
        let x1 = peer("x1", "xavier", &["r1", "r2"]);
        let x = sender(&x1);
        reg.add(x1);
        reg.add(peer("x2", "xavier", &["r1", "r2"]));
        reg.add(peer("y1", "yann", &["r1", "r2", "xavier"]));
        reg.add(peer("z1", "zoe", &["r2"]));
        // Sessions, r1 and r2 all hold x2; r1, r2 hold y1.
        assert_eq!(ids(from_peer(&reg, &x, &Target::Rooms)), ["x2", "y1", "z1"]);
        let to = |v: Value| ids(from_backend(&reg, &parse_to(Some(&v)).unwrap()).unwrap());
        assert_eq!(to(json!(["r1", "r2", "r1"])), ["x1", "x2", "y1", "z1"]);
        // The user xavier and the named room "xavier" (holding y1) share the name.
        assert_eq!(to(json!("xavier")), ["x1", "x2", "y1"]);
        assert_eq!(to(json!("r2")), ["x1", "x2", "y1", "z1"], "one list");
    }

    #[test]
    fn bad_to_is_named() {
        for bad in [
            json!(""),
            json!("|"),
            json!([]),
            json!([null]),
            json!(5),
            json!({}),
        ] {
            assert!(parse_to(Some(&bad)).is_err(), "{bad}");
        }
    }
}
