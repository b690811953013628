//! Which interest channels an instance wants, and what changed since the subscription was
//! last brought up to date: pure bookkeeping, so a join storm of a thousand peers becomes a
//! few SUBSCRIBE commands of many channels each, and a channel wanted, dropped and wanted
//! again before the next sync costs nothing.

use std::collections::{HashMap, HashSet};

/// Wanted channels, what the subscription holds, changes not yet applied, and a generation
/// counting changes.
#[derive(Debug, Default)]
pub struct Interest {
    /// Every channel wanted or subscribed, named once: an instance holds two or more per
    /// connection, so two sets of names would cost each idle connection over 100 bytes.
    channels: HashMap<Box<str>, State>,
    /// Channels whose `wanted` changed since the last [`take`](Self::take).
    changed: HashSet<Box<str>>,
    /// How many channels are wanted.
    wanted: usize,
    generation: u64,
}

/// One channel: wanted now, and held by the subscription (as of the last `take`).
#[derive(Debug, Clone, Copy)]
struct State {
    wanted: bool,
    live: bool,
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
        match self.channels.get_mut(channel.as_str()) {
            Some(s) if s.wanted => return self.generation,
            Some(s) => s.wanted = true,
            None => {
                let state = State {
                    wanted: true,
                    live: false,
                };
                self.channels.insert(channel.as_str().into(), state);
            }
        }
        self.wanted += 1;
        self.changed.insert(channel.into_boxed_str());
        self.generation += 1;
        self.generation
    }

    /// No longer wants `channel`.
    pub fn remove(&mut self, channel: &str) {
        let Some(s) = self.channels.get_mut(channel) else {
            return;
        };
        if !s.wanted {
            return;
        }
        s.wanted = false;
        if !s.live {
            self.channels.remove(channel);
        }
        self.wanted -= 1;
        self.changed.insert(channel.into());
        self.generation += 1;
    }

    /// Whether `channel` is wanted now.
    pub fn wants(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|s| s.wanted)
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
            let Some(s) = self.channels.get_mut(&*channel) else {
                continue;
            };
            if s.wanted && !s.live {
                s.live = true;
                out.subscribe.push(channel.into());
            } else if !s.wanted && s.live {
                self.channels.remove(&*channel);
                out.unsubscribe.push(channel.into());
            }
        }
        out
    }

    /// Everything wanted, for a new subscription (which then holds exactly that).
    pub fn restart(&mut self) -> Changes {
        self.changed = HashSet::new();
        self.channels.retain(|_, s| s.wanted);
        let mut subscribe = Vec::with_capacity(self.channels.len());
        for (channel, s) in &mut self.channels {
            s.live = true;
            subscribe.push(channel.to_string());
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

    #[test]
    fn changes_are_coalesced_against_what_is_live() {
        let mut i = Interest::default();
        i.add("a".into());
        i.add("b".into());
        i.add("a".into());
        assert_eq!(i.generation(), 2, "a second add of a changes nothing");
        assert_eq!(i.len(), 2);
        let mut c = i.take();
        c.subscribe.sort();
        assert_eq!(c.subscribe, ["a", "b"]);
        // Dropped and wanted again before the next sync: nothing to send.
        i.remove("a");
        i.add("a".into());
        i.remove("b");
        i.remove("zz");
        assert!(i.wants("a") && !i.wants("b"));
        let c = i.take();
        assert_eq!(
            (c.subscribe.len(), c.unsubscribe),
            (0, vec!["b".to_owned()])
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
        i.add("c".into());
        i.remove("c");
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
        i.add("d".into());
        i.remove("a");
        let all = i.restart();
        assert_eq!(all.subscribe, ["d"]);
        assert!(!i.is_dirty());
        assert_eq!(i.take().subscribe, Vec::<String>::new(), "d is live");
        i.remove("d");
        assert_eq!(i.take().unsubscribe, ["d"]);
        assert!(i.channels.is_empty() && i.len() == 0);
    }
}
