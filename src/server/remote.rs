//! Peers of other instances that this instance has told its own peers about, by instance:
//! when an instance dies without saying goodbye, its peers are announced offline from here
//! (each instance to its own peers), so nobody sees a ghost. Pure bookkeeping; the bus
//! checks the instances' heartbeats.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::protocol::envelope::Sender;

/// A peer of another instance, as announced here.
#[derive(Debug, Clone, PartialEq)]
pub struct RemotePeer {
    /// Who it is and its rooms.
    pub sender: Sender,
    /// Its presence (as announced, `online: true`).
    pub presence: Value,
    /// The rooms it was announced in here.
    pub rooms: BTreeSet<String>,
}

impl RemotePeer {
    /// Its `online: false` presence.
    pub fn offline(&self) -> Value {
        let mut p = self.presence.clone();
        if let Some(data) = p.get_mut("data").and_then(Value::as_object_mut) {
            data.insert("online".into(), Value::Bool(false));
        }
        p
    }
}

/// Remote peers by instance, and since when each instance's heartbeat is missing.
#[derive(Debug, Default)]
pub struct Remote {
    instances: HashMap<String, HashMap<String, RemotePeer>>,
    missing: HashMap<String, Instant>,
    /// No instance is declared dead before this (after this instance's own Redis link came
    /// back: heartbeats lost with a restarted Redis are being written again).
    quiet_until: Option<Instant>,
}

impl Remote {
    /// `sender` of `instance` was announced online in `rooms` with `presence`.
    pub fn online(
        &mut self,
        instance: &str,
        sender: &Sender,
        presence: &Value,
        rooms: impl IntoIterator<Item = String>,
    ) {
        let peers = self.instances.entry(instance.to_owned()).or_default();
        let entry = peers
            .entry(sender.id.clone())
            .or_insert_with(|| RemotePeer {
                sender: sender.clone(),
                presence: presence.clone(),
                rooms: BTreeSet::new(),
            });
        entry.sender = sender.clone();
        entry.rooms.extend(rooms);
    }

    /// Peer `id` of `instance` went (announced offline).
    pub fn offline(&mut self, instance: &str, id: &str) {
        if let Some(peers) = self.instances.get_mut(instance) {
            peers.remove(id);
            if peers.is_empty() {
                self.instances.remove(instance);
                self.missing.remove(instance);
            }
        }
    }

    /// Instances to check the heartbeat of.
    pub fn instances(&self) -> Vec<String> {
        self.instances.keys().cloned().collect()
    }

    /// Number of remote peers known.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.instances.values().map(HashMap::len).sum()
    }

    /// Whether no remote peer is known.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Hold off declaring deaths for `grace` from `now`, and forget heartbeats seen missing.
    pub fn quiet(&mut self, now: Instant, grace: Duration) {
        self.missing.clear();
        self.quiet_until = Some(now + grace);
    }

    /// Records a heartbeat check of `instance`. When its heartbeat has been missing for
    /// `grace` (two checks at least), it is dead: its peers are returned (and forgotten).
    pub fn checked(
        &mut self,
        instance: &str,
        alive: bool,
        now: Instant,
        grace: Duration,
    ) -> Vec<RemotePeer> {
        if alive {
            self.missing.remove(instance);
            return Vec::new();
        }
        let since = *self.missing.entry(instance.to_owned()).or_insert(now);
        let quiet = self.quiet_until.is_some_and(|t| now < t);
        if quiet || now.duration_since(since) < grace {
            return Vec::new();
        }
        self.missing.remove(instance);
        self.instances
            .remove(instance)
            .map(|peers| peers.into_values().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(id: &str) -> Sender {
        Sender {
            id: id.into(),
            user: "u".into(),
            rooms: vec!["r".into()],
        }
    }

    #[test]
    fn a_dead_instance_is_declared_once_after_the_grace() {
        let mut r = Remote::default();
        let p = json!({"type": "presence", "data": {"id": "p1", "online": true}});
        r.online("i1", &s("p1"), &p, ["u".to_owned()]);
        r.online("i1", &s("p1"), &p, ["r".to_owned()]);
        r.online("i1", &s("p2"), &p, ["r".to_owned()]);
        r.online("i2", &s("q1"), &p, ["r".to_owned()]);
        r.offline("i1", "p2");
        assert_eq!(r.len(), 2);
        let t0 = Instant::now();
        let grace = Duration::from_secs(4);
        assert!(r.checked("i1", false, t0, grace).is_empty(), "first miss");
        assert!(r.checked("i1", true, t0 + grace, grace).is_empty(), "back");
        assert!(r.checked("i1", false, t0 + grace, grace).is_empty());
        let dead = r.checked("i1", false, t0 + grace * 2, grace);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].rooms.iter().collect::<Vec<_>>(), ["r", "u"]);
        assert_eq!(dead[0].offline()["data"]["online"], false);
        assert!(
            r.checked("i1", false, t0 + grace * 3, grace).is_empty(),
            "once"
        );
        assert_eq!(r.instances(), ["i2"]);
        // After this instance's own Redis link came back, nobody dies during the quiet time.
        r.quiet(t0, grace * 10);
        assert!(r.checked("i2", false, t0, grace).is_empty());
        assert!(r.checked("i2", false, t0 + grace * 5, grace).is_empty());
        assert_eq!(r.checked("i2", false, t0 + grace * 11, grace).len(), 1);
        assert!(r.is_empty());
    }
}
