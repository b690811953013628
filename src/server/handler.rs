//! What a client's frame asks for, decided without I/O: the one place a connection reads a
//! frame's JSON, its `type`, its `to` and its `room`. (The first step of a pure per-frame
//! handler; the connection does the I/O around it.)

use serde_json::Value;

use crate::protocol::Object;
use crate::server::metrics::Dropped;
use crate::server::routing::{self, Target};

/// A frame a peer sent after authenticating.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// `message`, `command`, `event` or `presence`: routed to `target`.
    Route {
        /// The `type`.
        kind: String,
        /// Where it goes.
        target: Target,
        /// The message as sent (the server still sets `from`).
        message: Object,
    },
    /// `join` a room.
    Join(String),
    /// `leave` a room.
    Leave(String),
    /// `close`: the client is done.
    Close,
}

/// Why a frame is refused: the `error` sent back, and the drop it counts as.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// The error's status.
    pub status: u16,
    /// The error's message.
    pub message: String,
    /// The reason in `symple_dropped_total`.
    pub reason: Dropped,
}

fn invalid(message: impl Into<String>) -> Refused {
    Refused {
        status: 400,
        message: message.into(),
        reason: Dropped::Invalid,
    }
}

/// A room in a `join` or `leave`: a non-empty string, or an integer read as its text.
///
/// ```
/// use symple::server::handler::room_name;
/// assert_eq!(room_name(Some(&serde_json::json!(7))).as_deref(), Some("7"));
/// assert_eq!(room_name(Some(&serde_json::json!(""))), None);
/// ```
pub fn room_name(v: Option<&Value>) -> Option<String> {
    // The protocol's one reader of a room; an integer room is its decimal text here.
    let room = crate::protocol::Room::from_json(v?).ok()?;
    room.validate().ok()?;
    Some(room.to_string())
}

/// Reads a text frame of at most `max_size` bytes.
///
/// ```
/// use symple::server::handler::{parse, Frame};
/// assert_eq!(parse(r#"{"type":"join","room":"r"}"#, 100), Ok(Frame::Join("r".into())));
/// assert_eq!(parse("[1]", 100).unwrap_err().status, 400);
/// assert_eq!(parse(&"x".repeat(101), 100).unwrap_err().status, 413);
/// ```
pub fn parse(text: &str, max_size: usize) -> Result<Frame, Refused> {
    if text.len() > max_size {
        return Err(Refused {
            status: 413,
            message: "Message too large".into(),
            reason: Dropped::TooLarge,
        });
    }
    let message = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err(invalid("A message must be a JSON object")),
        Err(_) => return Err(invalid("Invalid JSON")),
    };
    let kind = match message.get("type") {
        Some(Value::String(t)) => t.clone(),
        _ => return Err(invalid("Message has no type")),
    };
    match kind.as_str() {
        "message" | "command" | "event" | "presence" => {
            let target = routing::parse_to(message.get("to")).map_err(invalid)?;
            Ok(Frame::Route {
                kind,
                target,
                message,
            })
        }
        "join" | "leave" => {
            let room = room_name(message.get("room"))
                .ok_or_else(|| invalid("`room` must be a non-empty string"))?;
            Ok(if kind == "join" {
                Frame::Join(room)
            } else {
                Frame::Leave(room)
            })
        }
        "close" => Ok(Frame::Close),
        "auth" => Err(invalid("Already authenticated")),
        other => Err(invalid(format!("Unknown message type {other:?}"))),
    }
}
