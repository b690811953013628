//! Packets: a Redis command (PUBLISH, SPUBLISH or XADD), its channel or stream key, and the
//! bytes it carries. Building one is pure: no I/O, no clock and no randomness that is not
//! passed in. One file per packet family: `native`, `socketio` (the classic adapter),
//! `sharded` (`createShardedAdapter`), `streams` (the Redis Streams adapter); `cluster` is the
//! message model the last two share, `msgpack` and `json` write values exactly as JavaScript
//! does.

use std::borrow::Cow;

use serde_json::Value;

use crate::error::Error;
use crate::packet::socketio::{Broadcast, Request};
use crate::packet::view::JsonView;

pub(crate) mod bytes;
pub(crate) mod cluster;
pub mod json;
pub mod msgpack;
pub mod native;
pub mod sharded;
pub mod socketio;
pub mod streams;
pub mod view;

/// One command's worth of data for Redis: where it goes, how, and the payload.
///
/// ```
/// let p = symple::Packet::new("symple:broadcast", b"{}".to_vec());
/// assert_eq!(p.channel, "symple:broadcast");
/// assert_eq!(p.command_name(), "PUBLISH");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The channel to publish on, or the stream key for XADD (on a Redis Cluster, the key
    /// whose slot picks the node for SPUBLISH and XADD).
    pub channel: String,
    /// The message bytes (for XADD, the value of the entry's last field).
    pub payload: Vec<u8>,
    /// The command that carries it.
    pub command: RedisCommand,
}

/// The Redis command that carries a [`Packet`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RedisCommand {
    /// `PUBLISH <channel> <payload>`: classic pub/sub (every node of a cluster forwards it).
    #[default]
    Publish,
    /// `SPUBLISH <channel> <payload>`: sharded pub/sub (Redis 7), served by the channel's shard.
    SPublish,
    /// `XADD <key> [MAXLEN ~ <n>] * <field> <value>… <payload field> <payload>`.
    XAdd(Box<StreamEntry>),
    /// `EVALSHA` of the history script ([`crate::history`]): appends the payload (a message's
    /// JSON) to a room's stream and publishes it, with its new stream id, on the room's
    /// channel (the packet's `channel`), in one call.
    Record(Box<Recording>),
}

/// How a [`RedisCommand::Record`] packet appends to a room's history: the stream, how much
/// it keeps, who sent the message, and the envelope published around the new stream id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recording {
    /// The room's stream key ([`crate::history::key`]), in the slot of the channel.
    pub key: String,
    /// How much the stream keeps.
    pub settings: crate::history::Settings,
    /// The sending peer's session id; empty for a backend's message.
    pub sender: String,
    /// The envelope published is `head`, the new stream id, `tail`.
    pub head: Vec<u8>,
    /// See `head`.
    pub tail: Vec<u8>,
}

/// How an XADD packet writes its stream entry: the trim threshold and the fields before the
/// payload.
///
/// ```
/// use symple::packet::{Packet, StreamEntry};
/// let entry = StreamEntry {
///     maxlen: Some(10_000),
///     fields: vec![("uid".into(), "emitter".into())],
///     payload_field: "data".into(),
/// };
/// let p = Packet::xadd("socket.io", entry, b"{}".to_vec());
/// assert_eq!(p.command_name(), "XADD");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEntry {
    /// `MAXLEN ~ <n>`: Redis trims the stream to about `n` entries (none when `None`).
    pub maxlen: Option<u64>,
    /// Field/value pairs written before the payload, in order.
    pub fields: Vec<(Cow<'static, str>, Cow<'static, str>)>,
    /// The field whose value is the packet's payload (written last).
    pub payload_field: Cow<'static, str>,
}

impl Packet {
    /// A PUBLISH packet.
    pub fn new(channel: impl Into<String>, payload: Vec<u8>) -> Self {
        Packet {
            channel: channel.into(),
            payload,
            command: RedisCommand::Publish,
        }
    }

    /// An SPUBLISH packet (sharded pub/sub).
    ///
    /// ```
    /// let p = symple::Packet::spublish("socket.io#/#", b"{}".to_vec());
    /// assert_eq!(p.command_name(), "SPUBLISH");
    /// ```
    pub fn spublish(channel: impl Into<String>, payload: Vec<u8>) -> Self {
        Packet {
            command: RedisCommand::SPublish,
            ..Packet::new(channel, payload)
        }
    }

    /// An XADD packet: `entry` on the stream `key`, with `payload` as its last field's value.
    pub fn xadd(key: impl Into<String>, entry: StreamEntry, payload: Vec<u8>) -> Self {
        Packet {
            command: RedisCommand::XAdd(Box::new(entry)),
            ..Packet::new(key, payload)
        }
    }

    /// The key whose slot decides which node of a Redis Cluster must take the packet, or
    /// `None` when any node will do (PUBLISH reaches the whole cluster from any node).
    ///
    /// ```
    /// assert_eq!(symple::Packet::new("c", vec![]).cluster_key(), None);
    /// assert_eq!(symple::Packet::spublish("c", vec![]).cluster_key(), Some(&b"c"[..]));
    /// ```
    pub fn cluster_key(&self) -> Option<&[u8]> {
        match self.command {
            RedisCommand::Publish => None,
            // A record's stream key is in its channel's slot.
            RedisCommand::SPublish | RedisCommand::XAdd(_) | RedisCommand::Record(_) => {
                Some(self.channel.as_bytes())
            }
        }
    }

    /// `PUBLISH`, `SPUBLISH`, `XADD` or `EVALSHA` (a record).
    pub fn command_name(&self) -> &'static str {
        match self.command {
            RedisCommand::Publish => "PUBLISH",
            RedisCommand::SPublish => "SPUBLISH",
            RedisCommand::XAdd(_) => "XADD",
            RedisCommand::Record(_) => "EVALSHA",
        }
    }

    /// Every argument of the command after its name, in order: the channel or key, then the
    /// rest (for XADD: the trim, `*`, the fields and the payload). What `redis-cli` would be
    /// given; the RESP packing in [`crate::redis`] writes the same arguments.
    ///
    /// ```
    /// let p = symple::Packet::spublish("c", b"x".to_vec());
    /// assert_eq!(p.args(), [&b"c"[..], &b"x"[..]]);
    /// ```
    pub fn args(&self) -> Vec<Cow<'_, [u8]>> {
        self.args_for(false)
    }

    /// [`args`](Self::args); `sharded`: a record publishes with SPUBLISH (its channel is a
    /// room's, sharded on a Redis Cluster).
    pub(crate) fn args_for(&self, sharded: bool) -> Vec<Cow<'_, [u8]>> {
        if let RedisCommand::Record(r) = &self.command {
            return crate::history::record_args(r, &self.channel, &self.payload, sharded);
        }
        let mut args = vec![Cow::Borrowed(self.channel.as_bytes())];
        if let RedisCommand::XAdd(entry) = &self.command {
            if let Some(n) = entry.maxlen {
                args.extend([Cow::Borrowed(&b"MAXLEN"[..]), Cow::Borrowed(b"~")]);
                args.push(Cow::Owned(n.to_string().into_bytes()));
            }
            args.push(Cow::Borrowed(b"*"));
            for (k, v) in &entry.fields {
                args.push(Cow::Borrowed(k.as_bytes()));
                args.push(Cow::Borrowed(v.as_bytes()));
            }
            args.push(Cow::Borrowed(entry.payload_field.as_bytes()));
        }
        args.push(Cow::Borrowed(&self.payload));
        args
    }
}

/// Where an encoder puts what it makes: [`Packet`]s, or (in the connection layer) the packed
/// RESP of a pipeline, so that a batch or a queued emit is encoded straight into the bytes that
/// go to Redis, with no packet, channel or payload allocated on the way.
///
/// A PUBLISH is written in three steps: [`publish`](Self::publish) with the channel, the
/// payload appended to the buffer it returns, then [`end`](Self::end) (or
/// [`abort`](Self::abort) when encoding fails, which leaves nothing of it). Other commands
/// come whole, through [`packet`](Self::packet).
///
/// ```
/// use symple::packet::{Packet, Sink};
/// let mut packets: Vec<Packet> = Vec::new();
/// packets.publish(&["symple#/#", "alice", "#"], 16).extend_from_slice(b"payload");
/// packets.end();
/// packets.publish(&["dropped"], 16).push(b'x');
/// packets.abort();
/// assert_eq!(packets, [Packet::new("symple#/#alice#", b"payload".to_vec())]);
/// ```
pub trait Sink {
    /// Starts a PUBLISH on the channel made of `channel`'s parts, joined; returns the buffer
    /// the payload (about `size_hint` bytes) is appended to.
    fn publish(&mut self, channel: &[&str], size_hint: usize) -> &mut Vec<u8>;
    /// Ends the PUBLISH started last.
    fn end(&mut self);
    /// Drops the PUBLISH started last.
    fn abort(&mut self);
    /// Takes a whole packet.
    fn packet(&mut self, packet: Packet);
}

/// Packets in order, each made whole.
impl Sink for Vec<Packet> {
    fn publish(&mut self, channel: &[&str], size_hint: usize) -> &mut Vec<u8> {
        self.push(Packet::new(channel.concat(), Vec::with_capacity(size_hint)));
        let last = self.len() - 1;
        &mut self[last].payload
    }

    fn end(&mut self) {}

    fn abort(&mut self) {
        self.pop();
    }

    fn packet(&mut self, packet: Packet) {
        self.push(packet);
    }
}

/// Ends the PUBLISH `sink` started when its payload was `written`, drops it otherwise.
pub(crate) fn finish(sink: &mut dyn Sink, written: Result<(), Error>) -> Result<(), Error> {
    match written {
        Ok(()) => {
            sink.end();
            Ok(())
        }
        Err(e) => {
            sink.abort();
            Err(e)
        }
    }
}

/// The one packet `write` puts into a sink (an error when it puts none).
pub(crate) fn one_packet(
    write: impl FnOnce(&mut dyn Sink) -> Result<(), Error>,
) -> Result<Packet, Error> {
    let mut one = OnePacket(None);
    write(&mut one)?;
    one.0
        .ok_or_else(|| Error::InvalidMessage("the encoder made no packet".into()))
}

/// The parts of a channel name joined: one allocation of the exact size, the (short) parts
/// copied inline rather than by a `memcpy` call each as `[&str]::concat` does.
fn concat(parts: &[&str]) -> String {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        bytes::extend(&mut out, p.as_bytes());
    }
    // SAFETY: a concatenation of `str`s is UTF-8.
    unsafe { String::from_utf8_unchecked(out) }
}

/// A sink for one packet (a later one replaces it).
struct OnePacket(Option<Packet>);

impl Sink for OnePacket {
    fn publish(&mut self, channel: &[&str], size_hint: usize) -> &mut Vec<u8> {
        // One part too is copied inline: `to_owned` would call `memcpy` for it.
        let channel = concat(channel);
        &mut self
            .0
            .insert(Packet::new(channel, Vec::with_capacity(size_hint)))
            .payload
    }

    fn end(&mut self) {}

    fn abort(&mut self) {
        self.0 = None;
    }

    fn packet(&mut self, packet: Packet) {
        self.0 = Some(packet);
    }
}

/// The packets one Socket.IO adapter reads, made for the sockets a [`Broadcast`] matches:
/// events, and the server-side requests (join, leave, disconnect). Implemented by the target
/// of each adapter: [`socketio::Server`] (the classic adapter), [`sharded::Sharded`] and
/// [`streams::Streams`].
///
/// ```
/// use symple::packet::{sharded::Sharded, socketio::{Broadcast, Request, Server}, streams::Streams, Adapter};
/// let b = Broadcast::default();
/// let args = [serde_json::json!({"text": "hi"})];
/// assert_eq!(Server::default().encode_event(&b, "message", &args)?.command_name(), "PUBLISH");
/// assert_eq!(Sharded::default().encode_event(&b, "message", &args)?.command_name(), "SPUBLISH");
/// assert_eq!(Streams::default().encode_request(&b, &Request::Disconnect(true))?.command_name(), "XADD");
/// # Ok::<(), symple::Error>(())
/// ```
pub trait Adapter {
    /// Encodes an event whose arguments are [`EventArgs`]; refuses a reserved event name and
    /// rooms the adapter cannot name.
    fn encode<'a, V: JsonView<'a>>(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
    ) -> Result<Packet, Error>;

    /// Encodes a join, leave or disconnect request.
    fn encode_request(&self, broadcast: &Broadcast, request: &Request) -> Result<Packet, Error>;

    /// Encodes an event with any arguments.
    fn encode_event(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: &[Value],
    ) -> Result<Packet, Error> {
        self.encode::<&Value>(broadcast, event, EventArgs::Values(args))
    }
}

/// The arguments of a Socket.IO event, for the encoders of every Socket.IO family: plain
/// values, or one message map (seen through a [`JsonView`]) with string fields an emitter
/// fills in, written as if inserted last (the `id` and `from`).
#[derive(Clone)]
pub enum EventArgs<'x, 'a, V: JsonView<'a>> {
    /// Any JSON values.
    Values(&'x [Value]),
    /// One map argument plus extra fields.
    Message(V::Entries, &'x [(&'x str, &'x str)]),
}

impl<'a, V: JsonView<'a>> EventArgs<'_, 'a, V> {
    /// How many arguments follow the event name.
    #[inline]
    pub fn len(&self) -> usize {
        match self {
            EventArgs::Values(v) => v.len(),
            EventArgs::Message(..) => 1,
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the arguments as MessagePack items (notepack-exact).
    #[inline]
    pub(crate) fn write_msgpack(self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            EventArgs::Values(values) => {
                values.iter().for_each(|v| msgpack::write_value(out, v));
                Ok(())
            }
            EventArgs::Message(entries, extra) => msgpack::write_map::<V>(out, entries, extra),
        }
    }

    /// Appends the arguments as JSON array items, each preceded by a comma
    /// (`JSON.stringify`-exact).
    pub(crate) fn write_json(self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            EventArgs::Values(values) => values.iter().try_for_each(|v| {
                out.push(b',');
                json::write_view(out, v)
            }),
            EventArgs::Message(entries, extra) => {
                out.push(b',');
                json::write_map::<V>(out, entries, extra)
            }
        }
    }
}
