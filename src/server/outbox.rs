//! A connection's queue of frames to write. Bounded like a channel, but nothing is allocated
//! while it is empty: a tokio mpsc channel costs over 1 KiB per idle connection (its shared
//! state is cache-padded and it allocates a block of 32 slots up front).
//!
//! A frame that finds the queue full is not dropped for that client alone: the queue is
//! marked [`Ended`] and the connection closes with a code that says why, so the client knows
//! it missed something (and reconnects) instead of silently losing frames. Other parts of the
//! server end a connection the same way (a logout). Either way the client has received a
//! gap-free prefix of what was routed to it.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is at its bound (the frame is handed back).
    Full(Utf8Bytes),
    /// The connection is gone, or already ending.
    Closed,
    /// The queue was full: this call ended the connection, dropping this many frames (the
    /// one given and those that were queued).
    Overflowed(usize),
}

/// Why the server ends a connection: a WebSocket close code and its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The close code.
    pub code: u16,
    /// The close reason.
    pub reason: &'static str,
}

/// What the connection takes from its queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A frame to write.
    Frame(Utf8Bytes),
    /// Stop and close with this code.
    End(Ended),
}

// Every connection holds one of these for life: kept within 128 bytes with the Arc's
// counts (`ended` boxed: rare; `bound` beside `closed`, in what would be padding).
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    closed: bool,
    bound: u32,
    ended: Option<Box<Ended>>,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the connection: a frame was queued, or [`Outbox::wake`]. One waiter, polled in
    /// place: nothing is stored in the connection's task while it waits (a `Notify` waiter
    /// would be).
    filled: AtomicWaker,
    /// A full queue has room again, or it closed.
    room: Notify,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writing side, one per sender; cloned freely.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

/// The connection's side.
pub struct Inbox(Arc<Shared>);

/// A queue of at most `bound` frames.
pub fn outbox(bound: usize) -> (Outbox, Inbox) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(Queue {
            frames: VecDeque::new(),
            closed: false,
            bound: u32::try_from(bound).unwrap_or(u32::MAX),
            ended: None,
        }),
        filled: AtomicWaker::new(),
        room: Notify::new(),
    });
    (Outbox(shared.clone()), Inbox(shared))
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox")
    }
}

impl Outbox {
    /// Queues a frame unless the queue is full or closed.
    pub fn try_send(&self, frame: Utf8Bytes) -> Result<(), Refused> {
        {
            let mut q = self.0.queue();
            if q.closed || q.ended.is_some() {
                return Err(Refused::Closed);
            }
            if q.frames.len() >= q.bound as usize {
                return Err(Refused::Full(frame));
            }
            q.frames.push_back(frame);
        }
        // The connection registers before it looks at the queue: no wake-up is lost.
        self.0.filled.wake();
        Ok(())
    }

    /// Wakes the connection without queuing anything (it then looks at what else may have
    /// changed, e.g. a keepalive tick).
    pub fn wake(&self) {
        self.0.filled.wake();
    }

    /// Queues a frame; a full queue ends the connection with `overflow` instead (see
    /// [`end`](Self::end)). `Err` when the frame was not queued; `Overflowed` only for the
    /// call that ended it.
    pub fn push_or_end(&self, frame: Utf8Bytes, overflow: Ended) -> Result<(), Refused> {
        match self.try_send(frame) {
            Err(Refused::Full(_)) => Err(match self.end(overflow) {
                Some(n) => Refused::Overflowed(n + 1),
                None => Refused::Closed,
            }),
            other => other,
        }
    }

    /// Asks the connection to close with `why`, dropping what is still queued: the client
    /// has a gap-free prefix of its frames, then the close frame as soon as the socket takes
    /// it (a slow reader would otherwise need long to learn why). The first reason given
    /// wins; returns how many frames this call dropped, `None` when it was already ending.
    pub fn end(&self, why: Ended) -> Option<usize> {
        let dropped = {
            let mut q = self.0.queue();
            if q.closed || q.ended.is_some() {
                return None;
            }
            q.ended = Some(Box::new(why));
            std::mem::take(&mut q.frames)
        };
        let n = dropped.len();
        drop(dropped);
        self.0.filled.wake();
        self.0.room.notify_waiters();
        Some(n)
    }

    /// Queues a frame, waiting for room while the queue is full; `Err` once it is closed.
    pub async fn send(&self, mut frame: Utf8Bytes) -> Result<(), ()> {
        loop {
            let room = self.0.room.notified();
            tokio::pin!(room);
            // Registered before trying, so room made in between is not missed.
            room.as_mut().enable();
            match self.try_send(frame) {
                Ok(()) => return Ok(()),
                Err(Refused::Full(f)) => frame = f,
                Err(Refused::Closed | Refused::Overflowed(_)) => return Err(()),
            }
            room.await;
        }
    }
}

impl Inbox {
    /// The next frame, waiting for one; the end once everything queued before it is taken.
    pub async fn recv(&mut self) -> Next {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Self::recv) as a poll: `Pending` registers `cx` to be woken when a frame is
    /// queued, the queue ends, or [`Outbox::wake`] is called (spurious wake-ups happen).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        if let Some(next) = self.ready() {
            return Poll::Ready(next);
        }
        self.0.filled.register(cx.waker());
        // Again after registering: what came in between is seen now or wakes us.
        match self.ready() {
            Some(next) => Poll::Ready(next),
            None => Poll::Pending,
        }
    }

    fn ready(&mut self) -> Option<Next> {
        if let Some(f) = self.try_recv() {
            return Some(Next::Frame(f));
        }
        self.0.queue().ended.as_deref().copied().map(Next::End)
    }

    /// Whether the connection was asked to end.
    pub fn ended(&self) -> Option<Ended> {
        self.0.queue().ended.as_deref().copied()
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let (frame, was_full) = {
            let mut q = self.0.queue();
            let was_full = q.frames.len() >= q.bound as usize;
            let frame = q.frames.pop_front()?;
            if q.frames.is_empty() {
                // An idle connection holds no queue storage.
                q.frames = VecDeque::new();
            }
            (frame, was_full)
        };
        if was_full {
            self.0.room.notify_waiters();
        }
        Some(frame)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let dropped = {
            let mut q = self.0.queue();
            q.closed = true;
            std::mem::take(&mut q.frames)
        };
        drop(dropped);
        self.0.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(s: &str) -> Utf8Bytes {
        Utf8Bytes::from(s.to_owned())
    }

    #[tokio::test]
    async fn bounded_in_order_and_closes() {
        let (tx, mut rx) = outbox(2);
        tx.try_send(t("a")).unwrap();
        tx.clone().try_send(t("b")).unwrap();
        assert_eq!(tx.try_send(t("c")), Err(Refused::Full(t("c"))));
        assert_eq!(rx.recv().await, Next::Frame(t("a")));
        assert_eq!(rx.try_recv().as_deref(), Some("b"));
        assert_eq!(rx.try_recv(), None);
        // Waits for a frame queued later.
        let later = {
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                tx.try_send(t("d")).unwrap();
            })
        };
        assert_eq!(rx.recv().await, Next::Frame(t("d")));
        later.await.unwrap();
        drop(rx);
        assert_eq!(tx.try_send(t("e")), Err(Refused::Closed));
        assert_eq!(tx.send(t("e")).await, Err(()));
    }

    #[tokio::test]
    async fn send_waits_for_room() {
        let (tx, mut rx) = outbox(1);
        tx.try_send(t("a")).unwrap();
        let waiting = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send(t("b")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "queue full: the sender waits");
        assert_eq!(rx.recv().await, Next::Frame(t("a")));
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(rx.recv().await, Next::Frame(t("b")));
        // A waiting sender learns that the connection went away.
        tx.try_send(t("c")).unwrap();
        let waiting = tokio::spawn(async move { tx.send(t("d")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(()));
    }

    #[test]
    fn an_idle_queue_fits_128_bytes() {
        // With the Arc's two counts: what every connection holds for its queue.
        assert!(std::mem::size_of::<Shared>() + 16 <= 128);
    }

    #[tokio::test]
    async fn overflow_ends_the_connection() {
        let why = Ended {
            code: 4008,
            reason: "slow",
        };
        let (tx, mut rx) = outbox(2);
        tx.push_or_end(t("a"), why).unwrap();
        tx.push_or_end(t("b"), why).unwrap();
        assert_eq!(tx.push_or_end(t("c"), why), Err(Refused::Overflowed(3)));
        assert_eq!(tx.try_send(t("d")), Err(Refused::Closed), "nothing after");
        assert_eq!(tx.push_or_end(t("d"), why), Err(Refused::Closed));
        let other = Ended {
            code: 1,
            reason: "",
        };
        assert_eq!(tx.end(other), None, "the first reason wins");
        assert_eq!(
            rx.recv().await,
            Next::End(why),
            "what was queued is dropped"
        );
        assert_eq!(rx.ended(), Some(why));
    }
}
