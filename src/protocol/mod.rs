//! Symple protocol v4 types: messages, presence, commands, events, peers and addresses.
//!
//! All of them are serde types; parsing validates and returns an error naming the problem,
//! and fields beyond the protocol's are preserved.

pub(crate) mod address;
pub mod envelope;
pub mod frames;
mod message;
mod peer;
pub(crate) mod room;
mod tag;

pub use address::Address;
pub use message::{Action, AnyMessage, Command, Event, IntoObject, Message, Object, Presence};
pub use peer::Peer;
pub use room::{Room, To};
pub use tag::{
    CommandType, ErrorType, EventType, JoinOkType, LeaveOkType, MessageType, PresenceType,
    RecoveryType, WelcomeType,
};
