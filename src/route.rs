//! Where an emitter sends and how it turns a message into a packet: pure, shared by the
//! blocking and the async emitter.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::packet::native::{self, Fill, Recipients};
use crate::packet::sharded::{Sharded, SubscriptionMode};
use crate::packet::socketio::{self, Broadcast, Request, Server};
use crate::packet::streams::{self, Streams};
use crate::packet::view::{self, Fields, JsonView, Node};
use crate::packet::{one_packet, Adapter, EventArgs, Packet, Sink};
use crate::protocol::room::ToRef;
use crate::protocol::{Address, Object, Room};

/// `$body` with `$a` bound to the target's [`Adapter`], or `$native` for the native target.
macro_rules! on_adapter {
    ($target:expr, $a:ident => $body:expr, native => $native:expr) => {
        match $target {
            Target::SocketIo($a) => $body,
            Target::SocketIoSharded($a) => $body,
            Target::SocketIoStreams($a) => $body,
            Target::Native | Target::NativeRooms | Target::NativeHistory(_) => $native,
        }
    };
}

/// Which servers read the packets.
///
/// ```
/// use symple::packet::sharded::{Sharded, SubscriptionMode};
/// use symple::Target;
/// let t = Target::SocketIoSharded(Sharded::new("socket.io", "/")?.subscription_mode(SubscriptionMode::Static));
/// assert_eq!(t.name(), "socketio-sharded");
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Native Symple servers (this project's server, the v4 Node server): JSON on
    /// `symple:broadcast`.
    Native,
    /// This project's server only: the same JSON on the channel of the message's one room,
    /// user or peer (`symple:room:<name>`, `symple:peer:<id>`), so only the instances
    /// holding its recipients receive it; a message to several rooms goes to
    /// `symple:broadcast`. On a Redis Cluster the room and peer channels are sharded
    /// (SPUBLISH, as the server SSUBSCRIBEs there). The v4 Node server reads only
    /// `symple:broadcast`.
    NativeRooms,
    /// This project's server with `--history` (see [`crate::history`]): a message to one
    /// room (a named room or a user's) is appended to that room's history (a Redis Stream
    /// kept as the [`Settings`](crate::history::Settings) say: give the server's
    /// `--history-size` and `--history-age`) and published to the instances holding the
    /// room, in one call (a Lua script; on a Redis Cluster, SPUBLISH), so a client that
    /// was away recovers it on reconnect. Anything else goes as with
    /// [`NativeRooms`](Self::NativeRooms), delivered but not recorded: a message to a
    /// session (`user|id`), to several rooms (one stream per room: a client in two of them
    /// would recover it twice), or to a room whose name has braces but no hash tag.
    NativeHistory(crate::history::Settings),
    /// Socket.IO servers with `@socket.io/redis-adapter`'s classic adapter (npm `symple` 2.x
    /// uses key `symple`): MessagePack, PUBLISH.
    SocketIo(Server),
    /// Socket.IO servers with `createShardedAdapter` of `@socket.io/redis-adapter` 8: JSON,
    /// SPUBLISH (Redis 7 sharded pub/sub).
    SocketIoSharded(Sharded),
    /// Socket.IO servers with `@socket.io/redis-streams-adapter`: JSON entries, XADD.
    SocketIoStreams(Streams),
}

impl Default for Target {
    fn default() -> Self {
        Target::SocketIo(Server::default())
    }
}

impl Target {
    /// Every target's name, as the CLI (`--target`, `SYMPLE_TARGET`) and the gem spell them.
    pub const NAMES: [&'static str; 6] = [
        "native",
        "native-rooms",
        "native-history",
        "socketio",
        "socketio-sharded",
        "socketio-streams",
    ];

    /// The target's name (one of [`NAMES`](Self::NAMES)).
    pub fn name(&self) -> &'static str {
        match self {
            Target::Native => "native",
            Target::NativeRooms => "native-rooms",
            Target::NativeHistory(_) => "native-history",
            Target::SocketIo(_) => "socketio",
            Target::SocketIoSharded(_) => "socketio-sharded",
            Target::SocketIoStreams(_) => "socketio-streams",
        }
    }

    /// The target called `name` (`_` for `-` accepted, for Ruby symbols), built from the
    /// options that apply to it.
    ///
    /// ```
    /// use symple::{Target, TargetOptions};
    /// let opts = TargetOptions { stream: "events".into(), ..TargetOptions::default() };
    /// let Target::SocketIoStreams(s) = Target::from_name("socketio_streams", &opts)? else { panic!() };
    /// assert_eq!(s.stream_key()?, "events");
    /// assert!(Target::from_name("redis", &opts).unwrap_err().to_string().contains("socketio-sharded"));
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn from_name(name: &str, opts: &TargetOptions) -> Result<Target> {
        Ok(match name.replace('_', "-").as_str() {
            "native" => Target::Native,
            "native-rooms" => Target::NativeRooms,
            "native-history" => {
                let h = opts.history;
                if h.size == 0 || h.age.is_zero() {
                    return Err(Error::InvalidConfig(format!(
                        "history size and age must be positive, not {} and {:?}",
                        h.size, h.age
                    )));
                }
                Target::NativeHistory(h)
            }
            "socketio" => Target::SocketIo(Server::new(opts.key.clone(), &opts.namespace)?),
            "socketio-sharded" => Target::SocketIoSharded(
                Sharded::new(opts.key.clone(), &opts.namespace)?
                    .subscription_mode(opts.subscription_mode),
            ),
            "socketio-streams" => {
                let streams = Streams::new(&opts.namespace)
                    .stream(opts.stream.clone())?
                    .maxlen(opts.maxlen)?
                    .stream_count(opts.stream_count)?;
                // A namespace whose stream nobody reads is refused now, not at the first emit.
                streams.stream_key()?;
                Target::SocketIoStreams(streams)
            }
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "unknown target {name:?}: use {}",
                    Target::NAMES.join(", ")
                )))
            }
        })
    }

    /// The same servers in another Socket.IO namespace; the native target has none.
    pub fn of(&self, namespace: &str) -> Target {
        match self {
            Target::Native => Target::Native,
            Target::NativeRooms => Target::NativeRooms,
            Target::NativeHistory(h) => Target::NativeHistory(*h),
            Target::SocketIo(s) => Target::SocketIo(s.of(namespace)),
            Target::SocketIoSharded(s) => Target::SocketIoSharded(s.of(namespace)),
            Target::SocketIoStreams(s) => Target::SocketIoStreams(s.of(namespace)),
        }
    }
}

/// Every target option, by the names the CLI flags and `Symple.configure` use; each target
/// reads the ones that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetOptions {
    /// The classic adapter's `key`, the sharded adapter's `channelPrefix` (default `symple`).
    pub key: String,
    /// The Socket.IO namespace (default `/`).
    pub namespace: String,
    /// The sharded adapter's `subscriptionMode` (default `dynamic`).
    pub subscription_mode: SubscriptionMode,
    /// The Streams adapter's `streamName` (default `socket.io`).
    pub stream: String,
    /// The Streams adapter's `maxLen` (default 10000).
    pub maxlen: u64,
    /// The Streams adapter's `streamCount` (default 1).
    pub stream_count: u32,
    /// `native-history`: how much a room's history keeps; the server's `--history-size` and
    /// `--history-age` (default 1000 messages, 600 s).
    pub history: crate::history::Settings,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions {
            key: socketio::DEFAULT_KEY.into(),
            namespace: socketio::DEFAULT_NAMESPACE.into(),
            subscription_mode: SubscriptionMode::default(),
            stream: streams::DEFAULT_STREAM.into(),
            maxlen: streams::DEFAULT_MAXLEN,
            stream_count: 1,
            history: crate::history::Settings::default(),
        }
    }
}

/// Anything that names one or more rooms: a name, an integer id, an [`Address`], or a list.
///
/// ```
/// use symple::{IntoRooms, Room};
/// assert_eq!("a".into_rooms(), vec![Room::from("a")]);
/// assert_eq!(vec![1, 2].into_rooms(), vec![Room::Id(1), Room::Id(2)]);
/// ```
pub trait IntoRooms {
    /// The rooms, in order.
    fn into_rooms(self) -> Vec<Room>;
}

macro_rules! one_room {
    ($($t:ty),*) => {$(
        impl IntoRooms for $t {
            fn into_rooms(self) -> Vec<Room> {
                vec![Room::from(self)]
            }
        }
    )*};
}
one_room!(&str, String, &String, i8, i16, i32, i64, u8, u16, u32, &Address);

impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}
impl<T: Into<Room>> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().map(Into::into).collect()
    }
}
impl<T: Into<Room> + Clone> IntoRooms for &[T] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().cloned().map(Into::into).collect()
    }
}
impl<T: Into<Room>, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().map(Into::into).collect()
    }
}

/// A target plus the chosen rooms, exclusions, flags, sender and event name.
#[derive(Clone, Debug)]
pub struct Route {
    pub(crate) target: Target,
    pub(crate) broadcast: Broadcast,
    pub(crate) from: String,
    pub(crate) event: String,
}

impl Default for Route {
    fn default() -> Self {
        Route {
            target: Target::default(),
            broadcast: Broadcast::default(),
            from: "server".to_owned(),
            event: socketio::DEFAULT_EVENT.to_owned(),
        }
    }
}

impl Route {
    /// A message packet: `id` (from `new_id`, only when absent) and `from` (when absent)
    /// are filled in.
    pub fn message_packet<I: AsRef<str>>(
        &self,
        message: Object,
        new_id: impl FnOnce() -> I,
    ) -> Result<Packet> {
        one_packet(|sink| self.write_message::<&Value, I>(view::entries(&message), new_id, sink))
    }

    /// [`message_packet`](Self::message_packet) for a message seen through a [`JsonView`]
    /// (it must be a map): the same bytes, checks and errors, with no `Object` built.
    pub fn message_packet_view<'a, V: JsonView<'a>, I: AsRef<str>>(
        &self,
        message: V,
        new_id: impl FnOnce() -> I,
    ) -> Result<Packet> {
        one_packet(|sink| self.write_message_view(message, new_id, sink))
    }

    /// [`message_packet_view`](Self::message_packet_view) into a [`Sink`].
    pub(crate) fn write_message_view<'a, V: JsonView<'a>, I: AsRef<str>>(
        &self,
        message: V,
        new_id: impl FnOnce() -> I,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let Node::Map(entries) = message.node()? else {
            return Err(Error::InvalidMessage("a message must be an object".into()));
        };
        self.write_message::<V, I>(entries, new_id, sink)
    }

    /// [`message_packet`](Self::message_packet) for a message's entries, into a [`Sink`]: one
    /// pass finds the fields the route and the encoders read.
    pub(crate) fn write_message<'a, V: JsonView<'a>, I: AsRef<str>>(
        &self,
        entries: V::Entries,
        new_id: impl FnOnce() -> I,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let fields = Fields::find(entries.clone());
        let id = if fields.id.is_none() {
            Some(new_id())
        } else {
            None
        };
        let id = id.as_ref().map(AsRef::as_ref);
        match &self.target {
            Target::Native | Target::NativeRooms | Target::NativeHistory(_) => {
                let to = self.native_to()?;
                let fill = Fill {
                    id,
                    from: Some(&self.from),
                };
                self.write_native::<V>(entries, &fields, to, fill, sink)
            }
            _ => {
                // Appended as an Object insert would: `id` first, then `from`.
                let from = fields.from.is_none().then_some(&*self.from);
                let mut extra = [("", ""); 2];
                let mut n = 0;
                for (k, v) in [("id", id), ("from", from)] {
                    if let Some(v) = v {
                        extra[n] = (k, v);
                        n += 1;
                    }
                }
                self.socketio_message::<V>(entries, fields.to, &extra[..n], sink)
            }
        }
    }

    /// A packet that carries `message` exactly as given (except a `to` set on the route for
    /// the native target, where it is how the packet is routed).
    pub fn raw_packet(&self, message: Object) -> Result<Packet> {
        let entries = view::entries(&message);
        one_packet(|sink| match &self.target {
            Target::Native | Target::NativeRooms | Target::NativeHistory(_) => {
                let fields = Fields::find(entries.clone());
                let (to, fill) = (self.native_to()?, Fill::default());
                self.write_native::<&Value>(entries, &fields, to, fill, sink)
            }
            _ => self.socketio_message::<&Value>(entries, message.get("to"), &[], sink),
        })
    }

    /// A message for one of the native targets, into a [`Sink`].
    fn write_native<'a, V: JsonView<'a>>(
        &self,
        entries: V::Entries,
        fields: &Fields<V>,
        to: Option<Recipients<'_>>,
        fill: Fill<'_>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        match &self.target {
            Target::NativeRooms => {
                native::encode_rooms_found::<V>(entries, fields, to, fill, None, sink)
            }
            Target::NativeHistory(h) => {
                native::encode_rooms_found::<V>(entries, fields, to, fill, Some(h), sink)
            }
            _ => native::encode_found::<V>(entries, fields, to, fill, sink),
        }
    }

    /// A server-side request (join, leave, disconnect); Socket.IO targets only.
    pub fn request_packet(&self, request: &Request) -> Result<Packet> {
        on_adapter!(&self.target, adapter => adapter.encode_request(&*socketio_rooms(&self.broadcast)?, request),
        native => Err(Error::Unsupported(
            "sockets_join, sockets_leave and disconnect_sockets need a Socket.IO target \
             (socketio, socketio-sharded or socketio-streams); native servers have no \
             server-side room operations"
                .into(),
        )))
    }

    /// An event packet on the route's Socket.IO target, whichever adapter it is for.
    fn socketio_packet<'a, V: JsonView<'a>>(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
    ) -> Result<Packet> {
        one_packet(|sink| self.write_event::<V>(broadcast, event, args, sink))
    }

    /// [`socketio_packet`](Self::socketio_packet) into a [`Sink`]: the classic adapter's
    /// encoder writes there itself, the others give a whole packet.
    fn write_event<'a, V: JsonView<'a>>(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
        sink: &mut dyn Sink,
    ) -> Result<()> {
        match &self.target {
            Target::SocketIo(server) => {
                server.encode_to(&broadcast.rooms, broadcast, event, args, sink)
            }
            target => on_adapter!(target, adapter => {
                sink.packet(adapter.encode(broadcast, event, args)?);
                Ok(())
            },
            native => Err(Error::Unsupported(
                "custom events need a Socket.IO target; native servers take Symple messages"
                    .into(),
            ))),
        }
    }

    /// The route's rooms as the `to` of a native packet (none: the message's own `to`).
    fn native_to(&self) -> Result<Option<Recipients<'_>>> {
        if !self.broadcast.except.is_empty() {
            return Err(Error::Unsupported(
                "`except` needs the Socket.IO target; native servers route by `to` only".into(),
            ));
        }
        Ok((!self.broadcast.rooms.is_empty()).then_some(Recipients::Rooms(&self.broadcast.rooms)))
    }

    fn socketio_message<'a, V: JsonView<'a>>(
        &self,
        message: V::Entries,
        to: Option<V>,
        extra: &[(&str, &str)],
        sink: &mut dyn Sink,
    ) -> Result<()> {
        let broadcast = socketio_rooms(&self.broadcast)?;
        // With no rooms chosen on the route, a message's own `to` picks the rooms, as a
        // Symple server would route it.
        if let (true, Some(to)) = (broadcast.rooms.is_empty(), to) {
            if !matches!(to.node()?, Node::Null) {
                // The rooms read in place, each once: for one room (an address) not even a list.
                let (mut one, list) = ToRef::read(to)?.split();
                let mut more = Vec::new();
                for room in list.into_iter().flatten() {
                    let room = room?;
                    match one {
                        None => one = Some(room),
                        Some(first) if first == room || more.contains(&room) => {}
                        Some(first) => {
                            if more.is_empty() {
                                more.push(first);
                            }
                            more.push(room);
                        }
                    }
                }
                let rooms = if more.is_empty() {
                    one.as_slice()
                } else {
                    &more
                };
                let args = EventArgs::Message(message, extra);
                if let Target::SocketIo(server) = &self.target {
                    return server.encode_to(rooms, &broadcast, &self.event, args, sink);
                }
                let mut broadcast = broadcast.into_owned();
                broadcast.add_rooms(rooms.iter().map(|r| r.to_room()));
                return self.write_event::<V>(&broadcast, &self.event, args, sink);
            }
        }
        self.write_event::<V>(
            &broadcast,
            &self.event,
            EventArgs::Message(message, extra),
            sink,
        )
    }

    /// An event with any arguments, Socket.IO targets only.
    pub fn event_packet(&self, event: &str, args: &[Value]) -> Result<Packet> {
        if matches!(
            self.target,
            Target::Native | Target::NativeRooms | Target::NativeHistory(_)
        ) {
            // Worded before the rooms are looked at: the target is the problem.
            return self.socketio_packet::<&Value>(&self.broadcast, event, EventArgs::Values(args));
        }
        self.socketio_packet::<&Value>(
            &*socketio_rooms(&self.broadcast)?,
            event,
            EventArgs::Values(args),
        )
    }
}

/// On Socket.IO a session is the room of its socket id, so `user|id` becomes the room `id`.
fn socketio_rooms(broadcast: &Broadcast) -> Result<std::borrow::Cow<'_, Broadcast>> {
    if broadcast.rooms.is_empty() && broadcast.except.is_empty() {
        // The usual emitter (rooms from each message's `to`): nothing to look at.
        return Ok(std::borrow::Cow::Borrowed(broadcast));
    }
    let is_address = |r: &Room| matches!(r, Room::Name(n) if n.contains('|'));
    if !broadcast
        .rooms
        .iter()
        .chain(&broadcast.except)
        .any(is_address)
    {
        return Ok(std::borrow::Cow::Borrowed(broadcast));
    }
    let map = |rooms: &[Room]| -> Result<Vec<Room>> {
        rooms
            .iter()
            .map(|r| match r {
                Room::Name(n) if n.contains('|') => Ok(Room::from(&n.parse::<Address>()?)),
                other => Ok(other.clone()),
            })
            .collect()
    };
    let mut out = Broadcast {
        volatile: broadcast.volatile,
        compress: broadcast.compress,
        ..Broadcast::default()
    };
    out.add_rooms(map(&broadcast.rooms)?);
    out.add_except(map(&broadcast.except)?);
    Ok(std::borrow::Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn route(target: Target, rooms: &[Room]) -> Route {
        let mut r = Route {
            target,
            ..Route::default()
        };
        r.broadcast.add_rooms(rooms.iter().cloned());
        r
    }

    fn message() -> Object {
        json!({"type": "message", "id": "m1", "data": 1})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn every_socketio_target_carries_the_same_message() {
        let opts = TargetOptions::default();
        for name in Target::NAMES {
            let target = Target::from_name(name, &opts).unwrap();
            assert_eq!(target.name(), name);
            let sid = "alice|abcdefghij0123456789";
            let p = route(target.clone(), &[Room::from(sid)])
                .message_packet(message(), || -> String {
                    unreachable!("the message has an id")
                })
                .unwrap();
            let expected = match name {
                "native" => ("PUBLISH", "symple:broadcast"),
                // One session: its peer's channel, wrapped as an emit envelope (not recorded).
                "native-rooms" | "native-history" => {
                    ("PUBLISH", "symple:peer:abcdefghij0123456789")
                }
                "socketio" => ("PUBLISH", "symple#/#abcdefghij0123456789#"),
                // dynamic mode: a socket id's room stays on the namespace channel.
                "socketio-sharded" => ("SPUBLISH", "symple#/#"),
                _ => ("XADD", "socket.io"),
            };
            assert_eq!((p.command_name(), p.channel.as_str()), expected);
            if name.starts_with("native-") {
                let text = String::from_utf8_lossy(&p.payload);
                assert!(
                    text.starts_with(r#"{"v":2,"kind":"emit","message":{"#),
                    "{text}"
                );
                assert!(
                    text.contains(r#""to":"alice|abcdefghij0123456789""#),
                    "{text}"
                );
            } else if name != "native" {
                let text = String::from_utf8_lossy(&p.payload);
                let needle = if name == "socketio" {
                    "abcdefghij0123456789"
                } else {
                    r#""rooms":["abcdefghij0123456789"]"#
                };
                assert!(text.contains(needle), "{name}: {text}");
            }
            // A message's own `to` picks the rooms when the route has none.
            let mut m = message();
            m.insert("to".into(), json!(["r1", 7]));
            let p = route(target.clone(), &[]).raw_packet(m).unwrap();
            if name.starts_with("socketio-") {
                assert!(
                    String::from_utf8_lossy(&p.payload).contains(r#""rooms":["r1",7]"#),
                    "{name}"
                );
            }
            if name.starts_with("native") {
                // Several rooms: every native server reads it on symple:broadcast.
                assert_eq!(p.channel, "symple:broadcast", "{name}");
            }
            let req = route(target, &["a".into()]).request_packet(&Request::Disconnect(false));
            assert_eq!(req.is_ok(), !name.starts_with("native"), "{name}: {req:?}");
        }
    }

    #[test]
    fn a_messages_own_to_is_read_as_the_routes_rooms() {
        let cases: [(Value, &[Room], &str); 4] = [
            (json!("alice|s1"), &[Room::from("s1")], "symple#/#s1#"),
            (json!("bob"), &[Room::from("bob")], "symple#/#bob#"),
            (json!([7]), &[Room::Id(7)], "symple#/#7#"),
            (
                json!(["a", 7, "a", 7, "b"]),
                &["a".into(), Room::Id(7), "b".into()],
                "symple#/#",
            ),
        ];
        let target = Target::SocketIo(Server::default());
        for (to, rooms, channel) in cases {
            let mut m = message();
            m.insert("to".into(), to.clone());
            let own = route(target.clone(), &[]).raw_packet(m.clone()).unwrap();
            let chosen = route(target.clone(), rooms).raw_packet(m).unwrap();
            assert_eq!(own, chosen, "{to}");
            assert_eq!(own.channel, channel, "{to}");
        }
        let mut m = message();
        m.insert("to".into(), json!(["a", ""]));
        let e = route(target, &[]).raw_packet(m).unwrap_err();
        assert!(e.to_string().contains("empty room"), "{e}");
    }

    #[test]
    fn target_names_and_options() {
        let opts = TargetOptions {
            key: "socket.io".into(),
            namespace: "chat".into(),
            subscription_mode: SubscriptionMode::Static,
            stream: "s".into(),
            maxlen: 5,
            stream_count: 1,
            history: crate::history::Settings::default(),
        };
        let Target::SocketIoSharded(s) = Target::from_name("socketio_sharded", &opts).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (s.key(), s.namespace(), s.mode()),
            ("socket.io", "/chat", SubscriptionMode::Static)
        );
        let t = Target::from_name("socketio-streams", &opts)
            .unwrap()
            .of("/x");
        let Target::SocketIoStreams(s) = t else {
            panic!()
        };
        assert_eq!(
            (s.namespace(), s.stream_name(), s.max_len()),
            ("/x", "s", 5)
        );
        let bad = TargetOptions { maxlen: 0, ..opts };
        assert!(Target::from_name("socketio-streams", &bad).is_err());
        assert!(Target::from_name("socketio", &bad).is_ok());
        let e = Target::from_name("sharded", &bad).unwrap_err().to_string();
        assert!(
            e.contains(
                "native, native-rooms, native-history, socketio, socketio-sharded, socketio-streams"
            ),
            "{e}"
        );
    }

    #[test]
    fn native_history_records_a_message_to_one_room() {
        use crate::protocol::envelope::{Body, Envelope};
        let settings = crate::history::Settings {
            size: 50,
            age: std::time::Duration::from_secs(7),
        };
        let opts = TargetOptions {
            history: settings,
            ..TargetOptions::default()
        };
        let target = Target::from_name("native_history", &opts).unwrap();
        assert_eq!(target, Target::NativeHistory(settings));
        for rooms in [vec![Room::from("lobby")], vec![]] {
            let mut m = message();
            m.insert("to".into(), json!(["lobby"]));
            let p = route(target.clone(), &rooms).raw_packet(m).unwrap();
            assert_eq!(
                (p.command_name(), p.channel.as_str()),
                ("EVALSHA", "symple:room:lobby")
            );
            assert_eq!(p.cluster_key(), Some(&b"symple:room:lobby"[..]));
            let args = p.args();
            let text = |i: usize| String::from_utf8_lossy(&args[i]).into_owned();
            assert_eq!(text(0), crate::redis::script::record_sha());
            assert_eq!(
                (1..9).map(text).collect::<Vec<_>>(),
                [
                    "2",
                    "symple:history:{symple:room:lobby}",
                    "symple:room:lobby",
                    "50",
                    "7000",
                    "",
                    if rooms.is_empty() {
                        r#"{"type":"message","id":"m1","data":1,"to":["lobby"]}"#
                    } else {
                        r#"{"type":"message","id":"m1","data":1,"to":"lobby"}"#
                    },
                    "PUBLISH"
                ]
            );
            assert_eq!(p.args_for(true)[8], &b"SPUBLISH"[..]);
            // What the script publishes: the envelope around the new id.
            let env = Envelope::decode(&[&args[9][..], b"5-1", &args[10][..]].concat()).unwrap();
            let Body::History {
                offset,
                room,
                sender,
                message,
            } = env.body
            else {
                panic!("a history envelope")
            };
            assert_eq!(
                (offset.as_str(), room.as_str(), sender),
                ("5-1", "lobby", None)
            );
            assert_eq!(message.to_string(), text(7));
        }
        // A user's room is one room too; the emitter's `from` is filled in.
        let p = route(target.clone(), &["bob".into()])
            .message_packet(
                json!({"type": "event", "name": "x"})
                    .as_object()
                    .cloned()
                    .unwrap(),
                || "i1",
            )
            .unwrap();
        assert_eq!(
            (p.command_name(), p.channel.as_str()),
            ("EVALSHA", "symple:room:bob")
        );
        assert_eq!(
            p.payload,
            br#"{"type":"event","name":"x","id":"i1","from":"server","to":"bob"}"#
        );
        // Several rooms, or a room with no stream key: delivered as native-rooms, not recorded.
        for rooms in [vec!["a".into(), "b".into()], vec![Room::from("x}y")]] {
            let p = route(target.clone(), &rooms).raw_packet(message()).unwrap();
            let plain = route(Target::NativeRooms, &rooms)
                .raw_packet(message())
                .unwrap();
            assert_eq!(p, plain, "{rooms:?}");
        }
        let zero = TargetOptions {
            history: crate::history::Settings {
                size: 0,
                ..settings
            },
            ..TargetOptions::default()
        };
        assert!(Target::from_name("native-history", &zero).is_err());
    }
}
