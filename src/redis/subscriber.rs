//! The server's subscriptions: on one node, classic pub/sub (SUBSCRIBE) on a connection of
//! its own; on a Redis Cluster, sharded pub/sub (SSUBSCRIBE) for the interest channels, so
//! each room's and peer's traffic is served by its slot's master only (the emitter and the
//! server SPUBLISH to them there, see
//! [`resp::cluster_command`](crate::redis::resp::cluster_command)). Fixed channels
//! (`symple:broadcast`, `symple:logout`) stay classic everywhere.
//!
//! On a cluster there is one RESP3 connection per master (from `CLUSTER SLOTS`, asked of the
//! first node that answers: those of the last topology, then the URL's seeds), each channel
//! SSUBSCRIBEd on its own (one confirmation per command). Not the redis crate's cluster
//! connection: its own resubscription after a failover sends all of a node's channels in one
//! SSUBSCRIBE, which Redis refuses (CROSSSLOT) when they span several slots, and answers with
//! one confirmation per channel, which it takes as the replies of later commands. Any change (a lost node connection [`Event::NodeLost`], a
//! subscription a node ended itself [`Event::Unsubscribed`], a refused command) is handled
//! by the caller with [`Subscriber::reopen`]: a fresh topology, fresh connections, everything
//! subscribed again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use redis::aio::MultiplexedConnection;
use redis::cluster_routing::Slot;
use redis::{PushInfo, PushKind, RedisResult, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::redis::aio::AsyncConnection;
use crate::redis::options::{ConnectOptions, Endpoint};

/// Sharded (un)subscribe commands in flight at once on a cluster.
const IN_FLIGHT: usize = 64;

/// Channels per SUBSCRIBE / UNSUBSCRIBE command on one node.
const CHUNK: usize = 1000;

/// Where subscription commands go.
pub(crate) enum Subscriber {
    /// Classic pub/sub on one node.
    Node(redis::aio::PubSubSink),
    /// A cluster: sharded pub/sub for interest channels.
    Cluster(Box<Shards>),
}

/// What a subscription receives.
pub(crate) enum Pushes {
    Node(redis::aio::PubSubStream),
    /// Pushes of every master's connection, tagged with the [`Shards`] generation that
    /// opened it (those of closed connections are dropped).
    Cluster(UnboundedReceiver<(u64, PushInfo)>, Arc<AtomicU64>),
}

/// One connection per master of a cluster, and which slots each serves.
pub(crate) struct Shards {
    endpoint: Endpoint,
    opts: ConnectOptions,
    /// Nodes to ask for the topology: all of the last one's, then the seeds.
    known: Vec<(String, u16)>,
    tx: UnboundedSender<(u64, PushInfo)>,
    generation: Arc<AtomicU64>,
    /// Slot -> index in `masters`.
    owner: HashMap<Slot, usize>,
    masters: Vec<MultiplexedConnection>,
}

/// One item received.
pub(crate) enum Push {
    Node(redis::Msg),
    Cluster(PushInfo),
}

/// What a [`Push`] means to the subscriber.
pub(crate) enum Event<'a> {
    /// A message on a channel.
    Message { channel: &'a str, payload: &'a [u8] },
    /// A cluster node's connection closed: its subscriptions are to be made again.
    NodeLost,
    /// A shard channel's subscription ended: the caller's own SUNSUBSCRIBE, or the node's
    /// doing when the slot left it (a replica promoted in a failover drops the shard
    /// subscriptions it held as a replica; a resharded slot).
    Unsubscribed(&'a str),
    /// A confirmation or anything else.
    Other,
}

impl Push {
    pub(crate) fn event(&self) -> Event<'_> {
        match self {
            Push::Node(m) => Event::Message {
                channel: m.get_channel_name(),
                payload: m.get_payload_bytes(),
            },
            Push::Cluster(p) => match (&p.kind, &p.data[..]) {
                (PushKind::Disconnection, _) => Event::NodeLost,
                (PushKind::SUnsubscribe, [Value::BulkString(channel), ..]) => {
                    match std::str::from_utf8(channel) {
                        Ok(channel) => Event::Unsubscribed(channel),
                        Err(_) => Event::Other,
                    }
                }
                (
                    PushKind::Message | PushKind::SMessage,
                    [Value::BulkString(channel), Value::BulkString(payload)],
                ) => match std::str::from_utf8(channel) {
                    Ok(channel) => Event::Message { channel, payload },
                    Err(_) => Event::Other,
                },
                _ => Event::Other,
            },
        }
    }
}

impl Pushes {
    /// The next item; `None` when the connection is gone for good.
    pub(crate) async fn next(&mut self) -> Option<Push> {
        match self {
            Pushes::Node(s) => s.next().await.map(Push::Node),
            Pushes::Cluster(rx, generation) => loop {
                let (g, push) = rx.recv().await?;
                if g == generation.load(Ordering::Relaxed) {
                    return Some(Push::Cluster(push));
                }
            },
        }
    }
}

impl Subscriber {
    /// Whether lost nodes are reported ([`Event::NodeLost`]) rather than ending the pushes.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Subscriber::Cluster(_))
    }

    /// On a cluster, starts over: the masters as the cluster lists them now, new connections
    /// (the old ones close, and their subscriptions with them), nothing subscribed yet.
    pub(crate) async fn reopen(&mut self) -> RedisResult<()> {
        match self {
            Subscriber::Node(_) => Ok(()),
            Subscriber::Cluster(shards) => shards.open().await,
        }
    }

    /// PINGs every subscription connection, each answer awaited at most `within`: a node that
    /// vanished without closing its socket (a network partition, a stopped process) would
    /// otherwise go unnoticed, its subscriptions silently dead, until a command fails.
    pub(crate) async fn ping(&mut self, within: Duration) -> RedisResult<()> {
        match self {
            Subscriber::Node(sink) => bounded(within, sink.ping::<Value>()).await,
            Subscriber::Cluster(shards) => {
                let pings = shards.masters.iter().map(|conn| {
                    let mut conn = conn.clone();
                    bounded(within, async move {
                        redis::cmd("PING").query_async::<Value>(&mut conn).await
                    })
                });
                futures_util::future::try_join_all(pings).await.map(drop)
            }
        }
    }

    /// Subscribes to fixed channels with classic SUBSCRIBE (every node of a cluster forwards
    /// classic messages, so one master's subscription receives them all).
    pub(crate) async fn subscribe_classic(&mut self, channels: &[&str]) -> RedisResult<()> {
        match self {
            Subscriber::Node(sink) => sink.subscribe(channels).await,
            Subscriber::Cluster(shards) => match shards.masters.first_mut() {
                Some(conn) => conn.subscribe(channels).await,
                None => Err(no_master()),
            },
        }
    }

    /// Subscribes to interest channels: SUBSCRIBE on one node; on a cluster one SSUBSCRIBE
    /// per channel to its slot's master, pipelined. Returns once Redis confirmed them all.
    pub(crate) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        self.change(channels, true).await
    }

    /// Unsubscribes from interest channels (UNSUBSCRIBE, or SUNSUBSCRIBE per channel).
    pub(crate) async fn unsubscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        self.change(channels, false).await
    }

    async fn change(&mut self, channels: &[String], on: bool) -> RedisResult<()> {
        match self {
            Subscriber::Node(sink) => {
                for chunk in channels.chunks(CHUNK) {
                    if on {
                        sink.subscribe(chunk).await?;
                    } else {
                        sink.unsubscribe(chunk).await?;
                    }
                }
                Ok(())
            }
            Subscriber::Cluster(shards) => {
                let name = if on { "SSUBSCRIBE" } else { "SUNSUBSCRIBE" };
                let targets: Vec<_> = channels
                    .iter()
                    .map(|c| (shards.master_of(c).cloned(), c.clone()))
                    .collect();
                let sends = targets.into_iter().map(|(conn, c)| {
                    async move {
                        let mut conn = conn.ok_or_else(no_master)?;
                        // One channel per command: one confirmation, the command's one reply.
                        redis::cmd(name)
                            .arg(c)
                            .query_async::<Value>(&mut conn)
                            .await
                    }
                });
                futures_util::stream::iter(sends)
                    .buffer_unordered(IN_FLIGHT)
                    .try_collect::<Vec<_>>()
                    .await
                    .map(drop)
            }
        }
    }
}

/// `answer`, failed when it takes longer than `within`.
async fn bounded<T>(
    within: Duration,
    answer: impl Future<Output = RedisResult<T>>,
) -> RedisResult<()> {
    match tokio::time::timeout(within, answer).await {
        Ok(answer) => answer.map(drop),
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "no answer to PING in time",
        ))),
    }
}

fn no_master() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "no master serves the channel's slot"))
}

impl Shards {
    /// The connection to the master serving `channel`'s slot.
    fn master_of(&self, channel: &str) -> Option<&MultiplexedConnection> {
        let i = self.owner.get(&Slot::for_key(channel.as_bytes()))?;
        self.masters.get(*i)
    }

    /// Reads the masters (`CLUSTER SLOTS`) and connects to each; the pushes of earlier
    /// connections are dropped from now on.
    async fn open(&mut self) -> RedisResult<()> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.masters.clear();
        self.owner.clear();
        let reply = self.topology().await?;
        let mut addrs: Vec<(String, u16)> = Vec::new();
        let mut known = Vec::new();
        for range in reply {
            let Some((first, last, addr, replicas)) = slot_range(range) else {
                continue;
            };
            known.push(addr.clone());
            known.extend(replicas);
            let i = match addrs.iter().position(|a| *a == addr) {
                Some(i) => i,
                None => {
                    addrs.push(addr);
                    addrs.len() - 1
                }
            };
            for n in first..=last {
                if let Some(slot) = Slot::new(n) {
                    self.owner.insert(slot, i);
                }
            }
        }
        for (host, port) in addrs {
            let conn = self.connect(host, port, generation, true).await?;
            self.masters.push(conn);
        }
        known.extend(self.seeds());
        let mut seen = std::collections::HashSet::new();
        known.retain(|a| seen.insert(a.clone()));
        self.known = known;
        Ok(())
    }

    /// `CLUSTER SLOTS` from the first known node that answers (each bounded by the connect
    /// and the response timeout): not through the cluster connection, which may be waiting
    /// out a dead node's timeouts during a failover.
    async fn topology(&self) -> RedisResult<Vec<Value>> {
        let mut last = no_master();
        for (host, port) in &self.known {
            let attempt = async {
                let mut conn = self.connect(host.clone(), *port, 0, false).await?;
                redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async::<Vec<Value>>(&mut conn)
                    .await
            };
            let bound = self.opts.connect_timeout + self.opts.response_timeout;
            match tokio::time::timeout(bound, attempt).await {
                Ok(Ok(slots)) => return Ok(slots),
                Ok(Err(e)) => last = e,
                Err(_) => last = redis::RedisError::from((redis::ErrorKind::Io, "no answer")),
            }
        }
        Err(last)
    }

    /// The URL's nodes.
    fn seeds(&self) -> Vec<(String, u16)> {
        self.endpoint
            .nodes
            .iter()
            .filter_map(|n| match n.addr() {
                redis::ConnectionAddr::Tcp(h, p)
                | redis::ConnectionAddr::TcpTls {
                    host: h, port: p, ..
                } => Some((h.clone(), *p)),
                _ => None,
            })
            .collect()
    }

    async fn connect(
        &self,
        host: String,
        port: u16,
        generation: u64,
        subscriber: bool,
    ) -> RedisResult<MultiplexedConnection> {
        let addr = if self.endpoint.tls.is_some() {
            redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure: false,
                tls_params: None,
            }
        } else {
            redis::ConnectionAddr::Tcp(host, port)
        };
        let seed = &self.endpoint.nodes[0];
        let mut info = seed.clone().set_addr(addr);
        let mut config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.opts.connect_timeout))
            .set_response_timeout(Some(self.opts.response_timeout));
        if subscriber {
            info = info.set_redis_settings(
                seed.redis_settings()
                    .clone()
                    .set_protocol(redis::ProtocolVersion::RESP3),
            );
            let tx = self.tx.clone();
            config = config.set_push_sender(move |p: PushInfo| tx.send((generation, p)));
        }
        self.endpoint
            .node_client(&info)?
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }
}

/// A node in `CLUSTER SLOTS`: host and port.
fn node_addr(v: &Value) -> Option<(String, u16)> {
    let Value::Array(node) = v else {
        return None;
    };
    let host = match node.first()? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    match node.get(1)? {
        Value::Int(n) => Some((host, u16::try_from(*n).ok()?)),
        _ => None,
    }
}

/// One entry of `CLUSTER SLOTS`: first slot, last slot, the master's host and port, and the
/// replicas'.
#[allow(clippy::type_complexity)]
fn slot_range(range: Value) -> Option<(u16, u16, (String, u16), Vec<(String, u16)>)> {
    let Value::Array(fields) = range else {
        return None;
    };
    let int = |v: &Value| match v {
        Value::Int(n) => u16::try_from(*n).ok(),
        _ => None,
    };
    let first = int(fields.first()?)?;
    let last = int(fields.get(1)?)?;
    let master = node_addr(fields.get(2)?)?;
    let replicas = fields.iter().skip(3).filter_map(node_addr).collect();
    Some((first, last, master, replicas))
}

/// A subscription connection to `opts`' Redis (`conn` tells whether it is a cluster). On one
/// node each attempt is bounded by the connect timeout; on a cluster by the connect and the
/// response timeout.
pub(crate) async fn connect(
    opts: &ConnectOptions,
    conn: &AsyncConnection,
) -> RedisResult<(Subscriber, Pushes)> {
    let endpoint = opts.endpoint().map_err(|e| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "bad URL",
            e.to_string(),
        ))
    })?;
    if let AsyncConnection::Cluster(_) = conn {
        let (tx, rx) = unbounded_channel();
        let generation = Arc::new(AtomicU64::new(0));
        let mut shards = Shards {
            endpoint,
            opts: opts.clone(),
            known: Vec::new(),
            tx,
            generation: generation.clone(),
            owner: HashMap::new(),
            masters: Vec::new(),
        };
        shards.known = shards.seeds();
        shards.open().await?;
        return Ok((
            Subscriber::Cluster(Box::new(shards)),
            Pushes::Cluster(rx, generation),
        ));
    }
    let mut last = None;
    for info in &endpoint.nodes {
        let attempt = async {
            let client = endpoint.node_client(info)?;
            client.get_async_pubsub().await
        };
        match tokio::time::timeout(opts.connect_timeout, attempt).await {
            Ok(Ok(p)) => {
                let (sink, stream) = p.split();
                return Ok((Subscriber::Node(sink), Pushes::Node(stream)));
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer from a node",
                )))
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        redis::RedisError::from((redis::ErrorKind::Io, "no node to subscribe on"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_slots_entries() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = Value::Array(vec![
            Value::Int(0),
            Value::Int(5460),
            Value::Array(vec![bulk("127.0.0.1"), Value::Int(7000), bulk("id1")]),
            Value::Array(vec![bulk("127.0.0.1"), Value::Int(7003), bulk("id2")]),
        ]);
        assert_eq!(
            slot_range(entry),
            Some((
                0,
                5460,
                ("127.0.0.1".to_owned(), 7000),
                vec![("127.0.0.1".to_owned(), 7003)]
            ))
        );
        assert_eq!(slot_range(Value::Array(vec![Value::Int(0)])), None);
    }
}
