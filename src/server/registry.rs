//! The peers connected to this instance, their users and their rooms.
//!
//! A user's personal room and named rooms are kept apart: the personal room of `alice` holds
//! exactly the sessions whose user is `alice`, and a named room called `alice` (if anyone
//! made one) is another set. So a user name can never take a named room from its members,
//! and nobody can be put into another user's personal room. Entries are freed as soon as
//! their last member leaves: memory follows who is connected, not every name ever seen.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::hash_table::{Entry, HashTable};
use serde_json::Value;

use crate::protocol::Object;
use crate::server::outbox::Outbox;

/// The presence event of a peer's arrival (its first [`LocalPeer::events`]).
pub const ARRIVAL: u64 = 1;

/// A connected, authenticated peer.
#[derive(Debug)]
pub struct LocalPeer {
    /// Server-assigned session id; one allocation shared with the connection and the
    /// registry's member sets (every idle connection would otherwise pay for 3 copies).
    pub id: Arc<str>,
    /// The user (names the personal room); shared with the connection and the users map.
    pub user: Arc<str>,
    /// The public peer object (never holds a token), as compact JSON: a parsed object
    /// costs several times its text per connection, and is needed only for presence. Its
    /// `id` field may be kept empty (the id is `id`'s, 32 bytes less per connection): read
    /// it with [`fields`](Self::fields).
    pub peer: Box<str>,
    /// Named rooms (the personal room is `user`, kept apart), each with the presence event
    /// that put the peer in it (see [`events`](Self::events)).
    pub rooms: HashMap<String, u64>,
    /// Its presence events so far: [`ARRIVAL`] when it came (in its personal room and its
    /// first rooms), one more per room it joined. Other instances tell an announcement of an
    /// event from a roster answer that reports the same event (see `server::presented`).
    pub events: u64,
    /// The connection's outbound queue.
    pub tx: Outbox,
    /// The session token it authenticated with (token mode), so a logout finds it.
    pub token: Option<Box<str>>,
}

impl LocalPeer {
    /// `user|id`
    pub fn address(&self) -> String {
        format!("{}|{}", self.user, self.id)
    }

    /// The peer as a sender, as other instances see it.
    pub fn sender(&self) -> crate::protocol::envelope::Sender {
        crate::protocol::envelope::Sender {
            id: self.id.to_string(),
            user: self.user.to_string(),
            rooms: self.rooms.keys().cloned().collect(),
        }
    }

    /// The public peer object (empty if `peer` is not a JSON object), its `id` field (if
    /// any) holding [`id`](Self::id), in its place.
    pub fn fields(&self) -> Object {
        let mut fields: Object = serde_json::from_str(&self.peer).unwrap_or_default();
        if let Some(id) = fields.get_mut("id") {
            *id = Value::String(self.id.to_string());
        }
        fields
    }

    /// The presence message of this peer.
    pub fn presence(&self, online: bool) -> Value {
        let mut data = self.fields();
        data.insert("online".into(), Value::Bool(online));
        let frame = crate::protocol::frames::PeerPresence::new(self.address(), data);
        // Plain data with string keys: always a JSON object.
        serde_json::to_value(frame).unwrap_or_default()
    }
}

/// Peers by id, by user and by named room.
#[derive(Debug, Default)]
pub struct Registry {
    /// Peers by `id`, boxed: the table keeps free slots, and a slot of a pointer is cheaper
    /// than a slot of a peer (nor is the id kept twice, as a map's key would).
    peers: HashTable<Box<LocalPeer>>,
    /// foldhash (seeded per process): every delivery looks its peer up by id, and SipHash
    /// over the 32-byte ids cost more than the rest of the lookup. The ids are the server's
    /// random uuids, so no client picks the keys of this table.
    hasher: hashbrown::DefaultHashBuilder,
    users: HashMap<Arc<str>, Members>,
    rooms: HashMap<Arc<str>, Members>,
}

/// The ids of a user's sessions or of a room's members (never empty). Most users have one
/// session, and a one-member set would cost over 100 bytes more per connection.
#[derive(Debug)]
enum Members {
    One(Arc<str>),
    /// Two or more (boxed: the map's slots stay the size of one id, for the common case).
    #[allow(clippy::box_collection)]
    Many(Box<HashSet<Arc<str>>>),
}

impl Members {
    /// Adds `id`; false if it was there.
    fn insert(&mut self, id: &Arc<str>) -> bool {
        match self {
            Members::One(one) if *one == *id => false,
            Members::One(one) => {
                let set = HashSet::from([one.clone(), id.clone()]);
                *self = Members::Many(Box::new(set));
                true
            }
            Members::Many(set) => set.insert(id.clone()),
        }
    }

    /// Removes `id`; true when nobody is left (the entry must then go).
    fn remove(&mut self, id: &str) -> bool {
        match self {
            Members::One(one) => &**one == id,
            Members::Many(set) => {
                set.remove(id);
                if let (1, Some(last)) = (set.len(), set.iter().next()) {
                    *self = Members::One(last.clone());
                }
                false
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Members::One(_) => 1,
            Members::Many(set) => set.len(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        let (one, many) = match self {
            Members::One(id) => (Some(id), None),
            Members::Many(set) => (None, Some(set.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

fn add_to(map: &mut HashMap<Arc<str>, Members>, key: &Arc<str>, id: &Arc<str>) {
    match map.get_mut(&**key) {
        Some(members) => {
            members.insert(id);
        }
        None => {
            map.insert(key.clone(), Members::One(id.clone()));
        }
    }
}

/// Removes `id` from the members under `key`, and the entry once empty.
fn remove_from(map: &mut HashMap<Arc<str>, Members>, key: &str, id: &str) {
    if let Some(members) = map.get_mut(key) {
        if members.remove(id) {
            map.remove(key);
        }
    }
}

impl Registry {
    /// Adds a peer under its user and in its rooms (ids are unique: a peer with the same id
    /// would be replaced).
    pub fn add(&mut self, peer: LocalPeer) {
        add_to(&mut self.users, &peer.user, &peer.id);
        for room in peer.rooms.keys() {
            add_to(&mut self.rooms, &Arc::from(room.as_str()), &peer.id);
        }
        let hasher = &self.hasher;
        let hash = hasher.hash_one(&*peer.id);
        match self
            .peers
            .entry(hash, |p| p.id == peer.id, |p| hasher.hash_one(&*p.id))
        {
            Entry::Occupied(mut e) => **e.get_mut() = peer,
            Entry::Vacant(e) => {
                e.insert(Box::new(peer));
            }
        }
    }

    /// Removes a peer from everything, freeing user and room entries left empty.
    pub fn remove(&mut self, id: &str) -> Option<LocalPeer> {
        let hash = self.hasher.hash_one(id);
        let (peer, _) = self.peers.find_entry(hash, |p| &*p.id == id).ok()?.remove();
        let peer = *peer;
        remove_from(&mut self.users, &peer.user, id);
        for room in peer.rooms.keys() {
            remove_from(&mut self.rooms, room, id);
        }
        Some(peer)
    }

    /// Puts a peer in a named room (a new presence event of the peer); false when the peer
    /// is unknown or already in it.
    pub fn join(&mut self, id: &str, room: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        let Some(peer) = self.peers.find_mut(hash, |p| &*p.id == id) else {
            return false;
        };
        if peer.rooms.contains_key(room) {
            return false;
        }
        peer.events += 1;
        peer.rooms.insert(room.to_owned(), peer.events);
        add_to(&mut self.rooms, &Arc::from(room), &peer.id);
        true
    }

    /// Takes a peer out of a named room; false when it was not in it.
    pub fn leave(&mut self, id: &str, room: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        let Some(peer) = self.peers.find_mut(hash, |p| &*p.id == id) else {
            return false;
        };
        if peer.rooms.remove(room).is_none() {
            return false;
        }
        remove_from(&mut self.rooms, room, id);
        true
    }

    /// A peer by id.
    pub fn get(&self, id: &str) -> Option<&LocalPeer> {
        let hash = self.hasher.hash_one(id);
        self.peers.find(hash, |p| &*p.id == id).map(|p| &**p)
    }

    fn members_of<'a>(
        &'a self,
        map: &'a HashMap<Arc<str>, Members>,
        key: &str,
    ) -> impl Iterator<Item = &'a LocalPeer> + 'a {
        map.get(key)
            .into_iter()
            .flat_map(Members::iter)
            .filter_map(|id| self.get(id))
    }

    /// Members of a named room.
    pub fn members(&self, room: &str) -> impl Iterator<Item = &LocalPeer> {
        self.members_of(&self.rooms, room)
    }

    /// The sessions of a user (its personal room).
    pub fn sessions(&self, user: &str) -> impl Iterator<Item = &LocalPeer> {
        self.members_of(&self.users, user)
    }

    /// Number of members of a named room on this instance.
    pub fn room_size(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, Members::len)
    }

    /// Every peer.
    pub fn peers(&self) -> impl Iterator<Item = &LocalPeer> {
        self.peers.iter().map(|p| &**p)
    }

    /// Whether some local peer is `user`.
    pub fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Number of rooms with members: named rooms plus users' personal rooms.
    pub fn room_count(&self) -> usize {
        self.rooms.len() + self.users.len()
    }

    /// Number of users with a local session.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::server::outbox::outbox;

    /// A peer for unit tests (here and in routing).
    pub(crate) fn peer(id: &str, user: &str, rooms: &[&str]) -> LocalPeer {
        LocalPeer {
            id: id.into(),
            user: user.into(),
            peer: Default::default(),
            rooms: rooms.iter().map(|r| (r.to_string(), ARRIVAL)).collect(),
            events: ARRIVAL,
            tx: outbox(1).0,
            token: None,
        }
    }

    #[test]
    fn the_stored_peer_gets_its_id_back_in_place() {
        let mut p = peer("0123abcd", "alice", &[]);
        p.peer = r#"{"user":"alice","id":"","name":"Al","online":true}"#.into();
        assert_eq!(
            serde_json::to_string(&p.presence(false)).ok().as_deref(),
            Some(
                r#"{"type":"presence","from":"alice|0123abcd","data":{"user":"alice","id":"0123abcd","name":"Al","online":false}}"#
            )
        );
        p.peer = r#"{"user":"alice"}"#.into();
        assert_eq!(p.fields().get("id"), None, "no id field: none added");
    }

    #[test]
    fn a_user_named_like_a_room_takes_nothing_and_entries_are_freed() {
        let mut reg = Registry::default();
        reg.add(peer("a", "alice", &["lobby"]));
        reg.add(peer("b", "bob", &["lobby"]));
        reg.add(peer("e", "lobby", &[]));
        let ids = |it: Vec<&LocalPeer>| {
            let mut v: Vec<_> = it.iter().map(|p| p.id.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(ids(reg.members("lobby").collect()), ["a", "b"]);
        assert_eq!(ids(reg.sessions("lobby").collect()), ["e"]);
        assert!(!reg.join("b", "lobby"), "already a member");
        assert_eq!(
            reg.room_count(),
            4,
            "lobby, and the users alice, bob, lobby"
        );
        for id in ["a", "b", "e"] {
            reg.remove(id);
        }
        assert_eq!((reg.room_count(), reg.user_count(), reg.len()), (0, 0, 0));
        assert!(reg.rooms.capacity() < 64 && reg.users.capacity() < 64);
    }

    #[test]
    fn members_go_from_one_to_many_and_back() {
        assert!(std::mem::size_of::<Members>() <= std::mem::size_of::<String>());
        let mut reg = Registry::default();
        reg.add(peer("a1", "alice", &["lobby"]));
        assert!(matches!(reg.users["alice"], Members::One(_)));
        reg.add(peer("a2", "alice", &["lobby"]));
        reg.add(peer("a3", "alice", &[]));
        let ids = |reg: &Registry| {
            let mut v: Vec<_> = reg.sessions("alice").map(|p| p.id.to_string()).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&reg), ["a1", "a2", "a3"]);
        assert_eq!(reg.room_size("lobby"), 2);
        assert!(!reg.join("a2", "lobby"), "already a member");
        reg.remove("a2");
        assert_eq!(ids(&reg), ["a1", "a3"]);
        assert_eq!(reg.room_size("lobby"), 1);
        assert!(matches!(reg.rooms["lobby"], Members::One(ref id) if &**id == "a1"));
        assert!(reg.leave("a1", "lobby"));
        assert_eq!(reg.room_size("lobby"), 0);
        assert!(
            !reg.rooms.contains_key("lobby"),
            "the entry goes with its last member"
        );
        reg.remove("a1");
        assert!(matches!(reg.users["alice"], Members::One(ref id) if &**id == "a3"));
        assert!(!reg.leave("a3", "lobby"), "not a member");
        reg.remove("a3");
        assert!(!reg.has_user("alice"));
        assert!(reg.sessions("alice").next().is_none());
    }
}
