//! The messages of `socket.io-adapter`'s `ClusterAdapter`, which the sharded adapter
//! (`createShardedAdapter` of `@socket.io/redis-adapter` 8) and the Redis Streams adapter
//! (`@socket.io/redis-streams-adapter`) both exchange: a message type, the sender's uid, the
//! namespace and a `data` object, written as JSON (`JSON.stringify`-exact) since our packets
//! never carry binary.
//!
//! A broadcast's `data` is `{"packet":{"type":2,"data":[event, ...args]},"opts":{"rooms":[..],
//! "except":[..],"flags":{..}}}` (the packet has no `nsp`: the adapter publishes it before its
//! local broadcast adds one); a request's is `{"opts":{..},"rooms":[..]}` or
//! `{"opts":{..},"close":bool}`.

use crate::error::Error;
use crate::packet::json::{write_rooms, write_str};
use crate::packet::socketio::{check_event, Broadcast, Request};
use crate::packet::view::JsonView;
use crate::packet::EventArgs;
use crate::protocol::Room;

/// The uid `socket.io-adapter` names emitters by (`EMITTER_UID`); every server drops only
/// messages carrying its own random uid.
pub(crate) const UID: &str = "emitter";

/// `MessageType.BROADCAST`.
pub(crate) const BROADCAST: u8 = 3;
const SOCKETS_JOIN: u8 = 4;
const SOCKETS_LEAVE: u8 = 5;
const DISCONNECT_SOCKETS: u8 = 6;

/// The largest integer JavaScript holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Appends a broadcast's `data` object; checks the event name and the rooms first.
pub(crate) fn write_broadcast<'a, V: JsonView<'a>>(
    out: &mut Vec<u8>,
    broadcast: &Broadcast,
    event: &str,
    args: EventArgs<'_, 'a, V>,
) -> Result<(), Error> {
    check_event(event)?;
    check_rooms(broadcast)?;
    out.extend_from_slice(br#"{"packet":{"type":2,"data":["#);
    write_str(out, event);
    args.write_json(out)?;
    out.extend_from_slice(b"]},");
    write_opts(out, broadcast);
    out.push(b'}');
    Ok(())
}

/// Appends a request's `data` object and returns its message type.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    broadcast: &Broadcast,
    request: &Request,
) -> Result<u8, Error> {
    check_rooms(broadcast)?;
    out.push(b'{');
    write_opts(out, broadcast);
    let kind = match request {
        Request::Join(rooms) | Request::Leave(rooms) => {
            if rooms.is_empty() {
                return Err(Error::InvalidMessage("no rooms to join or leave".into()));
            }
            rooms.iter().try_for_each(check_room)?;
            out.extend_from_slice(br#","rooms":"#);
            write_rooms(out, rooms);
            if matches!(request, Request::Join(_)) {
                SOCKETS_JOIN
            } else {
                SOCKETS_LEAVE
            }
        }
        Request::Disconnect(close) => {
            out.extend_from_slice(if *close {
                br#","close":true"#
            } else {
                br#","close":false"#
            });
            DISCONNECT_SOCKETS
        }
    };
    out.push(b'}');
    Ok(kind)
}

/// `"opts":{"rooms":[..],"except":[..],"flags":{..}}`, flags in the order Socket.IO's
/// `.volatile` then `.compress()` set them.
fn write_opts(out: &mut Vec<u8>, broadcast: &Broadcast) {
    out.extend_from_slice(br#""opts":{"rooms":"#);
    write_rooms(out, &broadcast.rooms);
    out.extend_from_slice(br#","except":"#);
    write_rooms(out, &broadcast.except);
    out.extend_from_slice(br#","flags":{"#);
    if broadcast.volatile {
        out.extend_from_slice(br#""volatile":true"#);
    }
    if let Some(c) = broadcast.compress {
        if broadcast.volatile {
            out.push(b',');
        }
        out.extend_from_slice(if c {
            br#""compress":true"#
        } else {
            br#""compress":false"#
        });
    }
    out.extend_from_slice(b"}}");
}

fn check_rooms(broadcast: &Broadcast) -> Result<(), Error> {
    broadcast
        .rooms
        .iter()
        .chain(&broadcast.except)
        .try_for_each(check_room)
}

/// A room these adapters can name: a non-empty string, or an integer JavaScript holds exactly
/// (beyond 2^53 the JSON number would be read as a neighbouring integer: another room).
fn check_room(room: &Room) -> Result<(), Error> {
    room.validate()?;
    match room {
        Room::Id(i) if i.unsigned_abs() > MAX_SAFE_INTEGER as u64 => {
            Err(Error::InvalidMessage(format!(
                "integer room {i} is beyond JavaScript's safe integers (±{MAX_SAFE_INTEGER}): \
                 a Socket.IO server would read it as another room; use a string room"
            )))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn broadcast(rooms: &[Room], except: &[Room]) -> Broadcast {
        let mut b = Broadcast::default();
        b.add_rooms(rooms.iter().cloned());
        b.add_except(except.iter().cloned());
        b
    }

    #[test]
    fn broadcast_data_layout() {
        let mut b = broadcast(&["a".into(), Room::Id(7)], &["x".into()]);
        b.volatile = true;
        b.compress = Some(false);
        let mut out = Vec::new();
        let args = [json!({"k": 1}), json!(2.0)];
        write_broadcast::<&Value>(&mut out, &b, "ev", EventArgs::Values(&args)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"packet":{"type":2,"data":["ev",{"k":1},2]},"opts":{"rooms":["a",7],"except":["x"],"flags":{"volatile":true,"compress":false}}}"#
        );
    }

    #[test]
    fn request_data_layout() {
        let b = broadcast(&["a".into()], &[]);
        let mut out = Vec::new();
        let kind = write_request(&mut out, &b, &Request::Leave(vec![Room::Id(3)])).unwrap();
        assert_eq!(kind, SOCKETS_LEAVE);
        assert_eq!(
            out,
            br#"{"opts":{"rooms":["a"],"except":[],"flags":{}},"rooms":[3]}"#
        );
        let mut out = Vec::new();
        let kind = write_request(&mut out, &b, &Request::Disconnect(true)).unwrap();
        assert_eq!(kind, DISCONNECT_SOCKETS);
        assert!(out.ends_with(br#""close":true}"#));
    }

    #[test]
    fn refuses_what_javascript_cannot_name() {
        let mut out = Vec::new();
        let unsafe_room = broadcast(&[Room::Id(MAX_SAFE_INTEGER + 1)], &[]);
        let e = write_broadcast::<&Value>(&mut out, &unsafe_room, "m", EventArgs::Values(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("safe integers"), "{e}");
        let edge = broadcast(&[Room::Id(-MAX_SAFE_INTEGER)], &[]);
        assert!(write_broadcast::<&Value>(&mut out, &edge, "m", EventArgs::Values(&[])).is_ok());
        let e = write_broadcast::<&Value>(&mut out, &edge, "connect", EventArgs::Values(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = write_request(&mut out, &edge, &Request::Join(vec![])).unwrap_err();
        assert!(e.to_string().contains("no rooms"), "{e}");
        let e =
            write_request(&mut out, &edge, &Request::Join(vec![Room::Id(i64::MIN)])).unwrap_err();
        assert!(e.to_string().contains("safe integers"), "{e}");
    }
}
