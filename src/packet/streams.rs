//! Redis Streams adapter packets: what `@socket.io/redis-streams-adapter` 0.3 reads. An XADD
//! to its stream (`socket.io` by default), trimmed as the adapter trims it (`MAXLEN ~ 10000`
//! by default), of an entry with the fields `uid`, `nsp`, `type` (the cluster message type as
//! text) and `data` (the message's data as JSON, see `cluster.rs`).
//!
//! Every server reads the stream with `XREAD BLOCK … STREAMS <stream> <last id>`, starting
//! from `$` (entries added after it started), so an entry reaches every server once, in
//! order. The entry id is the offset a client with connection-state recovery resumes from, so
//! a reconnecting client also receives the broadcasts it missed.
//!
//! With the adapter's `streamCount` above 1, a namespace's entries go to the stream
//! `<stream>-<i>`, `i` the namespace's hash modulo the count.

use std::borrow::Cow;

use crate::error::Error;
use crate::packet::cluster::{self, BROADCAST, UID};
use crate::packet::socketio::{Broadcast, Request, DEFAULT_NAMESPACE};
use crate::packet::view::JsonView;
use crate::packet::{Adapter, EventArgs, Packet, StreamEntry};

/// The adapter's default stream name.
pub const DEFAULT_STREAM: &str = "socket.io";
/// The adapter's default trim threshold (`MAXLEN ~ 10000`).
pub const DEFAULT_MAXLEN: u64 = 10_000;

/// Where stream packets go: the namespace, the stream name, the trim threshold and the
/// adapter's stream count.
///
/// ```
/// use symple::packet::streams::Streams;
/// let s = Streams::default().stream("events")?.maxlen(500)?;
/// assert_eq!(s.stream_key()?, "events");
/// assert_eq!(s.of("/chat").stream_count(2)?.stream_key()?, "events-1");
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streams {
    namespace: String,
    stream: String,
    maxlen: u64,
    stream_count: u32,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            namespace: DEFAULT_NAMESPACE.into(),
            stream: DEFAULT_STREAM.into(),
            maxlen: DEFAULT_MAXLEN,
            stream_count: 1,
        }
    }
}

impl Streams {
    /// The defaults in `namespace` (a missing leading `/` is added).
    pub fn new(namespace: &str) -> Self {
        Streams::default().of(namespace)
    }

    /// The adapter's `streamName`.
    pub fn stream(mut self, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        if name.is_empty() {
            return Err(Error::InvalidConfig("empty stream name".into()));
        }
        self.stream = name;
        Ok(self)
    }

    /// The adapter's `maxLen`: each XADD trims the stream to about this many entries. At
    /// least 1: a reconnecting client finds missed broadcasts only while they are kept.
    pub fn maxlen(mut self, maxlen: u64) -> Result<Self, Error> {
        if maxlen == 0 {
            return Err(Error::InvalidConfig(
                "maxlen must be at least 1 (the adapter's maxLen; its default is 10000)".into(),
            ));
        }
        self.maxlen = maxlen;
        Ok(self)
    }

    /// The adapter's `streamCount` (default 1).
    pub fn stream_count(mut self, count: u32) -> Result<Self, Error> {
        if count == 0 || count > i32::MAX as u32 {
            return Err(Error::InvalidConfig(format!(
                "stream_count must be between 1 and {}, not {count}",
                i32::MAX
            )));
        }
        self.stream_count = count;
        Ok(self)
    }

    /// The same stream settings in another namespace.
    pub fn of(&self, namespace: &str) -> Self {
        Streams {
            namespace: if namespace.starts_with('/') {
                namespace.to_owned()
            } else {
                format!("/{namespace}")
            },
            ..self.clone()
        }
    }

    /// The namespace, starting with `/`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The stream name option.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The trim threshold.
    pub fn max_len(&self) -> u64 {
        self.maxlen
    }

    /// The stream count option.
    pub fn count(&self) -> u32 {
        self.stream_count
    }

    /// The key the namespace's entries go to (the adapter's `computeStreamName`). An error
    /// when the adapter would put them in a stream its servers never read: with several
    /// streams, a namespace whose hash is negative (JavaScript's `%` keeps the sign).
    pub fn stream_key(&self) -> Result<String, Error> {
        if self.stream_count == 1 {
            return Ok(self.stream.clone());
        }
        // `hashCode` in the adapter's util.js: 31 * h + c over UTF-16 units, kept in 32 bits.
        let hash = self
            .namespace
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        let i = hash % self.stream_count as i32;
        if i < 0 {
            return Err(Error::InvalidConfig(format!(
                "namespace {:?} maps to stream \"{}-{i}\" with stream_count {}, which the Redis \
                 Streams adapter's servers never read (its hash is negative); use another \
                 namespace or stream_count 1",
                self.namespace, self.stream, self.stream_count
            )));
        }
        Ok(format!("{}-{i}", self.stream))
    }

    fn packet(&self, kind: u8, data: Vec<u8>) -> Result<Packet, Error> {
        let entry = StreamEntry {
            maxlen: Some(self.maxlen),
            fields: vec![
                (Cow::Borrowed("uid"), Cow::Borrowed(UID)),
                (Cow::Borrowed("nsp"), Cow::Owned(self.namespace.clone())),
                (Cow::Borrowed("type"), Cow::Owned(kind.to_string())),
            ],
            payload_field: Cow::Borrowed("data"),
        };
        Ok(Packet::xadd(self.stream_key()?, entry, data))
    }
}

/// Events as an entry of type 3 and requests as entries of type 4, 5 or 6, each one XADD to
/// [`Streams::stream_key`].
///
/// ```
/// use symple::packet::{socketio::{Broadcast, Request}, streams::Streams, Adapter};
/// let p = Streams::default().encode_event(&Broadcast::default(), "message", &[serde_json::json!({"a": 1})])?;
/// assert_eq!((p.command_name(), p.channel.as_str()), ("XADD", "socket.io"));
/// let args: Vec<String> = p.args().iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
/// assert_eq!(args, [
///     "socket.io", "MAXLEN", "~", "10000", "*", "uid", "emitter", "nsp", "/", "type", "3", "data",
///     r#"{"packet":{"type":2,"data":["message",{"a":1}]},"opts":{"rooms":[],"except":[],"flags":{}}}"#,
/// ]);
/// let mut b = Broadcast::default();
/// b.add_rooms([symple::Room::from("alice")]);
/// let p = Streams::default().encode_request(&b, &Request::Join(vec!["vip".into()]))?;
/// assert_eq!(p.payload, br#"{"opts":{"rooms":["alice"],"except":[],"flags":{}},"rooms":["vip"]}"#);
/// # Ok::<(), symple::Error>(())
/// ```
impl Adapter for Streams {
    fn encode<'a, V: JsonView<'a>>(
        &self,
        broadcast: &Broadcast,
        event: &str,
        args: EventArgs<'_, 'a, V>,
    ) -> Result<Packet, Error> {
        let mut data = Vec::with_capacity(128 + 448 * args.len());
        cluster::write_broadcast(&mut data, broadcast, event, args)?;
        self.packet(BROADCAST, data)
    }

    fn encode_request(&self, broadcast: &Broadcast, request: &Request) -> Result<Packet, Error> {
        let mut data = Vec::with_capacity(128);
        let kind = cluster::write_request(&mut data, broadcast, request)?;
        self.packet(kind, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_follow_the_adapters_hash() {
        // hashCode: "/" 47, "/chat" 46457863, "/symple" -2124510543 (% 3 is -0, written
        // "0" by JavaScript), "/private" -6790540 (% 3 is -1).
        let s = Streams::default().stream_count(3).unwrap();
        assert_eq!(s.stream_key().unwrap(), "socket.io-2");
        assert_eq!(s.of("chat").stream_key().unwrap(), "socket.io-1");
        assert_eq!(s.of("/symple").stream_key().unwrap(), "socket.io-0");
        let e = s.of("/private").stream_key().unwrap_err();
        assert!(e.to_string().contains("never read"), "{e}");
        assert_eq!(
            Streams::default().of("/private").stream_key().unwrap(),
            "socket.io"
        );
    }

    #[test]
    fn refuses_bad_options() {
        assert!(Streams::default().stream("").is_err());
        assert!(Streams::default().maxlen(0).is_err());
        assert!(Streams::default().stream_count(0).is_err());
        assert!(Streams::default().stream_count(u32::MAX).is_err());
    }

    #[test]
    fn disconnect_entry() {
        let p = Streams::new("chat")
            .encode_request(&Broadcast::default(), &Request::Disconnect(true))
            .unwrap();
        let args: Vec<Vec<u8>> = p.args().into_iter().map(|a| a.into_owned()).collect();
        assert_eq!(args[8], b"/chat");
        assert_eq!(args[10], b"6");
        assert_eq!(
            p.payload,
            br#"{"opts":{"rooms":[],"except":[],"flags":{}},"close":true}"#
        );
    }
}
