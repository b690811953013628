//! The connection layer: the only code that talks to Redis. Encoders never see it, so another
//! connection type (Redis Cluster, where PUBLISH goes to any node) is one more [`Publisher`].

use redis::ConnectionLike;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::error::{Error, Redacted, Result};
use crate::packet::{Packet, RedisCommand};

/// The URL used when none is given: `SYMPLE_REDIS_URL`, then `REDIS_URL`, then localhost.
///
/// ```
/// let url = symple::redis::default_url();
/// assert!(url.starts_with("redis"));
/// ```
pub fn default_url() -> String {
    ["SYMPLE_REDIS_URL", "REDIS_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// How to reach Redis.
///
/// ```
/// use std::time::Duration;
/// let opts = symple::redis::ConnectOptions::new("redis://127.0.0.1:6379")
///     .connect_timeout(Duration::from_millis(500));
/// assert_eq!(opts.url(), "redis://127.0.0.1:6379");
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    url: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    queue_capacity: usize,
}

impl ConnectOptions {
    /// Options for `url` with a 2 s connect timeout and a 5 s response timeout.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectOptions {
            url: url.into(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(5),
            queue_capacity: 100_000,
        }
    }

    /// The Redis URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How long connecting may take before it fails.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long a reply may take before the command fails.
    pub fn response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }

    /// How many packets a queued publisher holds before `emit` waits for room.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }

    pub(crate) fn client(&self) -> Result<redis::Client> {
        use redis::IntoConnectionInfo;
        let bad = |e| Error::Connection {
            url: Redacted(self.url.clone()).to_string(),
            source: e,
        };
        let info = self.url.as_str().into_connection_info().map_err(bad)?;
        // No CLIENT SETINFO at connect: redis-rs reads each handshake reply with the full
        // timeout, so a Redis that accepts and never answers would cost one connect timeout
        // per handshake command instead of one in all.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        redis::Client::open(info.set_redis_settings(settings)).map_err(bad)
    }

    pub(crate) fn redacted(&self) -> Redacted {
        Redacted(self.url.clone())
    }

    /// The async connection manager's settings: same timeouts; it reconnects by itself.
    pub(crate) fn manager_config(&self) -> redis::aio::ConnectionManagerConfig {
        redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(1)
    }
}

/// Something that publishes packets. Blocking; shared between threads.
pub trait Publisher: Send + Sync + fmt::Debug {
    /// Publishes one packet.
    fn publish(&self, packet: Packet) -> Result<()>;
    /// Publishes packets in one pipelined round trip.
    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()>;
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

/// One blocking connection, opened on first use and reopened after a failure or a `fork`.
pub struct Connection {
    opts: ConnectOptions,
    client: redis::Client,
    conn: Mutex<Option<Open>>,
}

struct Open {
    generation: u64,
    conn: redis::Connection,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.opts.redacted().to_string())
            .finish()
    }
}

impl Connection {
    /// Opens a connection now, so a wrong URL or an unreachable server shows at once.
    ///
    /// ```no_run
    /// let conn = symple::redis::Connection::open(symple::redis::ConnectOptions::new("redis://127.0.0.1:6379"))?;
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn open(opts: ConnectOptions) -> Result<Self> {
        let conn = Self::lazy(opts)?;
        conn.with(|_| Ok(()))?;
        Ok(conn)
    }

    /// A connection that is opened on first use.
    pub fn lazy(opts: ConnectOptions) -> Result<Self> {
        let client = opts.client()?;
        Ok(Connection {
            opts,
            client,
            conn: Mutex::new(None),
        })
    }

    fn connect(&self) -> Result<redis::Connection> {
        let url = self.opts.redacted();
        let conn = self
            .client
            .get_connection_with_timeout(self.opts.connect_timeout)
            .map_err(|e| Error::Connection {
                url: url.to_string(),
                source: e,
            })?;
        conn.set_read_timeout(Some(self.opts.response_timeout))
            .and_then(|_| conn.set_write_timeout(Some(self.opts.response_timeout)))
            .map_err(|e| Error::from_redis(&url, e))?;
        Ok(conn)
    }

    /// Runs `f` on the open connection. After a connection failure the connection is dropped,
    /// so the next call reconnects; the failed command is not retried, since Redis may have
    /// run it already.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let generation = crate::fork::generation();
        if guard.as_ref().is_some_and(|o| o.generation != generation) {
            // A forked child must not share the parent's socket: drop ours without a QUIT.
            if let Some(open) = guard.take() {
                std::mem::forget(open.conn);
            }
        }
        if guard.is_none() {
            *guard = Some(Open {
                generation,
                conn: self.connect()?,
            });
        }
        let Some(open) = guard.as_mut() else {
            unreachable!("connection was just opened")
        };
        match f(&mut open.conn) {
            Ok(v) => Ok(v),
            Err(e) => {
                if crate::error::is_io(&e) {
                    *guard = None;
                }
                Err(Error::from_redis(&self.opts.redacted(), e))
            }
        }
    }
}

/// Appends the packet's command (PUBLISH, SPUBLISH or XADD) as RESP, the bytes `redis::cmd`
/// would pack ([`command`]), without building a `Cmd` (which copies every argument once more).
fn write_command(out: &mut Vec<u8>, packet: &Packet) {
    fn bulk(out: &mut Vec<u8>, b: &[u8]) {
        out.push(b'$');
        write_decimal(out, b.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    }
    match &packet.command {
        // The hot path: a fixed header and two arguments.
        RedisCommand::Publish => out.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n"),
        RedisCommand::SPublish => out.extend_from_slice(b"*3\r\n$8\r\nSPUBLISH\r\n"),
        RedisCommand::XAdd(_) => {
            let args = packet.args();
            out.push(b'*');
            write_decimal(out, 1 + args.len());
            out.extend_from_slice(b"\r\n$4\r\nXADD\r\n");
            for a in &args {
                bulk(out, a);
            }
            return;
        }
    }
    bulk(out, packet.channel.as_bytes());
    bulk(out, &packet.payload);
}

/// The packet's command as a `redis::Cmd`, for connections that take one (the async one).
/// The same bytes as the packing every blocking and queued publish uses.
///
/// ```
/// let p = symple::Packet::spublish("c", b"x".to_vec());
/// assert_eq!(symple::redis::command(&p).get_packed_command(), b"*3\r\n$8\r\nSPUBLISH\r\n$1\r\nc\r\n$1\r\nx\r\n");
/// ```
pub fn command(packet: &Packet) -> redis::Cmd {
    let mut cmd = redis::cmd(packet.command_name());
    for a in packet.args() {
        cmd.arg(&*a);
    }
    cmd
}

/// `n` in decimal, without the formatting machinery (twice per queued packet).
fn write_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn packed_len(packet: &Packet) -> usize {
    // Header, two bulk headers (at most 20 digits each) and CRLFs.
    let base = 18 + 2 * 25 + packet.channel.len() + packet.payload.len();
    match &packet.command {
        RedisCommand::XAdd(e) => {
            // MAXLEN ~ <n> *, the fields and the payload field, each a bulk.
            base + 5 * 25
                + 20
                + e.fields
                    .iter()
                    .map(|(k, v)| 50 + k.len() + v.len())
                    .sum::<usize>()
                + 25
                + e.payload_field.len()
        }
        _ => base,
    }
}

impl Publisher for Connection {
    fn publish(&self, packet: Packet) -> Result<()> {
        let mut buf = Vec::with_capacity(packed_len(&packet));
        write_command(&mut buf, &packet);
        self.with(|c| c.req_packed_command(&buf)?.extract_error().map(drop))
    }

    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()> {
        let mut buf = Vec::with_capacity(packets.iter().map(packed_len).sum());
        for p in &packets {
            write_command(&mut buf, p);
        }
        self.publish_packed(&buf, packets.len())
    }
}

impl Connection {
    /// Sends `n` commands already packed as RESP in `buf`, and checks every reply.
    fn publish_packed(&self, buf: &[u8], n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        // Not `req_packed_commands`: after a read timeout it goes on reading every remaining
        // reply, each with the full timeout, so a batch of n to a silent Redis would take n
        // response timeouts. Here the first I/O error ends the call (and the connection).
        self.with(|c| {
            c.send_packed_command(buf)?;
            let mut first_error = None;
            let mut left = n;
            while left > 0 {
                match c.recv_response()? {
                    // RESP3 may interleave pushes between replies.
                    redis::Value::Push { .. } => continue,
                    reply => {
                        left -= 1;
                        if let Err(e) = reply.extract_error() {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }
}

/// A publisher whose `publish` returns once the packet is queued; a background thread
/// pipelines whatever has queued up. `flush` waits for every reply; dropping it flushes.
///
/// After a `fork` the child has no writer thread (threads do not survive a fork) and must not
/// touch the parent's socket, so the first use in the child starts a fresh writer on a fresh
/// connection. Packets the parent had queued but not flushed stay the parent's.
pub struct Queued {
    writer: Mutex<Writer>,
    opts: ConnectOptions,
}

struct Writer {
    generation: u64,
    queue: Arc<Queue>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Packets waiting for the writer, already packed as RESP in one buffer: an emit costs one
/// copy under the lock and no allocation, and the writer hands the whole buffer to Redis.
/// One lock and two condition variables instead of a channel: an emit wakes the writer only
/// when it sleeps, so a busy queue costs no wake-up per packet.
struct Queue {
    state: Mutex<QueueState>,
    /// The writer waits here for packets.
    work: Condvar,
    /// Emitters wait here for room, and flushes for progress.
    progress: Condvar,
}

struct QueueState {
    /// `waiting` commands, packed.
    packed: Vec<u8>,
    waiting: usize,
    capacity: usize,
    /// Packets ever queued / ever answered (or failed): a flush waits for the first count.
    queued: u64,
    done: u64,
    first_error: Option<Error>,
    closed: bool,
    writer_sleeping: bool,
}

impl QueueState {
    fn append(&mut self, packet: &Packet) {
        write_command(&mut self.packed, packet);
        self.waiting += 1;
        self.queued += 1;
    }
}

/// The smallest buffer kept between batches.
const KEPT_BUFFER: usize = 64 << 10;

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push<'a>(&self, packets: impl IntoIterator<Item = &'a Packet>) -> Result<()> {
        let mut st = self.lock();
        for p in packets {
            while st.waiting >= st.capacity && !st.closed {
                st = self.progress.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.closed {
                return Err(Error::WriterStopped);
            }
            st.append(p);
        }
        self.wake_writer(&st);
        Ok(())
    }

    /// Queues `packet` if there is room; `false` when it would have to wait.
    fn try_push(&self, packet: &Packet) -> Result<bool> {
        let mut st = self.lock();
        if st.closed {
            return Err(Error::WriterStopped);
        }
        if st.waiting >= st.capacity {
            return Ok(false);
        }
        st.append(packet);
        self.wake_writer(&st);
        Ok(true)
    }

    fn wake_writer(&self, st: &QueueState) {
        if st.writer_sleeping {
            self.work.notify_one();
        }
    }

    fn flush(&self) -> Result<()> {
        let mut st = self.lock();
        let target = st.queued;
        while st.done < target && !(st.closed && st.waiting == 0 && st.done == st.queued) {
            st = self.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.first_error.take().map_or(Ok(()), Err)
    }

    fn close(&self) {
        self.lock().closed = true;
        self.work.notify_one();
        self.progress.notify_all();
    }

    /// Everything waiting, swapped for the writer's emptied buffer; `None` once closed and
    /// drained.
    fn take(&self, mut spare: Vec<u8>) -> Option<(Vec<u8>, usize)> {
        // Room for a batch like the last one, so a steady stream never regrows the buffer
        // (a regrow copies it), while a past burst's memory is given back.
        let last = spare.len();
        spare.clear();
        spare.shrink_to(KEPT_BUFFER.max(2 * last));
        let mut st = self.lock();
        loop {
            if st.waiting > 0 {
                let n = std::mem::take(&mut st.waiting);
                let batch = std::mem::replace(&mut st.packed, spare);
                // Room was made.
                self.progress.notify_all();
                return Some((batch, n));
            }
            if st.closed {
                return None;
            }
            st.writer_sleeping = true;
            st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
            st.writer_sleeping = false;
            // Woken by the first packet of a burst: when the emitting thread shares this CPU,
            // let it queue more before writing, so a burst goes out in a few large writes
            // rather than a round trip per packet. With a CPU to itself this returns at once.
            drop(st);
            thread::yield_now();
            st = self.lock();
        }
    }

    fn finished(&self, n: usize, result: Result<()>) {
        let mut st = self.lock();
        st.done += n as u64;
        if let Err(e) = result {
            st.first_error.get_or_insert(e);
        }
        self.progress.notify_all();
    }
}

impl fmt::Debug for Queued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queued")
            .field("url", &self.opts.redacted().to_string())
            .finish()
    }
}

impl Writer {
    fn start(conn: Connection, capacity: usize) -> Result<Self> {
        let queue = Arc::new(Queue {
            state: Mutex::new(QueueState {
                packed: Vec::new(),
                waiting: 0,
                capacity,
                queued: 0,
                done: 0,
                first_error: None,
                closed: false,
                writer_sleeping: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let q = queue.clone();
        let thread = thread::Builder::new()
            .name("symple-writer".into())
            .spawn(move || {
                let mut spare = Vec::new();
                while let Some((batch, n)) = q.take(spare) {
                    q.finished(n, conn.publish_packed(&batch, n));
                    spare = batch;
                }
            })
            .map_err(|e| Error::Unsupported(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer {
            generation: crate::fork::generation(),
            queue,
            thread: Some(thread),
        })
    }

    /// Closes the queue and waits for the writer to drain it.
    fn stop(&mut self) {
        self.queue.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Queued {
    /// Starts the writer thread over `conn`.
    ///
    /// ```no_run
    /// use symple::redis::{ConnectOptions, Connection, Queued};
    /// let opts = ConnectOptions::new("redis://127.0.0.1:6379");
    /// let q = Queued::start(Connection::open(opts.clone())?, &opts)?;
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn start(conn: Connection, opts: &ConnectOptions) -> Result<Self> {
        Ok(Queued {
            writer: Mutex::new(Writer::start(conn, opts.queue_capacity)?),
            opts: opts.clone(),
        })
    }

    fn queue(&self) -> Result<Arc<Queue>> {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if w.generation != crate::fork::generation() {
            // Forked: the old writer thread does not exist here; never join or reuse it,
            // nor touch its queue (its lock may have been held at the fork).
            let fresh = Writer::start(
                Connection::lazy(self.opts.clone())?,
                self.opts.queue_capacity,
            )?;
            std::mem::forget(std::mem::replace(&mut *w, fresh));
        }
        Ok(w.queue.clone())
    }
}

impl Publisher for Queued {
    fn publish(&self, packet: Packet) -> Result<()> {
        self.queue()?.push(std::iter::once(&packet))
    }

    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()> {
        self.queue()?.push(&packets)
    }

    fn try_publish(&self, packet: Packet) -> Result<Option<Packet>> {
        Ok(if self.queue()?.try_push(&packet)? {
            None
        } else {
            Some(packet)
        })
    }

    fn flush(&self) -> Result<()> {
        self.queue()?.flush()
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let w = self.writer.get_mut().unwrap_or_else(|p| p.into_inner());
        if w.generation == crate::fork::generation() {
            w.stop();
        } else if let Some(t) = w.thread.take() {
            // A forked child's copy: the thread and the queue are the parent's, so neither is
            // joined nor ever freed here.
            std::mem::forget(t);
            std::mem::forget(w.queue.clone());
        }
    }
}

/// Shared handle to a publisher.
pub type SharedPublisher = Arc<dyn Publisher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_commands_are_what_redis_rs_packs() {
        use crate::packet::StreamEntry;
        for len in [0usize, 1, 9, 10, 99, 100, 12_345] {
            let payload = vec![b'x'; len];
            let entry = |maxlen| StreamEntry {
                maxlen,
                fields: vec![
                    ("uid".into(), "emitter".into()),
                    ("nsp".into(), "/é".into()),
                ],
                payload_field: "data".into(),
            };
            let packets = [
                Packet::new("symple#/#alice#", payload.clone()),
                Packet::spublish("socket.io#/#team#", payload.clone()),
                Packet::xadd("socket.io", entry(Some(10_000)), payload.clone()),
                Packet::xadd("s", entry(None), payload.clone()),
                Packet::xadd("s", entry(Some(u64::MAX)), payload),
            ];
            for packet in packets {
                let mut ours = Vec::new();
                write_command(&mut ours, &packet);
                let mut theirs = redis::cmd(packet.command_name());
                theirs.arg(&packet.channel);
                if let RedisCommand::XAdd(e) = &packet.command {
                    if let Some(n) = e.maxlen {
                        theirs.arg("MAXLEN").arg("~").arg(n);
                    }
                    theirs.arg("*");
                    for (k, v) in &e.fields {
                        theirs.arg(&**k).arg(&**v);
                    }
                    theirs.arg(&*e.payload_field);
                }
                theirs.arg(&packet.payload);
                assert_eq!(ours, theirs.get_packed_command(), "{packet:?}");
                assert_eq!(ours, command(&packet).get_packed_command(), "{packet:?}");
                assert!(ours.len() <= packed_len(&packet), "{packet:?}");
            }
        }
    }

    #[test]
    fn decimals() {
        for n in [0usize, 7, 10, 1_000_000, usize::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
