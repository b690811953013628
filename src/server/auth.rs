//! Turning an `auth` frame into a peer: anonymous mode trusts the message, token mode lets
//! the Redis session decide. Failures carry the status and message sent to the client.

use serde_json::Value;

use crate::error::Error;
use crate::protocol::Object;
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
}

/// Status and message of a refusal.
pub type Refusal = (u16, String);

fn refuse(status: u16, msg: impl Into<String>) -> Refusal {
    (status, msg.into())
}

/// A user: a non-empty string, or an integer (Rails ids), read as its decimal text.
fn user_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn rooms_of(v: Option<&Value>) -> Result<Vec<String>, Refusal> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|r| match r {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
                other => Err(refuse(
                    400,
                    format!("room {other} is not a non-empty string"),
                )),
            })
            .collect(),
        Some(other) => Err(refuse(
            400,
            format!("`rooms` must be an array, not {other}"),
        )),
    }
}

/// Fields the server owns: a client or session cannot set them.
const SERVER_FIELDS: [&str; 6] = ["id", "online", "host", "token", "type", "rooms"];

fn merge_public(into: &mut Object, from: &Object) {
    for (k, v) in from {
        if !SERVER_FIELDS.contains(&k.as_str()) && k != "data" {
            into.insert(k.clone(), v.clone());
        }
    }
}

/// Authenticates an `auth` message. `sessions` is `Some` in token mode.
pub async fn authenticate(
    auth: &Object,
    sessions: Option<&AsyncSessionStore>,
) -> Result<Authorized, Refusal> {
    let mut peer = Object::new();
    if let Some(Value::Object(data)) = auth.get("data") {
        merge_public(&mut peer, data);
    }
    merge_public(&mut peer, auth);

    let Some(store) = sessions else {
        let user = user_of(auth.get("user"))
            .ok_or_else(|| refuse(401, "Authentication failed: missing user"))?;
        let rooms = rooms_of(auth.get("rooms"))?;
        peer.insert("user".into(), Value::String(user.clone()));
        return Ok(Authorized {
            user,
            peer,
            rooms,
            token: None,
        });
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
    // The session decides: its user, its rooms, its fields over the client's.
    let user = user_of(session.get("user"))
        .ok_or_else(|| refuse(401, "Authentication failed: the session has no user"))?;
    let rooms = rooms_of(session.get("rooms"))
        .map_err(|(_, m)| refuse(401, format!("Authentication failed: invalid session ({m})")))?;
    merge_public(&mut peer, &session);
    peer.insert("user".into(), Value::String(user.clone()));
    Ok(Authorized {
        user,
        peer,
        rooms,
        token: Some(token),
    })
}
