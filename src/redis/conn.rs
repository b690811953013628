//! The blocking connection: one node or a Redis Cluster, behind one type.

use std::fmt;

use redis::Value;

use crate::error::Result;
use crate::packet::Packet;
use crate::packet::Sink;
use crate::redis::aio::ShardCommand;
use crate::redis::cluster::ClusterLink;
use crate::redis::options::ConnectOptions;
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
    pub(crate) fn publish_pending(&self, pending: &mut Pending) -> Result<()> {
        match (&self.link, pending) {
            (Link::Single(s), Pending::Packed { buf, n, cuts }) => {
                // In pipelines of about CUT bytes, as a batch of emit_batch would go: each
                // fits the socket buffers and the caches. A broken connection ends it; an error
                // reply is reported once every pipeline was sent, as for one pipeline.
                let mut first_error = None;
                for (bytes, count) in pipelines(buf, *n, cuts) {
                    match self.publish_packed(s, bytes, count) {
                        Err(e) if e.is_connection() => return Err(e),
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                        Ok(()) => {}
                    }
                }
                first_error.map_or(Ok(()), Err)
            }
            (Link::Cluster(c), Pending::Commands(cmds)) => {
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
            // The queue is made for its connection (`Pending::for_connection`).
            _ => unreachable!("pending packets of another connection kind"),
        }
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

/// Packets waiting for a queued writer, in the form its connection sends: packed RESP for
/// one node (one copy per emit, no allocation), each packet's command and slot for a cluster
/// (one copy per emit too; the command moves into its slot's pipeline).
pub(crate) enum Pending {
    /// The packed commands, how many, and where to cut them into pipelines: (byte offset,
    /// commands before it), one cut every [`CUT`] bytes or so.
    Packed {
        buf: Vec<u8>,
        n: usize,
        cuts: Vec<(usize, usize)>,
    },
    Commands(Vec<ShardCommand>),
}

/// About how many bytes of commands a queued writer sends as one pipeline.
const CUT: usize = 256 << 10;

/// Records a cut after the `n` commands in `buf` once the last pipeline reaches [`CUT`] bytes.
fn cut(buf: &[u8], n: usize, cuts: &mut Vec<(usize, usize)>) {
    let last = cuts.last().map_or(0, |&(at, _)| at);
    if buf.len() - last >= CUT {
        cuts.push((buf.len(), n));
    }
}

/// The pipelines `cuts` make of the `n` commands in `buf`: (bytes, how many commands), in
/// order, none empty.
fn pipelines<'a>(
    buf: &'a [u8],
    n: usize,
    cuts: &'a [(usize, usize)],
) -> impl Iterator<Item = (&'a [u8], usize)> + 'a {
    let (mut at, mut done) = (0, 0);
    cuts.iter()
        .copied()
        .chain([(buf.len(), n)])
        .filter_map(move |(end, count)| {
            let piece = (count > done).then(|| (&buf[at..end], count - done));
            (at, done) = (end, count);
            piece
        })
}

impl Pending {
    /// An empty batch of the kind `conn` sends.
    pub(crate) fn for_connection(conn: &Connection) -> Self {
        match conn.link {
            Link::Single(_) => Pending::Packed {
                buf: Vec::new(),
                n: 0,
                cuts: Vec::new(),
            },
            Link::Cluster(_) => Pending::Commands(Vec::new()),
        }
    }

    pub(crate) fn push(&mut self, packet: &Packet) {
        match self {
            Pending::Packed { buf, n, cuts } => {
                resp::write_command(buf, packet);
                *n += 1;
                cut(buf, *n, cuts);
            }
            Pending::Commands(v) => v.push(ShardCommand::new(packet)),
        }
    }

    /// Whether this batch holds packed RESP (one node), which [`append_packed`] takes.
    ///
    /// [`append_packed`]: Self::append_packed
    pub(crate) fn is_packed(&self) -> bool {
        matches!(self, Pending::Packed { .. })
    }

    /// Appends `count` commands packed elsewhere (by [`Resp`]); only for a packed batch.
    pub(crate) fn append_packed(&mut self, bytes: &[u8], count: usize) {
        if let Pending::Packed { buf, n, cuts } = self {
            buf.extend_from_slice(bytes);
            *n += count;
            cut(buf, *n, cuts);
        }
    }

    /// Appends what `write` puts into a sink; gives how many packets that was. On an error
    /// nothing of it stays.
    pub(crate) fn write_with(
        &mut self,
        write: &mut dyn FnMut(&mut dyn Sink) -> Result<()>,
    ) -> Result<usize> {
        match self {
            Pending::Packed { buf, n, cuts } => {
                let start = buf.len();
                let mut sink = Resp::new(buf);
                let written = write(&mut sink).map(|()| sink.n);
                match written {
                    Ok(count) => {
                        *n += count;
                        cut(buf, *n, cuts);
                    }
                    Err(_) => buf.truncate(start),
                }
                written
            }
            Pending::Commands(v) => {
                // Made whole, then each packet becomes its command; on an error none stays.
                let mut packets = Vec::new();
                write(&mut packets)?;
                v.extend(packets.iter().map(ShardCommand::new));
                Ok(packets.len())
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Pending::Packed { n, .. } => *n,
            Pending::Commands(v) => v.len(),
        }
    }

    /// Empties the batch, keeping room for about `keep` bytes (packed) so a steady stream
    /// never regrows the buffer while a past burst's memory is given back. Only a buffer more
    /// than twice that size shrinks: batches vary, and each shrink and regrow is a
    /// reallocation (with a copy) of the whole buffer.
    pub(crate) fn clear(&mut self, keep: usize) {
        match self {
            Pending::Packed { buf, n, cuts } => {
                buf.clear();
                if buf.capacity() > 2 * keep {
                    buf.shrink_to(keep);
                }
                *n = 0;
                cuts.clear();
            }
            Pending::Commands(v) => {
                v.clear();
                if v.capacity() > 2 * (keep / 256) {
                    v.shrink_to(keep / 256);
                }
            }
        }
    }

    /// Bytes in use, to size the next buffer.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Pending::Packed { buf, .. } => buf.len(),
            Pending::Commands(v) => v.len() * 256,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn a_failed_write_leaves_the_queue_as_it_was() {
        let fail = |sink: &mut dyn Sink| -> Result<()> {
            sink.publish(&["c"], 0).extend_from_slice(b"half");
            Err(Error::MissingRecipient)
        };
        let ok = |sink: &mut dyn Sink| -> Result<()> {
            sink.publish(&["c"], 0).extend_from_slice(b"whole");
            sink.end();
            Ok(())
        };
        for mut pending in [
            Pending::Packed {
                buf: Vec::new(),
                n: 0,
                cuts: Vec::new(),
            },
            Pending::Commands(Vec::new()),
        ] {
            assert_eq!(pending.write_with(&mut { ok }).unwrap(), 1);
            let bytes = pending.bytes();
            assert!(pending.write_with(&mut { fail }).is_err());
            assert_eq!((pending.len(), pending.bytes()), (1, bytes));
            if let Pending::Packed { buf, .. } = &pending {
                assert_eq!(buf, b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$5\r\nwhole\r\n");
            }
        }
    }

    #[test]
    fn a_long_backlog_goes_in_pipelines_of_about_cut_bytes() {
        let mut pending = Pending::Packed {
            buf: Vec::new(),
            n: 0,
            cuts: Vec::new(),
        };
        // 1,000-byte payloads, alternately queued whole and written through the sink.
        let payload = vec![b'x'; 1000];
        let mut write = |sink: &mut dyn Sink| -> Result<()> {
            sink.publish(&["c"], 1000).extend_from_slice(&payload);
            sink.end();
            Ok(())
        };
        for i in 0..1000 {
            match i % 2 {
                0 => pending.push(&Packet::new("c", payload.clone())),
                _ => assert_eq!(pending.write_with(&mut write).unwrap(), 1),
            }
        }
        let Pending::Packed { buf, n, cuts } = &pending else {
            unreachable!("made packed")
        };
        let one = buf.len() / 1000;
        let pieces: Vec<_> = pipelines(buf, *n, cuts).collect();
        assert_eq!(pieces.len(), buf.len().div_ceil(CUT), "{} bytes", buf.len());
        assert_eq!(
            pieces.iter().map(|p| p.0).collect::<Vec<_>>().concat(),
            *buf
        );
        assert_eq!(pieces.iter().map(|p| p.1).sum::<usize>(), 1000);
        for (i, (bytes, count)) in pieces.iter().enumerate() {
            assert_eq!(bytes.len(), count * one, "whole commands only");
            assert!(bytes.starts_with(b"*3\r\n$7\r\nPUBLISH\r\n"));
            if i + 1 < pieces.len() {
                assert!((CUT..CUT + one).contains(&bytes.len()), "{}", bytes.len());
            }
        }
        pending.clear(0);
        assert_eq!(pending.len(), 0);
        let Pending::Packed { buf, n, cuts } = &pending else {
            unreachable!("made packed")
        };
        assert_eq!(pipelines(buf, *n, cuts).count(), 0, "nothing to send");
    }
}
