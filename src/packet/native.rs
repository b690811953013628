//! Native-server packets: one Symple message as JSON on `symple:broadcast`, the channel the
//! project's own server and the v4 Node server subscribe to.

use std::borrow::Cow;

use serde_json::Value;

use crate::error::Error;
use crate::packet::json;
use crate::packet::view::{self, Fields, JsonView, Node};
use crate::packet::{finish, one_packet, Packet, Sink};
use crate::protocol::address::AddressRef;
use crate::protocol::room::ToRef;
use crate::protocol::{Object, Room, To};

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
/// without either the message is refused, since native servers drop it. The text is what
/// `serde_json` writes for the object with the filled-in fields appended.
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
    let fields = Fields::find(message.clone());
    one_packet(|sink| encode_found::<V>(message, &fields, to.map(Recipients::To), fill, sink))
}

/// The `to` an emitter sets on a native packet, replacing the message's own.
#[derive(Clone, Copy)]
pub(crate) enum Recipients<'r> {
    /// A `to` as given.
    To(&'r To),
    /// An emitter's rooms, written as [`To::from_rooms`] would make them.
    Rooms(&'r [Room]),
}

impl<'r> Recipients<'r> {
    /// Checks the recipients; gives what to write.
    fn check(self) -> Result<ToJson<'r>, Error> {
        Ok(match self {
            Recipients::To(To::Address(a)) => ToJson::Text(Cow::Owned(a.to_string())),
            Recipients::To(To::Rooms(rooms)) => ToJson::Rooms(rooms),
            Recipients::Rooms(rooms) => {
                rooms.iter().try_for_each(Room::validate)?;
                match rooms {
                    [] => return Err(Error::MissingRecipient),
                    [Room::Name(n)] => ToJson::Text(Cow::Borrowed(AddressRef::parse(n)?.text())),
                    _ => ToJson::Rooms(rooms),
                }
            }
        })
    }
}

/// A checked `to`: an address's text or a list of rooms.
enum ToJson<'r> {
    Text(Cow<'r, str>),
    Rooms(&'r [Room]),
}

impl ToJson<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            ToJson::Text(t) => json::write_str(out, t),
            ToJson::Rooms(rooms) => json::write_rooms(out, rooms),
        }
    }
}

/// [`encode_entries`] with the message's fields already found (one pass over the entries
/// serves the emitter and the encoder).
pub(crate) fn encode_found<'a, V: JsonView<'a>>(
    message: V::Entries,
    fields: &Fields<V>,
    to: Option<Recipients<'_>>,
    fill: Fill<'_>,
    sink: &mut dyn Sink,
) -> Result<(), Error> {
    let to_json = checked(fields, to)?;
    let out = sink.publish(&[CHANNEL], 256);
    let written = write_message::<V>(out, message, fields, to_json.as_ref(), fill);
    finish(sink, written)
}

/// Checks the recipients (the emitter's first), the message, then its own `to`; gives the
/// emitter's recipients as JSON to write.
fn checked<'a, 'r, V: JsonView<'a>>(
    fields: &Fields<V>,
    to: Option<Recipients<'r>>,
) -> Result<Option<ToJson<'r>>, Error> {
    let to_json = to.map(Recipients::check).transpose()?;
    check(fields.kind, fields.from)?;
    if to_json.is_none() {
        match fields.to {
            None => return Err(Error::MissingRecipient),
            Some(v) => {
                if let Node::Null = v.node()? {
                    return Err(Error::MissingRecipient);
                }
                // An address is checked by reading it; an array's rooms one by one.
                if let (_, Some(mut rooms)) = ToRef::read(v)?.split() {
                    rooms.try_for_each(|r| r.map(drop))?;
                }
            }
        }
    }
    Ok(to_json)
}

/// Appends the message's JSON: its entries (the emitter's `to` in place of its own), then
/// the filled-in fields it lacks.
fn write_message<'a, V: JsonView<'a>>(
    out: &mut Vec<u8>,
    message: V::Entries,
    fields: &Fields<V>,
    to_json: Option<&ToJson<'_>>,
    fill: Fill<'_>,
) -> Result<(), Error> {
    out.push(b'{');
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, k: &str| {
        json::write_member_key(out, !std::mem::take(&mut first), k);
    };
    for (k, v) in message {
        key(out, k);
        match (k, to_json) {
            ("to", Some(t)) => t.write(out),
            _ => v.write_serde_json(out)?,
        }
    }
    if let (None, Some(id)) = (fields.id, fill.id) {
        key(out, "id");
        json::write_str(out, id);
    }
    if let (None, Some(from)) = (fields.from, fill.from) {
        key(out, "from");
        json::write_str(out, from);
    }
    if let (None, Some(t)) = (fields.to, to_json) {
        key(out, "to");
        t.write(out);
    }
    out.push(b'}');
    Ok(())
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
    let fields = Fields::find(message.clone());
    one_packet(|sink| {
        encode_rooms_found::<V>(message, &fields, to.map(Recipients::To), fill, None, sink)
    })
}

/// [`encode_entries_rooms`] with the message's fields already found. With `history`, a
/// message to one room (a named room or a user's, not a session) is appended to that room's
/// history and published in one call (a [`RedisCommand::Record`] packet, see
/// [`crate::history`]); anything else goes as without.
///
/// [`RedisCommand::Record`]: crate::packet::RedisCommand::Record
pub(crate) fn encode_rooms_found<'a, V: JsonView<'a>>(
    message: V::Entries,
    fields: &Fields<V>,
    to: Option<Recipients<'_>>,
    fill: Fill<'_>,
    history: Option<&crate::history::Settings>,
    sink: &mut dyn Sink,
) -> Result<(), Error> {
    let to_json = checked(fields, to)?;
    // Checked above: the recipients, or the message's own valid `to`.
    let own;
    let recipients = match to {
        Some(Recipients::To(t)) => t,
        Some(Recipients::Rooms(rooms)) => {
            own = To::from_rooms(rooms)?;
            &own
        }
        None => {
            let v = fields.to.ok_or(Error::MissingRecipient)?;
            own = To::from_json(&view::to_value(v)?)?;
            &own
        }
    };
    match crate::protocol::envelope::emitter_channel(recipients) {
        Some(channel) => {
            let mut message_json = Vec::with_capacity(256);
            write_message::<V>(&mut message_json, message, fields, to_json.as_ref(), fill)?;
            let room = channel.strip_prefix(crate::protocol::envelope::channel::ROOM);
            if let (Some(settings), Some(room)) = (history, room) {
                // A room that cannot have history (see history::key) goes unrecorded.
                if crate::history::key(room).is_some() {
                    let packet =
                        crate::history::record_packet("", 0, room, None, message_json, settings);
                    sink.packet(packet.ok_or_else(|| {
                        Error::InvalidMessage("the history envelope could not be made".into())
                    })?);
                    return Ok(());
                }
            }
            let wrapped = crate::protocol::envelope::wrap_emitted(&message_json);
            sink.publish(&[&channel], wrapped.len())
                .extend_from_slice(&wrapped);
            sink.end();
            Ok(())
        }
        None => {
            let out = sink.publish(&[CHANNEL], 256);
            let written = write_message::<V>(out, message, fields, to_json.as_ref(), fill);
            finish(sink, written)
        }
    }
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
    fn the_text_is_what_serde_json_writes() {
        let m = obj(json!({
            "type": "message", "to": ["r", 7], "n": [0, -1, u64::MAX, i64::MIN, 2.0, 0.1, 1e21,
            -0.0, 1.5e-7, 5e-324, f64::MAX], "s": "é\"\\/\u{0}\u{1f}\u{7f}\n\t\u{2028}😀 long enough \
            for the eight-byte scan", "10": {"2": null, "b": [true, false, {}], "a": []}, "": ""
        }));
        let p = encode(
            &m,
            None,
            Fill {
                id: Some("i\"d"),
                from: Some("fröm"),
            },
        )
        .unwrap();
        let mut expected = m.clone();
        expected.insert("id".into(), json!("i\"d"));
        expected.insert("from".into(), json!("fröm"));
        assert_eq!(
            String::from_utf8(p.payload).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        let cases = [
            vec![Room::from("alice|s1")],
            vec![Room::from("bob|")],
            vec![Room::Id(4), Room::from("x")],
        ];
        for rooms in &cases {
            let p = one_packet(|sink| {
                encode_found::<&Value>(
                    view::entries(&m),
                    &Fields::find(view::entries(&m)),
                    Some(Recipients::Rooms(rooms)),
                    Fill::default(),
                    sink,
                )
            })
            .unwrap();
            let to = serde_json::to_value(To::from_rooms(rooms).unwrap()).unwrap();
            let mut expected = m.clone();
            expected.insert("to".into(), to);
            assert_eq!(p.payload, serde_json::to_vec(&expected).unwrap());
        }
    }

    #[test]
    fn refuses_bad_messages() {
        let cases = [
            (json!({"type":"message"}), "no recipient"),
            (json!({"type":"message","to":null}), "no recipient"),
            (json!({"type":"message","to":""}), "empty address"),
            (json!({"type":"message","to":[]}), "empty array"),
            (json!({"type":"message","to":["a", ""]}), "empty room"),
            (json!({"type":"message","to":[1.5]}), "64-bit integer"),
            (json!({"type":"message","to":{"a":1}}), "address string"),
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
