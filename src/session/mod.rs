//! Sessions in Redis: `symple:session:<token>` holds a JSON object (at least `{"user": …}`)
//! that every Symple server reads when a client authenticates with that token.
//!
//! [`SessionStore`] (blocking) and [`AsyncSessionStore`] create a session on login, extend it
//! on activity ([`touch`](SessionStore::touch) never creates one), delete it on logout, list
//! and delete a user's sessions ("log out everywhere"), and clean up bookkeeping of sessions
//! that expired. Only the session object is stored under the session key; the bookkeeping
//! (a sorted set per user and one expiry index) lives under other keys.
//!
//! ```no_run
//! use serde_json::json;
//! use symple::session::SessionStore;
//!
//! let store = SessionStore::connect("redis://127.0.0.1:6379")?;
//! let data = json!({"user": "alice", "name": "Alice", "rooms": ["team-a"]});
//! let token = store.create(data.as_object().unwrap(), Some(7 * 24 * 3600))?;
//! assert!(store.touch(&token, 3600)?);
//! assert_eq!(store.list("alice")?.len(), 1);
//! store.delete(&token)?;
//! # Ok::<(), symple::Error>(())
//! ```

pub mod keys;
mod ops;
mod store;
mod validate;

pub use ops::{SessionInfo, Ttl};
pub use store::{AsyncSessionStore, SessionStore};
pub use validate::{
    data_object, validate_data, validate_token, validate_ttl, User, MAX_TOKEN_LEN, MAX_USER_ID,
};

/// Reads a value stored under the session key `key`: a JSON object, else an error naming
/// the key (what every server does with a session it finds).
///
/// ```
/// let s = symple::session::parse_stored_value("symple:session:t", br#"{"user":"a"}"#)?;
/// assert_eq!(s["user"], "a");
/// assert!(symple::session::parse_stored_value("k", b"[1]").is_err());
/// # Ok::<(), symple::Error>(())
/// ```
pub fn parse_stored_value(key: &str, bytes: &[u8]) -> crate::Result<crate::protocol::Object> {
    ops::parse_stored(key, bytes).map(|(obj, _)| obj)
}
