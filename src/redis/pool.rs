//! Several blocking connections to one Redis (or one cluster), so that threads sharing an
//! emitter or a session store (Puma's) do not wait behind each other's round trips.
//!
//! A call takes a connection no other call is using and gives it back when it returns. The
//! one given back last is taken first, so the pool opens only as many connections as calls
//! ever ran at once. Only when every connection is in use does a call wait, for the first one
//! given back; each call holding one is bounded by the connection's timeouts.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::Result;
use crate::packet::{Packet, Sink};
use crate::redis::{ConnectOptions, Connection, Publisher};

/// Up to [`ConnectOptions::pool_size`] connections: the first opened at once (so a wrong URL
/// or an unreachable Redis shows), the others when calls first overlap. Each keeps the
/// guarantees of a [`Connection`]: reopened after a failure or a `fork`.
///
/// ```no_run
/// use symple::redis::{ConnectOptions, Pool, Publisher};
/// let pool = Pool::open(ConnectOptions::new("redis://127.0.0.1:6379").pool_size(4))?;
/// assert_eq!(pool.size(), 4);
/// pool.publish(symple::Packet::new("symple:broadcast", br#"{"to":"a"}"#.to_vec()))?;
/// # Ok::<(), symple::Error>(())
/// ```
pub struct Pool {
    conns: Box<[Connection]>,
    idle: Mutex<Idle>,
    given_back: Condvar,
}

/// The connections no call is using, most recently given back last.
struct Idle {
    generation: u64,
    free: Vec<usize>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.conns.len())
            .field("first", &self.conns[0])
            .finish()
    }
}

impl Pool {
    /// Opens the first connection now; the rest open when first used.
    pub fn open(opts: ConnectOptions) -> Result<Self> {
        let size = opts.pool_size;
        let mut conns = Vec::with_capacity(size);
        conns.push(Connection::open(opts.clone())?);
        for _ in 1..size {
            conns.push(Connection::lazy(opts.clone())?);
        }
        Ok(Pool {
            conns: conns.into_boxed_slice(),
            idle: Mutex::new(Idle {
                generation: crate::fork::generation(),
                free: (0..size).rev().collect(),
            }),
            given_back: Condvar::new(),
        })
    }

    /// How many connections it may open.
    pub fn size(&self) -> usize {
        self.conns.len()
    }

    /// Runs `f` on a connection no other call is using.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let lease = self.take();
        f(&self.conns[lease.index])
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // The lock guards a list of indices only: a panic cannot leave it half-updated.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self) -> Lease<'_> {
        let mut idle = self.idle();
        let generation = crate::fork::generation();
        if idle.generation != generation {
            // A forked child has only the thread that forked, so no call is in flight here
            // and every connection is free (each reopens itself, being a copy).
            idle.generation = generation;
            idle.free = (0..self.conns.len()).rev().collect();
        }
        loop {
            if let Some(index) = idle.free.pop() {
                return Lease {
                    pool: self,
                    index,
                    generation,
                };
            }
            idle = self
                .given_back
                .wait(idle)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A connection in use; given back when dropped.
struct Lease<'a> {
    pool: &'a Pool,
    index: usize,
    generation: u64,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut idle = self.pool.idle();
        // Taken before a fork: the child already counts it free.
        if idle.generation == self.generation {
            idle.free.push(self.index);
            self.pool.given_back.notify_one();
        }
    }
}

impl Publisher for Pool {
    fn publish(&self, packet: Packet) -> Result<()> {
        self.with(|c| c.publish(packet))
    }

    fn publish_batch(&self, packets: Vec<Packet>) -> Result<()> {
        self.with(|c| c.publish_batch(packets))
    }

    fn publish_each(
        &self,
        hint: usize,
        next: &mut dyn FnMut(&mut dyn Sink) -> Result<bool>,
    ) -> Result<()> {
        self.with(|c| c.publish_each(hint, next))
    }
}
