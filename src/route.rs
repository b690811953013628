//! Where an emitter sends and how it turns a message into a packet: pure, shared by the
//! blocking and the async emitter.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::packet::native::{self, Fill};
use crate::packet::socketio::{self, Broadcast, Request, Server};
use crate::packet::view::{self, JsonView, Node};
use crate::packet::Packet;
use crate::protocol::{Address, Object, Room, To};

/// Which servers read the packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Native Symple servers (this project's server, the v4 Node server): JSON on
    /// `symple:broadcast`.
    Native,
    /// Socket.IO servers with `@socket.io/redis-adapter` (npm `symple` 2.x uses key `symple`).
    SocketIo(Server),
}

impl Default for Target {
    fn default() -> Self {
        Target::SocketIo(Server::default())
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
    pub fn message_packet(
        &self,
        message: Object,
        new_id: impl FnOnce() -> String,
    ) -> Result<Packet> {
        self.message_packet_view(&Value::Object(message), new_id)
    }

    /// [`message_packet`](Self::message_packet) for a message seen through a [`JsonView`]
    /// (it must be a map): the same bytes, checks and errors, with no `Object` built.
    pub fn message_packet_view<'a, V: JsonView<'a>>(
        &self,
        message: V,
        new_id: impl FnOnce() -> String,
    ) -> Result<Packet> {
        let Node::Map(entries) = message.node()? else {
            return Err(Error::InvalidMessage("a message must be an object".into()));
        };
        let has = |key: &str| entries.clone().any(|(k, _)| k == key);
        let id = if has("id") { None } else { Some(new_id()) };
        match &self.target {
            Target::Native => {
                let to = self.native_to()?;
                native::encode_entries::<V>(
                    entries,
                    to.as_ref(),
                    Fill {
                        id: id.as_deref(),
                        from: Some(&self.from),
                    },
                )
            }
            Target::SocketIo(server) => {
                // Appended as an Object insert would: `id` first, then `from`.
                let add_from = !has("from");
                let filled = [
                    ("id", id.as_deref()),
                    ("from", add_from.then_some(&*self.from)),
                ];
                let mut extra = [("", ""); 2];
                let mut n = 0;
                for (k, v) in filled {
                    if let Some(v) = v {
                        extra[n] = (k, v);
                        n += 1;
                    }
                }
                self.socketio_message::<V>(server, entries, &extra[..n])
            }
        }
    }

    /// A packet that carries `message` exactly as given (except a `to` set on the route for
    /// the native target, where it is how the packet is routed).
    pub fn raw_packet(&self, message: Object) -> Result<Packet> {
        match &self.target {
            Target::Native => native::encode(&message, self.native_to()?.as_ref(), Fill::default()),
            Target::SocketIo(server) => {
                self.socketio_message::<&Value>(server, view::entries(&message), &[])
            }
        }
    }

    /// A server-side request (join, leave, disconnect); Socket.IO only.
    pub fn request_packet(&self, request: &Request) -> Result<Packet> {
        match &self.target {
            Target::SocketIo(server) => {
                socketio::encode_request(server, &*socketio_rooms(&self.broadcast)?, request)
            }
            Target::Native => Err(Error::Unsupported(
                "sockets_join, sockets_leave and disconnect_sockets need the Socket.IO target"
                    .into(),
            )),
        }
    }

    fn native_to(&self) -> Result<Option<To>> {
        if !self.broadcast.except.is_empty() {
            return Err(Error::Unsupported(
                "`except` needs the Socket.IO target; native servers route by `to` only".into(),
            ));
        }
        if self.broadcast.rooms.is_empty() {
            Ok(None)
        } else {
            To::from_rooms(&self.broadcast.rooms).map(Some)
        }
    }

    fn socketio_message<'a, V: JsonView<'a>>(
        &self,
        server: &Server,
        message: V::Entries,
        extra: &[(&str, &str)],
    ) -> Result<Packet> {
        let broadcast = socketio_rooms(&self.broadcast)?;
        // With no rooms chosen on the route, a message's own `to` picks the rooms, as a
        // Symple server would route it.
        if broadcast.rooms.is_empty() {
            let to = message.clone().find(|(k, _)| *k == "to").map(|(_, v)| v);
            if let Some(to) = to.map(view::to_value).transpose()? {
                if !to.is_null() {
                    let mut broadcast = broadcast.into_owned();
                    broadcast.add_rooms(To::from_json(&to)?.rooms());
                    return socketio::encode_message::<V>(
                        server,
                        &broadcast,
                        &self.event,
                        message,
                        extra,
                    );
                }
            }
        }
        socketio::encode_message::<V>(server, &broadcast, &self.event, message, extra)
    }

    /// An event with any arguments, Socket.IO only.
    pub fn event_packet(&self, event: &str, args: &[Value]) -> Result<Packet> {
        match &self.target {
            Target::SocketIo(server) => {
                socketio::encode_event(server, &*socketio_rooms(&self.broadcast)?, event, args)
            }
            Target::Native => Err(Error::Unsupported(
                "custom events need the Socket.IO target; native servers take Symple messages"
                    .into(),
            )),
        }
    }
}

/// On Socket.IO a session is the room of its socket id, so `user|id` becomes the room `id`.
fn socketio_rooms(broadcast: &Broadcast) -> Result<std::borrow::Cow<'_, Broadcast>> {
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
