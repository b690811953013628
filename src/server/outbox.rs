//! A connection's queue of frames to write. Bounded like a channel, but nothing is allocated
//! while it is empty: a tokio mpsc channel costs over 1 KiB per idle connection (its shared
//! state is cache-padded and it allocates a block of 32 slots up front).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is at its bound (the frame is handed back).
    Full(Utf8Bytes),
    /// The connection is gone.
    Closed,
}

struct Queue {
    frames: VecDeque<Utf8Bytes>,
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    bound: usize,
    /// A frame was queued.
    filled: Notify,
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
        }),
        bound,
        filled: Notify::new(),
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
            if q.closed {
                return Err(Refused::Closed);
            }
            if q.frames.len() >= self.0.bound {
                return Err(Refused::Full(frame));
            }
            q.frames.push_back(frame);
        }
        // Stores a permit when the connection is not waiting: no wake-up is lost.
        self.0.filled.notify_one();
        Ok(())
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
                Err(Refused::Closed) => return Err(()),
                Err(Refused::Full(f)) => frame = f,
            }
            room.await;
        }
    }
}

impl Inbox {
    /// The next frame, waiting for one.
    pub async fn recv(&mut self) -> Utf8Bytes {
        loop {
            if let Some(f) = self.try_recv() {
                return f;
            }
            self.0.filled.notified().await;
        }
    }

    /// The next frame if one is queued.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let (frame, was_full) = {
            let mut q = self.0.queue();
            let was_full = q.frames.len() >= self.0.bound;
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
        assert_eq!(rx.recv().await, "a");
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
        assert_eq!(rx.recv().await, "d");
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
        assert_eq!(rx.recv().await, "a");
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(rx.recv().await, "b");
        // A waiting sender learns that the connection went away.
        tx.try_send(t("c")).unwrap();
        let waiting = tokio::spawn(async move { tx.send(t("d")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(()));
    }
}
