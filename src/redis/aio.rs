//! The async connection: one node (a connection manager, which reconnects by itself) or a
//! Redis Cluster (the redis crate's cluster connection, which follows MOVED/ASK and
//! failovers). The blocking cluster link runs the same code on a private runtime.

use std::collections::HashMap;

use futures_util::future::join_all;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{aio::ConnectionManager, RedisResult, Value};

use crate::error::{Error, Redacted, Result};
use crate::packet::Packet;
use crate::redis::options::{ConnectOptions, Endpoint};
use crate::redis::{check_not_cluster, connect_error, resp, script, Order};

/// An async connection, cheap to clone.
#[derive(Clone)]
pub(crate) enum AsyncConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl AsyncConnection {
    /// Connects to the URL of `opts`: fails at once when Redis cannot be reached, the login
    /// is refused, or the URL's kind (cluster or not) is not the server's.
    pub(crate) async fn connect(opts: &ConnectOptions) -> Result<Self> {
        let endpoint = opts.endpoint()?;
        let url = opts.redacted();
        if endpoint.cluster {
            return connect_cluster(opts, &endpoint).await.map(Self::Cluster);
        }
        let client = endpoint.client().map_err(|e| connect_error(&url, e))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(opts.connect_timeout))
            .set_response_timeout(Some(opts.response_timeout))
            .set_number_of_retries(1);
        let mut conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| connect_error(&url, e))?;
        let info = redis::cmd("INFO")
            .arg("cluster")
            .query_async::<String>(&mut conn)
            .await;
        check_not_cluster(&url, info)?;
        script::loaded(script::load_cmd().query_async(&mut conn).await);
        Ok(Self::Single(conn))
    }

    /// Publishes `packets`: one pipeline on one node; on a cluster one pipeline per slot of
    /// the packets' keys (classic PUBLISH packets, which any node takes, all in one; interest
    /// channels' as SPUBLISH to their shard, see [`resp::cluster_command`]), sent
    /// concurrently, so each node gets its share in a few writes.
    pub(crate) async fn publish(&self, packets: &[Packet]) -> RedisResult<()> {
        if packets.is_empty() {
            return Ok(());
        }
        match self {
            Self::Single(conn) => {
                let mut pipe = redis::pipe();
                for p in packets {
                    pipe.add_command(resp::command(p));
                }
                for v in single_pipeline(conn, &mut pipe).await? {
                    v.extract_error()?;
                }
                Ok(())
            }
            Self::Cluster(conn) => {
                cluster_publish(conn, packets.iter().map(ShardCommand::new)).await
            }
        }
    }

    /// Sends commands made for a cluster ([`ShardCommand`]: a queued writer's batch).
    pub(crate) async fn publish_commands(
        &self,
        cmds: impl IntoIterator<Item = ShardCommand>,
    ) -> RedisResult<()> {
        match self {
            Self::Cluster(conn) => cluster_publish(conn, cmds).await,
            // Only a cluster's queued writer makes them (`Pending::new(false)`).
            Self::Single(_) => unreachable!("cluster commands on a single-node connection"),
        }
    }

    /// Runs `cmds` and returns their replies in order; the first error reply fails the call.
    pub(crate) async fn run(&self, cmds: &[redis::Cmd], order: Order) -> RedisResult<Vec<Value>> {
        match self {
            Self::Single(conn) => {
                let mut pipe = redis::pipe();
                for c in cmds {
                    pipe.add_command(c.clone());
                }
                single_pipeline(conn, &mut pipe)
                    .await?
                    .into_iter()
                    .map(Value::extract_error)
                    .collect()
            }
            Self::Cluster(conn) => match order {
                Order::Sequential => {
                    let mut out = Vec::with_capacity(cmds.len());
                    for c in cmds {
                        out.push(cluster_query(conn, c).await?);
                    }
                    Ok(out)
                }
                Order::Any => join_all(cmds.iter().map(|c| cluster_query(conn, c)))
                    .await
                    .into_iter()
                    .collect(),
            },
        }
    }
}

/// Runs `pipe` on one node and returns every reply, error replies as values; the records
/// that got NOSCRIPT are sent again with the script's text (see [`script`]).
async fn single_pipeline(
    conn: &ConnectionManager,
    pipe: &mut redis::Pipeline,
) -> RedisResult<Vec<Value>> {
    let mut conn = conn.clone();
    let mut replies: Vec<Value> = pipe.ignore_errors().query_async(&mut conn).await?;
    let again = script::again(pipe.cmd_iter(), &replies);
    if !again.is_empty() {
        let mut retry = redis::pipe();
        for (_, c) in &again {
            retry.add_command(c.clone());
        }
        let answers = retry.ignore_errors().query_async(&mut conn).await?;
        script::put_back(&mut replies, &again, answers);
    }
    Ok(replies)
}

/// Runs `cmd` on its node of the cluster; a record that got NOSCRIPT is sent again with the
/// script's text (see [`script`]).
async fn cluster_query(conn: &ClusterConnection, cmd: &redis::Cmd) -> RedisResult<Value> {
    let mut conn = conn.clone();
    match cmd.query_async::<Value>(&mut conn).await {
        Err(e) if script::is_noscript_error(&e) => match script::with_text(cmd) {
            Some(eval) => eval.query_async(&mut conn).await,
            None => Err(e),
        },
        other => other,
    }
}

/// Connects to a cluster, bounded by the connect timeout plus one response timeout (the
/// crate connects to the seeds, then asks one for the slot map).
pub(crate) async fn connect_cluster(
    opts: &ConnectOptions,
    endpoint: &Endpoint,
) -> Result<ClusterConnection> {
    let url = opts.redacted();
    let client = endpoint
        .cluster_client(opts)
        .map_err(|e| connect_error(&url, e))?;
    let bound = opts.connect_timeout + opts.response_timeout;
    match tokio::time::timeout(bound, client.get_async_connection()).await {
        Ok(Ok(mut conn)) => {
            // To every node (a node added later loads it on its first NOSCRIPT).
            let cmd = script::load_cmd();
            let load = cmd.query_async(&mut conn);
            script::loaded(
                match tokio::time::timeout(opts.response_timeout, load).await {
                    Ok(reply) => reply,
                    Err(_) => Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "no reply to SCRIPT LOAD",
                    ))),
                },
            );
            Ok(conn)
        }
        Ok(Err(e)) => Err(cluster_connect_error(&url, e)),
        Err(_) => Err(connect_error(
            &url,
            redis::RedisError::from((
                redis::ErrorKind::Io,
                "no cluster node answered",
                format!("within {bound:?}"),
            )),
        )),
    }
}

/// A cluster URL at a node without cluster support says so.
fn cluster_connect_error(url: &Redacted, e: redis::RedisError) -> Error {
    if e.to_string().contains("cluster support disabled") {
        return Error::Connection {
            url: url.to_string(),
            source: e,
            hint: "; this is not a Redis Cluster node: use redis:// (or rediss://) for a single server"
                .into(),
        };
    }
    connect_error(url, e)
}

/// A packet's command made for a cluster: its `Cmd`, built once (the queued writer builds it
/// when the packet is queued, so the packet itself is never copied), and where it goes.
pub(crate) struct ShardCommand {
    /// The slot of its key (SPUBLISH, XADD); `None` for a PUBLISH, which any node takes and
    /// forwards to the others.
    slot: Option<Slot>,
    cmd: redis::Cmd,
}

impl ShardCommand {
    pub(crate) fn new(packet: &Packet) -> Self {
        // The server's interest channels go out as SPUBLISH, to their slot's master.
        let (key, cmd) = resp::cluster_command(packet);
        ShardCommand {
            slot: key.map(Slot::for_key),
            cmd,
        }
    }

    /// Where its group goes: its slot's master; for PUBLISH the master of its channel's
    /// slot (the channel is the command's first argument).
    fn route(&self) -> Route {
        let slot = self
            .slot
            .unwrap_or_else(|| match self.cmd.args_iter().nth(1) {
                Some(redis::Arg::Simple(channel)) => Slot::for_key(channel),
                _ => Slot::for_key(b""),
            });
        Route::with_slot(slot, SlotAddr::Master)
    }
}

/// One pipeline of [`cluster_publish`]: where it goes, its commands and how many, and its
/// records (index, command), to be sent again with the script's text on NOSCRIPT.
struct Group {
    route: Route,
    pipe: redis::Pipeline,
    n: usize,
    records: Vec<(usize, redis::Cmd)>,
}

/// Sends `cmds` as one pipeline per slot (PUBLISH commands, which any node takes, all in one,
/// to the node of the first one's channel), the pipelines concurrently.
async fn cluster_publish(
    conn: &ClusterConnection,
    cmds: impl IntoIterator<Item = ShardCommand>,
) -> RedisResult<()> {
    // One (route, pipeline, count) per slot; `None`: the commands any node takes. Runs of
    // commands for one slot (the usual batch) skip the map.
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Option<Slot>, usize> = HashMap::new();
    let mut last: Option<(Option<Slot>, usize)> = None;
    for c in cmds {
        let i = match last {
            Some((slot, i)) if slot == c.slot => i,
            _ => {
                let i = *index.entry(c.slot).or_insert_with(|| {
                    groups.push(Group {
                        route: c.route(),
                        pipe: redis::pipe(),
                        n: 0,
                        records: Vec::new(),
                    });
                    groups.len() - 1
                });
                last = Some((c.slot, i));
                i
            }
        };
        let g = &mut groups[i];
        if script::is_record(&c.cmd) {
            // Kept to be sent again should the node answer NOSCRIPT.
            g.records.push((g.n, c.cmd.clone()));
        }
        g.pipe.add_command(c.cmd);
        g.n += 1;
    }
    let sends = groups.into_iter().map(|g| {
        let mut conn = conn.clone();
        async move {
            let route = SingleNodeRoutingInfo::SpecificNode(g.route);
            let mut replies = conn.route_pipeline(g.pipe, 0, g.n, route.clone()).await?;
            let again: Vec<(usize, redis::Cmd)> = g
                .records
                .iter()
                .filter(|(i, _)| replies.get(*i).is_some_and(script::is_noscript))
                .filter_map(|(i, c)| Some((*i, script::with_text(c)?)))
                .collect();
            if !again.is_empty() {
                let mut retry = redis::pipe();
                for (_, c) in &again {
                    retry.add_command(c.clone());
                }
                let answers = conn.route_pipeline(retry, 0, again.len(), route).await?;
                script::put_back(&mut replies, &again, answers);
            }
            Ok::<_, redis::RedisError>(replies)
        }
    });
    for replies in join_all(sends).await {
        for v in replies? {
            v.extract_error()?;
        }
    }
    Ok(())
}
