//! # symple
//!
//! Push [Symple](https://github.com/sourcey/symple-server) real-time messages from Rust through
//! Redis, with no HTTP hop: the emitter publishes packets the servers already read.
//!
//! - **Native servers** (this crate's server, the v4 Node server): JSON on `symple:broadcast`.
//! - **Socket.IO servers** (npm `symple` 2.x, any server with `@socket.io/redis-adapter`):
//!   MessagePack on `symple#/#…`, byte-identical to `@socket.io/redis-emitter`.
//! - **Socket.IO servers with the sharded adapter** (`createShardedAdapter`, Redis 7 sharded
//!   pub/sub) or **the Redis Streams adapter**: the JSON messages those adapters exchange, by
//!   SPUBLISH or XADD ([`Target`], [`packet::sharded`], [`packet::streams`]).
//!
//! Building a packet is pure and needs no Redis:
//!
//! ```
//! use symple::{Message, Room};
//! use symple::packet::{socketio::{Broadcast, Server}, Adapter};
//!
//! let msg = Message::new(serde_json::json!({"text": "hi"})).subtype("chat");
//! let mut to = Broadcast::default();
//! to.add_rooms([Room::from("alice")]);
//! let arg = serde_json::to_value(&msg)?;
//! let packet = Server::default().encode_event(&to, "message", &[arg])?;
//! assert_eq!(packet.channel, "symple#/#alice#");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Publishing needs a Redis:
//!
//! ```no_run
//! use symple::{Emitter, Target};
//! let emitter = Emitter::builder("redis://127.0.0.1:6379").target(Target::Native).connect()?;
//! emitter.to("alice").send(serde_json::json!({"text": "hello from Rust"}))?;
//! # Ok::<(), symple::Error>(())
//! ```
//!
//! ## Features
//!
//! The default features build the `symple` command (`cli`: clap), the standalone server
//! (`server`: axum, hyper, tungstenite, rustls) and `rediss://` support (`tls`:
//! rustls). A worker that only emits and manages sessions leaves them out (90 crates
//! instead of 169; add `features = ["tls"]` for `rediss://`):
//!
//! ```toml
//! [dependencies]
//! symple = { version = "0.1", default-features = false }
//! ```
//!
//! The command itself: `cargo install --path . --locked` in a checkout.

#[cfg(feature = "cli")]
pub mod cli;
pub mod emitter;
pub mod error;
pub mod fork;
pub mod history;
pub mod id;
pub mod packet;
pub mod protocol;
pub mod redis;
pub mod route;
#[cfg(feature = "server")]
pub mod server;
pub mod session;

pub use emitter::{AsyncEmitter, Emittable, Emitter, EmitterBuilder};
pub use error::{Error, Result};
pub use packet::Packet;
pub use protocol::{
    Action, Address, AnyMessage, Command, Event, IntoObject, Message, Object, Peer, Presence, Room,
    To,
};
pub use route::{IntoRooms, Route, Target, TargetOptions};

// The README's Rust examples compile (they are run as doc tests).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
