//! Room names and the `to` field.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::packet::view::{self, JsonView, Node};
use crate::protocol::address::AddressRef;
use crate::protocol::Address;

/// A room. Socket.IO keeps `4242` and `"4242"` as two different rooms, so an integer room
/// (a Rails user id) stays an integer all the way to the wire.
///
/// ```
/// use symple::Room;
/// assert_eq!(Room::from(4242), Room::Id(4242));
/// assert_eq!(Room::from("team-a").to_string(), "team-a");
/// assert_ne!(Room::from(4242), Room::from("4242"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Room {
    /// A named room (also a user's personal room, or a session id's room).
    Name(String),
    /// An integer room.
    Id(i64),
}

impl Room {
    /// Checks that a named room is not empty.
    ///
    /// ```
    /// assert!(symple::Room::from("").validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        self.as_ref().validate()
    }

    /// The room, borrowed.
    pub(crate) fn as_ref(&self) -> RoomRef<'_> {
        match self {
            Room::Name(n) => RoomRef::Name(n),
            Room::Id(i) => RoomRef::Id(*i),
        }
    }

    /// Reads a room from JSON: a non-empty string or an integer.
    ///
    /// ```
    /// use symple::Room;
    /// assert_eq!(Room::from_json(&serde_json::json!(7))?, Room::Id(7));
    /// assert!(Room::from_json(&serde_json::json!(1.5)).is_err());
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn from_json(v: &Value) -> Result<Room, Error> {
        RoomRef::read(v).map(RoomRef::to_room)
    }
}

/// A room, owned or borrowed: what an encoder needs of it.
pub(crate) trait AsRoom {
    fn room(&self) -> RoomRef<'_>;
}

impl AsRoom for Room {
    fn room(&self) -> RoomRef<'_> {
        self.as_ref()
    }
}

impl AsRoom for RoomRef<'_> {
    fn room(&self) -> RoomRef<'_> {
        *self
    }
}

/// A room read in place from a JSON view (no copy of its name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RoomRef<'a> {
    Name(&'a str),
    Id(i64),
}

impl<'a> RoomRef<'a> {
    /// The one reader of a room: a non-empty string or a 64-bit integer.
    pub(crate) fn read<V: JsonView<'a>>(v: V) -> Result<Self, Error> {
        match v.node()? {
            Node::Str("") => Err(Error::InvalidMessage("empty room name".into())),
            Node::Str(s) => Ok(RoomRef::Name(s)),
            Node::I64(i) => Ok(RoomRef::Id(i)),
            Node::U64(_) | Node::F64(_) => Err(Error::InvalidMessage(format!(
                "room {} is not a string or a 64-bit integer",
                view::to_value(v)?
            ))),
            _ => Err(Error::InvalidMessage(format!(
                "room {} is not a string or an integer",
                view::to_value(v)?
            ))),
        }
    }

    /// Checks that a named room is not empty.
    pub(crate) fn validate(self) -> Result<(), Error> {
        match self {
            RoomRef::Name("") => Err(Error::InvalidMessage("empty room name".into())),
            _ => Ok(()),
        }
    }

    pub(crate) fn to_room(self) -> Room {
        match self {
            RoomRef::Name(n) => Room::Name(n.to_owned()),
            RoomRef::Id(i) => Room::Id(i),
        }
    }
}

impl Room {
    /// Appends the room as text (its name, or the integer in decimal): `to_string` without
    /// the formatting machinery, for channel names built on every emit.
    #[inline]
    pub(crate) fn push_to(&self, out: &mut String) {
        match self {
            Room::Name(n) => out.push_str(n),
            Room::Id(i) => out.push_str(itoa::Buffer::new().format(*i)),
        }
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Room::Name(n) => f.write_str(n),
            Room::Id(i) => write!(f, "{i}"),
        }
    }
}

impl<'de> Deserialize<'de> for Room {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Room::from_json(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl From<&str> for Room {
    fn from(s: &str) -> Self {
        Room::Name(s.to_owned())
    }
}
impl From<String> for Room {
    fn from(s: String) -> Self {
        Room::Name(s)
    }
}
impl From<&String> for Room {
    fn from(s: &String) -> Self {
        Room::Name(s.clone())
    }
}
impl From<&Address> for Room {
    fn from(a: &Address) -> Self {
        Room::Name(a.room().to_owned())
    }
}
macro_rules! room_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Room {
            fn from(i: $t) -> Self {
                Room::Id(i64::from(i))
            }
        }
    )*};
}
room_from_int!(i8, i16, i32, i64, u8, u16, u32);

/// The `to` field of a routed message.
///
/// ```
/// use symple::{To, Room};
/// let one: To = serde_json::from_str("\"alice|s1\"")?;
/// assert_eq!(one.rooms(), vec![Room::from("s1")]);
/// let many: To = serde_json::from_str("[\"a\", 7]")?;
/// assert_eq!(many.rooms(), vec![Room::from("a"), Room::Id(7)]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum To {
    /// A user (all its sessions) or one session (`user|id`).
    Address(Address),
    /// Each of these rooms.
    Rooms(Vec<Room>),
}

impl To {
    /// The rooms a server delivers this to: a user's room, a session's room, or the list.
    pub fn rooms(&self) -> Vec<Room> {
        match self {
            To::Address(a) => vec![Room::from(a)],
            To::Rooms(r) => r.clone(),
        }
    }

    /// Builds a `to` from rooms: one string room is written as a plain string (so `user|id`
    /// names one session), as Symple clients write it; anything else as an array.
    ///
    /// ```
    /// use symple::{To, Room};
    /// assert_eq!(serde_json::to_string(&To::from_rooms(&[Room::from("a")])?)?, "\"a\"");
    /// assert_eq!(serde_json::to_string(&To::from_rooms(&[Room::Id(1)])?)?, "[1]");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_rooms(rooms: &[Room]) -> Result<To, Error> {
        for r in rooms {
            r.validate()?;
        }
        match rooms {
            [] => Err(Error::MissingRecipient),
            [Room::Name(n)] => Ok(To::Address(n.parse()?)),
            _ => Ok(To::Rooms(rooms.to_vec())),
        }
    }

    /// Reads and validates a JSON `to`: a valid address string or a non-empty array of rooms.
    ///
    /// ```
    /// assert!(symple::To::from_json(&serde_json::json!({"x": 1})).is_err());
    /// ```
    pub fn from_json(v: &Value) -> Result<To, Error> {
        Ok(match ToRef::read(v)? {
            ToRef::Address(a) => To::Address(a.to_address()),
            ToRef::Rooms(rooms) => To::Rooms(
                rooms
                    .map(|r| r.map(RoomRef::to_room))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// A `to` read in place from a JSON view: an address, or the rooms of a non-empty array, each
/// read (and checked) as the iterator reaches it.
pub(crate) enum ToRef<'a, R> {
    Address(AddressRef<'a>),
    Rooms(R),
}

impl<'a> ToRef<'a, ()> {
    /// The one reader of `to`: a valid address string or a non-empty array of rooms.
    #[inline]
    pub(crate) fn read<V: JsonView<'a>>(
        v: V,
    ) -> Result<ToRef<'a, impl Iterator<Item = Result<RoomRef<'a>, Error>>>, Error> {
        match v.node()? {
            Node::Str(s) => Ok(ToRef::Address(AddressRef::parse(s)?)),
            Node::Array(items) if items.len() == 0 => Err(Error::InvalidMessage(
                "`to` is an empty array: name at least one room".into(),
            )),
            Node::Array(items) => Ok(ToRef::Rooms(items.map(RoomRef::read))),
            _ => Err(Error::InvalidMessage(format!(
                "`to` must be an address string or an array of rooms, not {}",
                view::to_value(v)?
            ))),
        }
    }
}

impl<'a, R: Iterator<Item = Result<RoomRef<'a>, Error>>> ToRef<'a, R> {
    /// The rooms a server delivers this to (see [`To::rooms`]): an address's one room, or an
    /// array's rooms in order, each checked as it is reached.
    pub(crate) fn split(self) -> (Option<RoomRef<'a>>, Option<R>) {
        match self {
            ToRef::Address(a) => (Some(RoomRef::Name(a.room())), None),
            ToRef::Rooms(r) => (None, Some(r)),
        }
    }
}

impl<'de> Deserialize<'de> for To {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        To::from_json(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl From<Address> for To {
    fn from(a: Address) -> Self {
        To::Address(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn to_rejects_bad_shapes() {
        for bad in [
            json!(""),
            json!([]),
            json!([""]),
            json!([1.5]),
            json!(3),
            json!([null]),
        ] {
            assert!(To::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn integer_rooms_stay_integers() {
        let t = To::from_json(&json!([4242, "4242"])).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), json!([4242, "4242"]));
    }
}
