//! The blocking and async session stores: thin shells that run [`ops`](super::ops).

use redis::Value as RValue;

use crate::error::{Error, Redacted, Result};
use crate::protocol::Object;
use crate::redis::{ConnectOptions, Connection};
use crate::session::keys;
use crate::session::ops::{self, Op, SessionInfo, Ttl, UpdateStep};

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn raw_get(token: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("GET");
    cmd.arg(keys::session(token));
    cmd
}

fn raw_bytes(v: RValue) -> Option<Vec<u8>> {
    match v {
        RValue::BulkString(b) => Some(b),
        _ => None,
    }
}

/// The blocking session store. Cheap to share behind an `Arc`; calls are serialized on one
/// connection, which reconnects after a failure.
#[derive(Debug)]
pub struct SessionStore {
    conn: Connection,
}

impl SessionStore {
    /// Connects to `url` (fails at once when Redis cannot be reached).
    pub fn connect(url: impl Into<String>) -> Result<Self> {
        Self::with_options(ConnectOptions::new(url))
    }

    /// Connects with explicit options.
    pub fn with_options(opts: ConnectOptions) -> Result<Self> {
        Ok(SessionStore {
            conn: Connection::open(opts)?,
        })
    }

    fn run<T>(&self, op: Op<T>) -> Result<T> {
        let reply = self.conn.with(|c| op.call.run(c))?;
        (op.parse)(reply)
    }

    /// Creates a session with a new random token (uuid v4) and returns the token.
    pub fn create(&self, data: &Object, ttl: Option<i64>) -> Result<String> {
        let token = new_token();
        self.create_with_token(&token, data, ttl)?;
        Ok(token)
    }

    /// Creates a session under a caller-chosen token; fails if that token is taken.
    pub fn create_with_token(&self, token: &str, data: &Object, ttl: Option<i64>) -> Result<()> {
        if self.run(ops::set(token, data, ttl, true)?)? {
            Ok(())
        } else {
            Err(Error::InvalidSession(format!(
                "token {token} is already in use"
            )))
        }
    }

    /// Writes a session, replacing any value under the token (`ttl` in seconds, `None` = never).
    pub fn set(&self, token: &str, data: &Object, ttl: Option<i64>) -> Result<()> {
        self.run(ops::set(token, data, ttl, false)?).map(drop)
    }

    /// The session object, or `None` when absent; a stored value that is not a JSON object
    /// is an error naming the key.
    pub fn get(&self, token: &str) -> Result<Option<Object>> {
        self.run(ops::get(token)?)
    }

    /// Whether the session exists.
    pub fn exists(&self, token: &str) -> Result<bool> {
        self.run(ops::exists(token)?)
    }

    /// Time left, or `None` when absent.
    pub fn ttl(&self, token: &str) -> Result<Option<Ttl>> {
        self.run(ops::ttl(token)?)
    }

    /// Extends the session's TTL to `ttl` seconds; returns whether it existed. Never creates
    /// or resurrects a session.
    pub fn touch(&self, token: &str, ttl: i64) -> Result<bool> {
        self.run(ops::touch(token, ttl)?)
    }

    /// Merges `fields` into an existing session, keeping its TTL; returns whether it existed.
    pub fn update(&self, token: &str, fields: &Object) -> Result<bool> {
        for _ in 0..ops::UPDATE_ATTEMPTS {
            let current = self.conn.with(|c| raw_get(token).query::<RValue>(c))?;
            match ops::update(token, fields, raw_bytes(current).as_deref())? {
                UpdateStep::Absent => return Ok(false),
                UpdateStep::Write(op) => {
                    if let Some(existed) = self.run(op)? {
                        return Ok(existed);
                    }
                }
            }
        }
        Err(ops::update_conflict(token))
    }

    /// Deletes the session (logout); returns whether it existed.
    pub fn delete(&self, token: &str) -> Result<bool> {
        self.run(ops::delete(token)?)
    }

    /// The user's live sessions with their expiry; never lists an expired one.
    pub fn list(&self, user: &str) -> Result<Vec<SessionInfo>> {
        self.run(ops::list(user)?)
    }

    /// Deletes every session of `user` ("log out everywhere"); returns how many.
    pub fn delete_user(&self, user: &str) -> Result<u64> {
        self.run(ops::delete_user(user)?)
    }

    /// Removes bookkeeping of sessions that expired; cheap (it reads only entries that are
    /// due). Returns how many entries it removed.
    pub fn cleanup(&self) -> Result<u64> {
        let mut removed = 0;
        loop {
            let (n, seen) = self.run(ops::cleanup_batch())?;
            removed += n;
            if seen < ops::CLEANUP_BATCH {
                return Ok(removed);
            }
        }
    }
}

/// The async session store (tokio); same operations as [`SessionStore`], and it reconnects
/// by itself. Cheap to clone.
#[derive(Clone)]
pub struct AsyncSessionStore {
    conn: redis::aio::ConnectionManager,
    url: Redacted,
}

impl std::fmt::Debug for AsyncSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSessionStore")
            .field("url", &self.url.to_string())
            .finish()
    }
}

impl AsyncSessionStore {
    /// Connects to `url`.
    pub async fn connect(url: impl Into<String>) -> Result<Self> {
        Self::with_options(ConnectOptions::new(url)).await
    }

    /// Connects with explicit options.
    pub async fn with_options(opts: ConnectOptions) -> Result<Self> {
        let url = opts.redacted();
        let conn =
            redis::aio::ConnectionManager::new_with_config(opts.client()?, opts.manager_config())
                .await
                .map_err(|e| Error::Connection {
                    url: url.to_string(),
                    source: e,
                })?;
        Ok(AsyncSessionStore { conn, url })
    }

    async fn run<T>(&self, op: Op<T>) -> Result<T> {
        let mut conn = self.conn.clone();
        let reply = op
            .call
            .run_async(&mut conn)
            .await
            .map_err(|e| Error::from_redis(&self.url, e))?;
        (op.parse)(reply)
    }

    /// See [`SessionStore::create`].
    pub async fn create(&self, data: &Object, ttl: Option<i64>) -> Result<String> {
        let token = new_token();
        self.create_with_token(&token, data, ttl).await?;
        Ok(token)
    }

    /// See [`SessionStore::create_with_token`].
    pub async fn create_with_token(
        &self,
        token: &str,
        data: &Object,
        ttl: Option<i64>,
    ) -> Result<()> {
        if self.run(ops::set(token, data, ttl, true)?).await? {
            Ok(())
        } else {
            Err(Error::InvalidSession(format!(
                "token {token} is already in use"
            )))
        }
    }

    /// See [`SessionStore::set`].
    pub async fn set(&self, token: &str, data: &Object, ttl: Option<i64>) -> Result<()> {
        self.run(ops::set(token, data, ttl, false)?).await.map(drop)
    }

    /// See [`SessionStore::get`].
    pub async fn get(&self, token: &str) -> Result<Option<Object>> {
        self.run(ops::get(token)?).await
    }

    /// See [`SessionStore::exists`].
    pub async fn exists(&self, token: &str) -> Result<bool> {
        self.run(ops::exists(token)?).await
    }

    /// See [`SessionStore::ttl`].
    pub async fn ttl(&self, token: &str) -> Result<Option<Ttl>> {
        self.run(ops::ttl(token)?).await
    }

    /// See [`SessionStore::touch`].
    pub async fn touch(&self, token: &str, ttl: i64) -> Result<bool> {
        self.run(ops::touch(token, ttl)?).await
    }

    /// See [`SessionStore::update`].
    pub async fn update(&self, token: &str, fields: &Object) -> Result<bool> {
        for _ in 0..ops::UPDATE_ATTEMPTS {
            let mut conn = self.conn.clone();
            let current: RValue = raw_get(token)
                .query_async(&mut conn)
                .await
                .map_err(|e| Error::from_redis(&self.url, e))?;
            match ops::update(token, fields, raw_bytes(current).as_deref())? {
                UpdateStep::Absent => return Ok(false),
                UpdateStep::Write(op) => {
                    if let Some(existed) = self.run(op).await? {
                        return Ok(existed);
                    }
                }
            }
        }
        Err(ops::update_conflict(token))
    }

    /// See [`SessionStore::delete`].
    pub async fn delete(&self, token: &str) -> Result<bool> {
        self.run(ops::delete(token)?).await
    }

    /// See [`SessionStore::list`].
    pub async fn list(&self, user: &str) -> Result<Vec<SessionInfo>> {
        self.run(ops::list(user)?).await
    }

    /// See [`SessionStore::delete_user`].
    pub async fn delete_user(&self, user: &str) -> Result<u64> {
        self.run(ops::delete_user(user)?).await
    }

    /// See [`SessionStore::cleanup`].
    pub async fn cleanup(&self) -> Result<u64> {
        let mut removed = 0;
        loop {
            let (n, seen) = self.run(ops::cleanup_batch()).await?;
            removed += n;
            if seen < ops::CLEANUP_BATCH {
                return Ok(removed);
            }
        }
    }
}
