//! Key names. The session value lives alone under `symple:session:<token>` (every server
//! merges it into the peer others see); the bookkeeping lives under other prefixes.

/// Prefix of session keys.
pub const SESSION_PREFIX: &str = "symple:session:";
/// Prefix of the per-user sorted sets: token scored by expiry (unix seconds, `+inf` = never).
pub const USER_INDEX_PREFIX: &str = "symple:user-sessions:";
/// One sorted set of `token\nuser` scored by expiry, so cleanup reads only what is due.
pub const EXPIRY_INDEX: &str = "symple:session-expiry";

/// The channel a deleted session's token is published on (one message per token, the
/// token as the payload), so servers close the connections authenticated with it.
pub const LOGOUT_CHANNEL: &str = "symple:logout";

/// `symple:session:<token>`
pub fn session(token: &str) -> String {
    format!("{SESSION_PREFIX}{token}")
}

/// `symple:user-sessions:<user>`
pub fn user_index(user: &str) -> String {
    format!("{USER_INDEX_PREFIX}{user}")
}
