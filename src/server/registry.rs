//! The peers connected to this instance and their rooms.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::protocol::Object;
use crate::server::outbox::Outbox;

/// A connected, authenticated peer.
#[derive(Debug)]
pub struct LocalPeer {
    /// Server-assigned session id.
    pub id: String,
    /// The user (names the personal room).
    pub user: String,
    /// The public peer object (never holds a token), as compact JSON: a parsed object
    /// costs several times its text per connection, and is needed only for presence.
    pub peer: Box<str>,
    /// Rooms, the personal room included.
    pub rooms: HashSet<String>,
    /// The connection's outbound queue.
    pub tx: Outbox,
}

impl LocalPeer {
    /// `user|id`
    pub fn address(&self) -> String {
        format!("{}|{}", self.user, self.id)
    }

    /// The public peer object (empty if `peer` is not a JSON object).
    pub fn fields(&self) -> Object {
        serde_json::from_str(&self.peer).unwrap_or_default()
    }

    /// The presence message of this peer.
    pub fn presence(&self, online: bool) -> Value {
        let mut data = self.fields();
        data.insert("online".into(), Value::Bool(online));
        serde_json::json!({
            "type": "presence",
            "from": self.address(),
            "data": data,
        })
    }
}

/// Peers by id, and room membership.
#[derive(Debug, Default)]
pub struct Registry {
    peers: HashMap<String, LocalPeer>,
    rooms: HashMap<String, HashSet<String>>,
}

impl Registry {
    /// Adds a peer and puts it in its rooms.
    pub fn add(&mut self, peer: LocalPeer) {
        for room in &peer.rooms {
            self.rooms
                .entry(room.clone())
                .or_default()
                .insert(peer.id.clone());
        }
        self.peers.insert(peer.id.clone(), peer);
    }

    /// Removes a peer from everything.
    pub fn remove(&mut self, id: &str) -> Option<LocalPeer> {
        let peer = self.peers.remove(id)?;
        for room in &peer.rooms {
            self.leave_room(room, id);
        }
        Some(peer)
    }

    fn leave_room(&mut self, room: &str, id: &str) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(id);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
    }

    /// Puts a peer in a room; false when the peer is unknown.
    pub fn join(&mut self, id: &str, room: &str) -> bool {
        let Some(peer) = self.peers.get_mut(id) else {
            return false;
        };
        peer.rooms.insert(room.to_owned());
        self.rooms
            .entry(room.to_owned())
            .or_default()
            .insert(id.to_owned());
        true
    }

    /// Takes a peer out of a room (never its personal room); false when it was not in it.
    pub fn leave(&mut self, id: &str, room: &str) -> bool {
        let Some(peer) = self.peers.get_mut(id) else {
            return false;
        };
        if room == peer.user || !peer.rooms.remove(room) {
            return false;
        }
        self.leave_room(room, id);
        true
    }

    /// A peer by id.
    pub fn get(&self, id: &str) -> Option<&LocalPeer> {
        self.peers.get(id)
    }

    /// Members of a room.
    pub fn members(&self, room: &str) -> impl Iterator<Item = &LocalPeer> {
        self.rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter_map(|id| self.peers.get(id))
    }

    /// Every peer.
    pub fn peers(&self) -> impl Iterator<Item = &LocalPeer> {
        self.peers.values()
    }

    /// Whether some local peer is `user`.
    pub fn has_user(&self, user: &str) -> bool {
        self.members(user).any(|p| p.user == user)
    }

    /// Removes peers of other users from `user`'s personal room; returns their ids.
    pub fn evict_from_personal_room(&mut self, user: &str) -> Vec<String> {
        let intruders: Vec<String> = self
            .members(user)
            .filter(|p| p.user != user)
            .map(|p| p.id.clone())
            .collect();
        for id in &intruders {
            if let Some(p) = self.peers.get_mut(id) {
                p.rooms.remove(user);
            }
            self.leave_room(user, id);
        }
        intruders
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Number of rooms with members.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }
}
