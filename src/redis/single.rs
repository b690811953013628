//! One blocking connection to one node, opened on first use and reopened after a failure or
//! a `fork`. Pipelines are written at once and their replies read under one deadline.

use std::sync::Mutex;
use std::time::Instant;

use redis::Value;

use crate::error::{Error, Redacted, Result};
use crate::redis::options::{ConnectOptions, Endpoint};

pub(crate) struct Single {
    opts: ConnectOptions,
    client: redis::Client,
    url: Redacted,
    conn: Mutex<Option<Open>>,
}

struct Open {
    generation: u64,
    conn: redis::Connection,
}

impl Single {
    pub(crate) fn new(opts: &ConnectOptions, endpoint: &Endpoint) -> Result<Self> {
        let url = opts.redacted();
        let client = endpoint
            .client()
            .map_err(|e| super::connect_error(&url, e))?;
        Ok(Single {
            opts: opts.clone(),
            client,
            url,
            conn: Mutex::new(None),
        })
    }

    fn connect(&self) -> Result<redis::Connection> {
        let mut conn = self
            .client
            .get_connection_with_timeout(self.opts.connect_timeout)
            .map_err(|e| super::connect_error(&self.url, e))?;
        conn.set_read_timeout(Some(self.opts.response_timeout))
            .and_then(|_| conn.set_write_timeout(Some(self.opts.response_timeout)))
            .map_err(|e| super::connect_error(&self.url, e))?;
        let info = redis::cmd("INFO").arg("cluster").query::<String>(&mut conn);
        super::check_not_cluster(&self.url, info)?;
        Ok(conn)
    }

    /// Runs `f` on the open connection. After a connection failure the connection is dropped,
    /// so the next call reconnects; the failed command is not retried, since Redis may have
    /// run it already.
    pub(crate) fn with<T>(
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
                Err(Error::from_redis(&self.url, e))
            }
        }
    }

    /// Sends `n` commands packed in `buf` and reads their replies; the whole batch gets one
    /// response timeout. Every reply is read (so the connection stays usable) and the first
    /// error reply is reported; a broken or silent connection stops the reading at once.
    pub(crate) fn pipeline(&self, buf: &[u8], n: usize) -> Result<Vec<Value>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let timeout = self.opts.response_timeout;
        self.with(|c| {
            let deadline = Instant::now() + timeout;
            c.send_packed_command(buf)?;
            let mut replies = Vec::with_capacity(n);
            let mut first_error = None;
            let mut shortened = false;
            for _ in 0..n {
                // Near the deadline, wait only for what is left of it.
                let left = deadline.saturating_duration_since(Instant::now());
                if left < timeout / 2 {
                    if left.is_zero() {
                        return Err(redis::RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("no complete reply to a batch of {n} within {timeout:?}"),
                        )));
                    }
                    c.set_read_timeout(Some(left))?;
                    shortened = true;
                }
                match c.recv_response()? {
                    Value::ServerError(e) => {
                        first_error.get_or_insert(e);
                        replies.push(Value::Nil);
                    }
                    v => replies.push(v),
                }
            }
            if shortened {
                c.set_read_timeout(Some(timeout))?;
            }
            match first_error {
                Some(e) => Err(e.into()),
                None => Ok(replies),
            }
        })
    }
}
