//! Key names. The session value lives alone under `symple:session:<token>` (every server
//! merges it into the peer others see). The bookkeeping keys all carry the hash tag
//! `{sessions}`, so on a Redis Cluster they share one slot and a script can change them
//! together; the session keys spread over the cluster as usual.

use crate::session::validate::User;

/// Prefix of session keys.
pub const SESSION_PREFIX: &str = "symple:session:";
/// Prefix of the per-user sorted sets of a user named by a string: token scored by expiry
/// (unix seconds, `+inf` = never).
pub const USER_INDEX_PREFIX: &str = "symple:{sessions}:user:";
/// Prefix of the per-user sorted sets of a user identified by an integer (kept apart from
/// the user whose name is the same digits).
pub const USER_ID_INDEX_PREFIX: &str = "symple:{sessions}:user-id:";
/// One sorted set of `<token>\n<user as JSON>` scored by expiry, so cleanup reads only what
/// is due.
pub const EXPIRY_INDEX: &str = "symple:{sessions}:expiry";
/// Where cleanup resumes its pass over the sessions that never expire.
pub const CLEANUP_CURSOR: &str = "symple:{sessions}:cleanup-cursor";

/// The channel a deleted session's token is published on (one message per token, the token
/// as the payload), so servers close the connections authenticated with it.
pub const LOGOUT_CHANNEL: &str = "symple:logout";

/// `symple:session:<token>`
pub fn session(token: &str) -> String {
    format!("{SESSION_PREFIX}{token}")
}

/// `symple:{sessions}:user:<name>` or `symple:{sessions}:user-id:<id>`
///
/// ```
/// use symple::session::{keys, User};
/// assert_eq!(keys::user_index(&User::from("alice")), "symple:{sessions}:user:alice");
/// assert_eq!(keys::user_index(&User::from(4242)), "symple:{sessions}:user-id:4242");
/// ```
pub fn user_index(user: &User) -> String {
    match user {
        User::Name(n) => format!("{USER_INDEX_PREFIX}{n}"),
        User::Id(id) => format!("{USER_ID_INDEX_PREFIX}{id}"),
    }
}

/// The expiry index member of a session: `<token>\n<user as JSON>`.
///
/// ```
/// use symple::session::{keys, User};
/// let m = keys::expiry_member("tok", &User::from(4242));
/// assert_eq!(m, "tok\n4242");
/// assert_eq!(keys::parse_expiry_member(&m), Some(("tok".into(), User::from(4242))));
/// ```
pub fn expiry_member(token: &str, user: &User) -> String {
    format!("{token}\n{}", user.to_json())
}

/// A member of the expiry index read back: its token and user (`None` when it is not one).
pub fn parse_expiry_member(member: &str) -> Option<(String, User)> {
    let (token, user) = member.split_once('\n')?;
    let user = User::from_json(&serde_json::from_str(user).ok()?).ok()?;
    Some((token.to_owned(), user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_keep_the_user_type() {
        for user in [User::from("alice"), User::from(4242), User::from("4242")] {
            let m = expiry_member("tok", &user);
            assert_eq!(parse_expiry_member(&m), Some(("tok".into(), user)));
        }
        assert_eq!(expiry_member("t", &User::from("4242")), "t\n\"4242\"");
        assert_eq!(parse_expiry_member("no-newline"), None);
    }
}
