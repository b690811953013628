//! Which interest channels an instance wants, and what changed since the subscription was
//! last brought up to date: pure bookkeeping, so a join storm of a thousand peers becomes a
//! few SUBSCRIBE commands of many channels each, and a channel wanted, dropped and wanted
//! again before the next sync costs nothing.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::protocol::envelope::channel;

/// An interest channel by the peer id or room name it serves. Kept as that name's own
/// allocation (the registry's id or user name, shared): the channel's full name is made
/// only when it is (un)subscribed, so an idle connection's two channels cost no string of
/// their own. `Channel<&str>` looks one up.
///
/// ```
/// use symple::server::interest::Channel;
/// let c = Channel::Peer("s1");
/// assert_eq!(c.name(), "symple:peer:s1");
/// assert_eq!(Channel::parse("symple:room:lobby"), Some(Channel::Room("lobby")));
/// assert_eq!(Channel::parse("symple:broadcast"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel<S = Arc<str>> {
    /// `symple:peer:<id>`: one peer (session).
    Peer(S),
    /// `symple:room:<name>`: the rooms called `name` (a user's sessions and the named room).
    Room(S),
}

impl<S: AsRef<str>> Channel<S> {
    /// The channel's name in Redis.
    pub fn name(&self) -> String {
        match self {
            Channel::Peer(id) => channel::peer(id.as_ref()),
            Channel::Room(name) => channel::room(name.as_ref()),
        }
    }

    /// The same channel, borrowed.
    pub fn as_ref(&self) -> Channel<&str> {
        match self {
            Channel::Peer(id) => Channel::Peer(id.as_ref()),
            Channel::Room(name) => Channel::Room(name.as_ref()),
        }
    }

    fn key(&self) -> (bool, &str) {
        match self {
            Channel::Peer(id) => (false, id.as_ref()),
            Channel::Room(name) => (true, name.as_ref()),
        }
    }
}

impl<'a> Channel<&'a str> {
    /// The interest channel called `name` in Redis, if it is one.
    pub fn parse(name: &'a str) -> Option<Self> {
        if let Some(id) = name.strip_prefix(channel::PEER) {
            Some(Channel::Peer(id))
        } else {
            name.strip_prefix(channel::ROOM).map(Channel::Room)
        }
    }
}

/// Wanted channels, what the subscription holds, changes not yet applied, and a generation
/// counting changes.
#[derive(Debug, Default)]
pub struct Interest {
    /// Every channel wanted or subscribed, once: an instance holds two or more per
    /// connection, so each entry is one shared name and three flags (24 bytes).
    channels: HashTable<Entry>,
    hasher: std::hash::RandomState,
    /// Channels whose `wanted` changed since the last [`take`](Self::take).
    changed: HashSet<Channel>,
    /// How many channels are wanted.
    wanted: usize,
    generation: u64,
}

/// One channel: its name, wanted now, and held by the subscription (as of the last `take`).
#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    room: bool,
    wanted: bool,
    live: bool,
}

impl Entry {
    fn channel(&self) -> Channel {
        match self.room {
            false => Channel::Peer(self.name.clone()),
            true => Channel::Room(self.name.clone()),
        }
    }
}

/// What to send to bring a subscription up to date, and the generation it reaches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Channels to subscribe to.
    pub subscribe: Vec<String>,
    /// Channels to unsubscribe from.
    pub unsubscribe: Vec<String>,
    /// Every change up to this one is covered.
    pub generation: u64,
}

impl Interest {
    fn hash(&self, key: (bool, &str)) -> u64 {
        self.hasher.hash_one(key)
    }

    fn entry_mut(&mut self, channel: Channel<&str>) -> Option<&mut Entry> {
        let key = channel.key();
        let hash = self.hash(key);
        self.channels.find_mut(hash, |e| (e.room, &*e.name) == key)
    }

    fn forget(&mut self, key: (bool, &str)) {
        let hash = self.hash(key);
        if let Ok(e) = self
            .channels
            .find_entry(hash, |e| (e.room, &*e.name) == key)
        {
            e.remove();
        }
    }

    /// Wants `channel` (no change if already wanted); returns the generation.
    pub fn add(&mut self, channel: Channel) -> u64 {
        match self.entry_mut(channel.as_ref()) {
            Some(e) if e.wanted => return self.generation,
            Some(e) => e.wanted = true,
            None => {
                let (room, name) = match &channel {
                    Channel::Peer(id) => (false, id.clone()),
                    Channel::Room(name) => (true, name.clone()),
                };
                let entry = Entry {
                    name,
                    room,
                    wanted: true,
                    live: false,
                };
                let hasher = &self.hasher;
                let hash = hasher.hash_one((room, &*entry.name));
                self.channels
                    .insert_unique(hash, entry, |e| hasher.hash_one((e.room, &*e.name)));
            }
        }
        self.wanted += 1;
        self.changed.insert(channel);
        self.generation += 1;
        self.generation
    }

    /// No longer wants `channel`.
    pub fn remove(&mut self, channel: Channel<&str>) {
        let Some(e) = self.entry_mut(channel) else {
            return;
        };
        if !e.wanted {
            return;
        }
        e.wanted = false;
        let live = e.live;
        // The changed set names it with the entry's own allocation.
        let owned = e.channel();
        if !live {
            self.forget(channel.key());
        }
        self.wanted -= 1;
        self.changed.insert(owned);
        self.generation += 1;
    }

    /// Whether the channel called `name` in Redis is wanted now.
    pub fn wants(&self, name: &str) -> bool {
        let Some(channel) = Channel::parse(name) else {
            return false;
        };
        let key = channel.key();
        self.channels
            .find(self.hash(key), |e| (e.room, &*e.name) == key)
            .is_some_and(|e| e.wanted)
    }

    /// The generation reached so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether there are changes to apply.
    pub fn is_dirty(&self) -> bool {
        !self.changed.is_empty()
    }

    /// The changes since the last call, against what the subscription holds, which is
    /// then taken to match.
    pub fn take(&mut self) -> Changes {
        let mut out = Changes {
            generation: self.generation,
            ..Changes::default()
        };
        // Taken, not drained: after a join storm the set would keep its size for good.
        for channel in std::mem::take(&mut self.changed) {
            let Some(e) = self.entry_mut(channel.as_ref()) else {
                continue;
            };
            if e.wanted && !e.live {
                e.live = true;
                out.subscribe.push(channel.name());
            } else if !e.wanted && e.live {
                self.forget(channel.key());
                out.unsubscribe.push(channel.name());
            }
        }
        out
    }

    /// Everything wanted, for a new subscription (which then holds exactly that).
    pub fn restart(&mut self) -> Changes {
        self.changed = HashSet::new();
        self.channels.retain(|e| e.wanted);
        let mut subscribe = Vec::with_capacity(self.channels.len());
        for e in self.channels.iter_mut() {
            e.live = true;
            subscribe.push(e.channel().name());
        }
        Changes {
            subscribe,
            unsubscribe: Vec::new(),
            generation: self.generation,
        }
    }

    /// Number of wanted channels.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> Channel {
        Channel::Room(name.into())
    }

    #[test]
    fn changes_are_coalesced_against_what_is_live() {
        let mut i = Interest::default();
        i.add(room("a"));
        i.add(Channel::Peer("b".into()));
        i.add(room("a"));
        assert_eq!(i.generation(), 2, "a second add of a changes nothing");
        assert_eq!(i.len(), 2);
        let mut c = i.take();
        c.subscribe.sort();
        assert_eq!(c.subscribe, ["symple:peer:b", "symple:room:a"]);
        // Dropped and wanted again before the next sync: nothing to send.
        i.remove(Channel::Room("a"));
        i.add(room("a"));
        i.remove(Channel::Peer("b"));
        i.remove(Channel::Room("zz"));
        i.remove(Channel::Room("b"));
        assert!(i.wants("symple:room:a") && !i.wants("symple:peer:b"));
        assert!(
            !i.wants("symple:peer:a"),
            "a room and a peer of one name differ"
        );
        let c = i.take();
        assert_eq!(
            (c.subscribe.len(), c.unsubscribe),
            (0, vec!["symple:peer:b".to_owned()])
        );
        assert_eq!(c.generation, 5);
        assert!(!i.is_dirty());
        assert_eq!(
            i.take(),
            Changes {
                generation: 5,
                ..Changes::default()
            }
        );
        // Wanted and dropped before any sync: never subscribed, nothing to send, nothing kept.
        i.add(room("c"));
        i.remove(Channel::Room("c"));
        assert!(
            i.is_dirty(),
            "the generation moved: the syncer must publish it"
        );
        assert_eq!(
            i.take(),
            Changes {
                generation: 7,
                ..Changes::default()
            }
        );
        assert_eq!((i.channels.len(), i.len()), (1, 1), "only a is kept");
        // After a reconnect the whole set is subscribed again.
        i.add(room("d"));
        i.remove(Channel::Room("a"));
        let all = i.restart();
        assert_eq!(all.subscribe, ["symple:room:d"]);
        assert!(!i.is_dirty());
        assert_eq!(i.take().subscribe, Vec::<String>::new(), "d is live");
        i.remove(Channel::Room("d"));
        assert_eq!(i.take().unsubscribe, ["symple:room:d"]);
        assert!(i.channels.is_empty() && i.len() == 0);
    }

    #[test]
    fn an_entry_shares_its_name_and_fits_24_bytes() {
        // Two per idle connection: an owned name per entry would cost each one ~80 bytes more.
        assert!(std::mem::size_of::<Entry>() <= 24);
        let id: Arc<str> = "0123456789abcdef".into();
        let mut i = Interest::default();
        i.add(Channel::Peer(id.clone()));
        i.take();
        assert_eq!(
            Arc::strong_count(&id),
            2,
            "one copy kept, no set of changes"
        );
    }
}
