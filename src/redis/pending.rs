//! Packets waiting for a queued writer, in the form its connection sends them.
//!
//! For one node they are packed RESP in pipelines of about [`CUT`] bytes: an emit appends to
//! the pipeline being filled, the writer takes the oldest pipeline, and a sent pipeline's
//! buffer is filled again. The buffers never grow nor move (no reallocation copying a long
//! backlog, no freshly mapped pages to fault in), and the one filled next is the one sent
//! last, still in the cache. For a cluster they are each packet's command and slot.

use std::collections::VecDeque;

use crate::packet::Packet;
use crate::redis::aio::ShardCommand;
use crate::redis::resp;

/// About how many bytes of commands a queued writer sends as one pipeline, as a batch of
/// `emit_batch` would go: it fits the socket buffers and the caches.
const CUT: usize = 256 << 10;

/// A pipeline buffer's room: a pipeline is closed at the first command that ends past
/// [`CUT`], so most fit without a regrow. A larger one (a very large message) is not reused.
const ROOM: usize = CUT + (16 << 10);

/// Emptied pipeline buffers kept while the writer is idle; a busy writer keeps every one.
const KEPT_IDLE: usize = 2;

/// The smallest room kept for a cluster's commands between batches.
const KEPT_COMMANDS: usize = 256;

/// Packed commands, ready to send as one pipeline.
#[derive(Default)]
pub(crate) struct Pipeline {
    pub(crate) buf: Vec<u8>,
    /// Commands in `buf`.
    pub(crate) n: usize,
}

/// What the writer takes at a time.
pub(crate) enum Batch {
    Pipeline(Pipeline),
    Commands(Vec<ShardCommand>),
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        match self {
            Batch::Pipeline(p) => p.n,
            Batch::Commands(v) => v.len(),
        }
    }
}

pub(crate) enum Pending {
    Packed {
        /// Closed pipelines, oldest first.
        ready: VecDeque<Pipeline>,
        /// The pipeline being filled.
        filling: Pipeline,
        /// Sent pipelines' buffers, emptied; the last one sent is reused first.
        free: Vec<Vec<u8>>,
        /// Commands waiting, in all of them.
        n: usize,
    },
    Commands {
        cmds: Vec<ShardCommand>,
        /// The last batch's vector, emptied, to take the next one without regrowing.
        spare: Vec<ShardCommand>,
    },
}

impl Pending {
    /// Packed RESP (one node), or commands (a cluster).
    pub(crate) fn new(packed: bool) -> Self {
        if packed {
            Pending::Packed {
                ready: VecDeque::new(),
                filling: Pipeline::default(),
                free: Vec::new(),
                n: 0,
            }
        } else {
            Pending::Commands {
                cmds: Vec::new(),
                spare: Vec::new(),
            }
        }
    }

    pub(crate) fn push(&mut self, packet: &Packet) {
        match self {
            Pending::Packed { .. } => {
                let buf = self.room();
                resp::write_command(buf, packet);
                self.added(1);
            }
            Pending::Commands { cmds, .. } => cmds.push(ShardCommand::new(packet)),
        }
    }

    /// Appends `count` commands packed elsewhere (by [`Resp`](crate::redis::resp::Resp));
    /// only for packed RESP.
    pub(crate) fn append_packed(&mut self, bytes: &[u8], count: usize) {
        if let Pending::Packed { .. } = self {
            self.room().extend_from_slice(bytes);
            self.added(count);
        }
    }

    /// Appends a cluster's commands.
    pub(crate) fn extend_commands(&mut self, packets: &[Packet]) {
        if let Pending::Commands { cmds, .. } = self {
            cmds.extend(packets.iter().map(ShardCommand::new));
        }
    }

    /// The buffer the next packed command goes into: the pipeline being filled, after closing
    /// it when it is full.
    fn room(&mut self) -> &mut Vec<u8> {
        let Pending::Packed {
            ready,
            filling,
            free,
            ..
        } = self
        else {
            unreachable!("packed only")
        };
        if filling.buf.len() >= CUT {
            let buf = free.pop().unwrap_or_else(|| Vec::with_capacity(ROOM));
            ready.push_back(std::mem::replace(filling, Pipeline { buf, n: 0 }));
        } else if filling.buf.capacity() == 0 {
            filling.buf = free.pop().unwrap_or_else(|| Vec::with_capacity(ROOM));
        }
        &mut filling.buf
    }

    fn added(&mut self, count: usize) {
        if let Pending::Packed { filling, n, .. } = self {
            filling.n += count;
            *n += count;
        }
    }

    /// Commands waiting.
    pub(crate) fn len(&self) -> usize {
        match self {
            Pending::Packed { n, .. } => *n,
            Pending::Commands { cmds, .. } => cmds.len(),
        }
    }

    /// The next batch to send: the oldest pipeline (one node), or every command (a cluster).
    /// `None` when nothing waits.
    pub(crate) fn take(&mut self) -> Option<Batch> {
        match self {
            Pending::Packed {
                ready, filling, n, ..
            } => {
                let p = match ready.pop_front() {
                    Some(p) => p,
                    // The next command takes a buffer when it comes: the one sent last.
                    None if filling.n > 0 => std::mem::take(filling),
                    None => return None,
                };
                *n -= p.n;
                Some(Batch::Pipeline(p))
            }
            Pending::Commands { cmds, spare } if !cmds.is_empty() => Some(Batch::Commands(
                std::mem::replace(cmds, std::mem::take(spare)),
            )),
            Pending::Commands { .. } => None,
        }
    }

    /// Takes back a sent batch's memory for the next ones.
    pub(crate) fn recycle(&mut self, batch: Batch) {
        match (self, batch) {
            (Pending::Packed { free, .. }, Batch::Pipeline(mut p)) => {
                if p.buf.capacity() <= ROOM {
                    p.buf.clear();
                    free.push(p.buf);
                }
            }
            (Pending::Commands { spare, .. }, Batch::Commands(mut v)) => {
                // Room for a batch like the last one, so a steady stream never regrows the
                // vector, while a past burst's memory is given back (each shrink and regrow
                // is a reallocation, hence only above twice that).
                let keep = KEPT_COMMANDS.max(2 * v.len());
                v.clear();
                if v.capacity() > 2 * keep {
                    v.shrink_to(keep);
                }
                *spare = v;
            }
            _ => unreachable!("a batch of another connection kind"),
        }
    }

    /// Whether more emptied buffers are kept than [`idle`](Self::idle) would keep.
    pub(crate) fn holds_a_burst(&self) -> bool {
        matches!(self, Pending::Packed { free, .. } if free.len() > KEPT_IDLE)
    }

    /// The writer found nothing to send: a past burst's buffers are given back.
    pub(crate) fn idle(&mut self) {
        if let Pending::Packed { free, .. } = self {
            free.truncate(KEPT_IDLE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Sink;
    use crate::redis::resp::Resp;

    #[test]
    fn a_long_backlog_goes_in_pipelines_of_about_cut_bytes_whose_buffers_are_reused() {
        let mut pending = Pending::new(true);
        // 1,000-byte payloads, alternately queued whole and packed elsewhere.
        let payload = vec![b'x'; 1000];
        let mut all = Vec::new();
        for i in 0..1000 {
            match i % 2 {
                0 => {
                    let p = Packet::new("c", payload.clone());
                    resp::write_command(&mut all, &p);
                    pending.push(&p);
                }
                _ => {
                    let mut scratch = Vec::new();
                    let mut sink = Resp::new(&mut scratch);
                    sink.publish(&["c"], 1000).extend_from_slice(&payload);
                    sink.end();
                    let n = sink.n;
                    all.extend_from_slice(&scratch);
                    pending.append_packed(&scratch, n);
                }
            }
        }
        assert_eq!(pending.len(), 1000);
        let one = all.len() / 1000;
        let mut sent = Vec::new();
        let mut count = 0;
        let mut buffers = Vec::new();
        while let Some(batch) = pending.take() {
            let Batch::Pipeline(p) = &batch else {
                unreachable!("made packed")
            };
            assert_eq!(p.buf.len(), p.n * one, "whole commands only");
            assert!(p.buf.starts_with(b"*3\r\n$7\r\nPUBLISH\r\n"));
            if pending.len() > 0 {
                assert!((CUT..CUT + one).contains(&p.buf.len()), "{}", p.buf.len());
            }
            sent.extend_from_slice(&p.buf);
            count += p.n;
            buffers.push(p.buf.as_ptr());
            pending.recycle(batch);
        }
        assert_eq!((sent == all, count, pending.len()), (true, 1000, 0));
        assert_eq!(buffers.len(), all.len().div_ceil(CUT));
        // The next pipeline fills the buffer sent last, without a reallocation.
        pending.append_packed(b"*1\r\n$4\r\nPING\r\n", 1);
        let Some(Batch::Pipeline(p)) = pending.take() else {
            unreachable!("one command waits")
        };
        assert_eq!(p.buf.as_ptr(), *buffers.last().unwrap());
        assert_eq!((p.n, &p.buf[..]), (1, &b"*1\r\n$4\r\nPING\r\n"[..]));
        pending.recycle(Batch::Pipeline(p));
        pending.idle();
        let Pending::Packed { free, .. } = &pending else {
            unreachable!("made packed")
        };
        assert_eq!(free.len(), KEPT_IDLE.min(buffers.len()));
    }

    #[test]
    fn a_cluster_batch_is_every_command_waiting() {
        let mut pending = Pending::new(false);
        assert!(pending.take().is_none());
        pending.push(&Packet::new("a", b"1".to_vec()));
        pending.extend_commands(&[Packet::new("b", b"2".to_vec())]);
        assert_eq!(pending.len(), 2);
        let batch = pending.take().unwrap();
        assert_eq!((batch.len(), pending.len()), (2, 0));
        pending.recycle(batch);
        assert!(pending.take().is_none());
    }
}
