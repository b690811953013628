//! Emitters: choose the servers and the recipients, then publish Symple messages to Redis.
//!
//! [`Emitter`] blocks on Redis (or, built with [`EmitterBuilder::queued`], returns once the
//! packet is queued for a background writer); [`AsyncEmitter`] is the same API for tokio.
//! Both are cheap to clone and safe to share; chaining (`to`, `except`, `from`, `of`, ...)
//! returns a new emitter and leaves the original as it was, like Socket.IO's emitter.

use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::packet::socketio::{self, Request};
use crate::packet::view;
use crate::packet::{one_packet, Packet, Sink};
use crate::protocol::{Action, Command, Event, IntoObject, Message, Object, Peer, Presence};
use crate::redis::aio::AsyncConnection;
use crate::redis::{ConnectOptions, Connection, Pool, Publisher, Queued};
use crate::route::{IntoRooms, Route, Target};

/// Settings for an emitter; `connect` or `connect_async` opens it.
///
/// ```no_run
/// use symple::{Emitter, Target};
/// let emitter = Emitter::builder("redis://127.0.0.1:6379")
///     .target(Target::Native)
///     .from("rails|worker-1")
///     .connect()?;
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct EmitterBuilder {
    opts: ConnectOptions,
    route: Route,
    queued: bool,
}

impl EmitterBuilder {
    /// Which servers read the packets (default: Socket.IO, key `symple`, namespace `/`).
    pub fn target(mut self, target: Target) -> Self {
        self.route.target = target;
        self
    }

    /// Socket.IO target with this adapter key and namespace.
    pub fn socketio(mut self, key: &str, namespace: &str) -> Result<Self> {
        self.route.target = Target::SocketIo(socketio::Server::new(key, namespace)?);
        Ok(self)
    }

    /// The `from` written into messages that have none (default `server`).
    pub fn from(mut self, from: &str) -> Self {
        self.route.from = from.to_owned();
        self
    }

    /// Connection settings (timeouts, queue capacity).
    pub fn options(mut self, f: impl FnOnce(ConnectOptions) -> ConnectOptions) -> Self {
        self.opts = f(self.opts);
        self
    }

    /// Emit without waiting for Redis: calls return once the packet is queued, a background
    /// writer pipelines the queue, [`Emitter::flush`] waits and reports failures, and dropping
    /// the last clone flushes.
    pub fn queued(mut self, queued: bool) -> Self {
        self.queued = queued;
        self
    }

    /// Connects a blocking emitter; fails at once when Redis cannot be reached. With a
    /// [`pool_size`](ConnectOptions::pool_size) over 1 (and not queued), threads sharing it
    /// each get a connection of their own.
    pub fn connect(self) -> Result<Emitter> {
        let publisher: Arc<dyn Publisher> = if self.queued {
            // One writer thread, so one connection whatever the pool size.
            let conn = Connection::open(self.opts.clone())?;
            Arc::new(Queued::start(conn, &self.opts)?)
        } else if self.opts.pool_size > 1 {
            Arc::new(Pool::open(self.opts.clone())?)
        } else {
            Arc::new(Connection::open(self.opts.clone())?)
        };
        Ok(Emitter {
            publisher,
            route: self.route,
        })
    }

    /// Connects an async emitter (tokio); it reconnects by itself after Redis restarts.
    pub async fn connect_async(self) -> Result<AsyncEmitter> {
        let conn = AsyncConnection::connect(&self.opts).await?;
        Ok(AsyncEmitter {
            conn,
            url: self.opts.redacted(),
            route: self.route,
        })
    }
}

/// Chaining and message-building methods shared by both emitters.
macro_rules! emitter_common {
    ($ty:ident) => {
        impl $ty {
            /// Adds recipients: a room, a user (its personal room), an integer id, a
            /// `user|id` [`Address`](crate::Address), or a list of them.
            pub fn to(&self, rooms: impl IntoRooms) -> Self {
                let mut e = self.clone();
                e.route.broadcast.add_rooms(rooms.into_rooms());
                e
            }

            /// Same as [`to`](Self::to), as Socket.IO spells it.
            pub fn in_(&self, rooms: impl IntoRooms) -> Self {
                self.to(rooms)
            }

            /// Skips sockets in these rooms (Socket.IO target only).
            pub fn except(&self, rooms: impl IntoRooms) -> Self {
                let mut e = self.clone();
                e.route.broadcast.add_except(rooms.into_rooms());
                e
            }

            /// The `from` written into messages that have none.
            pub fn from(&self, from: &str) -> Self {
                let mut e = self.clone();
                e.route.from = from.to_owned();
                e
            }

            /// The same servers in another Socket.IO namespace; a no-op for the native target.
            pub fn of(&self, namespace: &str) -> Self {
                let mut e = self.clone();
                e.route.target = e.route.target.of(namespace);
                e.route.broadcast = Default::default();
                e
            }

            /// Marks packets as droppable for clients that are not ready (Socket.IO flag).
            pub fn volatile(&self) -> Self {
                let mut e = self.clone();
                e.route.broadcast.volatile = true;
                e
            }

            /// Sets the Socket.IO compress flag.
            pub fn compress(&self, compress: bool) -> Self {
                let mut e = self.clone();
                e.route.broadcast.compress = Some(compress);
                e
            }

            /// The Socket.IO event name that carries messages (default `message`).
            pub fn event(&self, event: &str) -> Result<Self> {
                socketio::check_event(event)?;
                let mut e = self.clone();
                e.route.event = event.to_owned();
                Ok(e)
            }

            /// The target in use.
            pub fn target(&self) -> &Target {
                &self.route.target
            }

            /// The rooms this emitter sends to (empty: everyone, on Socket.IO).
            pub fn rooms(&self) -> &[crate::Room] {
                &self.route.broadcast.rooms
            }

            /// Builds the packet `emit` would publish, without publishing it.
            pub fn packet(&self, message: impl Emittable) -> Result<Packet> {
                message.packet(&self.route)
            }

            /// [`packet`](Self::packet) for a message seen through a
            /// [`JsonView`](crate::packet::view::JsonView): the same bytes, with no `Object`
            /// built (for bindings that hold messages in their own values).
            pub fn packet_view<'a, V: crate::packet::view::JsonView<'a>>(
                &self,
                message: V,
            ) -> Result<Packet> {
                self.route
                    .message_packet_view(message, crate::id::message_id)
            }
        }
    };
}

/// The message `send(data)` builds.
fn data_message(data: Value) -> Result<Object> {
    Message::new(data).into_object()
}

fn event_message(name: &str, data: Value) -> Result<Object> {
    Event::new(name)?
        .time(chrono::Utc::now().timestamp())
        .data(data)
        .into_object()
}

fn command_message(node: &str, action: Action, data: Value) -> Result<Object> {
    Command::new(node)?.action(action).data(data).into_object()
}

fn packets<M: Emittable>(
    route: &Route,
    messages: impl IntoIterator<Item = M>,
) -> Result<Vec<Packet>> {
    messages.into_iter().map(|m| m.packet(route)).collect()
}

/// A message an emitter can send: the typed messages and JSON objects, owned (anything
/// [`IntoObject`]: `Message`, `Presence`, `Object`, `Value`, ...) or borrowed (`&Object`,
/// `&Value`: read in place, so the caller keeps it and nothing is copied or dropped).
///
/// ```no_run
/// let emitter = symple::Emitter::connect("redis://127.0.0.1:6379")?.to("alice");
/// let message = serde_json::json!({"type": "message", "data": {"n": 1}});
/// emitter.emit(&message)?; // borrowed
/// emitter.emit_batch([&message, &message])?;
/// emitter.emit(message)?; // owned
/// # Ok::<(), symple::Error>(())
/// ```
pub trait Emittable: Sized {
    /// Writes the packet `route` makes of this message into `sink`, with a fresh id when it
    /// has none.
    #[doc(hidden)]
    fn write(self, route: &Route, sink: &mut dyn Sink) -> Result<()>;

    /// The packet `route` makes of this message.
    #[doc(hidden)]
    fn packet(self, route: &Route) -> Result<Packet> {
        one_packet(|sink| self.write(route, sink))
    }
}

impl<T: IntoObject> Emittable for T {
    fn write(self, route: &Route, sink: &mut dyn Sink) -> Result<()> {
        let object = self.into_object()?;
        route.write_message::<&Value, _>(view::entries(&object), crate::id::message_id, sink)
    }
}

impl Emittable for &Object {
    fn write(self, route: &Route, sink: &mut dyn Sink) -> Result<()> {
        route.write_message::<&Value, _>(view::entries(self), crate::id::message_id, sink)
    }
}

impl Emittable for &Value {
    fn write(self, route: &Route, sink: &mut dyn Sink) -> Result<()> {
        route.write_message_view(self, crate::id::message_id, sink)
    }
}

/// A blocking emitter.
///
/// ```no_run
/// use symple::{Emitter, Peer};
/// use serde_json::json;
/// let emitter = Emitter::connect("redis://127.0.0.1:6379")?;
/// emitter.to("alice").send(json!({"text": "hello"}))?;
/// emitter.to(["team-a", "team-b"]).except("bob").send_event("deploy:done", json!({"v": 3}))?;
/// emitter.to(4242).send_presence(Peer::new("server").name("Server"))?;
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Emitter {
    publisher: Arc<dyn Publisher>,
    route: Route,
}
emitter_common!(Emitter);

impl Emitter {
    /// Settings for an emitter on `url`.
    pub fn builder(url: impl Into<String>) -> EmitterBuilder {
        EmitterBuilder {
            opts: ConnectOptions::new(url),
            route: Route::default(),
            queued: false,
        }
    }

    /// A blocking emitter on `url` with the defaults (Socket.IO target, key `symple`).
    pub fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder(url).connect()
    }

    /// An emitter over any [`Publisher`] (a cluster connection, a test double).
    pub fn with_publisher(publisher: Arc<dyn Publisher>, target: Target) -> Self {
        Emitter {
            publisher,
            route: Route {
                target,
                ..Route::default()
            },
        }
    }

    /// Publishes a Symple message, filling in `id` and `from` when absent.
    pub fn emit(&self, message: impl Emittable) -> Result<()> {
        let mut message = Some(message);
        self.publisher
            .publish_with(&mut |sink| match message.take() {
                Some(m) => m.write(&self.route, sink),
                None => Ok(()),
            })
    }

    /// Publishes a JSON object exactly as given (as the event's one argument on Socket.IO).
    pub fn emit_raw(&self, message: impl IntoObject) -> Result<()> {
        self.publisher
            .publish(self.route.raw_packet(message.into_object()?)?)
    }

    /// Emits a Socket.IO event with any arguments (Socket.IO target only).
    pub fn emit_event(&self, event: &str, args: &[Value]) -> Result<()> {
        self.publisher
            .publish(self.route.event_packet(event, args)?)
    }

    /// Publishes many messages in one pipelined round trip; nothing is sent when any of them
    /// is invalid.
    pub fn emit_batch<M: Emittable>(&self, messages: impl IntoIterator<Item = M>) -> Result<()> {
        let mut messages = messages.into_iter();
        let hint = messages.size_hint().0;
        self.publisher
            .publish_each(hint, &mut |sink| match messages.next() {
                Some(m) => m.write(&self.route, sink).map(|()| true),
                None => Ok(false),
            })
    }

    /// Publishes packets built beforehand, pipelined.
    pub fn publish_packets(&self, packets: Vec<Packet>) -> Result<()> {
        self.publisher.publish_batch(packets)
    }

    /// Publishes `packet` only if that means no waiting, and gives it back otherwise: a
    /// queued emitter takes it while its queue has room; a blocking one always gives it back.
    /// For callers that must not block here (a Ruby thread holding its GVL) and would rather
    /// wait elsewhere with [`publish_packets`](Self::publish_packets).
    ///
    /// ```no_run
    /// let emitter = symple::Emitter::builder("redis://127.0.0.1:6379").queued(true).connect()?;
    /// let packet = emitter.to("alice").packet(symple::Message::new(serde_json::json!({"n": 1})))?;
    /// if let Some(packet) = emitter.try_publish(packet)? {
    ///     emitter.publish_packets(vec![packet])?; // the queue was full: wait for room
    /// }
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn try_publish(&self, packet: Packet) -> Result<Option<Packet>> {
        self.publisher.try_publish(packet)
    }

    /// Sends `data` as a `message`.
    pub fn send(&self, data: impl Into<Value>) -> Result<()> {
        self.emit(data_message(data.into())?)
    }

    /// Sends a presence of `peer`.
    pub fn send_presence(&self, peer: Peer) -> Result<()> {
        self.emit(Presence::new(peer))
    }

    /// Sends an `event` named `name`, stamped with the current unix time.
    pub fn send_event(&self, name: &str, data: impl Into<Value>) -> Result<()> {
        self.emit(event_message(name, data.into())?)
    }

    /// Sends a `command` on `node`.
    pub fn send_command(&self, node: &str, action: Action, data: impl Into<Value>) -> Result<()> {
        self.emit(command_message(node, action, data.into())?)
    }

    /// Makes the sockets this emitter targets join `rooms` (Socket.IO only).
    pub fn sockets_join(&self, rooms: impl IntoRooms) -> Result<()> {
        self.publisher.publish(
            self.route
                .request_packet(&Request::Join(rooms.into_rooms()))?,
        )
    }

    /// Makes the targeted sockets leave `rooms` (Socket.IO only).
    pub fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<()> {
        self.publisher.publish(
            self.route
                .request_packet(&Request::Leave(rooms.into_rooms()))?,
        )
    }

    /// Disconnects the targeted sockets; `close` also closes their connections (Socket.IO only).
    pub fn disconnect_sockets(&self, close: bool) -> Result<()> {
        self.publisher
            .publish(self.route.request_packet(&Request::Disconnect(close))?)
    }

    /// Waits until everything emitted so far is acknowledged; reports the first failure since
    /// the last flush. Immediate for a blocking emitter.
    pub fn flush(&self) -> Result<()> {
        self.publisher.flush()
    }
}

/// The async emitter (tokio), with the same API as [`Emitter`].
///
/// ```no_run
/// # async fn run() -> symple::Result<()> {
/// let emitter = symple::Emitter::builder("redis://127.0.0.1:6379").connect_async().await?;
/// emitter.to("alice").send(serde_json::json!({"text": "hi"})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AsyncEmitter {
    conn: AsyncConnection,
    url: crate::error::Redacted,
    route: Route,
}
emitter_common!(AsyncEmitter);

impl std::fmt::Debug for AsyncEmitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncEmitter")
            .field("url", &self.url.to_string())
            .field("route", &self.route)
            .finish()
    }
}

impl AsyncEmitter {
    async fn publish(&self, packet: Packet) -> Result<()> {
        self.publish_packets(vec![packet]).await
    }

    /// Publishes packets built beforehand, pipelined (per node, on a cluster).
    pub async fn publish_packets(&self, packets: Vec<Packet>) -> Result<()> {
        self.conn
            .publish(&packets)
            .await
            .map_err(|e| Error::from_redis(&self.url, e))
    }

    /// Publishes a Symple message, filling in `id` and `from` when absent.
    pub async fn emit(&self, message: impl Emittable) -> Result<()> {
        self.publish(self.packet(message)?).await
    }

    /// Publishes a JSON object exactly as given.
    pub async fn emit_raw(&self, message: impl IntoObject) -> Result<()> {
        self.publish(self.route.raw_packet(message.into_object()?)?)
            .await
    }

    /// Emits a Socket.IO event with any arguments.
    pub async fn emit_event(&self, event: &str, args: &[Value]) -> Result<()> {
        self.publish(self.route.event_packet(event, args)?).await
    }

    /// Publishes many messages in one pipelined round trip.
    pub async fn emit_batch<M: Emittable>(
        &self,
        messages: impl IntoIterator<Item = M>,
    ) -> Result<()> {
        self.publish_packets(packets(&self.route, messages)?).await
    }

    /// Sends `data` as a `message`.
    pub async fn send(&self, data: impl Into<Value>) -> Result<()> {
        self.emit(data_message(data.into())?).await
    }

    /// Sends a presence of `peer`.
    pub async fn send_presence(&self, peer: Peer) -> Result<()> {
        self.emit(Presence::new(peer)).await
    }

    /// Sends an `event` stamped with the current unix time.
    pub async fn send_event(&self, name: &str, data: impl Into<Value>) -> Result<()> {
        self.emit(event_message(name, data.into())?).await
    }

    /// Sends a `command` on `node`.
    pub async fn send_command(
        &self,
        node: &str,
        action: Action,
        data: impl Into<Value>,
    ) -> Result<()> {
        self.emit(command_message(node, action, data.into())?).await
    }

    /// Makes the targeted sockets join `rooms` (Socket.IO only).
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<()> {
        self.publish(
            self.route
                .request_packet(&Request::Join(rooms.into_rooms()))?,
        )
        .await
    }

    /// Makes the targeted sockets leave `rooms` (Socket.IO only).
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<()> {
        self.publish(
            self.route
                .request_packet(&Request::Leave(rooms.into_rooms()))?,
        )
        .await
    }

    /// Disconnects the targeted sockets (Socket.IO only).
    pub async fn disconnect_sockets(&self, close: bool) -> Result<()> {
        self.publish(self.route.request_packet(&Request::Disconnect(close))?)
            .await
    }
}
