//! Turning an `auth` frame into a peer: anonymous mode trusts the message, token mode lets
//! the Redis session decide. Failures carry the status and message sent to the client.

use serde_json::Value;

use crate::error::Error;
use crate::protocol::Object;
use crate::server::handler::room_name;
use crate::session::AsyncSessionStore;

/// A peer that passed authentication.
#[derive(Debug)]
pub struct Authorized {
    /// The user (the personal room's name).
    pub user: String,
    /// Public peer fields (no id, online or host yet; never a token).
    pub peer: Object,
    /// Rooms beyond the personal one.
    pub rooms: Vec<String>,
    /// The token, kept server-side for session touches.
    pub token: Option<String>,
    /// Which rooms a `join` may name.
    pub joins: Joins,
}

/// Which rooms a peer may `join`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Joins {
    /// Any room (anonymous mode, or token mode with `--open-joins`).
    Any,
    /// Only rooms matching one of these names or `*` patterns (token mode: the session's
    /// `join` list; none when the session has no such list).
    Only(Vec<String>),
}

impl Joins {
    /// Whether `room` may be joined.
    ///
    /// ```
    /// use symple::server::Joins;
    /// let j = Joins::Only(vec!["team-*".into(), "lobby".into()]);
    /// assert!(j.permits("team-a") && j.permits("lobby"));
    /// assert!(!j.permits("team") && !j.permits("lobby2"));
    /// assert!(Joins::Any.permits("x") && !Joins::Only(vec![]).permits("x"));
    /// ```
    pub fn permits(&self, room: &str) -> bool {
        match self {
            Joins::Any => true,
            Joins::Only(patterns) => patterns.iter().any(|p| glob(p, room)),
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty(); // no `*`: exact
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Status and message of a refusal.
pub type Refusal = (u16, String);

fn refuse(status: u16, msg: impl Into<String>) -> Refusal {
    (status, msg.into())
}

/// A user: a non-empty string, or an integer (Rails ids), read as its decimal text (the same
/// reading as a room's).
fn user_of(v: Option<&Value>) -> Option<String> {
    room_name(v)
}

/// A list of names (rooms, join patterns): absent, or an array of non-empty strings and
/// integers. `Err` says what is wrong with `field`.
fn names_of(v: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| {
                room_name(Some(r))
                    .ok_or_else(|| format!("{field} entry {r} is not a non-empty string"))
            })
            .collect(),
        Some(other) => Err(format!("`{field}` must be an array, not {other}")),
    }
}

fn rooms_of(v: Option<&Value>) -> Result<Vec<String>, Refusal> {
    names_of(v, "rooms").map_err(|m| refuse(400, m))
}

/// Fields the server owns: a client or session cannot set them.
const SERVER_FIELDS: [&str; 8] = [
    "id",
    "online",
    "host",
    "token",
    "type",
    "rooms",
    "join",
    crate::history::REQUEST_FIELD,
];

fn joins_of(v: Option<&Value>) -> Result<Joins, Refusal> {
    names_of(v, "join")
        .map(Joins::Only)
        .map_err(|m| refuse(401, format!("Authentication failed: invalid session ({m})")))
}

fn merge_public(into: &mut Object, from: &Object) {
    for (k, v) in from {
        if !SERVER_FIELDS.contains(&k.as_str()) && k != "data" {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// Authenticates an `auth` message. `sessions` is `Some` in token mode; `open_joins` lets a
/// token-mode peer join any room.
pub async fn authenticate(
    auth: &Object,
    sessions: Option<&AsyncSessionStore>,
    open_joins: bool,
) -> Result<Authorized, Refusal> {
    let Some(store) = sessions else {
        return anonymous(auth);
    };
    let token = match auth.get("token") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err(refuse(401, "Authentication failed: missing token")),
    };
    let session = match store.get(&token).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(refuse(
                401,
                "Authentication failed: no session for this token",
            ))
        }
        Err(Error::InvalidSession(why)) => {
            return Err(refuse(
                401,
                format!("Authentication failed: invalid session ({why})"),
            ))
        }
        Err(e) => return Err(refuse(500, format!("Authentication unavailable: {e}"))),
    };
    from_session(auth, &token, &session, open_joins)
}

/// The public fields a client's `auth` message (and its `data`) gives a peer.
fn client_fields(auth: &Object) -> Object {
    let mut peer = Object::new();
    if let Some(Value::Object(data)) = auth.get("data") {
        merge_public(&mut peer, data);
    }
    merge_public(&mut peer, auth);
    peer
}

/// Anonymous mode: the client says who it is and which rooms it is in.
///
/// ```
/// let auth = serde_json::json!({"type": "auth", "user": 7, "rooms": ["r"], "token": "t"});
/// let a = symple::server::auth::anonymous(auth.as_object().unwrap()).unwrap();
/// assert_eq!((a.user.as_str(), a.rooms.as_slice()), ("7", &["r".to_owned()][..]));
/// assert!(a.peer.get("token").is_none());
/// ```
pub fn anonymous(auth: &Object) -> Result<Authorized, Refusal> {
    let mut peer = client_fields(auth);
    let user = user_of(auth.get("user"))
        .ok_or_else(|| refuse(401, "Authentication failed: missing user"))?;
    let rooms = rooms_of(auth.get("rooms"))?;
    peer.insert("user".into(), Value::String(user.clone()));
    Ok(Authorized {
        user,
        peer,
        rooms,
        token: None,
        joins: Joins::Any,
    })
}

/// Token mode, once `session` was found under `token`: the session decides (its user, its
/// rooms, its `join` list and its fields over the client's).
///
/// ```
/// use serde_json::json;
/// let auth = json!({"user": "mallory", "rooms": ["admins"]});
/// let session = json!({"user": "alice", "rooms": ["team"], "join": ["team-*"]});
/// let a = symple::server::auth::from_session(
///     auth.as_object().unwrap(), "t", session.as_object().unwrap(), false).unwrap();
/// assert_eq!((a.user.as_str(), a.rooms.as_slice()), ("alice", &["team".to_owned()][..]));
/// assert!(a.joins.permits("team-b") && !a.joins.permits("admins"));
/// ```
pub fn from_session(
    auth: &Object,
    token: &str,
    session: &Object,
    open_joins: bool,
) -> Result<Authorized, Refusal> {
    let mut peer = client_fields(auth);
    let user = user_of(session.get("user"))
        .ok_or_else(|| refuse(401, "Authentication failed: the session has no user"))?;
    let rooms = rooms_of(session.get("rooms"))
        .map_err(|(_, m)| refuse(401, format!("Authentication failed: invalid session ({m})")))?;
    let joins = if open_joins {
        Joins::Any
    } else {
        joins_of(session.get("join"))?
    };
    merge_public(&mut peer, session);
    peer.insert("user".into(), Value::String(user.clone()));
    Ok(Authorized {
        user,
        peer,
        rooms,
        token: Some(token.to_owned()),
        joins,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        for (p, n, ok) in [
            ("*", "", true),
            ("*", "anything", true),
            ("a*c", "abc", true),
            ("a*c", "ac", true),
            ("a*c", "acb", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("ab", "ab", true),
            ("ab", "abc", false),
            ("*-admin", "team-admin", true),
            ("a**", "abc", true),
            ("aa*aa", "aaa", false),
        ] {
            assert_eq!(glob(p, n), ok, "{p} {n}");
        }
    }
}
