//! Native-server packets: one Symple message as JSON on `symple:broadcast`, the channel the
//! project's own server and the v4 Node server subscribe to.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use crate::error::Error;
use crate::packet::view::{self, JsonView, Node, Ser};
use crate::packet::Packet;
use crate::protocol::{Object, To};

/// The channel native servers subscribe to.
pub const CHANNEL: &str = "symple:broadcast";

/// Fields an emitter fills in when the message lacks them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fill<'a> {
    /// Written as `id` when the message has none.
    pub id: Option<&'a str>,
    /// Written as `from` when the message has none.
    pub from: Option<&'a str>,
}

/// Encodes `message` for native servers. `to`, when given, replaces the message's own `to`;
/// without either the message is refused, since native servers drop it.
///
/// ```
/// use symple::packet::native::{encode, Fill};
/// let msg = serde_json::json!({"type": "message", "to": "alice", "data": 1});
/// let p = encode(msg.as_object().unwrap(), None, Fill { id: Some("m1"), from: Some("server") })?;
/// assert_eq!(p.channel, "symple:broadcast");
/// assert_eq!(p.payload, br#"{"type":"message","to":"alice","data":1,"id":"m1","from":"server"}"#);
/// # Ok::<(), symple::Error>(())
/// ```
pub fn encode(message: &Object, to: Option<&To>, fill: Fill<'_>) -> Result<Packet, Error> {
    encode_entries::<&Value>(view::entries(message), to, fill)
}

/// [`encode`] for a message seen through a [`JsonView`]: its map entries.
pub fn encode_entries<'a, V: JsonView<'a>>(
    message: V::Entries,
    to: Option<&To>,
    fill: Fill<'_>,
) -> Result<Packet, Error> {
    let get = |key: &str| message.clone().find(|(k, _)| *k == key).map(|(_, v)| v);
    check(get("type"), get("from"))?;
    if to.is_none() {
        match get("to") {
            None => return Err(Error::MissingRecipient),
            Some(v) => match v.node()? {
                Node::Null => return Err(Error::MissingRecipient),
                _ => {
                    To::from_json(&view::to_value(v)?)?;
                }
            },
        }
    }
    let out = Native::<V> { message, to, fill };
    // Room for a typical message, so serde_json rarely grows the buffer.
    let mut buf = Vec::with_capacity(256);
    serde_json::to_writer(&mut buf, &out)?;
    Ok(Packet::new(CHANNEL, buf))
}

/// [`encode_entries`] for the `native-rooms` target: the same message, on the interest
/// channel of its one room, user or peer (wrapped as an emit envelope, see
/// [`crate::protocol::envelope`]), so only the server instances holding its recipients
/// receive it. A message to several rooms goes to `symple:broadcast` as with [`encode`].
///
/// ```
/// use symple::packet::native::{encode_rooms, Fill};
/// let msg = serde_json::json!({"type": "message", "to": "alice|s1", "data": 1});
/// let p = encode_rooms(msg.as_object().unwrap(), None, Fill::default())?;
/// assert_eq!(p.channel, "symple:peer:s1");
/// assert_eq!(p.payload, br#"{"v":2,"kind":"emit","message":{"type":"message","to":"alice|s1","data":1}}"#);
/// # Ok::<(), symple::Error>(())
/// ```
pub fn encode_rooms(message: &Object, to: Option<&To>, fill: Fill<'_>) -> Result<Packet, Error> {
    encode_entries_rooms::<&Value>(view::entries(message), to, fill)
}

/// [`encode_rooms`] for a message seen through a [`JsonView`].
pub fn encode_entries_rooms<'a, V: JsonView<'a>>(
    message: V::Entries,
    to: Option<&To>,
    fill: Fill<'_>,
) -> Result<Packet, Error> {
    let packet = encode_entries::<V>(message.clone(), to, fill)?;
    let own;
    let to = match to {
        Some(t) => t,
        None => {
            // encode_entries checked that the message has a valid `to`.
            let v = message
                .clone()
                .find(|(k, _)| *k == "to")
                .map(|(_, v)| v)
                .ok_or(Error::MissingRecipient)?;
            own = To::from_json(&view::to_value(v)?)?;
            &own
        }
    };
    Ok(match crate::protocol::envelope::emitter_channel(to) {
        Some(channel) => Packet::new(
            channel,
            crate::protocol::envelope::wrap_emitted(&packet.payload),
        ),
        None => packet,
    })
}

fn check<'a, V: JsonView<'a>>(kind: Option<V>, from: Option<V>) -> Result<(), Error> {
    match kind.map(|v| v.node()).transpose()? {
        Some(Node::Str(t)) if !t.is_empty() => {}
        Some(_) => {
            return Err(Error::InvalidMessage(format!(
                "`type` must be a non-empty string, not {}",
                shown(kind)?
            )))
        }
        None => return Err(Error::InvalidMessage("message has no `type`".into())),
    }
    match from.map(|v| v.node()).transpose()? {
        None => {}
        Some(Node::Str(f)) if !f.is_empty() => {}
        Some(_) => {
            return Err(Error::InvalidMessage(format!(
                "`from` must be a non-empty address string, not {}",
                shown(from)?
            )))
        }
    }
    Ok(())
}

/// A field as JSON text, for an error message.
fn shown<'a, V: JsonView<'a>>(v: Option<V>) -> Result<Value, Error> {
    v.map_or(Ok(Value::Null), view::to_value)
}

struct Native<'t, 'a, V: JsonView<'a>> {
    message: V::Entries,
    to: Option<&'t To>,
    fill: Fill<'t>,
}

impl<'a, V: JsonView<'a>> Serialize for Native<'_, 'a, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let has = |key: &str| self.message.clone().any(|(k, _)| k == key);
        let add_id = self.fill.id.filter(|_| !has("id"));
        let add_from = self.fill.from.filter(|_| !has("from"));
        let add_to = self.to.filter(|_| !has("to"));
        let len = self.message.len()
            + usize::from(add_id.is_some())
            + usize::from(add_from.is_some())
            + usize::from(add_to.is_some());
        let mut map = s.serialize_map(Some(len))?;
        for (k, v) in self.message.clone() {
            match (k, self.to) {
                ("to", Some(to)) => map.serialize_entry(k, to)?,
                _ => map.serialize_entry(k, &Ser(v))?,
            }
        }
        if let Some(id) = add_id {
            map.serialize_entry("id", id)?;
        }
        if let Some(from) = add_from {
            map.serialize_entry("from", from)?;
        }
        if let Some(to) = add_to {
            map.serialize_entry("to", to)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Room;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn override_replaces_to_in_place() {
        let to = To::from_rooms(&[Room::from("a"), Room::Id(5)]).unwrap();
        let p = encode(
            &obj(json!({"type":"event","to":"x","name":"n"})),
            Some(&to),
            Fill::default(),
        )
        .unwrap();
        assert_eq!(p.payload, br#"{"type":"event","to":["a",5],"name":"n"}"#);
    }

    #[test]
    fn keeps_own_id_and_from() {
        let m = obj(json!({"type":"message","id":"mine","from":"me","to":"u"}));
        let p = encode(
            &m,
            None,
            Fill {
                id: Some("other"),
                from: Some("server"),
            },
        )
        .unwrap();
        assert_eq!(
            p.payload,
            br#"{"type":"message","id":"mine","from":"me","to":"u"}"#
        );
    }

    #[test]
    fn refuses_bad_messages() {
        let cases = [
            (json!({"type":"message"}), "no recipient"),
            (json!({"type":"message","to":null}), "no recipient"),
            (json!({"type":"message","to":""}), "empty address"),
            (json!({"type":"message","to":[]}), "empty array"),
            (json!({"to":"a"}), "no `type`"),
            (json!({"type":1,"to":"a"}), "`type` must be"),
            (
                json!({"type":"message","to":"a","from":3}),
                "`from` must be",
            ),
        ];
        for (v, needle) in cases {
            let e = encode(&obj(v.clone()), None, Fill::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }
}
