//! The blocking side of a Redis Cluster: the redis crate's async cluster connection (the one
//! that follows failovers and topology changes) driven on a private single-threaded runtime,
//! so a blocking call costs no thread hop and idle emitters no thread at all.

use std::future::Future;
use std::sync::Mutex;

use redis::cluster_async::ClusterConnection;

use crate::error::{Error, Redacted, Result};
use crate::redis::aio::{connect_cluster, AsyncConnection};
use crate::redis::options::{ConnectOptions, Endpoint};

pub(crate) struct ClusterLink {
    opts: ConnectOptions,
    endpoint: Endpoint,
    url: Redacted,
    open: Mutex<Option<Open>>,
}

struct Open {
    generation: u64,
    /// Always `Some` until dropped.
    rt: Option<tokio::runtime::Runtime>,
    conn: ClusterConnection,
}

impl Drop for Open {
    fn drop(&mut self) {
        // Not a blocking shutdown: this may run inside someone's async code.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl ClusterLink {
    pub(crate) fn new(opts: &ConnectOptions, endpoint: Endpoint) -> Self {
        ClusterLink {
            opts: opts.clone(),
            endpoint,
            url: opts.redacted(),
            open: Mutex::new(None),
        }
    }

    /// Runs `f` on the cluster connection, connecting first if needed. The crate bounds each
    /// request (retries included) by the response timeout; this bounds the whole call too.
    pub(crate) fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: FnOnce(AsyncConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>> + Send,
        T: Send,
    {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let generation = crate::fork::generation();
        if guard.as_ref().is_some_and(|o| o.generation != generation) {
            // A forked child: the runtime's and the connections' descriptors are the
            // parent's. Never touch them here.
            if let Some(open) = guard.take() {
                std::mem::forget(open);
            }
        }
        if guard.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Unsupported(format!("cannot start a runtime: {e}")))?;
            let conn =
                block_on(&rt, connect_cluster(&self.opts, &self.endpoint)).and_then(|r| r)?;
            *guard = Some(Open {
                generation,
                rt: Some(rt),
                conn,
            });
        }
        let Some(Open {
            rt: Some(rt), conn, ..
        }) = guard.as_ref()
        else {
            unreachable!("connection was just opened")
        };
        let bound = self.opts.response_timeout + self.opts.connect_timeout;
        let call = f(AsyncConnection::Cluster(conn.clone()));
        block_on(rt, async { tokio::time::timeout(bound, call).await })?
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "no reply from the cluster",
                    format!("within {bound:?}"),
                )))
            })
            .map_err(|e| Error::from_redis(&self.url, e))
    }
}

/// Runs `f` to completion on `rt`. A thread that already drives a tokio runtime (a blocking
/// emitter used from async code) must not block on another one in place, so it waits for a
/// scoped thread that does.
fn block_on<F>(rt: &tokio::runtime::Runtime, f: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(f));
    }
    std::thread::scope(|s| s.spawn(|| rt.block_on(f)).join())
        .map_err(|_| Error::Unsupported("the cluster connection's thread panicked".into()))
}
