//! Which interest channels an instance wants, and what changed since the subscription was
//! last brought up to date: pure bookkeeping, so a join storm of a thousand peers becomes a
//! few SUBSCRIBE commands of many channels each, and a channel wanted, dropped and wanted
//! again before the next sync costs nothing.

use std::collections::{HashMap, HashSet};

/// Wanted channels, changes not yet applied, and a generation counting changes.
#[derive(Debug, Default)]
pub struct Interest {
    want: HashSet<String>,
    /// Channel -> whether it is wanted, for channels changed since the last [`take`](Self::take).
    changed: HashMap<String, bool>,
    generation: u64,
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
    /// Wants `channel` (no change if already wanted); returns the generation.
    pub fn add(&mut self, channel: String) -> u64 {
        if !self.want.contains(&channel) {
            self.want.insert(channel.clone());
            self.changed.insert(channel, true);
            self.generation += 1;
        }
        self.generation
    }

    /// No longer wants `channel`.
    pub fn remove(&mut self, channel: &str) {
        if self.want.remove(channel) {
            self.changed.insert(channel.to_owned(), false);
            self.generation += 1;
        }
    }

    /// Whether `channel` is wanted now.
    pub fn wants(&self, channel: &str) -> bool {
        self.want.contains(channel)
    }

    /// The generation reached so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether there are changes to apply.
    pub fn is_dirty(&self) -> bool {
        !self.changed.is_empty()
    }

    /// The changes since the last call, against `live` (what the subscription holds), which
    /// is updated to match.
    pub fn take(&mut self, live: &mut HashSet<String>) -> Changes {
        let mut out = Changes {
            generation: self.generation,
            ..Changes::default()
        };
        for (channel, wanted) in self.changed.drain() {
            if wanted && !live.contains(&channel) {
                live.insert(channel.clone());
                out.subscribe.push(channel);
            } else if !wanted && live.remove(&channel) {
                out.unsubscribe.push(channel);
            }
        }
        out
    }

    /// Everything wanted, for a new subscription (which then holds exactly that).
    pub fn restart(&mut self, live: &mut HashSet<String>) -> Changes {
        self.changed.clear();
        *live = self.want.clone();
        Changes {
            subscribe: self.want.iter().cloned().collect(),
            unsubscribe: Vec::new(),
            generation: self.generation,
        }
    }

    /// Number of wanted channels.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.want.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_coalesced_against_what_is_live() {
        let mut i = Interest::default();
        let mut live = HashSet::new();
        i.add("a".into());
        i.add("b".into());
        i.add("a".into());
        assert_eq!(i.generation(), 2, "a second add of a changes nothing");
        let mut c = i.take(&mut live);
        c.subscribe.sort();
        assert_eq!(c.subscribe, ["a", "b"]);
        // Dropped and wanted again before the next sync: nothing to send.
        i.remove("a");
        i.add("a".into());
        i.remove("b");
        i.remove("zz");
        let c = i.take(&mut live);
        assert_eq!(
            (c.subscribe.len(), c.unsubscribe),
            (0, vec!["b".to_owned()])
        );
        assert_eq!(c.generation, 5);
        assert!(!i.is_dirty());
        // After a reconnect the whole set is subscribed again.
        let mut fresh = HashSet::new();
        assert_eq!(i.restart(&mut fresh).subscribe, ["a"]);
        assert_eq!(fresh, live);
    }
}
