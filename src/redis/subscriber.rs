//! The server's subscriptions: on one node, classic pub/sub (SUBSCRIBE) on a connection of
//! its own; on a Redis Cluster, the redis crate's cluster connection in RESP3 with a push
//! sender, and sharded pub/sub (SSUBSCRIBE) for the interest channels, so each room's and
//! peer's traffic is served by its slot's master only (the emitter and the server SPUBLISH
//! to them there, see [`resp::cluster_command`](crate::redis::resp::cluster_command)).
//! Fixed channels (`symple:broadcast`, `symple:logout`) stay classic everywhere.
//!
//! The cluster connection follows failovers and slot moves and subscribes again by itself,
//! but it sends one SSUBSCRIBE per node with every shard channel the node holds, which Redis
//! refuses (CROSSSLOT) as soon as they span two slots; so a lost node connection is reported
//! ([`Event::NodeLost`]) and the caller subscribes everything again, one command per slot.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use futures_util::StreamExt;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{PushInfo, PushKind, RedisResult, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::redis::aio::AsyncConnection;
use crate::redis::options::ConnectOptions;

/// Channels per (S)SUBSCRIBE / (S)UNSUBSCRIBE command on one node.
const CHUNK: usize = 1000;

/// Where subscription commands go.
pub(crate) enum Subscriber {
    /// Classic pub/sub on one node.
    Node(redis::aio::PubSubSink),
    /// A cluster: sharded pub/sub for interest channels.
    Cluster(ClusterConnection),
}

/// What a subscription receives.
pub(crate) enum Pushes {
    Node(redis::aio::PubSubStream),
    Cluster(UnboundedReceiver<PushInfo>),
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
            Pushes::Cluster(rx) => rx.recv().await.map(Push::Cluster),
        }
    }
}

impl Subscriber {
    /// Whether lost nodes are reported ([`Event::NodeLost`]) rather than ending the pushes.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Subscriber::Cluster(_))
    }

    /// Subscribes to fixed channels with classic SUBSCRIBE (every node of a cluster forwards
    /// classic messages, so one node's subscription receives them all).
    pub(crate) async fn subscribe_classic(&mut self, channels: &[&str]) -> RedisResult<()> {
        match self {
            Subscriber::Node(sink) => sink.subscribe(channels).await,
            Subscriber::Cluster(conn) => conn.subscribe(channels).await,
        }
    }

    /// Subscribes to interest channels: SUBSCRIBE on one node; on a cluster one SSUBSCRIBE
    /// per slot, sent concurrently. Returns once Redis confirmed them all.
    pub(crate) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        self.change(channels, true).await
    }

    /// Unsubscribes from interest channels (UNSUBSCRIBE, or SUNSUBSCRIBE per slot).
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
            Subscriber::Cluster(conn) => {
                let sends = by_slot(channels).into_iter().map(|group| {
                    let mut conn = conn.clone();
                    async move {
                        for chunk in group.chunks(CHUNK) {
                            if on {
                                conn.ssubscribe(chunk).await?;
                            } else {
                                conn.sunsubscribe(chunk).await?;
                            }
                        }
                        Ok::<_, redis::RedisError>(())
                    }
                });
                try_join_all(sends).await.map(drop)
            }
        }
    }
}

/// `channels` grouped by slot: a sharded (un)subscribe names channels of one slot only.
fn by_slot(channels: &[String]) -> Vec<Vec<&str>> {
    let mut groups: HashMap<Slot, Vec<&str>> = HashMap::new();
    for c in channels {
        groups
            .entry(Slot::for_key(c.as_bytes()))
            .or_default()
            .push(c);
    }
    groups.into_values().collect()
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
        let client = endpoint
            .cluster_builder(opts)
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(tx)
            .build()?;
        let bound = opts.connect_timeout + opts.response_timeout;
        return match tokio::time::timeout(bound, client.get_async_connection()).await {
            Ok(c) => Ok((Subscriber::Cluster(c?), Pushes::Cluster(rx))),
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no cluster node answered",
            ))),
        };
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
    use super::by_slot;

    #[test]
    fn sharded_subscriptions_name_one_slot_each() {
        let channels: Vec<String> = ["a", "{a}x", "b", "{b}y", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut groups = by_slot(&channels);
        for g in &mut groups {
            g.sort();
        }
        groups.sort();
        assert_eq!(groups, [vec!["a", "{a}x"], vec!["b", "{b}y"], vec!["c"]]);
    }
}
