//! The blocking and async session stores: thin shells that run [`ops`](super::ops) steps.

use crate::error::{Error, Redacted, Result};
use crate::protocol::Object;
use crate::redis::aio::AsyncConnection;
use crate::redis::{ConnectOptions, Pool};
use crate::session::ops::{self, SessionInfo, Step, Ttl};
use crate::session::validate::User;

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn taken(token: &str) -> Error {
    Error::InvalidSession(format!("token {token} is already in use"))
}

/// The blocking session store, on one node or a Redis Cluster (chosen by the URL). Cheap to
/// share behind an `Arc`; each call runs on a connection of its own from a [`Pool`] of
/// [`ConnectOptions::pool_size`] (default 1: calls wait for each other), which reconnects
/// after a failure.
#[derive(Debug)]
pub struct SessionStore {
    pool: Pool,
}

impl SessionStore {
    /// Connects to `url` (fails at once when Redis cannot be reached).
    pub fn connect(url: impl Into<String>) -> Result<Self> {
        Self::with_options(ConnectOptions::new(url))
    }

    /// Connects with explicit options.
    pub fn with_options(opts: ConnectOptions) -> Result<Self> {
        Ok(SessionStore {
            pool: Pool::open(opts)?,
        })
    }

    /// Runs every step of one operation on one connection.
    fn run<T>(&self, mut step: Step<T>) -> Result<T> {
        self.pool.with(|conn| loop {
            match step {
                Step::Done(v) => return Ok(v),
                Step::Run { cmds, order, then } => {
                    let replies = if cmds.is_empty() {
                        Vec::new()
                    } else {
                        conn.run(&cmds, order)?
                    };
                    step = then(replies)?;
                }
            }
        })
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
            Err(taken(token))
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
        self.run(ops::update(token, fields)?)
    }

    /// Deletes the session (logout); returns whether it existed.
    pub fn delete(&self, token: &str) -> Result<bool> {
        self.run(ops::delete(token)?)
    }

    /// The user's live sessions with their expiry; never lists an expired one. `user` is a
    /// name or an integer id ([`User`]).
    pub fn list(&self, user: impl Into<User>) -> Result<Vec<SessionInfo>> {
        self.run(ops::list(user.into())?)
    }

    /// Deletes every session of `user` ("log out everywhere"); returns how many.
    pub fn delete_user(&self, user: impl Into<User>) -> Result<u64> {
        self.run(ops::delete_user(user.into())?)
    }

    /// Removes bookkeeping of sessions that expired; cheap (it reads only entries that are
    /// due, and a bounded share of those that never expire). Returns how many entries it
    /// removed.
    pub fn cleanup(&self) -> Result<u64> {
        self.run(ops::cleanup())
    }
}

/// The async session store (tokio); same operations as [`SessionStore`], and it reconnects
/// by itself. Cheap to clone.
#[derive(Clone)]
pub struct AsyncSessionStore {
    conn: AsyncConnection,
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
        Ok(AsyncSessionStore {
            conn: AsyncConnection::connect(&opts).await?,
            url: opts.redacted(),
        })
    }

    async fn run<T>(&self, mut step: Step<T>) -> Result<T> {
        loop {
            match step {
                Step::Done(v) => return Ok(v),
                Step::Run { cmds, order, then } => {
                    let replies = if cmds.is_empty() {
                        Vec::new()
                    } else {
                        self.conn
                            .run(&cmds, order)
                            .await
                            .map_err(|e| Error::from_redis(&self.url, e))?
                    };
                    step = then(replies)?;
                }
            }
        }
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
            Err(taken(token))
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
        self.run(ops::update(token, fields)?).await
    }

    /// See [`SessionStore::delete`].
    pub async fn delete(&self, token: &str) -> Result<bool> {
        self.run(ops::delete(token)?).await
    }

    /// See [`SessionStore::list`].
    pub async fn list(&self, user: impl Into<User>) -> Result<Vec<SessionInfo>> {
        self.run(ops::list(user.into())?).await
    }

    /// See [`SessionStore::delete_user`].
    pub async fn delete_user(&self, user: impl Into<User>) -> Result<u64> {
        self.run(ops::delete_user(user.into())?).await
    }

    /// See [`SessionStore::cleanup`].
    pub async fn cleanup(&self) -> Result<u64> {
        self.run(ops::cleanup()).await
    }
}
