//! The connection layer: the only code that talks to Redis.
//!
//! - [`options`]: the URL forms (`redis://`, `rediss://`, `redis+cluster://`, ACL users,
//!   database numbers), TLS settings and timeouts;
//! - `resp`: a [`Packet`] as the command that sends it (RESP packing); `script`: scripts
//!   sent by SHA1, sent again with their text where a node answers NOSCRIPT;
//! - `wire`: our own stream to one node (TCP, TLS, Unix socket) with a reply reader that
//!   counts a pipeline's PUBLISH replies instead of parsing each (`tls`: its rustls settings);
//! - [`Connection`]: blocking, one node or a Redis Cluster; [`Pool`]: several, one per call
//!   in flight; [`Queued`]: a background writer over one; `aio`: the async connection (one
//!   node or a cluster) of the async emitter, the async session store and the server;
//!   `subscriber`: the server's subscriptions (classic on one node, sharded on a cluster).
//!
//! On a cluster, MOVED/ASK redirections, failovers and topology changes are the redis
//! crate's job; packets are grouped by the slot of their key (PUBLISH, which any node
//! accepts, goes out as one pipeline). There the server's interest channels (`symple:room:*`,
//! `symple:peer:*`) use sharded pub/sub: SPUBLISH and SSUBSCRIBE.

pub(crate) mod aio;
mod cluster;
mod conn;
pub mod options;
mod pending;
mod pool;
mod queued;
pub(crate) mod resp;
pub(crate) mod script;
mod single;
#[cfg(feature = "server")]
pub(crate) mod subscriber;
#[cfg(feature = "tls")]
mod tls;
mod wire;

use std::fmt;
use std::sync::Arc;

pub use conn::Connection;
pub use options::{default_url, ConnectOptions};
pub use pool::Pool;
pub use queued::Queued;
pub use resp::command;

use crate::error::{Error, Redacted, Result};
use crate::packet::{one_packet, Packet, Sink};

/// Something that publishes packets. Blocking; shared between threads.
pub trait Publisher: Send + Sync + fmt::Debug {
    /// Publishes one packet.
    fn publish(&self, packet: Packet) -> Result<()>;
    /// Publishes packets in one pipelined round trip (per node, on a cluster).
    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()>;
    /// Publishes the one packet `write` puts into a [`Sink`]. A queued publisher has it
    /// encoded straight into its queue.
    fn publish_with(&self, write: &mut dyn FnMut(&mut dyn Sink) -> Result<()>) -> Result<()> {
        self.publish(one_packet(|sink| write(sink))?)
    }
    /// [`publish_batch`](Self::publish_batch) of the packets `next` puts into a [`Sink`], about
    /// `hint` of them, until it gives `Ok(false)`; an error from it means nothing is sent. A
    /// connection to one node has them encoded straight into the pipeline's bytes.
    fn publish_each(
        &self,
        hint: usize,
        next: &mut dyn FnMut(&mut dyn Sink) -> Result<bool>,
    ) -> Result<()> {
        let mut packets = Vec::with_capacity(hint);
        while next(&mut packets)? {}
        self.publish_batch(packets)
    }
    /// Publishes only if that needs no waiting: `Ok(None)` once handed over, `Ok(Some(packet))`
    /// back otherwise (a full queue; a publisher that always waits for Redis).
    fn try_publish(&self, packet: Packet) -> Result<Option<Packet>> {
        Ok(Some(packet))
    }
    /// Waits until everything handed over so far is acknowledged by Redis; reports the first
    /// failure since the last flush.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

/// The length of the whole Redis reply (RESP2 or RESP3) at the start of `bytes`: `Ok(None)`
/// while it is incomplete, `Err` for bytes that are not a reply. The one-node connection
/// finds a pipeline's replies with it; public for the fuzz target.
///
/// ```
/// assert_eq!(symple::redis::reply_len(b":1\r\n:2\r\n"), Ok(Some(4)));
/// assert_eq!(symple::redis::reply_len(b"*2\r\n:1\r\n"), Ok(None));
/// assert!(symple::redis::reply_len(b"hello\r\n").is_err());
/// ```
#[doc(hidden)]
pub fn reply_len(bytes: &[u8]) -> std::result::Result<Option<usize>, &'static str> {
    wire::frame_len(bytes)
}

/// Shared handle to a publisher.
pub type SharedPublisher = Arc<dyn Publisher>;

/// The order in which [`Connection::run`] may send commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Each command runs after the previous one has (on one node: pipelined, since Redis
    /// runs a connection's commands in order; on a cluster: one reply before the next send).
    Sequential,
    /// Any order (on a cluster: concurrently, each to its node).
    Any,
}

/// A connection error for `url`, with a hint when the cause is a likely one.
pub(crate) fn connect_error(url: &Redacted, err: redis::RedisError) -> Error {
    Error::Connection {
        url: url.to_string(),
        hint: hint(&url.0, &err),
        source: err,
    }
}

/// What to check for `err` on `url`: TLS on a plain port (or the reverse), a login.
pub(crate) fn hint(url: &str, err: &redis::RedisError) -> String {
    let tls = url.trim_start().to_ascii_lowercase().starts_with("rediss");
    let text = err.to_string();
    let h = if crate::error::is_auth(err) {
        if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm)
            || err.code() == Some("NOPERM")
        {
            // Logged in, but this user may not run the command or touch the key or channel.
            "; the ACL user may not use this command, key or channel (see ACL SETUSER)"
        } else if text.contains("NOAUTH") {
            "; this server wants a login: give it in the URL (redis://user:password@host)"
        } else {
            "; check the user name and password in the URL"
        }
    } else if tls && text.contains("certificate") {
        "; the server's certificate is not trusted: give its CA with ?tls_ca=/path/ca.pem"
    } else if tls
        && (err.is_timeout()
            || text.contains("corrupt message")
            || text.contains("InvalidContentType"))
    {
        "; the server did not answer in TLS: if this is a plain (non-TLS) port, use redis://"
    } else if !tls
        && !err.is_connection_refusal()
        && (err.is_timeout() || err.is_connection_dropped() || text.contains("closed"))
    {
        "; if this port expects TLS, use rediss://"
    } else {
        ""
    };
    h.to_owned()
}

/// The reverse of a cluster URL at a plain node: a `redis://` URL at a node of a Redis
/// Cluster would work for PUBLISH and fail later with MOVED, so it is refused at connect.
/// `info` is the reply to `INFO cluster`; a user not allowed to run INFO is let through.
pub(crate) fn check_not_cluster(url: &Redacted, info: redis::RedisResult<String>) -> Result<()> {
    match info {
        Ok(text) if text.contains("cluster_enabled:1") => Err(Error::Connection {
            url: url.to_string(),
            source: redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "this node is part of a Redis Cluster",
            )),
            hint: "; use redis+cluster:// (or rediss+cluster://) with one or more of its nodes"
                .into(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) => Ok(()),
        Err(e) => Err(connect_error(url, e)),
    }
}
