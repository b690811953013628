//! Checks on tokens, session values and TTLs, before anything is written.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::protocol::Object;

/// Longest accepted token, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;

/// A token is 1 to 256 bytes with no whitespace, control or glob characters, so it can
/// never widen a key pattern or break a key.
///
/// ```
/// use symple::session::validate_token;
/// assert!(validate_token("f4c1e2a0-token").is_ok());
/// for bad in ["", "a b", "a\nb", "a*", "a?", "[a]", "a\\b"] {
///     assert!(validate_token(bad).is_err(), "{bad:?}");
/// }
/// ```
pub fn validate_token(token: &str) -> Result<()> {
    let bad = |why: String| Err(Error::InvalidSession(why));
    if token.is_empty() {
        return bad("empty token".into());
    }
    if token.len() > MAX_TOKEN_LEN {
        return bad(format!(
            "token is {} bytes, longer than {MAX_TOKEN_LEN}",
            token.len()
        ));
    }
    if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return bad(format!(
            "token contains whitespace or a control character ({c:?})"
        ));
    }
    if let Some(c) = token
        .chars()
        .find(|c| matches!(c, '*' | '?' | '[' | ']' | '\\'))
    {
        return bad(format!("token contains the glob character {c:?}"));
    }
    Ok(())
}

/// A TTL in seconds must be positive; `None` means the session never expires.
pub fn validate_ttl(ttl: Option<i64>) -> Result<Option<u64>> {
    match ttl {
        None => Ok(None),
        Some(t) if t > 0 => Ok(Some(t as u64)),
        Some(t) => Err(Error::InvalidSession(format!(
            "TTL must be a positive number of seconds (or none for never), not {t}"
        ))),
    }
}

/// A session's user: a name, or an integer id (a Rails `user.id`) kept as an integer, so a
/// Socket.IO server puts the socket in the integer room that `to(4242)` reaches, which is not
/// the room `"4242"`.
///
/// ```
/// use serde_json::json;
/// use symple::session::User;
/// assert_eq!(User::from_json(&json!("alice"))?, User::from("alice"));
/// assert_eq!(User::from_json(&json!(4242))?, User::from(4242));
/// assert_ne!(User::from(4242), User::from("4242"));
/// assert!(User::from_json(&json!(1.5)).is_err());
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum User {
    /// A user named by a string.
    Name(String),
    /// A user identified by an integer.
    Id(i64),
}

/// The largest integer user id: JavaScript's largest safe integer, since Node servers read
/// the session JSON into doubles.
pub const MAX_USER_ID: i64 = (1 << 53) - 1;

impl User {
    /// Reads and checks a `user` value: a non-empty string, or an integer within
    /// ±[`MAX_USER_ID`].
    pub fn from_json(v: &Value) -> Result<User> {
        let bad = |why: String| Err(Error::InvalidSession(why));
        match v {
            Value::String(s) if s.is_empty() => bad("`user` is empty".into()),
            Value::String(s) => Ok(User::Name(s.clone())),
            Value::Number(n) => match n.as_i64() {
                Some(id) if id.abs() <= MAX_USER_ID => Ok(User::Id(id)),
                _ if n.is_f64() => bad(format!(
                    "`user` must be a string or an integer, not the number {n}"
                )),
                _ => bad(format!(
                    "`user` {n} is beyond ±{MAX_USER_ID}, the integers a JavaScript server reads exactly"
                )),
            },
            other => bad(format!("`user` must be a string or an integer, not {other}")),
        }
    }

    /// The user as it is stored in the session's JSON.
    pub fn to_json(&self) -> Value {
        match self {
            User::Name(n) => Value::String(n.clone()),
            User::Id(id) => Value::from(*id),
        }
    }

    /// Checks a user given to `list` or `delete_user`.
    pub(crate) fn check(&self) -> Result<()> {
        User::from_json(&self.to_json()).map(drop)
    }
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            User::Name(n) => f.write_str(n),
            User::Id(id) => write!(f, "{id}"),
        }
    }
}

impl From<&str> for User {
    fn from(s: &str) -> Self {
        User::Name(s.to_owned())
    }
}

impl From<String> for User {
    fn from(s: String) -> Self {
        User::Name(s)
    }
}

impl From<&String> for User {
    fn from(s: &String) -> Self {
        User::Name(s.clone())
    }
}

impl From<i64> for User {
    fn from(id: i64) -> Self {
        User::Id(id)
    }
}

impl From<i32> for User {
    fn from(id: i32) -> Self {
        User::Id(id.into())
    }
}

impl From<u32> for User {
    fn from(id: u32) -> Self {
        User::Id(id.into())
    }
}

impl From<&User> for User {
    fn from(u: &User) -> Self {
        u.clone()
    }
}

/// The user of a stored session value, when it has a valid one.
pub(crate) fn stored_user(raw: &[u8]) -> Option<User> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    User::from_json(v.get("user")?).ok()
}

/// Session data: a JSON object with a `user` (a non-empty string or an integer, see
/// [`User`]) and, when present, `rooms` as an array of non-empty strings. Returns the user.
///
/// ```
/// use serde_json::json;
/// use symple::session::{validate_data, User};
/// let data = json!({"user": "alice", "rooms": ["team-a"]});
/// assert_eq!(validate_data(data.as_object().unwrap())?, User::from("alice"));
/// assert_eq!(validate_data(json!({"user": 7}).as_object().unwrap())?, User::from(7));
/// assert!(validate_data(json!({"user": true}).as_object().unwrap()).is_err());
/// # Ok::<(), symple::Error>(())
/// ```
pub fn validate_data(data: &Object) -> Result<User> {
    let user = match data.get("user") {
        Some(v) => User::from_json(v)?,
        None => return Err(Error::InvalidSession("session data has no `user`".into())),
    };
    match data.get("rooms") {
        None => {}
        Some(Value::Array(rooms)) => {
            if let Some(r) = rooms
                .iter()
                .find(|r| !matches!(r, Value::String(s) if !s.is_empty()))
            {
                return Err(Error::InvalidSession(format!(
                    "`rooms` must hold non-empty strings, found {r}"
                )));
            }
        }
        Some(other) => {
            return Err(Error::InvalidSession(format!(
                "`rooms` must be an array of strings, not {other}"
            )))
        }
    }
    Ok(user)
}

/// Reads a JSON value as session data.
pub fn data_object(value: Value) -> Result<Object> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::InvalidSession(format!(
            "session data must be a JSON object, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_errors_name_the_problem() {
        let cases = [
            (json!({}), "no `user`"),
            (json!({"user": ""}), "empty"),
            (json!({"user": null}), "must be a string or an integer"),
            (json!({"user": 1.5}), "must be a string or an integer"),
            (json!({"user": 9007199254740992i64}), "beyond"),
            (json!({"user": [1]}), "must be a string or an integer"),
            (json!({"user": "a", "rooms": "r"}), "array"),
            (
                json!({"user": "a", "rooms": ["ok", 3]}),
                "non-empty strings",
            ),
            (json!({"user": "a", "rooms": [""]}), "non-empty strings"),
        ];
        for (v, needle) in cases {
            let e = validate_data(v.as_object().unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{v}: {e}");
        }
        assert!(data_object(json!([1])).is_err());
    }

    #[test]
    fn ttl_and_long_tokens() {
        assert!(validate_ttl(Some(0)).is_err());
        assert!(validate_ttl(Some(-5)).is_err());
        assert_eq!(validate_ttl(Some(5)).unwrap(), Some(5));
        assert!(validate_token(&"a".repeat(256)).is_ok());
        assert!(validate_token(&"a".repeat(257)).is_err());
    }
}
