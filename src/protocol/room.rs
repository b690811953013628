//! Room names and the `to` field.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::error::Error;
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
        match self {
            Room::Name(n) if n.is_empty() => Err(Error::InvalidMessage("empty room name".into())),
            _ => Ok(()),
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
        let room = match v {
            Value::String(s) => Room::Name(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Room::Id(i),
                None => {
                    return Err(Error::InvalidMessage(format!(
                        "room {n} is not a string or a 64-bit integer"
                    )))
                }
            },
            other => {
                return Err(Error::InvalidMessage(format!(
                    "room {other} is not a string or an integer"
                )))
            }
        };
        room.validate()?;
        Ok(room)
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
        match v {
            Value::String(s) => Ok(To::Address(s.parse()?)),
            Value::Array(items) if items.is_empty() => Err(Error::InvalidMessage(
                "`to` is an empty array: name at least one room".into(),
            )),
            Value::Array(items) => Ok(To::Rooms(
                items
                    .iter()
                    .map(Room::from_json)
                    .collect::<Result<_, _>>()?,
            )),
            other => Err(Error::InvalidMessage(format!(
                "`to` must be an address string or an array of rooms, not {other}"
            ))),
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
