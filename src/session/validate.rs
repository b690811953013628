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

/// Session data: a JSON object with a non-empty string `user` and, when present, `rooms` as
/// an array of non-empty strings. Returns the user.
///
/// ```
/// use serde_json::json;
/// use symple::session::validate_data;
/// let data = json!({"user": "alice", "rooms": ["team-a"]});
/// assert_eq!(validate_data(data.as_object().unwrap())?, "alice");
/// assert!(validate_data(json!({"user": 7}).as_object().unwrap()).is_err());
/// # Ok::<(), symple::Error>(())
/// ```
pub fn validate_data(data: &Object) -> Result<&str> {
    let user = match data.get("user") {
        Some(Value::String(u)) if !u.is_empty() => u.as_str(),
        Some(Value::String(_)) => return Err(Error::InvalidSession("`user` is empty".into())),
        Some(other) => {
            return Err(Error::InvalidSession(format!(
                "`user` must be a string, not {other}"
            )))
        }
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
            (json!({"user": null}), "must be a string"),
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
