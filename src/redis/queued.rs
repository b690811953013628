//! The queued writer: `publish` returns once the packet is queued; a background thread
//! sends whatever has queued up, pipelined.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

use crate::error::{Error, Result};
use crate::packet::{Packet, Sink};
use crate::redis::pending::{Batch, Pending};
use crate::redis::resp::Resp;
use crate::redis::{ConnectOptions, Connection, Publisher};

/// A publisher whose `publish` returns once the packet is queued; a background thread
/// pipelines whatever has queued up. `flush` waits for every reply; dropping it flushes.
///
/// After a `fork` the child has no writer thread (threads do not survive a fork) and must not
/// touch the parent's socket, so the first use in the child starts a fresh writer on a fresh
/// connection. Packets the parent had queued but not flushed stay the parent's.
pub struct Queued {
    /// The first writer's queue and the fork generation it was started in: while the
    /// generation is the same (no fork since), an emit uses this queue without locking
    /// `writer` or cloning the `Arc` (each an atomic read-modify-write on a line the writer
    /// thread also touches).
    first: Arc<Queue>,
    born: u64,
    writer: Mutex<Writer>,
    opts: ConnectOptions,
}

struct Writer {
    generation: u64,
    queue: Arc<Queue>,
    thread: Option<thread::JoinHandle<()>>,
}

/// Packets waiting for the writer (for one node: already packed as RESP in pipelines whose
/// buffers are reused, so an emit costs one copy under the lock and no allocation, and the
/// writer hands a whole pipeline to Redis).
/// One lock and two condition variables instead of a channel: an emit wakes the writer only
/// when it sleeps, so a busy queue costs no wake-up per packet.
struct Queue {
    state: Mutex<QueueState>,
    /// The queue holds packed RESP (one node), not packets (a cluster).
    packed: bool,
    /// The writer waits here for packets.
    work: Condvar,
    /// Emitters wait here for room, and flushes for progress.
    progress: Condvar,
}

struct QueueState {
    /// The packets waiting, in the form the connection sends.
    pending: Pending,
    capacity: usize,
    /// Packets ever queued / ever answered (or failed): a flush waits for the first count.
    queued: u64,
    done: u64,
    /// `queued` when the writer took its batch.
    queued_at_take: u64,
    first_error: Option<Error>,
    closed: bool,
    writer_sleeping: bool,
    /// Emitters waiting for room.
    room_waiters: usize,
    /// The lowest `done` a waiting flush needs (`u64::MAX`: none waits). The writer wakes the
    /// flushes only then, not after each pipeline: a flush of a long backlog would otherwise
    /// be woken (a context switch each way) once per pipeline for nothing.
    wake_flush_at: u64,
}

impl QueueState {
    fn append(&mut self, packet: &Packet) {
        self.pending.push(packet);
        self.queued += 1;
    }
}

/// How long the writer keeps a burst's pipeline buffers with nothing to send.
const KEEP_BURST_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The most of an emitting thread's scratch buffer kept between emits.
const SCRATCH_KEPT: usize = 16 << 10;

thread_local! {
    /// Where an emitting thread packs a message before queueing it (see `Queue::push_with`).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Queue {
    /// An empty queue of packed RESP (one node) or of commands (a cluster).
    fn new(packed: bool, capacity: usize) -> Self {
        Queue {
            packed,
            state: Mutex::new(QueueState {
                pending: Pending::new(packed),
                capacity,
                queued: 0,
                done: 0,
                queued_at_take: 0,
                first_error: None,
                closed: false,
                writer_sleeping: false,
                room_waiters: 0,
                wake_flush_at: u64::MAX,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push<'a>(&self, packets: impl IntoIterator<Item = &'a Packet>) -> Result<()> {
        let mut st = self.lock();
        for p in packets {
            st = self.wait_for_room(st)?;
            st.append(p);
        }
        self.wake_writer(&st);
        Ok(())
    }

    /// Queues what `write` puts into a sink. For one node it is packed into this thread's
    /// scratch buffer first and copied in under the lock: an emitter that lost the CPU while
    /// encoding under the lock would stall the writer (they share a CPU when pinned), and the
    /// copy is a few hundred bytes.
    fn push_with(&self, write: &mut dyn FnMut(&mut dyn Sink) -> Result<()>) -> Result<()> {
        if !self.packed {
            // Made whole first: on an error none of it is queued.
            let mut packets = Vec::new();
            write(&mut packets)?;
            let mut st = self.wait_for_room(self.lock())?;
            st.pending.extend_commands(&packets);
            st.queued += packets.len() as u64;
            self.wake_writer(&st);
            return Ok(());
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            let mut sink = Resp::new(scratch);
            write(&mut sink)?;
            let n = sink.n;
            let mut st = self.wait_for_room(self.lock())?;
            st.pending.append_packed(scratch, n);
            st.queued += n as u64;
            self.wake_writer(&st);
            drop(st);
            // A large message's room is not kept by every thread that once sent one.
            if scratch.capacity() > SCRATCH_KEPT {
                scratch.shrink_to(SCRATCH_KEPT);
            }
            Ok(())
        })
    }

    /// Waits until the queue has room (or is closed: an error).
    fn wait_for_room<'s>(
        &self,
        mut st: std::sync::MutexGuard<'s, QueueState>,
    ) -> Result<std::sync::MutexGuard<'s, QueueState>> {
        while st.pending.len() >= st.capacity && !st.closed {
            st.room_waiters += 1;
            st = self.progress.wait(st).unwrap_or_else(|p| p.into_inner());
            st.room_waiters -= 1;
        }
        if st.closed {
            return Err(Error::WriterStopped);
        }
        Ok(st)
    }

    /// Queues `packet` if there is room; `false` when it would have to wait.
    fn try_push(&self, packet: &Packet) -> Result<bool> {
        let mut st = self.lock();
        if st.closed {
            return Err(Error::WriterStopped);
        }
        if st.pending.len() >= st.capacity {
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
        while st.done < target && !(st.closed && st.pending.len() == 0 && st.done == st.queued) {
            st.wake_flush_at = st.wake_flush_at.min(target);
            st = self.progress.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.first_error.take().map_or(Ok(()), Err)
    }

    fn close(&self) {
        self.lock().closed = true;
        self.work.notify_one();
        self.progress.notify_all();
    }

    /// The next batch to send (see [`Pending::take`]), after taking back the last one's
    /// memory; `None` once closed and drained.
    fn take(&self, last: Option<Batch>) -> Option<Batch> {
        let mut st = self.lock();
        if let Some(last) = last {
            st.pending.recycle(last);
        }
        loop {
            if let Some(batch) = st.pending.take() {
                st.queued_at_take = st.queued;
                // Room was made.
                if st.room_waiters > 0 {
                    self.progress.notify_all();
                }
                return Some(batch);
            }
            if st.closed {
                return None;
            }
            st.writer_sleeping = true;
            if st.pending.holds_a_burst() {
                // A burst's buffers are kept while another may follow soon: that burst then
                // fills pages already mapped and cached instead of faulting in fresh ones,
                // each zeroed by the kernel (2,000 to 4,000 faults per 100k queued emits
                // when the buffers were given back at once). Given back after a while with
                // nothing to send.
                let (g, waited) = self
                    .work
                    .wait_timeout(st, KEEP_BURST_FOR)
                    .unwrap_or_else(|p| p.into_inner());
                st = g;
                st.writer_sleeping = false;
                if waited.timed_out() {
                    st.pending.idle();
                    continue;
                }
            } else {
                st.pending.idle();
                st = self.work.wait(st).unwrap_or_else(|p| p.into_inner());
                st.writer_sleeping = false;
            }
            // Woken by the first packet of a burst: when the emitting thread shares this CPU,
            // let it queue more before writing, so a burst goes out in a few large writes
            // rather than a round trip per packet. With a CPU to itself this returns at once.
            drop(st);
            thread::yield_now();
            st = self.lock();
        }
    }

    /// `n` packets were sent (or failed). After a broken connection, what was waiting when
    /// the failed pipeline was taken (in whole pipelines) fails with it, not sent on a new
    /// connection one pipeline at a time: a node that is gone costs one more timeout, not
    /// one per pipeline (as when the writer took everything waiting at once).
    fn finished(&self, n: usize, result: Result<()>) {
        let mut st = self.lock();
        st.done += n as u64;
        if let Err(e) = result {
            if e.is_connection() {
                while st.done < st.queued_at_take {
                    let Some(batch) = st.pending.take() else {
                        break;
                    };
                    st.done += batch.len() as u64;
                    st.pending.recycle(batch);
                }
            }
            st.first_error.get_or_insert(e);
        }
        // A flush waiting for this count, or (after failed pipelines were dropped) room. Each
        // woken flush that still waits sets `wake_flush_at` again.
        if st.done >= st.wake_flush_at || st.room_waiters > 0 {
            st.wake_flush_at = u64::MAX;
            self.progress.notify_all();
        }
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
        let queue = Arc::new(Queue::new(conn.is_single(), capacity));
        let q = queue.clone();
        let thread = thread::Builder::new()
            .name("symple-writer".into())
            .spawn(move || {
                let mut last = None;
                while let Some(mut batch) = q.take(last.take()) {
                    let n = batch.len();
                    q.finished(n, conn.publish_pending(&mut batch));
                    last = Some(batch);
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
    /// Starts the writer thread over `conn` (its own connection: the writer is its only user).
    ///
    /// ```no_run
    /// use symple::redis::{ConnectOptions, Connection, Queued};
    /// let opts = ConnectOptions::new("redis://127.0.0.1:6379");
    /// let q = Queued::start(Connection::open(opts.clone())?, &opts)?;
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn start(conn: Connection, opts: &ConnectOptions) -> Result<Self> {
        let opts = opts.clone();
        let writer = Writer::start(conn, opts.queue_capacity)?;
        Ok(Queued {
            first: writer.queue.clone(),
            born: writer.generation,
            writer: Mutex::new(writer),
            opts,
        })
    }

    /// Runs `f` on this process's queue: the first writer's, unless this is a forked child.
    #[inline]
    fn with_queue<R>(&self, f: impl FnOnce(&Queue) -> Result<R>) -> Result<R> {
        if crate::fork::generation() == self.born {
            f(&self.first)
        } else {
            f(&*self.queue()?)
        }
    }

    /// The queue of this process's writer, started afresh in a forked child.
    #[cold]
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
        self.with_queue(|q| q.push(std::iter::once(&packet)))
    }

    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()> {
        self.with_queue(|q| q.push(&packets))
    }

    fn publish_with(&self, write: &mut dyn FnMut(&mut dyn Sink) -> Result<()>) -> Result<()> {
        self.with_queue(|q| q.push_with(write))
    }

    fn try_publish(&self, packet: Packet) -> Result<Option<Packet>> {
        Ok(if self.with_queue(|q| q.try_push(&packet))? {
            None
        } else {
            Some(packet)
        })
    }

    fn flush(&self) -> Result<()> {
        self.with_queue(Queue::flush)
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
        if self.born != crate::fork::generation() {
            // The parent's queue (its lock may have been held at the fork): never freed here.
            std::mem::forget(self.first.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> Queue {
        Queue::new(true, 1_000_000)
    }

    fn packets(n: usize) -> Vec<Packet> {
        // About 100 KB each, so a few make a pipeline.
        (0..n)
            .map(|_| Packet::new("c", vec![b'x'; 100_000]))
            .collect()
    }

    #[test]
    fn a_broken_connection_fails_what_waited_when_its_pipeline_was_taken_and_no_more() {
        let q = queue();
        q.push(&packets(10)).unwrap();
        let batch = q.take(None).expect("packets wait");
        let sent = batch.len();
        assert!(sent < 10, "one pipeline at a time: {sent}");
        // Queued while the pipeline was on its way: these go out on the next connection,
        // but for the two that share a pipeline with the tenth ([10, 11, 12], [13]).
        q.push(&packets(3)).unwrap();
        q.finished(sent, Err(Error::WriterStopped));
        {
            let st = q.lock();
            assert_eq!((st.done, st.queued, st.pending.len()), (12, 13, 1));
            assert!(st.first_error.is_some());
        }
        let next = q.take(Some(batch)).expect("the later packets wait");
        q.finished(next.len(), Ok(()));
        assert!(matches!(q.flush(), Err(Error::WriterStopped)));
        // The error was reported once; what followed went out.
        assert_eq!(q.lock().done, 13);
        assert!(q.flush().is_ok());
    }

    #[test]
    fn an_error_reply_fails_only_its_own_pipeline() {
        let q = queue();
        q.push(&packets(10)).unwrap();
        let batch = q.take(None).expect("packets wait");
        let sent = batch.len();
        q.finished(sent, Err(Error::MissingRecipient));
        assert_eq!(q.lock().pending.len(), 10 - sent);
        assert!(q.flush_would_wait());
    }

    #[test]
    fn a_flush_is_woken_once_its_packets_are_done_and_an_emitter_once_there_is_room() {
        let q = Arc::new(Queue::new(true, 10));
        q.push(&packets(10)).unwrap();
        let flusher = {
            let q = q.clone();
            thread::spawn(move || q.flush())
        };
        // A full queue: this emitter waits for room until the writer takes a pipeline.
        let emitter = {
            let q = q.clone();
            thread::spawn(move || q.push(&packets(1)))
        };
        let mut last = None;
        let mut sent = 0;
        while sent < 11 {
            let batch = q.take(last.take()).expect("packets wait");
            sent += batch.len();
            q.finished(batch.len(), Ok(()));
            last = Some(batch);
        }
        emitter.join().unwrap().unwrap();
        flusher.join().unwrap().unwrap();
        assert_eq!(q.lock().wake_flush_at, u64::MAX, "no flush waits");
    }

    impl Queue {
        fn flush_would_wait(&self) -> bool {
            let st = self.lock();
            st.done < st.queued
        }
    }
}
