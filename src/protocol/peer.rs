//! Peer objects: who a session is, as other peers see it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A peer: `id` (the server-assigned session id), `user`, `name`, `online`, `host`, and any
/// application fields, which are kept as they are.
///
/// ```
/// use symple::Peer;
/// let p = Peer::new("alice").name("Alice").field("status", "busy");
/// let v = serde_json::to_value(&p)?;
/// assert_eq!(v, serde_json::json!({"user": "alice", "name": "Alice", "online": true, "status": "busy"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Server-assigned session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user this session belongs to.
    pub user: String,
    /// Display name; servers default it to `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the session is connected (presence without it means online).
    #[serde(default = "online_by_default")]
    pub online: bool,
    /// The host the session connected from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Application fields (capabilities, status, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn online_by_default() -> bool {
    true
}

impl Peer {
    /// An online peer of `user`.
    pub fn new(user: impl Into<String>) -> Self {
        Peer {
            user: user.into(),
            online: true,
            ..Peer::default()
        }
    }

    /// Sets the session id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `online`.
    pub fn online(mut self, online: bool) -> Self {
        self.online = online;
        self
    }

    /// Sets an application field. A `token` is refused silently: tokens never leave a server.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        let key = key.into();
        if key != "token" {
            self.extra.insert(key, value.into());
        }
        self
    }
}
