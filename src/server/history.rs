//! History on the server's side: delivering a room's recorded messages (with their offset)
//! and recovering what a reconnecting client missed, with no gap and no duplicate at the
//! seam between replay and live traffic.
//!
//! The seam: before the client is registered, a **gate** is put up for each room it
//! recovers, so live history messages of those rooms are held for it instead of queued.
//! Once the room's channel is subscribed, the history is read from the client's offset up
//! to the newest entry `X` (a message not read was appended after the read began, hence
//! after the subscription: it arrives live). The replay is written, then what the gate
//! held with an offset above `X` (those at or below were replayed), then live traffic.
//! Redis sends a message to the subscription before it answers the read, but this
//! instance may handle the two in either order, so after the replay the gate stays as a
//! floor: a live message at or below `X` that comes late is not delivered again; the first
//! one above `X` takes the floor away (a room's messages come in stream order).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::history::{self, Entry, Offset, Request};
use crate::protocol::envelope::Sender;
use crate::protocol::frames::{Recovered, Recovery};
use crate::redis::Order;
use crate::server::metrics::Dropped;
use crate::server::outbox::Refused;
use crate::server::registry::LocalPeer;
use crate::server::shared::{Shared, SLOW_CONSUMER};

/// A recovering peer's gate for one room.
#[derive(Debug)]
enum Hold {
    /// Live messages held while the replay is read, in arrival (stream) order.
    Holding(Vec<(Offset, Utf8Bytes)>),
    /// Replayed up to this offset: live ones at or below it are not delivered again.
    Above(Offset),
}

/// The gates of one recovering peer, by room.
type Held = HashMap<String, Hold>;

/// The gates of the peers recovering now, by peer id.
#[derive(Debug, Default)]
pub struct Gates(Mutex<HashMap<String, Held>>);

impl Gates {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Held>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds live messages of `rooms` for peer `id` until [`Shared::open_gate`].
    pub fn put_up(&self, id: &str, rooms: impl IntoIterator<Item = String>) {
        let held: Held = rooms
            .into_iter()
            .map(|r| (r, Hold::Holding(Vec::new())))
            .collect();
        if !held.is_empty() {
            self.lock().insert(id.to_owned(), held);
        }
    }

    /// Drops peer `id`'s gate (it went away while recovering).
    pub fn remove(&self, id: &str) {
        let mut g = self.lock();
        if !g.is_empty() {
            g.remove(id);
        }
    }
}

/// A room's replay for one client: the frames and the answer for it.
struct Replay {
    frames: Vec<Utf8Bytes>,
    answer: Recovered,
    /// Live messages held for the room above this were not replayed.
    upto: Option<Offset>,
}

impl Replay {
    fn refused(reason: impl Into<String>) -> Self {
        Replay {
            frames: Vec::new(),
            answer: Recovered {
                reason: Some(reason.into()),
                ..Recovered::default()
            },
            upto: None,
        }
    }
}

/// What a recovering client gets before live traffic: replayed messages in order, then
/// the `recovery` frame.
pub struct Recovering {
    /// The messages, room after room.
    pub frames: Vec<Utf8Bytes>,
    /// The answer.
    pub answer: Recovery,
}

/// The peer a recovery is for.
pub struct Member<'a> {
    /// Session id.
    pub id: &'a str,
    /// User (its personal room).
    pub user: &'a str,
    /// Named rooms.
    pub rooms: &'a [String],
}

impl Member<'_> {
    fn is_in(&self, room: &str) -> bool {
        self.user == room || self.rooms.iter().any(|r| r == room)
    }

    /// Whether it would have received `entry` live: a peer's message reaches the members
    /// of the named room, a backend's also the user of that name.
    fn receives(&self, room: &str, entry: &Entry) -> bool {
        entry.sender != self.id
            && if entry.sender.is_empty() {
                self.is_in(room)
            } else {
                self.rooms.iter().any(|r| r == room)
            }
    }
}

impl Shared {
    /// The rooms of `request` whose live messages to hold for `member` while it recovers:
    /// those it is in, with history.
    pub fn rooms_to_gate(&self, member: &Member<'_>, request: &Request) -> Vec<String> {
        request
            .rooms
            .iter()
            .map(|(room, _)| room)
            .filter(|r| member.is_in(r) && history::key(r).is_some())
            .cloned()
            .collect()
    }

    /// The current position of `room`'s history, when this server keeps history for it:
    /// what `join:ok` carries, so that a client that joined a quiet room can recover from
    /// there. `None` without history there, or when Redis could not be read (logged).
    pub async fn join_position(&self, room: &str) -> Option<Offset> {
        let redis = self.redis.as_ref()?;
        if !self.config.keeps_history(room) {
            return None;
        }
        let key = history::key(room)?;
        match read_position(&redis.conn, &key, &self.config.history_settings).await {
            Ok(x) => Some(x),
            Err(e) => {
                tracing::warn!(error = %e, room, "history: cannot read a room's position for join:ok");
                None
            }
        }
    }

    /// The one history room a client's message goes to, when it is recorded: a
    /// `message`, `command` or `event` whose `to` names one history-enabled named room the
    /// sender is in. (A message reaching several rooms, or users and peers, is not
    /// recorded: see the README.)
    pub fn recorded_room(&self, sender: &Sender, to: &[&str], message: &Value) -> Option<String> {
        let [room] = to else { return None };
        let kind = message.get("type").and_then(Value::as_str);
        let recorded = self.redis.is_some()
            && matches!(kind, Some("message" | "command" | "event"))
            && *room != sender.user
            && sender.rooms.iter().any(|r| r == room)
            && self.config.keeps_history(room)
            && history::key(room).is_some();
        recorded.then(|| (*room).to_owned())
    }

    /// Delivers a message of `room`'s history at `offset` to the local peers it reaches
    /// (see [`Member::receives`]), stamped with its offset; a recovering peer's gate holds
    /// it instead.
    pub fn deliver_recorded(
        &self,
        room: &str,
        offset: Offset,
        sender: Option<&Sender>,
        message: Value,
    ) {
        let Value::Object(mut message) = message else {
            return self.metrics.drop(Dropped::Invalid);
        };
        history::stamp(&mut message, room, offset);
        let text = Utf8Bytes::from(Value::Object(message).to_string());
        let reg = self.registry();
        let mut seen = std::collections::HashSet::new();
        let recipients: Vec<&LocalPeer> = match sender {
            Some(s) => reg.members(room).filter(|p| *p.id != *s.id).collect(),
            None => reg
                .sessions(room)
                .chain(reg.members(room))
                .filter(|p| seen.insert(&*p.id))
                .collect(),
        };
        let mut gates = self.gates.lock();
        if gates.is_empty() {
            drop(gates);
            return self.deliver(recipients, &text);
        }
        let mut live = Vec::with_capacity(recipients.len());
        let mut caught_up = Vec::new();
        for p in recipients {
            match gates.get_mut(&*p.id).and_then(|g| g.get_mut(room)) {
                Some(Hold::Holding(held)) if held.len() < self.config.max_queued => {
                    held.push((offset, text.clone()));
                }
                Some(Hold::Holding(_)) => {
                    // Held as long as its queue would hold them: past that, a slow consumer.
                    if p.tx.end(SLOW_CONSUMER).is_some() {
                        self.metrics.slow_consumers.fetch_add(1, Ordering::Relaxed);
                        self.metrics.drop(Dropped::SlowConsumer);
                        tracing::warn!(peer = %p.address(),
                            "slow consumer: too many live messages during its recovery, disconnecting");
                    }
                }
                // Replayed already.
                Some(Hold::Above(x)) if offset <= *x => {}
                Some(Hold::Above(_)) => {
                    caught_up.push(&*p.id);
                    live.push(p);
                }
                None => live.push(p),
            }
        }
        for id in caught_up {
            if let Some(g) = gates.get_mut(id) {
                g.remove(room);
                if g.is_empty() {
                    gates.remove(id);
                }
            }
        }
        drop(gates);
        self.deliver(live, &text);
    }

    /// Opens peer `id`'s gate: what it held above each room's replayed offset (all of it
    /// for a room not in `upto`) is queued, in order, before later live messages, and the
    /// replayed offset stays as the room's floor.
    pub fn open_gate(&self, id: &str, upto: &HashMap<String, Offset>) {
        let reg = self.registry();
        let mut gates = self.gates.lock();
        let Some(held) = gates.get_mut(id) else {
            return;
        };
        let Some(peer) = reg.get(id) else {
            gates.remove(id);
            return;
        };
        let mut ended = false;
        for (room, hold) in held.iter_mut() {
            let above = upto.get(room).copied();
            let Hold::Holding(messages) =
                std::mem::replace(hold, Hold::Above(above.unwrap_or(Offset::MIN)))
            else {
                continue;
            };
            for (offset, text) in messages {
                if ended || above.is_some_and(|x| offset <= x) {
                    continue;
                }
                match peer.tx.push_or_end(text, SLOW_CONSUMER) {
                    Ok(()) => {}
                    Err(Refused::Overflowed(n)) => {
                        self.metrics.drop_n(Dropped::SlowConsumer, n as u64);
                        self.metrics.slow_consumers.fetch_add(1, Ordering::Relaxed);
                        ended = true;
                    }
                    Err(_) => ended = true,
                }
            }
        }
        held.retain(|_, h| !matches!(h, Hold::Above(x) if *x == Offset::MIN));
        if held.is_empty() || ended {
            gates.remove(id);
        }
    }

    /// Reads what `member` missed in each room of `request` (its gate up, its channels
    /// subscribed), and opens the gate behind it.
    pub async fn recover(&self, member: &Member<'_>, request: &Request) -> Recovering {
        let mut out = Recovering {
            frames: Vec::new(),
            answer: Recovery::default(),
        };
        let mut upto = HashMap::new();
        for (room, offset) in &request.rooms {
            let mut replay = self.replay(member, room, offset.as_ref()).await;
            if let Some(x) = replay.upto {
                upto.insert(room.clone(), x);
            }
            out.frames.append(&mut replay.frames);
            out.answer.rooms.insert(room.clone(), replay.answer);
        }
        self.open_gate(member.id, &upto);
        self.metrics
            .messages_out
            .fetch_add(out.frames.len() as u64, Ordering::Relaxed);
        out
    }

    async fn replay(
        &self,
        member: &Member<'_>,
        room: &str,
        offset: Option<&Result<Offset, String>>,
    ) -> Replay {
        let Some(redis) = &self.redis else {
            return Replay::refused("this server keeps no history");
        };
        if !member.is_in(room) {
            return Replay::refused("not a member of this room");
        }
        let Some(key) = history::key(room) else {
            return Replay::refused("this room name cannot have history");
        };
        let settings = &self.config.history_settings;
        let position = || read_position(&redis.conn, &key, settings);
        let from = match offset {
            // Nothing seen yet: the position to start from.
            None => {
                return match position().await {
                    Ok(x) => Replay {
                        frames: Vec::new(),
                        answer: Recovered {
                            recovered: true,
                            offset: Some(x.to_string()),
                            ..Recovered::default()
                        },
                        upto: Some(x),
                    },
                    Err(e) => history_unavailable(e),
                };
            }
            Some(Err(e)) => return Replay::refused(e.clone()),
            Some(Ok(o)) => *o,
        };
        let mut frames = Vec::new();
        let mut last = from;
        let mut read = 0;
        loop {
            let cmd = history::read_cmd(&key, last, history::PAGE);
            let page = match redis.conn.run(&[cmd], Order::Any).await {
                Ok(mut v) => history::parse_page(v.pop().unwrap_or(redis::Value::Nil)),
                Err(e) => Err(e.to_string()),
            };
            let entries = match page {
                Ok(Some(entries)) => entries,
                // The anchor is gone: what followed it may have been trimmed.
                Ok(None) => {
                    let mut r = Replay::refused(if last == from {
                        "the offset is no longer in the history (trimmed or expired)"
                    } else {
                        "the history was trimmed while it was replayed"
                    });
                    if let Ok(x) = position().await {
                        r.answer.offset = Some(x.to_string());
                        r.upto = Some(x);
                    }
                    return r;
                }
                Err(e) => return history_unavailable(e),
            };
            let n = entries.len();
            read += n;
            for e in entries {
                last = e.offset;
                if !member.receives(room, &e) {
                    continue;
                }
                let Some(Ok(Value::Object(mut m))) =
                    e.message.as_deref().map(serde_json::from_str::<Value>)
                else {
                    continue;
                };
                history::stamp(&mut m, room, e.offset);
                frames.push(Utf8Bytes::from(Value::Object(m).to_string()));
            }
            if n < history::PAGE {
                break;
            }
            if read >= history::MAX_REPLAY {
                return Replay::refused(format!("over {} messages missed", history::MAX_REPLAY));
            }
        }
        Replay {
            answer: Recovered {
                recovered: true,
                replayed: frames.len(),
                offset: Some(last.to_string()),
                reason: None,
            },
            frames,
            upto: Some(last),
        }
    }
}

/// The position of the history at `key` (an empty one gets a marker to be read from).
async fn read_position(
    conn: &crate::redis::aio::AsyncConnection,
    key: &str,
    settings: &history::Settings,
) -> Result<Offset, String> {
    let cmd = history::position_cmd(key, settings);
    match conn.run(&[cmd], Order::Any).await {
        Ok(mut v) => history::parse_offset(v.pop().unwrap_or(redis::Value::Nil)),
        Err(e) => Err(e.to_string()),
    }
}

fn history_unavailable(e: String) -> Replay {
    tracing::warn!(error = %e, "history: cannot read a room's history for a recovery");
    Replay::refused("the history could not be read")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::outbox::{outbox, Next};
    use crate::server::Config;

    fn o(s: &str) -> Offset {
        s.parse().unwrap()
    }

    /// The seam, with the late arrival Redis allows: a live message this instance handles
    /// after the replay was read is delivered once, whichever side of the read it was on.
    #[tokio::test]
    async fn the_gate_holds_then_floors_then_opens() {
        let shared = Shared::new(Config::default(), None);
        let (tx, mut inbox) = outbox(16);
        shared.gates.put_up("x1", ["R".to_owned()]);
        shared.registry().add(LocalPeer {
            id: "x1".into(),
            user: "x".into(),
            peer: "{}".into(),
            rooms: [("R".to_owned(), 1)].into_iter().collect(),
            events: 1,
            tx,
            token: None,
        });
        let msg = |n: u64| serde_json::json!({"type": "message", "data": {"n": n}});
        // Held while the replay is read: 1-0 was replayed, 3-0 was not.
        shared.deliver_recorded("R", o("1-0"), None, msg(1));
        shared.deliver_recorded("R", o("3-0"), None, msg(3));
        assert!(inbox.try_recv().is_none(), "held");
        shared.open_gate("x1", &[("R".to_owned(), o("2-0"))].into_iter().collect());
        // Replayed (2-0) but handled here only now: not again.
        shared.deliver_recorded("R", o("2-0"), None, msg(2));
        shared.deliver_recorded("R", o("4-0"), None, msg(4));
        let mut got = Vec::new();
        while let Some(t) = inbox.try_recv() {
            let v: Value = serde_json::from_str(&t).unwrap();
            got.push(v["data"]["n"].as_u64().unwrap());
            assert_eq!(v["history"]["room"], "R");
        }
        assert_eq!(got, [3, 4]);
        assert!(shared.gates.lock().is_empty(), "the floor went with 4-0");
        // No gate any more: delivered as it comes.
        shared.deliver_recorded("R", o("5-0"), None, msg(5));
        assert!(matches!(inbox.recv().await, Next::Frame(_)));
    }
}
