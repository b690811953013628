//! Message history per room in Redis Streams, shared by the server and the emitter: the
//! stream key of a room, offsets (stream ids), the `history` field a delivered message
//! carries, the recovery request a reconnecting client sends, and the Lua scripts that
//! append, read and anchor a room's history.
//!
//! A message to a history-enabled room is appended by whoever sends it (the server instance
//! its client is connected to, or the emitter) in **one script** that `XADD`s it to the
//! room's stream (`MAXLEN ~ size`, entries older than the age trimmed, the key expiring after
//! the age) **and** publishes it on the room's channel with the new stream id. So there is
//! exactly one entry per message whichever instance or emitter sent it, and the order of
//! delivery on every instance is the order of the stream (Redis runs the script at once).
//!
//! ```
//! use symple::history::{key, stamp, Offset};
//! let offset: Offset = "1733150000000-3".parse()?;
//! assert!(offset > "1733150000000-2".parse()?);
//! assert_eq!(key("lobby").as_deref(), Some("symple:history:{symple:room:lobby}"));
//! let mut m = serde_json::json!({"type": "message"}).as_object().cloned().unwrap();
//! stamp(&mut m, "lobby", offset);
//! assert_eq!(serde_json::Value::Object(m).to_string(),
//!     r#"{"type":"message","history":{"room":"lobby","offset":"1733150000000-3"}}"#);
//! # Ok::<(), String>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use redis::Cmd;
use serde_json::{json, Value};

use crate::packet::{Packet, Recording, RedisCommand};
use crate::protocol::envelope::{channel, Body, Envelope, Sender};
use crate::protocol::Object;

/// The field a delivered message of a history-enabled room carries:
/// `{"room": <name>, "offset": <stream id>}`. Plain v4 clients ignore it.
pub const FIELD: &str = "history";

/// The field of `auth` in which a reconnecting client names the last offset it saw per room.
pub const REQUEST_FIELD: &str = "recover";

/// Rooms a recovery request may name (more are refused as a whole: 400).
pub const MAX_REQUEST_ROOMS: usize = 1024;

/// Entries replayed to one client for one room at most; beyond, `recovered: false`.
pub const MAX_REPLAY: usize = 100_000;

/// Entries read per round trip when replaying.
pub const PAGE: usize = 1000;

/// How much history a room keeps.
///
/// ```
/// let s = symple::history::Settings::default();
/// assert_eq!((s.size, s.age.as_secs()), (1000, 600));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Entries kept (about: `MAXLEN ~`, so a few more may stay).
    pub size: u64,
    /// How long an entry is kept; a room silent this long loses its stream.
    pub age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            size: 1000,
            age: Duration::from_secs(600),
        }
    }
}

impl Settings {
    fn age_ms(&self) -> u64 {
        u64::try_from(self.age.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// A position in a room's history: a Redis stream id, `<milliseconds>-<sequence>`.
/// Ordered as Redis orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset {
    ms: u64,
    seq: u64,
}

impl Offset {
    /// `0-0`, before every entry.
    pub const MIN: Offset = Offset { ms: 0, seq: 0 };
}

impl FromStr for Offset {
    type Err = String;

    /// Reads `<ms>-<seq>` (decimal digits only, as Redis writes them).
    ///
    /// ```
    /// use symple::history::Offset;
    /// assert!("1-0".parse::<Offset>().is_ok());
    /// for bad in ["", "1", "1-", "-1", "1-x", "+1-0", "1-0-0", "99999999999999999999-0"] {
    ///     assert!(bad.parse::<Offset>().is_err(), "{bad}");
    /// }
    /// ```
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("not a history offset (<ms>-<seq>): {:?}", clip(s));
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        let num = |t: &str| {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<u64>().map_err(|_| bad())
        };
        Ok(Offset {
            ms: num(ms)?,
            seq: num(seq)?,
        })
    }
}

/// At most 40 characters of outside input in an error message.
fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// The stream key of `room`: in the hash slot of the room's channel (`symple:room:<name>`),
/// so one script can append and publish on Redis Cluster. `None` for a name with braces
/// but no hash tag of its own (no key can share its channel's slot): such a room has no
/// history.
///
/// ```
/// use symple::history::key;
/// assert_eq!(key("a{b}c").as_deref(), Some("symple:history:a{b}c"));
/// assert_eq!(key("a{}c"), None);
/// ```
pub fn key(room: &str) -> Option<String> {
    let chan = channel::room(room);
    if hash_tag(&chan).is_some() {
        // The channel's tag lies in `room` (the prefix has no braces): the same tag here.
        return Some(["symple:history:", room].concat());
    }
    if room.contains(['{', '}']) {
        return None;
    }
    Some(["symple:history:{", &chan, "}"].concat())
}

/// Redis Cluster's hash tag of `key`: what lies between the first `{` and the next `}`,
/// when not empty.
fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let close = key[open + 1..].find('}')?;
    (close > 0).then(|| &key[open + 1..open + 1 + close])
}

/// Adds the [`FIELD`] of a message delivered from `room`'s history at `offset`.
pub fn stamp(message: &mut Object, room: &str, offset: Offset) {
    message.insert(
        FIELD.into(),
        json!({"room": room, "offset": offset.to_string()}),
    );
}

/// What a reconnecting client asks: per room, the last offset it saw, or none (it has seen
/// nothing there yet: it learns the room's current position).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Request {
    /// Rooms in the order asked, each with its offset (`Err` names a bad one).
    pub rooms: Vec<(String, Option<Result<Offset, String>>)>,
}

impl Request {
    /// Reads the `recover` field of an `auth` message: an object of room name to offset
    /// string or `null`. `Ok(None)` when there is no such field; `Err` when it is not an
    /// object, names too many rooms, or a room name is empty. A bad offset is kept as an
    /// `Err` for that room alone (answered `recovered: false` with the reason).
    ///
    /// ```
    /// use serde_json::json;
    /// use symple::history::Request;
    /// let auth = json!({"type": "auth", "recover": {"r1": "5-0", "r2": null, "r3": 7}});
    /// let req = Request::from_auth(auth.as_object().unwrap())?.unwrap();
    /// assert_eq!(req.rooms.len(), 3);
    /// assert_eq!(req.rooms[0].1, Some(Ok("5-0".parse().unwrap())));
    /// assert_eq!(req.rooms[1].1, None);
    /// assert!(matches!(req.rooms[2].1, Some(Err(_))));
    /// assert!(Request::from_auth(json!({"recover": []}).as_object().unwrap()).is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_auth(auth: &Object) -> Result<Option<Request>, String> {
        let Some(v) = auth.get(REQUEST_FIELD) else {
            return Ok(None);
        };
        let Value::Object(rooms) = v else {
            return Err(format!(
                "`{REQUEST_FIELD}` must be an object of room names to offsets"
            ));
        };
        if rooms.len() > MAX_REQUEST_ROOMS {
            return Err(format!(
                "`{REQUEST_FIELD}` names over {MAX_REQUEST_ROOMS} rooms"
            ));
        }
        let mut out = Request::default();
        for (room, offset) in rooms {
            if room.is_empty() {
                return Err(format!("`{REQUEST_FIELD}` names an empty room"));
            }
            let offset = match offset {
                Value::Null => None,
                Value::String(s) => Some(s.parse()),
                other => Some(Err(format!(
                    "an offset must be a string or null, not {}",
                    clip(&other.to_string())
                ))),
            };
            out.rooms.push((room.clone(), offset));
        }
        Ok(Some(out))
    }
}

/// One entry of a room's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its position.
    pub offset: Offset,
    /// The sending peer's session id; empty for a backend (emitter) message.
    pub sender: String,
    /// The message (JSON, without [`FIELD`]); `None` for the marker an empty room's
    /// position is anchored on.
    pub message: Option<String>,
}

/// The Lua script that appends a message to a room's history and publishes it: sent by its
/// SHA1 (`EVALSHA`), loaded when a connection opens (an ACL user needs `EVALSHA` and `EVAL`,
/// and `SCRIPT LOAD` for the load; see `README.md`).
///
/// KEYS: stream, channel (declared so a cluster runs the script on the node of their slot).
/// ARGV: size, age (ms), sender id (empty for a backend), message JSON, publish command,
/// envelope head and tail (the envelope is head, id, tail). Returns the new id.
///
/// ```
/// assert!(symple::history::RECORD.contains("MAXLEN"));
/// ```
// Entries older than the age are trimmed, and the key's expiry pushed back, by the first
// entry of each millisecond (its id ends in `-0`; the id's time is Redis's clock): a busy
// room pays for that once per millisecond, not once per message (TIME, XTRIM and PEXPIRE
// cost as much as the rest), and the caps hold within a millisecond.
pub const RECORD: &str = r"
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', ARGV[3], 'm', ARGV[4])
if string.sub(id, -2) == '-0' then
  local now = tonumber(string.sub(id, 1, -3))
  redis.call('XTRIM', KEYS[1], 'MINID', '~', math.max(0, now - tonumber(ARGV[2])))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
redis.call(ARGV[5], KEYS[2], ARGV[6] .. id .. ARGV[7])
return id
";

// KEYS: stream. ARGV: anchor id, count. The entries after the anchor, or false when the
// anchor is no longer there (trimmed, expired, or never was): what followed it may be lost.
// Read by the server only (recovery).
#[cfg(feature = "server")]
const READ: &str = r"
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end
return redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
";

// KEYS: stream. ARGV: size, age (ms). The id of the last entry; an empty or missing stream
// gets a marker entry (no message) first, so the position returned can be read from later.
// Read by the server only (recovery).
#[cfg(feature = "server")]
const POSITION: &str = r"
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then return last[1][1] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 's', '')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return id
";

// Used by the server only (the read scripts).
#[cfg(feature = "server")]
fn eval(script: &str, keys: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len()).arg(keys);
    cmd
}

/// The arguments of a record's `EVALSHA` (after the command name): the [`RECORD`] script's
/// SHA1, its keys (the stream, then `channel`) and its ARGV; `sharded` publishes with
/// SPUBLISH. A node that does not know the script answers NOSCRIPT and the connection sends
/// the command again with the script's text (see `crate::redis::script`).
pub(crate) fn record_args<'p>(
    r: &'p Recording,
    channel: &'p str,
    message: &'p [u8],
    sharded: bool,
) -> Vec<Cow<'p, [u8]>> {
    let num = |n: u64| Cow::Owned(n.to_string().into_bytes());
    vec![
        Cow::Borrowed(crate::redis::script::record_sha().as_bytes()),
        Cow::Borrowed(b"2"),
        Cow::Borrowed(r.key.as_bytes()),
        Cow::Borrowed(channel.as_bytes()),
        num(r.settings.size.max(1)),
        num(r.settings.age_ms()),
        Cow::Borrowed(r.sender.as_bytes()),
        Cow::Borrowed(message),
        Cow::Borrowed(if sharded { b"SPUBLISH" } else { b"PUBLISH" }),
        Cow::Borrowed(&r.head),
        Cow::Borrowed(&r.tail),
    ]
}

/// The packet that appends `message` (its JSON, `from` set) to `room`'s history and
/// publishes it on the room's channel as a [`Body::History`] envelope from `origin` (an
/// instance id, or empty from an emitter) numbered `seq`. `sender` is `None` for a
/// backend's message. `None` when the room cannot have history (see [`key`]).
pub(crate) fn record_packet(
    origin: &str,
    seq: u64,
    room: &str,
    sender: Option<Sender>,
    message: Vec<u8>,
    settings: &Settings,
) -> Option<Packet> {
    let key = key(room)?;
    let sender_id = sender.as_ref().map_or("", |s| s.id.as_str()).to_owned();
    // The envelope is written with a `null` message, which the message's JSON replaces
    // (the message is its last field), so the JSON is written once and never parsed.
    let env = Envelope::new(
        origin,
        seq,
        1,
        Body::History {
            offset: String::new(),
            room: room.to_owned(),
            sender: sender.map(Box::new),
            message: Value::Null,
        },
    );
    let (head, mut tail) = env.split_offset()?;
    if !tail.ends_with(NULL_END) {
        return None;
    }
    tail.truncate(tail.len() - NULL_END.len());
    tail.extend_from_slice(&message);
    tail.push(b'}');
    Some(Packet {
        channel: channel::room(room),
        payload: message,
        command: RedisCommand::Record(Box::new(Recording {
            key,
            settings: *settings,
            sender: sender_id,
            head,
            tail,
        })),
    })
}

/// How an envelope with a `null` message ends.
const NULL_END: &[u8] = b"null}";

/// The script that appends `message` (its `from` set) to `room`'s history and publishes it
/// (see [`record_packet`]). `cluster`: published with SPUBLISH, as the server's room
/// channels are on a Redis Cluster.
/// `None` when the room cannot have history (see [`key`]).
pub(crate) fn record(
    origin: &str,
    seq: u64,
    room: &str,
    sender: Option<Sender>,
    message: &Value,
    settings: &Settings,
    cluster: bool,
) -> Option<Cmd> {
    let packet = record_packet(
        origin,
        seq,
        room,
        sender,
        message.to_string().into_bytes(),
        settings,
    )?;
    Some(if cluster {
        crate::redis::resp::cluster_command(&packet).1
    } else {
        crate::redis::command(&packet)
    })
}

/// Appends backend messages to rooms' histories and publishes them to the server
/// instances holding those rooms (blocking; one node or a Redis Cluster). What an emitter
/// uses so its pushes to history-enabled rooms can be recovered.
///
/// ```no_run
/// use symple::history::{Recorder, Settings};
/// use symple::redis::ConnectOptions;
/// let rec = Recorder::open(ConnectOptions::new("redis://127.0.0.1:6379"), Settings::default())?;
/// let msg = serde_json::json!({"type": "message", "id": "m1", "from": "server", "to": "lobby", "data": {}});
/// let offset = rec.record("lobby", &msg)?;
/// println!("stored at {offset}");
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Debug)]
pub struct Recorder {
    conn: crate::redis::Connection,
    settings: Settings,
    cluster: bool,
}

impl Recorder {
    /// Connects (see [`crate::redis::Connection::open`]).
    pub fn open(opts: crate::redis::ConnectOptions, settings: Settings) -> crate::Result<Self> {
        let cluster = opts.endpoint()?.cluster;
        Ok(Recorder {
            conn: crate::redis::Connection::open(opts)?,
            settings,
            cluster,
        })
    }

    /// Appends `message` (a Symple message object; its `to` is not read) to `room`'s
    /// history and delivers it to the room's members and the sessions of the user of that
    /// name, like an emitter's packet; returns its offset.
    pub fn record(&self, room: &str, message: &Value) -> crate::Result<Offset> {
        let bad = |what: String| crate::Error::InvalidMessage(what);
        if !message.is_object() {
            return Err(bad("a history message must be a JSON object".into()));
        }
        let cmd = record("", 0, room, None, message, &self.settings, self.cluster)
            .ok_or_else(|| bad(format!("room {:?} cannot have history", clip(room))))?;
        let mut replies = self.conn.run(&[cmd], crate::redis::Order::Any)?;
        parse_offset(replies.pop().unwrap_or(redis::Value::Nil))
            .map_err(|e| bad(format!("unexpected reply from Redis: {e}")))
    }
}

/// The script that reads up to `count` entries after `after` (see [`parse_page`]).
// Read by the server only (recovery).
#[cfg(feature = "server")]
pub(crate) fn read_cmd(key: &str, after: Offset, count: usize) -> Cmd {
    let mut cmd = eval(READ, &[key]);
    cmd.arg(after.to_string()).arg(count);
    cmd
}

/// The script that gives the room's current position (see [`parse_offset`]).
// Read by the server only (recovery).
#[cfg(feature = "server")]
pub(crate) fn position_cmd(key: &str, settings: &Settings) -> Cmd {
    let mut cmd = eval(POSITION, &[key]);
    cmd.arg(settings.size.max(1)).arg(settings.age_ms());
    cmd
}

/// An id Redis returned.
pub(crate) fn parse_offset(v: redis::Value) -> Result<Offset, String> {
    let s: String = redis::from_redis_value(v).map_err(|e| e.to_string())?;
    s.parse()
}

/// A page of [`read_cmd`]: `None` when the anchor was gone.
// Read by the server only (recovery).
#[cfg(feature = "server")]
pub(crate) fn parse_page(v: redis::Value) -> Result<Option<Vec<Entry>>, String> {
    if matches!(v, redis::Value::Nil) {
        return Ok(None);
    }
    type Raw = Vec<(String, Vec<Vec<u8>>)>;
    let raw: Raw = redis::from_redis_value(v).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(raw.len());
    for (id, fields) in raw {
        let mut entry = Entry {
            offset: id.parse()?,
            sender: String::new(),
            message: None,
        };
        for pair in fields.chunks(2) {
            let [name, value] = pair else { break };
            match name.as_slice() {
                b"s" => entry.sender = String::from_utf8_lossy(value).into_owned(),
                b"m" => entry.message = Some(String::from_utf8_lossy(value).into_owned()),
                _ => {}
            }
        }
        out.push(entry);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::cluster_routing::Slot;

    #[test]
    fn a_rooms_stream_shares_its_channels_slot() {
        for room in [
            "lobby", "a{b}c", "{x}", "team-42", "é", "x}y", "a{b", "}{z}",
        ] {
            match key(room) {
                Some(k) => assert_eq!(
                    Slot::for_key(&k),
                    Slot::for_key(channel::room(room)),
                    "{room}: {k}"
                ),
                None => assert!(room.contains('{') || room.contains('}'), "{room}"),
            }
        }
        assert_eq!(key("x}y"), None);
        assert_eq!(key("a{b"), None);
    }

    #[test]
    fn offsets_order_and_print() {
        let a: Offset = "5-10".parse().unwrap();
        let b: Offset = "6-0".parse().unwrap();
        assert!(a < b && a.to_string() == "5-10");
        assert_eq!(
            "18446744073709551615-18446744073709551615"
                .parse::<Offset>()
                .map(|o| o.to_string())
                .as_deref(),
            Ok("18446744073709551615-18446744073709551615")
        );
    }

    #[test]
    fn requests_are_bounded() {
        let many: Object = (0..=MAX_REQUEST_ROOMS)
            .map(|i| (i.to_string(), Value::Null))
            .collect();
        let auth: Object = [(REQUEST_FIELD.to_owned(), Value::Object(many))]
            .into_iter()
            .collect();
        assert!(Request::from_auth(&auth).unwrap_err().contains("over"));
        let empty: Object = [(REQUEST_FIELD.to_owned(), json!({"": "1-0"}))]
            .into_iter()
            .collect();
        assert!(Request::from_auth(&empty).is_err());
        assert_eq!(Request::from_auth(&Object::new()), Ok(None));
    }
}
