//! One blocking connection to one node, opened on first use and reopened after a failure or
//! a `fork`, over our own stream ([`Wire`]). Pipelines are written at once and their replies
//! read under one deadline.

use std::sync::Mutex;

use redis::Value;

use crate::error::{Error, Redacted, Result};
use crate::redis::options::{ConnectOptions, Endpoint};
use crate::redis::script;
use crate::redis::wire::{Target, Wire};

pub(crate) struct Single {
    opts: ConnectOptions,
    target: Target,
    url: Redacted,
    conn: Mutex<Option<Open>>,
    /// A pipeline's bytes, kept between batches (taken while in use, so a second caller at
    /// the same time makes its own).
    spare: Mutex<Vec<u8>>,
}

struct Open {
    generation: u64,
    wire: Wire,
}

/// The largest pipeline buffer kept for the next batch.
const KEPT_BUFFER: usize = 1 << 20;

impl Single {
    pub(crate) fn new(opts: &ConnectOptions, endpoint: &Endpoint) -> Result<Self> {
        let url = opts.redacted();
        #[cfg(feature = "tls")]
        let tls = match &endpoint.tls {
            Some(tls) => Some(
                crate::redis::tls::client_config(tls).map_err(|e| super::connect_error(&url, e))?,
            ),
            None => None,
        };
        Ok(Single {
            opts: opts.clone(),
            target: Target {
                info: endpoint.nodes[0].clone(),
                #[cfg(feature = "tls")]
                tls,
            },
            url,
            conn: Mutex::new(None),
            spare: Mutex::new(Vec::new()),
        })
    }

    fn connect(&self) -> Result<Wire> {
        let mut wire = Wire::connect(
            &self.target,
            self.opts.connect_timeout,
            self.opts.response_timeout,
        )
        .map_err(|e| super::connect_error(&self.url, e))?;
        let info = redis::cmd("INFO").arg("cluster").get_packed_command();
        let reply = wire
            .send(&info)
            .and_then(|()| wire.values(1, self.opts.response_timeout))
            .and_then(|mut v| match v.pop() {
                Some(Value::ServerError(e)) => Err(e.into()),
                Some(v) => Ok(redis::from_redis_value(v)?),
                None => unreachable!("one reply was read"),
            });
        super::check_not_cluster(&self.url, reply)?;
        let load = script::load_cmd().get_packed_command();
        script::loaded(
            wire.send(&load)
                .and_then(|()| wire.values(1, self.opts.response_timeout))
                .map(|mut v| v.pop().unwrap_or(Value::Nil)),
        );
        Ok(wire)
    }

    /// Runs `f` on the open connection. After a connection failure the connection is dropped,
    /// so the next call reconnects; the failed command is not retried, since Redis may have
    /// run it already.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Wire) -> redis::RedisResult<T>) -> Result<T> {
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let generation = crate::fork::generation();
        if guard.as_ref().is_some_and(|o| o.generation != generation) {
            // A forked child must not share the parent's socket: drop ours without a word.
            if let Some(open) = guard.take() {
                std::mem::forget(open.wire);
            }
        }
        if guard.is_none() {
            *guard = Some(Open {
                generation,
                wire: self.connect()?,
            });
        }
        let Some(open) = guard.as_mut() else {
            unreachable!("connection was just opened")
        };
        match f(&mut open.wire) {
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
    /// error reply is reported; a broken or silent connection stops the reading at once. A
    /// record that got NOSCRIPT is sent again with the script's text (see [`script`]).
    pub(crate) fn pipeline(&self, buf: &[u8], n: usize) -> Result<Vec<Value>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let timeout = self.opts.response_timeout;
        self.with(|w| {
            w.send(buf)?;
            let mut replies = w.values(n, timeout)?;
            again(w, buf, &mut replies, timeout)?;
            let mut first_error = None;
            let replies: Vec<Value> = replies
                .into_iter()
                .map(|r| match r {
                    Value::ServerError(e) => {
                        first_error.get_or_insert(e);
                        Value::Nil
                    }
                    v => v,
                })
                .collect();
            match first_error {
                Some(e) => Err(e.into()),
                None => Ok(replies),
            }
        })
    }

    /// [`pipeline`](Self::pipeline) for commands whose replies do not matter unless they are
    /// errors (PUBLISH, records): the replies are counted, not parsed, but error replies.
    pub(crate) fn publish(&self, buf: &[u8], n: usize) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let timeout = self.opts.response_timeout;
        self.with(|w| {
            w.send(buf)?;
            // Usually none: an error reply at index i is replies[i].
            let errors = w.errors(n, timeout)?;
            if errors.is_empty() {
                return Ok(());
            }
            let mut replies = vec![Value::Okay; n];
            for (i, e) in errors {
                replies[i] = e;
            }
            again(w, buf, &mut replies, timeout)?;
            match replies.into_iter().find_map(|v| match v {
                Value::ServerError(e) => Some(e),
                _ => None,
            }) {
                Some(e) => Err(e.into()),
                None => Ok(()),
            }
        })
    }

    /// A buffer for a pipeline's bytes, empty; give it back with [`put_buffer`](Self::put_buffer).
    pub(crate) fn take_buffer(&self) -> Vec<u8> {
        std::mem::take(&mut *self.spare.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn put_buffer(&self, mut buf: Vec<u8>) {
        buf.clear();
        buf.shrink_to(KEPT_BUFFER);
        *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = buf;
    }
}

/// Sends again, with the script's text, the records packed in `buf` whose reply in `replies`
/// is NOSCRIPT, and puts their new replies in place (see [`script`]).
fn again(
    w: &mut Wire,
    buf: &[u8],
    replies: &mut [Value],
    timeout: std::time::Duration,
) -> redis::RedisResult<()> {
    let again = script::again_packed(buf, replies);
    if again.is_empty() {
        return Ok(());
    }
    let mut retry = Vec::new();
    for (_, cmd) in &again {
        cmd.write_packed_command(&mut retry);
    }
    w.send(&retry)?;
    let answers = w.values(again.len(), timeout)?;
    script::put_back(replies, &again, answers);
    Ok(())
}
