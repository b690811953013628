//! Socket.IO adapter packets: the MessagePack envelope that `@socket.io/redis-adapter` (v7, v8)
//! reads, byte for byte as `@socket.io/redis-emitter` 5 writes it, and the JSON requests that
//! make sockets join, leave or disconnect.

use serde::Serialize;

use crate::error::Error;
use crate::packet::msgpack::{write_array_len, write_int, write_map_len, write_str};
use crate::packet::view::JsonView;
use crate::packet::{finish, one_packet, Adapter, EventArgs, Packet, Sink};
use crate::protocol::room::{AsRoom, RoomRef};
use crate::protocol::Room;

/// The uid the JavaScript emitter uses; adapters drop packets whose uid is their own.
pub const UID: &str = "emitter";
/// The Redis key prefix the Socket.IO-based Symple server uses.
pub const DEFAULT_KEY: &str = "symple";
/// The default namespace.
pub const DEFAULT_NAMESPACE: &str = "/";
/// The event Symple clients listen to.
pub const DEFAULT_EVENT: &str = "message";
/// Event names Socket.IO reserves; emitting them is refused.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

const EVENT_PACKET: i64 = 2;
const REMOTE_JOIN: u8 = 2;
const REMOTE_LEAVE: u8 = 3;
const REMOTE_DISCONNECT: u8 = 4;

/// Where packets go: the key prefix and the namespace.
///
/// ```
/// use symple::packet::socketio::Server;
/// let s = Server::new("symple", "chat")?;
/// assert_eq!(s.namespace(), "/chat");
/// assert_eq!(s.broadcast_channel(), "symple#/chat#");
/// assert_eq!(s.request_channel(), "symple-request#/chat#");
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Server {
    key: String,
    namespace: String,
    /// `<key>#<nsp>#`, made once: every event packet's channel starts with it.
    channel: String,
}

impl Default for Server {
    fn default() -> Self {
        Server::with(DEFAULT_KEY.into(), DEFAULT_NAMESPACE.into())
    }
}

impl Server {
    /// A key and a namespace (a missing leading `/` is added, as Socket.IO does).
    pub fn new(key: impl Into<String>, namespace: &str) -> Result<Self, Error> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::InvalidConfig("empty Socket.IO adapter key".into()));
        }
        Ok(Server::with(key, normalize_namespace(namespace)))
    }

    fn with(key: String, namespace: String) -> Self {
        Server {
            channel: format!("{key}#{namespace}#"),
            key,
            namespace,
        }
    }

    /// The same key in another namespace.
    pub fn of(&self, namespace: &str) -> Self {
        Server::with(self.key.clone(), normalize_namespace(namespace))
    }

    /// The adapter key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The namespace, starting with `/`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `<key>#<nsp>#`
    pub fn broadcast_channel(&self) -> String {
        self.channel.clone()
    }

    /// `<key>-request#<nsp>#`
    pub fn request_channel(&self) -> String {
        format!("{}-request#{}#", self.key, self.namespace)
    }
}

fn normalize_namespace(nsp: &str) -> String {
    if nsp.starts_with('/') {
        nsp.to_owned()
    } else {
        format!("/{nsp}")
    }
}

/// Which sockets a packet is for, and how to deliver it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Broadcast {
    /// Rooms to reach; empty means every socket of the namespace.
    pub rooms: Vec<Room>,
    /// Rooms whose sockets are skipped.
    pub except: Vec<Room>,
    /// The packet may be dropped for a client that is not ready.
    pub volatile: bool,
    /// The compress flag, when set.
    pub compress: Option<bool>,
}

impl Broadcast {
    /// Adds rooms, keeping the first occurrence of each (Socket.IO holds them in a Set).
    pub fn add_rooms(&mut self, rooms: impl IntoIterator<Item = Room>) {
        add_unique(&mut self.rooms, rooms);
    }

    /// Adds rooms to skip.
    pub fn add_except(&mut self, rooms: impl IntoIterator<Item = Room>) {
        add_unique(&mut self.except, rooms);
    }

    fn validate(&self) -> Result<(), Error> {
        self.rooms
            .iter()
            .chain(&self.except)
            .try_for_each(Room::validate)
    }
}

fn add_unique(list: &mut Vec<Room>, rooms: impl IntoIterator<Item = Room>) {
    for r in rooms {
        if !list.contains(&r) {
            list.push(r);
        }
    }
}

/// Checks an event name: non-empty and not reserved by Socket.IO.
///
/// ```
/// assert!(symple::packet::socketio::check_event("message").is_ok());
/// assert!(symple::packet::socketio::check_event("disconnect").is_err());
/// ```
pub fn check_event(event: &str) -> Result<(), Error> {
    if event.is_empty() {
        return Err(Error::InvalidMessage("empty Socket.IO event name".into()));
    }
    if RESERVED_EVENTS.contains(&event) {
        return Err(Error::ReservedEvent(event.to_owned()));
    }
    Ok(())
}

impl Server {
    /// [`Adapter::encode`] into a [`Sink`]: the EVENT packet's bytes written where the sink
    /// wants them (a packet of its own, or a pipeline's RESP).
    ///
    /// `rooms` stand for `broadcast.rooms` (which are not read): the caller's own, or rooms
    /// read in place from a message's `to`, with no `Room` made of them.
    pub(crate) fn encode_to<'a, V: JsonView<'a>, R: AsRoom>(
        &self,
        rooms: &[R],
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
        sink: &mut dyn Sink,
    ) -> Result<(), Error> {
        check_event(event)?;
        rooms.iter().try_for_each(|r| r.room().validate())?;
        broadcast.except.iter().try_for_each(Room::validate)?;
        let nargs = args.len();
        // `<key>#<nsp>#`, or `<key>#<nsp>#<room>#` for exactly one room.
        let mut id = itoa::Buffer::new();
        let room = match rooms {
            [r] => Some(match r.room() {
                RoomRef::Name(n) => n,
                RoomRef::Id(i) => id.format(i),
            }),
            _ => None,
        };
        let parts = [self.channel.as_str(), room.unwrap_or(""), "#"];
        let channel = if room.is_some() {
            &parts[..]
        } else {
            &parts[..1]
        };
        let out = sink.publish(channel, 64 + event.len() + 448 * nargs);
        let written = self.write_event(out, rooms, broadcast, event, args);
        finish(sink, written)
    }

    /// Appends `[uid, {type, data, nsp}, {rooms, flags, except}]`.
    fn write_event<'a, V: JsonView<'a>, R: AsRoom>(
        &self,
        out: &mut Vec<u8>,
        rooms: &[R],
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
    ) -> Result<(), Error> {
        let nargs = args.len();
        write_array_len(out, 3);
        write_str(out, UID);
        // packet: {type, data, nsp}
        write_map_len(out, 3);
        write_str(out, "type");
        write_int(out, EVENT_PACKET);
        write_str(out, "data");
        write_array_len(out, 1 + nargs);
        write_str(out, event);
        args.write_msgpack(out)?;
        write_str(out, "nsp");
        write_str(out, &self.namespace);
        // opts: {rooms, flags, except}
        write_map_len(out, 3);
        write_str(out, "rooms");
        write_rooms(out, rooms);
        write_str(out, "flags");
        let flags = usize::from(broadcast.volatile) + usize::from(broadcast.compress.is_some());
        write_map_len(out, flags);
        if broadcast.volatile {
            write_str(out, "volatile");
            out.push(0xc3);
        }
        if let Some(c) = broadcast.compress {
            write_str(out, "compress");
            out.push(if c { 0xc3 } else { 0xc2 });
        }
        write_str(out, "except");
        write_rooms(out, &broadcast.except);
        Ok(())
    }
}

/// The classic adapter: an EVENT packet `[uid, {type: 2, data: [event, ...args], nsp}, {rooms,
/// flags, except}]` in MessagePack on `<key>#<nsp>#`, or `<key>#<nsp>#<room>#` when exactly one
/// room is targeted (PUBLISH); requests as JSON on `<key>-request#<nsp>#`.
///
/// ```
/// use symple::packet::{socketio::{Broadcast, Request, Server}, Adapter};
/// let mut b = Broadcast::default();
/// b.add_rooms([symple::Room::from("alice")]);
/// let p = Server::default().encode_event(&b, "message", &[serde_json::json!({"x": 1})])?;
/// assert_eq!(p.channel, "symple#/#alice#");
/// assert_eq!(&p.payload[..9], b"\x93\xa7emitter");
/// let p = Server::default().encode_request(&b, &Request::Join(vec!["vip".into()]))?;
/// assert_eq!(p.channel, "symple-request#/#");
/// assert_eq!(p.payload, br#"{"type":2,"opts":{"rooms":["alice"],"except":[]},"rooms":["vip"]}"#);
/// # Ok::<(), symple::Error>(())
/// ```
impl Adapter for Server {
    fn encode<'a, V: JsonView<'a>>(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
    ) -> Result<Packet, Error> {
        one_packet(|sink| self.encode_to(&broadcast.rooms, broadcast, event, args, sink))
    }

    fn encode_request(&self, broadcast: &Broadcast, request: &Request) -> Result<Packet, Error> {
        broadcast.validate()?;
        let opts = Opts {
            rooms: &broadcast.rooms,
            except: &broadcast.except,
        };
        let body = match request {
            Request::Join(rooms) | Request::Leave(rooms) => {
                if rooms.is_empty() {
                    return Err(Error::InvalidMessage("no rooms to join or leave".into()));
                }
                rooms.iter().try_for_each(Room::validate)?;
                let kind = if matches!(request, Request::Join(_)) {
                    REMOTE_JOIN
                } else {
                    REMOTE_LEAVE
                };
                RequestBody::Rooms { kind, opts, rooms }
            }
            Request::Disconnect(close) => RequestBody::Close {
                kind: REMOTE_DISCONNECT,
                opts,
                close: *close,
            },
        };
        Ok(Packet::new(
            self.request_channel(),
            serde_json::to_vec(&body)?,
        ))
    }
}

fn write_rooms<R: AsRoom>(out: &mut Vec<u8>, rooms: &[R]) {
    write_array_len(out, rooms.len());
    for r in rooms {
        match r.room() {
            RoomRef::Name(n) => write_str(out, n),
            RoomRef::Id(i) => write_int(out, i),
        }
    }
}

/// A server-side operation on the sockets a [`Broadcast`] matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Make them join these rooms.
    Join(Vec<Room>),
    /// Make them leave these rooms.
    Leave(Vec<Room>),
    /// Disconnect them; `true` also closes the underlying connection.
    Disconnect(bool),
}

#[derive(Serialize)]
struct Opts<'a> {
    rooms: &'a [Room],
    except: &'a [Room],
}

#[derive(Serialize)]
#[serde(untagged)]
enum RequestBody<'a> {
    Rooms {
        #[serde(rename = "type")]
        kind: u8,
        opts: Opts<'a>,
        rooms: &'a [Room],
    },
    Close {
        #[serde(rename = "type")]
        kind: u8,
        opts: Opts<'a>,
        close: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_to_the_documented_structure() {
        let mut b = Broadcast::default();
        b.add_rooms([Room::from("a"), Room::Id(4242), Room::from("a")]);
        b.add_except([Room::from("x")]);
        b.volatile = true;
        let p = Server::default()
            .encode_event(&b, "message", &[json!({"k": "v"})])
            .unwrap();
        assert_eq!(p.channel, "symple#/#");
        let v = rmpv::decode::read_value(&mut &p.payload[..]).unwrap();
        let expected = rmpv::Value::Array(vec![
            "emitter".into(),
            rmpv::Value::Map(vec![
                ("type".into(), 2.into()),
                (
                    "data".into(),
                    rmpv::Value::Array(vec![
                        "message".into(),
                        rmpv::Value::Map(vec![("k".into(), "v".into())]),
                    ]),
                ),
                ("nsp".into(), "/".into()),
            ]),
            rmpv::Value::Map(vec![
                (
                    "rooms".into(),
                    rmpv::Value::Array(vec!["a".into(), 4242.into()]),
                ),
                (
                    "flags".into(),
                    rmpv::Value::Map(vec![("volatile".into(), true.into())]),
                ),
                ("except".into(), rmpv::Value::Array(vec!["x".into()])),
            ]),
        ]);
        assert_eq!(v, expected);
    }

    #[test]
    fn integer_room_channel_and_type() {
        let mut b = Broadcast::default();
        b.add_rooms([Room::Id(4242)]);
        let p = Server::default().encode_event(&b, "message", &[]).unwrap();
        assert_eq!(p.channel, "symple#/#4242#");
        let v = rmpv::decode::read_value(&mut &p.payload[..]).unwrap();
        assert_eq!(v[2]["rooms"][0], rmpv::Value::from(4242));
    }

    #[test]
    fn refuses_reserved_and_empty() {
        for ev in RESERVED_EVENTS {
            let e = Server::default()
                .encode_event(&Broadcast::default(), ev, &[])
                .unwrap_err();
            assert!(e.to_string().contains("reserved"), "{e}");
        }
        let mut b = Broadcast::default();
        b.add_rooms([Room::from("")]);
        assert!(Server::default().encode_event(&b, "message", &[]).is_err());
        assert!(Server::default()
            .encode_request(&Broadcast::default(), &Request::Join(vec![]))
            .is_err());
        assert!(Server::new("", "/").is_err());
    }

    #[test]
    fn disconnect_request() {
        let p = Server::default()
            .encode_request(&Broadcast::default(), &Request::Disconnect(true))
            .unwrap();
        assert_eq!(
            p.payload,
            br#"{"type":4,"opts":{"rooms":[],"except":[]},"close":true}"#
        );
    }
}
