//! The four routed message kinds: message, presence, command and event.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
use crate::protocol::tag::{CommandType, EventType, MessageType, PresenceType};
use crate::protocol::{Address, Peer, To};

/// A JSON object: what every packet encoder takes.
pub type Object = Map<String, Value>;

/// Builder methods shared by every routed kind: `id`, `from`, `to`, `field`.
macro_rules! routed_common {
    ($ty:ident) => {
        impl $ty {
            /// Sets the message id (emitters fill a uuid when it is absent).
            pub fn id(mut self, id: impl Into<String>) -> Self {
                self.id = Some(id.into());
                self
            }

            /// Sets the sender address; fails on an empty address.
            pub fn from(mut self, from: &str) -> Result<Self, Error> {
                self.from = Some(from.parse::<Address>()?);
                Ok(self)
            }

            /// Sets the recipient: a user, `user|id`, or rooms.
            pub fn to(mut self, to: impl Into<To>) -> Self {
                self.to = Some(to.into());
                self
            }

            /// Sets any other field; it is kept on the wire as given.
            pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
                self.extra.insert(key.into(), value.into());
                self
            }
        }

        impl IntoObject for $ty {
            fn into_object(self) -> Result<Object, Error> {
                match serde_json::to_value(self)? {
                    Value::Object(map) => Ok(map),
                    _ => unreachable!("a derived struct serializes to an object"),
                }
            }
        }
    };
}

/// A `message`: application data, and the carrier of WebRTC signalling (`subtype`
/// `call:offer`, `call:answer`, ...).
///
/// ```
/// use symple::Message;
/// let m = Message::new(serde_json::json!({"text": "hi"})).subtype("chat").to("alice|s1".parse::<symple::Address>()?);
/// let json = serde_json::to_string(&m)?;
/// assert_eq!(json, r#"{"type":"message","to":"alice|s1","subtype":"chat","data":{"text":"hi"}}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(rename = "type")]
    kind: MessageType,
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    /// Recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<To>,
    /// Specialisation such as `call:offer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// Payload: any JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Fields beyond the protocol's, preserved.
    #[serde(flatten)]
    pub extra: Object,
}
routed_common!(Message);

impl Message {
    /// A message carrying `data`.
    pub fn new(data: impl Into<Value>) -> Self {
        Message {
            data: Some(data.into()),
            ..Message::default()
        }
    }

    /// Sets the subtype.
    pub fn subtype(mut self, subtype: impl Into<String>) -> Self {
        self.subtype = Some(subtype.into());
        self
    }
}

/// A `presence`: a peer's state, sent to its rooms.
///
/// ```
/// use symple::{Peer, Presence};
/// let p = Presence::new(Peer::new("alice").id("s1")).probe(true);
/// let v = serde_json::to_value(&p)?;
/// assert_eq!(v["data"]["user"], "alice");
/// assert_eq!(v["probe"], true);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Presence {
    #[serde(rename = "type")]
    kind: PresenceType,
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    /// Recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<To>,
    /// The peer object (must be a JSON object with at least `user`).
    pub data: Peer,
    /// Asks the recipients to answer with their own presence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<bool>,
    /// Fields beyond the protocol's, preserved.
    #[serde(flatten)]
    pub extra: Object,
}
routed_common!(Presence);

impl Presence {
    /// Presence of `peer`.
    pub fn new(peer: Peer) -> Self {
        Presence {
            data: peer,
            ..Presence::default()
        }
    }

    /// Sets the probe flag.
    pub fn probe(mut self, probe: bool) -> Self {
        self.probe = Some(probe);
        self
    }
}

/// What a command asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Run it (the default).
    #[default]
    Execute,
    /// Read a value.
    Get,
    /// Write a value.
    Set,
    /// The answer to a command.
    Result,
    /// A failed command.
    Error,
}

impl std::str::FromStr for Action {
    type Err = Error;

    /// ```
    /// assert_eq!("get".parse::<symple::Action>()?, symple::Action::Get);
    /// assert!("nope".parse::<symple::Action>().is_err());
    /// # Ok::<(), symple::Error>(())
    /// ```
    fn from_str(s: &str) -> Result<Self, Error> {
        serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
            Error::InvalidMessage(format!(
                "unknown command action {s:?}: use execute, get, set, result or error"
            ))
        })
    }
}

/// A `command`: a request on a colon path (`node`) such as `media:video`.
///
/// ```
/// use symple::{Action, Command};
/// let c = Command::new("media:video")?.action(Action::Set).data(serde_json::json!({"on": true}));
/// assert_eq!(serde_json::to_value(&c)?["action"], "set");
/// assert!(Command::new("").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Command {
    #[serde(rename = "type")]
    kind: CommandType,
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    /// Recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<To>,
    /// Colon path naming what the command is about.
    #[serde(deserialize_with = "non_empty")]
    pub node: String,
    /// What is asked.
    #[serde(default)]
    pub action: Action,
    /// Status code of a result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Fields beyond the protocol's, preserved.
    #[serde(flatten)]
    pub extra: Object,
}
routed_common!(Command);

impl Command {
    /// A command on `node` (non-empty).
    pub fn new(node: impl Into<String>) -> Result<Self, Error> {
        Ok(Command {
            node: checked_name("node", node.into())?,
            ..Command::default()
        })
    }

    /// Sets the action.
    pub fn action(mut self, action: Action) -> Self {
        self.action = action;
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the payload.
    pub fn data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }
}

/// An `event`: something that happened, with a name and a unix time.
///
/// ```
/// let e = symple::Event::new("order:paid")?.time(1_700_000_000);
/// assert_eq!(serde_json::to_value(&e)?["time"], 1_700_000_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    kind: EventType,
    /// Message id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    /// Recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<To>,
    /// Event name.
    #[serde(deserialize_with = "non_empty")]
    pub name: String,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    /// Payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Fields beyond the protocol's, preserved.
    #[serde(flatten)]
    pub extra: Object,
}
routed_common!(Event);

impl Event {
    /// An event named `name` (non-empty), without a time (emitters stamp the current time).
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        Ok(Event {
            name: checked_name("name", name.into())?,
            ..Event::default()
        })
    }

    /// Sets the unix time.
    pub fn time(mut self, unix_seconds: i64) -> Self {
        self.time = Some(unix_seconds);
        self
    }

    /// Sets the payload.
    pub fn data(mut self, data: impl Into<Value>) -> Self {
        self.data = Some(data.into());
        self
    }
}

fn checked_name(what: &str, s: String) -> Result<String, Error> {
    if s.is_empty() {
        Err(Error::InvalidMessage(format!("empty {what}")))
    } else {
        Ok(s)
    }
}

fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.is_empty() {
        Err(serde::de::Error::custom("must not be empty"))
    } else {
        Ok(s)
    }
}

/// Any routed message, read by its `type`.
///
/// ```
/// use symple::AnyMessage;
/// let m = AnyMessage::parse(r#"{"type":"event","name":"x","custom":1}"#)?;
/// assert!(matches!(&m, AnyMessage::Event(e) if e.extra["custom"] == 1));
/// let err = AnyMessage::parse(r#"{"type":"nope"}"#).unwrap_err();
/// assert!(err.to_string().contains("unknown message type \"nope\""));
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnyMessage {
    /// `type: "message"`
    Message(Message),
    /// `type: "presence"`
    Presence(Presence),
    /// `type: "command"`
    Command(Command),
    /// `type: "event"`
    Event(Event),
}

impl AnyMessage {
    /// Parses JSON text into the kind its `type` names, with an error naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::from_value(serde_json::from_str(text)?)
    }

    /// Reads a JSON value into the kind its `type` names.
    pub fn from_value(value: Value) -> Result<Self, Error> {
        let kind = match &value {
            Value::Object(map) => match map.get("type") {
                Some(Value::String(t)) => t.clone(),
                Some(other) => {
                    return Err(Error::InvalidMessage(format!(
                        "`type` must be a string, not {other}"
                    )))
                }
                None => return Err(Error::InvalidMessage("message has no `type`".into())),
            },
            other => {
                return Err(Error::InvalidMessage(format!(
                    "a message is a JSON object, not {other}"
                )))
            }
        };
        let invalid = |e: serde_json::Error| Error::InvalidMessage(format!("{kind}: {e}"));
        Ok(match kind.as_str() {
            MessageType::NAME => {
                AnyMessage::Message(serde_json::from_value(value).map_err(invalid)?)
            }
            PresenceType::NAME => {
                AnyMessage::Presence(serde_json::from_value(value).map_err(invalid)?)
            }
            CommandType::NAME => {
                AnyMessage::Command(serde_json::from_value(value).map_err(invalid)?)
            }
            EventType::NAME => AnyMessage::Event(serde_json::from_value(value).map_err(invalid)?),
            _ => {
                return Err(Error::InvalidMessage(format!(
                    "unknown message type {kind:?}: use message, presence, command or event"
                )))
            }
        })
    }
}

impl IntoObject for AnyMessage {
    fn into_object(self) -> Result<Object, Error> {
        match self {
            AnyMessage::Message(m) => m.into_object(),
            AnyMessage::Presence(m) => m.into_object(),
            AnyMessage::Command(m) => m.into_object(),
            AnyMessage::Event(m) => m.into_object(),
        }
    }
}

/// Anything an emitter can send: the typed messages, or a JSON object as it is.
///
/// ```
/// use symple::IntoObject;
/// assert!(serde_json::json!([1]).into_object().is_err());
/// let obj = serde_json::json!({"type": "message"}).into_object()?;
/// assert_eq!(obj["type"], "message");
/// # Ok::<(), symple::Error>(())
/// ```
pub trait IntoObject {
    /// Converts into a JSON object, or says why it cannot be one.
    fn into_object(self) -> Result<Object, Error>;
}

impl IntoObject for Object {
    fn into_object(self) -> Result<Object, Error> {
        Ok(self)
    }
}

impl IntoObject for Value {
    fn into_object(self) -> Result<Object, Error> {
        match self {
            Value::Object(map) => Ok(map),
            other => Err(Error::InvalidMessage(format!(
                "a message is a JSON object, not {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_fields_survive_a_round_trip() {
        let text = r#"{"type":"message","id":"1","from":"a|b","to":["r",3],"data":{"k":[1,2]},"zz":{"nested":true},"aa":null}"#;
        let m = AnyMessage::parse(text).unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (json!({"type":"message","from":""}), "empty address"),
            (json!({"type":"presence","data":5}), "presence"),
            (json!({"type":"presence","data":{"id":"x"}}), "user"),
            (json!({"type":"command","node":""}), "must not be empty"),
            (json!({"type":"event"}), "name"),
            (json!({"type":"message","to":{}}), "`to` must be"),
            (json!({"type":7}), "`type` must be a string"),
            (json!({}), "no `type`"),
            (json!("x"), "JSON object"),
        ];
        for (v, needle) in cases {
            let e = AnyMessage::from_value(v.clone()).unwrap_err().to_string();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn wrong_type_for_struct_is_refused() {
        let e = serde_json::from_value::<Event>(json!({"type":"message","name":"x"})).unwrap_err();
        assert!(e.to_string().contains("expected \"event\""), "{e}");
    }
}
