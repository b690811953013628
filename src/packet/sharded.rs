//! Sharded adapter packets: what `createShardedAdapter` of `@socket.io/redis-adapter` 8 reads
//! (Redis 7 sharded pub/sub). An SPUBLISH of the cluster message (see `cluster.rs`) as JSON,
//! `{"type":3,"data":{..},"uid":"emitter","nsp":"/"}`, on `<key>#<nsp>#` (the adapter's
//! `channelPrefix`), or on the room's own channel `<key>#<nsp>#<room>#` when the adapter's
//! subscription mode puts a one-room broadcast there:
//!
//! | mode | one-room broadcast goes to |
//! |---|---|
//! | `static` | `<key>#<nsp>#` |
//! | `dynamic` (the adapter's default) | `<key>#<nsp>#<room>#`, except a room that looks like a socket id (a string of 20 UTF-16 units), which stays on `<key>#<nsp>#` |
//! | `dynamic-private` | `<key>#<nsp>#<room>#`, socket ids too |
//!
//! Broadcasts to no room or several rooms, and join / leave / disconnect requests, always go
//! to `<key>#<nsp>#`, which every server subscribes to.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::packet::cluster::{self, BROADCAST, UID};
use crate::packet::json::{write_integer, write_str};
use crate::packet::socketio::{Broadcast, Request, Server};
use crate::packet::view::JsonView;
use crate::packet::{Adapter, EventArgs, Packet};
use crate::protocol::Room;

/// The adapter's `subscriptionMode`: which channels its servers subscribe to, hence where a
/// one-room broadcast must go.
///
/// ```
/// use symple::packet::sharded::SubscriptionMode;
/// let mode: SubscriptionMode = "dynamic-private".parse()?;
/// assert_eq!(mode, SubscriptionMode::DynamicPrivate);
/// assert_eq!(mode.to_string(), "dynamic-private");
/// assert_eq!(SubscriptionMode::default(), SubscriptionMode::Dynamic);
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SubscriptionMode {
    /// Every server listens on the namespace's channel only.
    Static,
    /// Also one channel per public room (the adapter's default).
    #[default]
    Dynamic,
    /// One channel per room, private rooms (socket ids) included.
    DynamicPrivate,
}

impl SubscriptionMode {
    /// Every mode, in the adapter's spelling.
    pub const ALL: [SubscriptionMode; 3] = [
        SubscriptionMode::Static,
        SubscriptionMode::Dynamic,
        SubscriptionMode::DynamicPrivate,
    ];

    /// `static`, `dynamic` or `dynamic-private`, as the adapter spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionMode::Static => "static",
            SubscriptionMode::Dynamic => "dynamic",
            SubscriptionMode::DynamicPrivate => "dynamic-private",
        }
    }
}

impl fmt::Display for SubscriptionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubscriptionMode {
    type Err = Error;

    /// The adapter's spelling; `_` for `-` is accepted (Ruby symbols).
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "unknown subscription mode {s:?}: use static, dynamic or dynamic-private"
                ))
            })
    }
}

/// Where sharded packets go: the channel prefix (the adapter's `channelPrefix`, our `key`),
/// the namespace and the subscription mode.
///
/// ```
/// use symple::packet::sharded::{Sharded, SubscriptionMode};
/// let s = Sharded::new("socket.io", "/")?.subscription_mode(SubscriptionMode::Static);
/// assert_eq!(s.channel(), "socket.io#/#");
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sharded {
    server: Server,
    mode: SubscriptionMode,
}

impl Sharded {
    /// A channel prefix and a namespace (a missing leading `/` is added), mode `dynamic`.
    pub fn new(key: impl Into<String>, namespace: &str) -> Result<Self, Error> {
        Ok(Sharded {
            server: Server::new(key, namespace)?,
            mode: SubscriptionMode::default(),
        })
    }

    /// The same with another subscription mode.
    pub fn subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        self.mode = mode;
        self
    }

    /// The same in another namespace.
    pub fn of(&self, namespace: &str) -> Self {
        Sharded {
            server: self.server.of(namespace),
            mode: self.mode,
        }
    }

    /// The channel prefix.
    pub fn key(&self) -> &str {
        self.server.key()
    }

    /// The namespace, starting with `/`.
    pub fn namespace(&self) -> &str {
        self.server.namespace()
    }

    /// The subscription mode.
    pub fn mode(&self) -> SubscriptionMode {
        self.mode
    }

    /// `<key>#<nsp>#`, which every server of the namespace subscribes to.
    pub fn channel(&self) -> String {
        self.server.broadcast_channel()
    }

    /// The channel of a broadcast to `rooms` (the adapter's `computeChannel`).
    ///
    /// ```
    /// use symple::packet::sharded::{Sharded, SubscriptionMode};
    /// use symple::Room;
    /// let dynamic = Sharded::new("symple", "/")?;
    /// assert_eq!(dynamic.broadcast_channel(&["team".into()]), "symple#/#team#");
    /// let sid = Room::from("AAAAAAAAAAAAAAAAAAAA"); // 20 characters: a socket id
    /// assert_eq!(dynamic.broadcast_channel(&[sid.clone()]), "symple#/#");
    /// let private = dynamic.clone().subscription_mode(SubscriptionMode::DynamicPrivate);
    /// assert_eq!(private.broadcast_channel(&[sid]), "symple#/#AAAAAAAAAAAAAAAAAAAA#");
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn broadcast_channel(&self, rooms: &[Room]) -> String {
        let mut channel = self.channel();
        if let [room] = rooms {
            let own_channel = match self.mode {
                SubscriptionMode::Static => false,
                SubscriptionMode::Dynamic => !looks_like_a_socket_id(room),
                SubscriptionMode::DynamicPrivate => true,
            };
            if own_channel {
                room.push_to(&mut channel);
                channel.push('#');
            }
        }
        channel
    }
}

/// The adapter's test: a string of 20 UTF-16 code units (Socket.IO's socket ids).
fn looks_like_a_socket_id(room: &Room) -> bool {
    matches!(room, Room::Name(n) if n.len() >= 20 && n.encode_utf16().count() == 20)
}

/// Events as SPUBLISH of `{"type":3,"data":…,"uid":"emitter","nsp":…}` on the channel of
/// [`Sharded::broadcast_channel`]; requests (types 4, 5, 6) on `<key>#<nsp>#`.
///
/// ```
/// use symple::packet::{sharded::Sharded, socketio::{Broadcast, Request}, Adapter};
/// let mut b = Broadcast::default();
/// b.add_rooms([symple::Room::from("team")]);
/// let p = Sharded::default().encode_event(&b, "message", &[serde_json::json!(1)])?;
/// assert_eq!((p.command_name(), p.channel.as_str()), ("SPUBLISH", "symple#/#team#"));
/// assert_eq!(
///     p.payload,
///     br#"{"type":3,"data":{"packet":{"type":2,"data":["message",1]},"opts":{"rooms":["team"],"except":[],"flags":{}}},"uid":"emitter","nsp":"/"}"#
/// );
/// let p = Sharded::default().encode_request(&b, &Request::Disconnect(false))?;
/// assert_eq!(p.channel, "symple#/#");
/// assert!(p.payload.starts_with(br#"{"type":6,"data":{"opts":"#));
/// # Ok::<(), symple::Error>(())
/// ```
impl Adapter for Sharded {
    fn encode<'a, V: JsonView<'a>>(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
    ) -> Result<Packet, Error> {
        let mut out = Vec::with_capacity(160 + 448 * args.len());
        out.extend_from_slice(br#"{"type":"#);
        write_integer(&mut out, BROADCAST);
        out.extend_from_slice(br#","data":"#);
        cluster::write_broadcast(&mut out, broadcast, event, args)?;
        finish(&mut out, self);
        Ok(Packet::spublish(
            self.broadcast_channel(&broadcast.rooms),
            out,
        ))
    }

    fn encode_request(&self, broadcast: &Broadcast, request: &Request) -> Result<Packet, Error> {
        let mut data = Vec::with_capacity(128);
        let kind = cluster::write_request(&mut data, broadcast, request)?;
        let mut out = Vec::with_capacity(data.len() + 64);
        out.extend_from_slice(br#"{"type":"#);
        write_integer(&mut out, kind);
        out.extend_from_slice(br#","data":"#);
        out.extend_from_slice(&data);
        finish(&mut out, self);
        Ok(Packet::spublish(self.channel(), out))
    }
}

/// `,"uid":"emitter","nsp":"<nsp>"}`: the adapter sets both after `type` and `data`.
fn finish(out: &mut Vec<u8>, target: &Sharded) {
    out.extend_from_slice(br#","uid":"#);
    write_str(out, UID);
    out.extend_from_slice(br#","nsp":"#);
    write_str(out, target.namespace());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_per_mode() {
        let sid = Room::from("abcdefghij0123456789");
        let wide = Room::from("éééééééééééééééééééé"); // 20 UTF-16 units, 40 bytes
        let emoji = Room::from("😀😀😀😀😀😀😀😀😀😀"); // 20 UTF-16 units, 10 chars
        let cases: [(SubscriptionMode, &[Room], &str); 10] = [
            (SubscriptionMode::Static, &["r".into()], "k#/#"),
            (SubscriptionMode::Dynamic, &["r".into()], "k#/#r#"),
            (SubscriptionMode::Dynamic, &[Room::Id(42)], "k#/#42#"),
            (
                SubscriptionMode::Dynamic,
                std::slice::from_ref(&sid),
                "k#/#",
            ),
            (
                SubscriptionMode::Dynamic,
                std::slice::from_ref(&wide),
                "k#/#",
            ),
            (
                SubscriptionMode::Dynamic,
                std::slice::from_ref(&emoji),
                "k#/#",
            ),
            (SubscriptionMode::Dynamic, &["a".into(), "b".into()], "k#/#"),
            (SubscriptionMode::Dynamic, &[], "k#/#"),
            (
                SubscriptionMode::DynamicPrivate,
                std::slice::from_ref(&sid),
                "k#/#abcdefghij0123456789#",
            ),
            (SubscriptionMode::DynamicPrivate, &[], "k#/#"),
        ];
        for (mode, rooms, channel) in cases {
            let t = Sharded::new("k", "/").unwrap().subscription_mode(mode);
            assert_eq!(t.broadcast_channel(rooms), channel, "{mode} {rooms:?}");
        }
    }

    #[test]
    fn modes_parse_in_both_spellings() {
        for m in SubscriptionMode::ALL {
            assert_eq!(m.as_str().parse::<SubscriptionMode>().unwrap(), m);
            assert_eq!(
                m.as_str()
                    .replace('-', "_")
                    .parse::<SubscriptionMode>()
                    .unwrap(),
                m
            );
        }
        let e = "private".parse::<SubscriptionMode>().unwrap_err();
        assert!(e.to_string().contains("dynamic-private"), "{e}");
    }

    #[test]
    fn requests_go_to_the_namespace_channel() {
        let t = Sharded::new("k", "chat")
            .unwrap()
            .subscription_mode(SubscriptionMode::DynamicPrivate);
        let mut b = Broadcast::default();
        b.add_rooms(["one".into()]);
        let p = t
            .encode_request(&b, &Request::Join(vec!["vip".into()]))
            .unwrap();
        assert_eq!(p.channel, "k#/chat#");
        assert_eq!(
            p.payload,
            br#"{"type":4,"data":{"opts":{"rooms":["one"],"except":[],"flags":{}},"rooms":["vip"]},"uid":"emitter","nsp":"/chat"}"#
        );
    }
}
