//! The blocking connection: one node or a Redis Cluster, behind one type.

use std::fmt;

use redis::Value;

use crate::error::Result;
use crate::packet::Packet;
use crate::packet::Sink;
use crate::redis::aio::ShardCommand;
use crate::redis::cluster::ClusterLink;
use crate::redis::options::ConnectOptions;
use crate::redis::pending::Batch;
use crate::redis::resp::{self, Resp};
use crate::redis::single::Single;
use crate::redis::{Order, Publisher};

/// A blocking connection to one node or to a Redis Cluster (chosen by the URL), opened on
/// first use and reopened after a failure or a `fork`. Calls are serialized.
pub struct Connection {
    opts: ConnectOptions,
    link: Link,
}

// One per connection, so its size does not matter; no box to follow on the hot path.
#[allow(clippy::large_enum_variant)]
enum Link {
    Single(Single),
    Cluster(ClusterLink),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.opts.redacted().to_string())
            .finish()
    }
}

impl Connection {
    /// Opens a connection now, so a wrong URL, an unreachable server, a refused login or a
    /// cluster URL at a plain node (or the reverse) shows at once.
    ///
    /// ```no_run
    /// use symple::redis::{ConnectOptions, Connection};
    /// let conn = Connection::open(ConnectOptions::new("redis://127.0.0.1:6379"))?;
    /// let cluster = Connection::open(ConnectOptions::new("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"))?;
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn open(opts: ConnectOptions) -> Result<Self> {
        let conn = Self::lazy(opts)?;
        conn.run(&[], Order::Any)?;
        Ok(conn)
    }

    /// A connection that is opened on first use; only the URL is checked now.
    pub fn lazy(opts: ConnectOptions) -> Result<Self> {
        let endpoint = opts.endpoint()?;
        let link = if endpoint.cluster {
            Link::Cluster(ClusterLink::new(&opts, endpoint))
        } else {
            Link::Single(Single::new(&opts, &endpoint)?)
        };
        Ok(Connection { opts, link })
    }

    /// The options this connection was made with.
    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    /// Runs `cmds` and returns their replies in order; the first error reply fails the call.
    /// With no commands it only makes sure the connection is open.
    pub(crate) fn run(&self, cmds: &[redis::Cmd], order: Order) -> Result<Vec<Value>> {
        match &self.link {
            Link::Single(s) => {
                if cmds.is_empty() {
                    return s.with(|_| Ok(Vec::new()));
                }
                let mut buf = Vec::new();
                for c in cmds {
                    c.write_packed_command(&mut buf);
                }
                s.pipeline(&buf, cmds.len())
            }
            Link::Cluster(c) => c.run(|conn| async move { conn.run(cmds, order).await }),
        }
    }

    /// Sends `n` commands packed by [`resp::write_command`] (one node only); their replies
    /// are counted, the first error reply reported.
    fn publish_packed(&self, single: &Single, buf: &[u8], n: usize) -> Result<()> {
        single.publish(buf, n)
    }

    /// Publishes what a queued writer took from its queue (a cluster's commands are moved
    /// into their pipelines, leaving the batch empty but with its room).
    pub(crate) fn publish_pending(&self, batch: &mut Batch) -> Result<()> {
        match (&self.link, batch) {
            (Link::Single(s), Batch::Pipeline(p)) => self.publish_packed(s, &p.buf, p.n),
            (Link::Cluster(c), Batch::Commands(cmds)) => {
                // In slices: each slice's pipelines are built, packed and freed before the
                // next, so a long backlog reuses the same memory instead of mapping fresh
                // pages (page faults cost more than the extra round trips).
                let mut first_error = None;
                let mut all = cmds.drain(..);
                while all.len() > 0 {
                    // After a failure the rest goes in one call: a broken cluster costs one
                    // more timeout, not one per slice.
                    let n = match first_error {
                        None => all.len().min(CLUSTER_SLICE),
                        Some(_) => all.len(),
                    };
                    // Taken out first, so the loop ends even when a call fails before sending.
                    let slice: Vec<ShardCommand> = all.by_ref().take(n).collect();
                    if let Err(e) = c.run(|conn| async move { conn.publish_commands(slice).await })
                    {
                        first_error.get_or_insert(e);
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
            // The queue is made for its connection (`Connection::is_single`).
            _ => unreachable!("pending packets of another connection kind"),
        }
    }

    /// Whether this is a connection to one node (which takes packed RESP), not a cluster.
    pub(crate) fn is_single(&self) -> bool {
        matches!(self.link, Link::Single(_))
    }
}

impl Publisher for Connection {
    fn publish(&self, packet: Packet) -> Result<()> {
        self.publish_batch(vec![packet])
    }

    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()> {
        match &self.link {
            Link::Single(s) => {
                let mut buf = s.take_buffer();
                buf.reserve(packets.iter().map(resp::packed_len).sum());
                for p in &packets {
                    resp::write_command(&mut buf, p);
                }
                let result = self.publish_packed(s, &buf, packets.len());
                s.put_buffer(buf);
                result
            }
            Link::Cluster(c) => c.run(|conn| async move { conn.publish(&packets).await }),
        }
    }

    fn publish_each(
        &self,
        hint: usize,
        next: &mut dyn FnMut(&mut dyn Sink) -> Result<bool>,
    ) -> Result<()> {
        let s = match &self.link {
            Link::Single(s) => s,
            Link::Cluster(c) => {
                // Each packet becomes its command as it is made.
                let mut cmds = Vec::with_capacity(hint);
                let mut one = Vec::with_capacity(1);
                while next(&mut one)? {
                    cmds.extend(one.drain(..).map(|p| ShardCommand::new(&p)));
                }
                return c.run(|conn| async move { conn.publish_commands(cmds).await });
            }
        };
        // The last batch's buffer: no allocation, and pages already mapped.
        let mut buf = s.take_buffer();
        let mut sink = Resp::new(&mut buf);
        let mut encoded = Ok(());
        loop {
            match next(&mut sink) {
                Ok(true) if sink.n == 1 => sink.reserve_like(hint.saturating_sub(1)),
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    encoded = Err(e);
                    break;
                }
            }
        }
        let n = sink.n;
        let result = encoded.and_then(|()| self.publish_packed(s, &buf, n));
        s.put_buffer(buf);
        result
    }
}

/// Commands a cluster's queued writer sends at a time.
const CLUSTER_SLICE: usize = 1024;
