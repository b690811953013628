//! Which presence events of other instances' peers each local peer was shown, so that it is
//! shown each one once.
//!
//! Why: when alice arrives on this instance while bob arrives on instance B, this instance
//! subscribes alice's rooms and then asks for their roster; B registers bob and then
//! announces him. B's roster answer holds bob when B registered him before it read the
//! request, and bob's announcement reaches alice when this instance had subscribed before B
//! published it: both can happen, and no lock orders two instances. So every announcement
//! carries the number of the sender's presence event it tells of (its arrival, or a room it
//! joined: `LocalPeer::events`), every roster entry the events that put the peer in the
//! rooms asked about, and every roster request the requester's own event. Then:
//!
//! - an announcement of (bob, e) is shown to alice unless (bob, e) was shown to her already;
//! - a roster entry for bob answering alice's event j is shown unless one of its events was
//!   shown to her since her event j (the same news came both ways while the answer was on its
//!   way).
//!
//! An event shown before alice's event j is not the same news: when alice joins a room bob
//! is in, the roster still shows bob, as on one instance. A remote mate joining another room
//! alice is in is a new event: shown. Forgetting a record can only show something twice,
//! never hide it: records go when either peer goes or the remote instance dies, and at most
//! [`KEPT`] are kept per pair of peers.

use std::collections::{HashMap, HashSet};

/// Records kept per (local peer, remote peer); the oldest events go first.
pub const KEPT: usize = 8;

/// (remote event, the local peer's own event when it was shown).
type Marks = Vec<(u64, u64)>;

/// Presence events of remote peers shown to local peers.
#[derive(Debug, Default)]
pub struct Presented {
    /// By remote peer id, then local peer id.
    shown: HashMap<String, HashMap<String, Marks>>,
    /// Remote peers with records, by local peer id (to forget a local peer).
    remotes_of: HashMap<String, HashSet<String>>,
}

impl Presented {
    /// Whether `local` (now at its own event `now`) is to be shown `remote`'s announcement of
    /// its event `event`; records that it was.
    pub fn announced(&mut self, local: &str, now: u64, remote: &str, event: u64) -> bool {
        let marks = self.marks(local, remote);
        if marks.iter().any(|(e, _)| *e == event) {
            return false;
        }
        mark(marks, event, now);
        true
    }

    /// Whether `local` (now at its own event `now`) is to be shown a roster entry for
    /// `remote` answering its event `asked`, the entry being about `remote`'s `events`;
    /// records them. An entry without events (nothing to tell it by) is shown.
    pub fn listed(
        &mut self,
        local: &str,
        now: u64,
        asked: u64,
        remote: &str,
        events: &[u64],
    ) -> bool {
        if events.is_empty() {
            return true;
        }
        let marks = self.marks(local, remote);
        let seen = marks
            .iter()
            .any(|(e, when)| *when >= asked && events.contains(e));
        for e in events {
            mark(marks, *e, now);
        }
        !seen
    }

    /// Forgets remote peer `remote` (it went, or its instance died).
    pub fn forget_remote(&mut self, remote: &str) {
        for local in self
            .shown
            .remove(remote)
            .into_iter()
            .flat_map(|m| m.into_keys())
        {
            if let Some(remotes) = self.remotes_of.get_mut(&local) {
                remotes.remove(remote);
                if remotes.is_empty() {
                    self.remotes_of.remove(&local);
                }
            }
        }
    }

    /// Forgets local peer `local` (it went).
    pub fn forget_local(&mut self, local: &str) {
        for remote in self.remotes_of.remove(local).into_iter().flatten() {
            if let Some(locals) = self.shown.get_mut(&remote) {
                locals.remove(local);
                if locals.is_empty() {
                    self.shown.remove(&remote);
                }
            }
        }
    }

    /// Number of (local, remote) pairs with records.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shown.values().map(HashMap::len).sum()
    }

    /// Whether nothing is recorded.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    fn marks(&mut self, local: &str, remote: &str) -> &mut Marks {
        if !self
            .shown
            .get(remote)
            .is_some_and(|m| m.contains_key(local))
        {
            self.remotes_of
                .entry(local.to_owned())
                .or_default()
                .insert(remote.to_owned());
        }
        self.shown
            .entry(remote.to_owned())
            .or_default()
            .entry(local.to_owned())
            .or_default()
    }
}

/// Records `event` as shown at `now` (the latest time when already there), keeping the
/// [`KEPT`] newest events.
fn mark(marks: &mut Marks, event: u64, now: u64) {
    match marks.iter_mut().find(|(e, _)| *e == event) {
        Some(m) => m.1 = m.1.max(now),
        None => {
            if marks.len() >= KEPT {
                if let Some(oldest) = marks.iter().enumerate().min_by_key(|(_, m)| m.0) {
                    marks.swap_remove(oldest.0);
                }
            }
            marks.push((event, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn news_that_came_both_ways_is_shown_once_in_either_order() {
        // alice arrives (her event 1) while bob arrives (his event 1).
        let mut p = Presented::default();
        assert!(
            p.announced("alice", 1, "bob", 1),
            "bob's announcement first"
        );
        assert!(
            !p.listed("alice", 1, 1, "bob", &[1]),
            "then the roster: same news"
        );
        let mut p = Presented::default();
        assert!(p.listed("alice", 1, 1, "bob", &[1]), "the roster first");
        assert!(!p.announced("alice", 1, "bob", 1), "then the announcement");
        assert!(!p.announced("alice", 1, "bob", 1), "and never twice");
    }

    #[test]
    fn new_events_are_shown() {
        let mut p = Presented::default();
        assert!(p.announced("alice", 1, "bob", 1));
        // bob joins a second room alice is in: his event 2.
        assert!(p.announced("alice", 1, "bob", 2));
        // alice joins a room bob has been in since his arrival (her event 2): her roster shows
        // him, though his arrival was shown to her before.
        assert!(p.listed("alice", 2, 2, "bob", &[1]));
        // Meanwhile bob joined another room: its announcement came after alice's event 2 and
        // is in the roster of her event 3 (a room bob joined with it).
        assert!(p.announced("alice", 2, "bob", 3));
        assert!(!p.listed("alice", 3, 2, "bob", &[3]), "answering event 2");
        // But an answer about events seen only before the request is shown.
        assert!(p.listed("alice", 4, 4, "bob", &[2]));
        // Entries without events are always shown.
        assert!(p.listed("alice", 4, 4, "bob", &[]));
    }

    #[test]
    fn records_are_forgotten_with_either_peer_and_bounded_per_pair() {
        let mut p = Presented::default();
        assert!(p.announced("alice", 1, "bob", 1));
        assert!(p.announced("alice", 1, "carl", 1));
        assert!(p.announced("anna", 1, "bob", 1));
        assert_eq!(p.len(), 3);
        p.forget_remote("bob");
        assert_eq!(p.len(), 1);
        assert!(
            p.announced("alice", 1, "bob", 1),
            "a forgotten record shows again"
        );
        p.forget_local("alice");
        assert!(p.is_empty(), "{p:?}");
        assert!(p.remotes_of.is_empty());
        for e in 1..=(KEPT as u64 + 3) {
            assert!(p.announced("alice", 1, "bob", e));
        }
        assert_eq!(p.shown["bob"]["alice"].len(), KEPT);
        assert!(
            !p.announced("alice", 1, "bob", KEPT as u64 + 3),
            "the newest are kept"
        );
        assert!(
            p.announced("alice", 1, "bob", 1),
            "the oldest went: shown again"
        );
    }
}
