//! `Symple::Native::Emitter`: a `symple::Emitter` as a Ruby object. `lib/symple/emitter.rb`
//! wraps it in the documented API.
//!
//! Chaining (`to`, `except`, `from`, ...) returns a new object over a clone: the connection
//! (or the queued writer) is shared, the routing is the clone's own. Ruby values are read
//! with the GVL held; publishing runs without it. `emit_batch` and the queued `emit` encode
//! plain messages straight from the Ruby values (`view`), with the GVL held, since that is
//! cheaper than building an `Object`; anything else is converted (`convert`) and encoded as
//! before.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use magnus::{
    function, method, prelude::*, Error, Integer, RArray, RClass, RHash, RModule, Ruby, Value,
};
use symple::packet::sharded::SubscriptionMode;
use symple::{Action, Address, IntoObject, Packet, Peer, Target, TargetOptions};

use crate::errors::{self, guard, invalid_message};
use crate::view::RubyView;
use crate::{convert, nogvl};

#[magnus::wrap(class = "Symple::Native::Emitter", free_immediately, size)]
pub struct Emitter {
    inner: symple::Emitter,
    /// For a queued emitter: the root, shared by every chained copy. The registry below holds
    /// it weakly so `flush_all` (at exit, before a fork) can reach every live queue.
    root: Option<Arc<symple::Emitter>>,
}

/// Live queued emitters. Locked only with the GVL held, so never by a thread that a fork
/// leaves behind.
static QUEUED: Mutex<Vec<Weak<symple::Emitter>>> = Mutex::new(Vec::new());

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class: RClass = native.define_class("Emitter", ruby.class_object())?;
    native.const_set("TARGETS", ruby.ary_from_vec(Target::NAMES.to_vec()))?;
    native.const_set(
        "SUBSCRIPTION_MODES",
        ruby.ary_from_vec(SubscriptionMode::ALL.map(SubscriptionMode::as_str).to_vec()),
    )?;
    class.define_singleton_method("connect", function!(Emitter::connect, 7))?;
    class.define_singleton_method("check_target", function!(Emitter::check_target, 1))?;
    class.define_singleton_method("offline", function!(Emitter::offline, 2))?;
    class.define_method("rooms", method!(Emitter::rooms, 0))?;
    class.define_method("to", method!(Emitter::to, 1))?;
    class.define_method("except", method!(Emitter::except, 1))?;
    class.define_method("from", method!(Emitter::from, 1))?;
    class.define_method("of", method!(Emitter::of, 1))?;
    class.define_method("volatile", method!(Emitter::volatile, 0))?;
    class.define_method("compress", method!(Emitter::compress, 1))?;
    class.define_method("event", method!(Emitter::event, 1))?;
    class.define_method("target", method!(Emitter::target, 0))?;
    class.define_method("queued?", method!(Emitter::is_queued, 0))?;
    class.define_method("emit", method!(Emitter::emit, 1))?;
    class.define_method("emit_raw", method!(Emitter::emit_raw, 1))?;
    class.define_method("emit_event", method!(Emitter::emit_event, 2))?;
    class.define_method("emit_batch", method!(Emitter::emit_batch, 1))?;
    class.define_method("send_data", method!(Emitter::send_data, 1))?;
    class.define_method("send_presence", method!(Emitter::send_presence, 1))?;
    class.define_method("send_event", method!(Emitter::send_event, 2))?;
    class.define_method("send_command", method!(Emitter::send_command, 3))?;
    class.define_method("sockets_join", method!(Emitter::sockets_join, 1))?;
    class.define_method("sockets_leave", method!(Emitter::sockets_leave, 1))?;
    class.define_method(
        "disconnect_sockets",
        method!(Emitter::disconnect_sockets, 1),
    )?;
    class.define_method("flush", method!(Emitter::flush, 0))?;
    class.define_method("packet", method!(Emitter::packet, 1))?;
    class.define_method("direct_packet", method!(Emitter::direct_packet_rb, 1))?;
    Ok(())
}

/// Flushes every live queued emitter (without the GVL); returns the failures as messages.
pub fn flush_all(ruby: &Ruby) -> Result<Vec<String>, Error> {
    let live: Vec<Arc<symple::Emitter>> = {
        let mut list = QUEUED.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|w| w.strong_count() > 0);
        list.iter().filter_map(Weak::upgrade).collect()
    };
    if live.is_empty() {
        return Ok(Vec::new());
    }
    nogvl::io(ruby, || {
        Ok(live
            .iter()
            .filter_map(|e| e.flush().err().map(|err| err.to_string()))
            .collect())
    })
}

fn seconds(ruby: &Ruby, what: &str, s: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        errors::new(
            ruby,
            errors::Kind::Base,
            format!("{what} must be a positive number of seconds, not {s}"),
        )
    })
}

fn check_from(ruby: &Ruby, from: &str) -> Result<(), Error> {
    from.parse::<Address>()
        .map(drop)
        .map_err(|e| errors::from_symple(ruby, e))
}

/// The publisher of an offline emitter: every packet is built (and so checked) as for Redis,
/// then dropped. For `Symple::Testing`.
#[derive(Debug)]
struct Discard;

impl symple::redis::Publisher for Discard {
    fn publish(&self, _packet: Packet) -> symple::Result<()> {
        Ok(())
    }

    fn publish_batch(&self, _packets: Vec<Packet>) -> symple::Result<()> {
        Ok(())
    }
}

/// The target a Hash of settings names (String keys: `name` and the [`TargetOptions`]
/// fields), or `Symple::ConfigurationError` naming what is wrong.
fn target(ruby: &Ruby, settings: RHash) -> Result<Target, Error> {
    let config = |message: String| errors::new(ruby, errors::Kind::Configuration, message);
    let text = |key: &str| -> Result<String, Error> {
        settings
            .fetch::<_, String>(key)
            .map_err(|_| config(format!("target setting `{key}` must be a String")))
    };
    let number = |key: &str| -> Result<u64, Error> {
        let value: Value = settings
            .fetch(key)
            .map_err(|_| config(format!("target setting `{key}` is missing")))?;
        Integer::from_value(value)
            .and_then(|i| i.to_u64().ok())
            .ok_or_else(|| {
                config(format!(
                    "{key} must be a positive Integer, not {}",
                    value.inspect()
                ))
            })
    };
    let seconds = |key: &str| -> Result<Duration, Error> {
        let value: Value = settings
            .fetch(key)
            .map_err(|_| config(format!("target setting `{key}` is missing")))?;
        f64::try_convert(value)
            .ok()
            .and_then(|f| Duration::try_from_secs_f64(f).ok())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                config(format!(
                    "{key} must be a positive number of seconds, not {}",
                    value.inspect()
                ))
            })
    };
    let count = number("stream_count")?;
    let opts = TargetOptions {
        key: text("key")?,
        namespace: text("namespace")?,
        subscription_mode: text("subscription_mode")?
            .parse()
            .map_err(|e| errors::from_symple(ruby, e))?,
        stream: text("stream")?,
        maxlen: number("maxlen")?,
        stream_count: u32::try_from(count)
            .map_err(|_| config(format!("stream_count must be at most {}", u32::MAX)))?,
        history: symple::history::Settings {
            size: number("history_size")?,
            age: seconds("history_age")?,
        },
    };
    Target::from_name(&text("name")?, &opts).map_err(|e| errors::from_symple(ruby, e))
}

impl Emitter {
    /// An emitter that checks and encodes everything as a connected one would, and publishes
    /// nothing: no Redis is needed. `settings` as for `connect`.
    fn offline(ruby: &Ruby, settings: RHash, from: String) -> Result<Self, Error> {
        guard(ruby, || {
            check_from(ruby, &from)?;
            let target = target(ruby, settings)?;
            let inner = symple::Emitter::with_publisher(Arc::new(Discard), target).from(&from);
            Ok(Emitter { inner, root: None })
        })
    }

    /// The rooms this emitter sends to (Strings and Integers), for instrumentation.
    fn rooms(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        let out = ruby.ary_new();
        for room in rb_self.inner.rooms() {
            match room {
                symple::Room::Name(n) => out.push(ruby.str_new(n))?,
                symple::Room::Id(i) => out.push(ruby.integer_from_i64(*i))?,
            }
        }
        Ok(out)
    }

    /// Checks target settings without connecting (`Symple.configure` calls it).
    fn check_target(ruby: &Ruby, settings: RHash) -> Result<(), Error> {
        guard(ruby, || target(ruby, settings).map(drop))
    }

    /// Connects (failing at once when Redis is unreachable). `settings` names the target and
    /// its options (see `target`); `pool_size` connections serve threads at once (Ruby checks
    /// it is 1 to 64).
    #[allow(clippy::too_many_arguments)] // one per keyword of Symple::Emitter.new
    fn connect(
        ruby: &Ruby,
        url: String,
        settings: RHash,
        from: String,
        queued: bool,
        connect_timeout: f64,
        response_timeout: f64,
        pool_size: usize,
    ) -> Result<Self, Error> {
        guard(ruby, || {
            check_from(ruby, &from)?;
            let target = target(ruby, settings)?;
            let connect_timeout = seconds(ruby, "connect_timeout", connect_timeout)?;
            let response_timeout = seconds(ruby, "response_timeout", response_timeout)?;
            let builder = symple::Emitter::builder(url)
                .target(target)
                .from(&from)
                .queued(queued)
                .options(|o| {
                    o.connect_timeout(connect_timeout)
                        .response_timeout(response_timeout)
                        .pool_size(pool_size)
                });
            let inner = nogvl::io(ruby, || builder.connect())?;
            let root = queued.then(|| {
                let root = Arc::new(inner.clone());
                let mut list = QUEUED.lock().unwrap_or_else(|p| p.into_inner());
                list.retain(|w| w.strong_count() > 0);
                list.push(Arc::downgrade(&root));
                root
            });
            Ok(Emitter { inner, root })
        })
    }

    fn chained(&self, inner: symple::Emitter) -> Self {
        Emitter {
            inner,
            root: self.root.clone(),
        }
    }

    fn to(ruby: &Ruby, rb_self: &Self, rooms: Value) -> Result<Self, Error> {
        guard(ruby, || {
            let rooms = convert::rooms(ruby, rooms)?;
            Ok(rb_self.chained(rb_self.inner.to(rooms)))
        })
    }

    fn except(ruby: &Ruby, rb_self: &Self, rooms: Value) -> Result<Self, Error> {
        guard(ruby, || {
            let rooms = convert::rooms(ruby, rooms)?;
            Ok(rb_self.chained(rb_self.inner.except(rooms)))
        })
    }

    fn from(ruby: &Ruby, rb_self: &Self, from: String) -> Result<Self, Error> {
        guard(ruby, || {
            check_from(ruby, &from)?;
            Ok(rb_self.chained(rb_self.inner.from(&from)))
        })
    }

    fn of(ruby: &Ruby, rb_self: &Self, namespace: String) -> Result<Self, Error> {
        guard(ruby, || Ok(rb_self.chained(rb_self.inner.of(&namespace))))
    }

    fn volatile(ruby: &Ruby, rb_self: &Self) -> Result<Self, Error> {
        guard(ruby, || Ok(rb_self.chained(rb_self.inner.volatile())))
    }

    fn compress(ruby: &Ruby, rb_self: &Self, compress: bool) -> Result<Self, Error> {
        guard(ruby, || {
            Ok(rb_self.chained(rb_self.inner.compress(compress)))
        })
    }

    fn event(ruby: &Ruby, rb_self: &Self, event: String) -> Result<Self, Error> {
        guard(ruby, || {
            let inner = rb_self
                .inner
                .event(&event)
                .map_err(|e| errors::from_symple(ruby, e))?;
            Ok(rb_self.chained(inner))
        })
    }

    /// `[name]` for the native target, `[name, key, namespace]` for the others (the stream's
    /// key in place of the adapter key for `socketio-streams`).
    fn target(ruby: &Ruby, rb_self: &Self) -> Result<RArray, Error> {
        let target = rb_self.inner.target();
        let mut out = vec![target.name().to_owned()];
        match target {
            Target::Native | Target::NativeRooms | Target::NativeHistory(_) => {}
            Target::SocketIo(s) => out.extend([s.key().to_owned(), s.namespace().to_owned()]),
            Target::SocketIoSharded(s) => {
                out.extend([s.key().to_owned(), s.namespace().to_owned()])
            }
            Target::SocketIoStreams(s) => out.extend([
                s.stream_key().map_err(|e| errors::from_symple(ruby, e))?,
                s.namespace().to_owned(),
            ]),
        }
        Ok(ruby.ary_from_vec(out))
    }

    fn is_queued(&self) -> bool {
        self.root.is_some()
    }

    fn emit(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<(), Error> {
        guard(ruby, || {
            if rb_self.is_queued() {
                if let Some(packet) = rb_self.direct_packet(message) {
                    return rb_self.queue_packet(ruby, packet);
                }
            }
            let message = convert::object(ruby, message)?;
            rb_self.emit_object(ruby, message)
        })
    }

    /// The packet for `message` encoded straight from the Ruby values, or `None` when it
    /// needs the general path (`convert`), which also words any error.
    fn direct_packet(&self, message: Value) -> Option<Packet> {
        // SAFETY: the GVL is held and building a packet runs no Ruby code.
        let view = unsafe { RubyView::new(message) };
        self.inner.packet_view(view).ok()
    }

    /// A queued emitter with room takes the packet with the GVL held: nothing waits, and
    /// releasing and retaking the GVL would cost more than building and queueing it. Holding
    /// the GVL, no fork can start meanwhile, so no fork-gate pass is needed. Otherwise (a
    /// blocking emitter, a full queue) the wait happens without the GVL.
    fn emit_object(&self, ruby: &Ruby, message: symple::Object) -> Result<(), Error> {
        if !self.is_queued() {
            return nogvl::io(ruby, || self.inner.emit(message));
        }
        let packet = self
            .inner
            .packet(message)
            .map_err(|e| errors::from_symple(ruby, e))?;
        self.queue_packet(ruby, packet)
    }

    /// Hands a packet to the queue (see `emit_object`).
    fn queue_packet(&self, ruby: &Ruby, packet: Packet) -> Result<(), Error> {
        let packet = self
            .inner
            .try_publish(packet)
            .map_err(|e| errors::from_symple(ruby, e))?;
        match packet {
            None => Ok(()),
            Some(p) => nogvl::io(ruby, || self.inner.publish_packets(vec![p])),
        }
    }

    fn emit_raw(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<(), Error> {
        guard(ruby, || {
            let message = convert::object(ruby, message)?;
            nogvl::io(ruby, || rb_self.inner.emit_raw(message))
        })
    }

    fn emit_event(ruby: &Ruby, rb_self: &Self, event: String, args: RArray) -> Result<(), Error> {
        guard(ruby, || {
            let args = (0..args.len())
                .map(|i| convert::json(ruby, args.entry(i as isize)?))
                .collect::<Result<Vec<_>, _>>()?;
            nogvl::io(ruby, || rb_self.inner.emit_event(&event, &args))
        })
    }

    fn emit_batch(ruby: &Ruby, rb_self: &Self, messages: Value) -> Result<(), Error> {
        guard(ruby, || {
            let Some(list) = RArray::from_value(messages) else {
                return Err(invalid_message(
                    ruby,
                    "emit_batch takes an Array of messages (Hashes)",
                ));
            };
            // All direct or all converted, so a bad batch raises what it always raised.
            let direct = (0..list.len())
                .map(|i| {
                    list.entry::<Value>(i as isize)
                        .ok()
                        .and_then(|m| rb_self.direct_packet(m))
                })
                .collect::<Option<Vec<_>>>();
            if let Some(packets) = direct {
                return nogvl::io(ruby, || rb_self.inner.publish_packets(packets));
            }
            let objects = (0..list.len())
                .map(|i| convert::object(ruby, list.entry(i as isize)?))
                .collect::<Result<Vec<_>, _>>()?;
            nogvl::io(ruby, || rb_self.inner.emit_batch(objects))
        })
    }

    fn send_data(ruby: &Ruby, rb_self: &Self, data: Value) -> Result<(), Error> {
        guard(ruby, || {
            let data = convert::json(ruby, data)?;
            let message = symple::Message::new(data)
                .into_object()
                .map_err(|e| errors::from_symple(ruby, e))?;
            rb_self.emit_object(ruby, message)
        })
    }

    fn send_presence(ruby: &Ruby, rb_self: &Self, peer: Value) -> Result<(), Error> {
        guard(ruby, || {
            let mut fields = convert::object(ruby, peer)?;
            // A token never leaves the backend (PROTOCOL.md, section 1).
            fields.remove("token");
            // A peer someone announces is online unless told otherwise (as `Peer::new`).
            fields
                .entry("online")
                .or_insert(serde_json::Value::Bool(true));
            let peer: Peer = serde_json::from_value(serde_json::Value::Object(fields))
                .map_err(|e| invalid_message(ruby, format!("presence peer: {e}")))?;
            nogvl::io(ruby, || rb_self.inner.send_presence(peer))
        })
    }

    fn send_event(ruby: &Ruby, rb_self: &Self, name: String, data: Value) -> Result<(), Error> {
        guard(ruby, || {
            let data = convert::json(ruby, data)?;
            nogvl::io(ruby, || rb_self.inner.send_event(&name, data))
        })
    }

    fn send_command(
        ruby: &Ruby,
        rb_self: &Self,
        node: String,
        action: String,
        data: Value,
    ) -> Result<(), Error> {
        guard(ruby, || {
            let action: Action = action.parse().map_err(|e| errors::from_symple(ruby, e))?;
            let data = convert::json(ruby, data)?;
            nogvl::io(ruby, || rb_self.inner.send_command(&node, action, data))
        })
    }

    fn sockets_join(ruby: &Ruby, rb_self: &Self, rooms: Value) -> Result<(), Error> {
        guard(ruby, || {
            let rooms = convert::rooms(ruby, rooms)?;
            nogvl::io(ruby, || rb_self.inner.sockets_join(rooms))
        })
    }

    fn sockets_leave(ruby: &Ruby, rb_self: &Self, rooms: Value) -> Result<(), Error> {
        guard(ruby, || {
            let rooms = convert::rooms(ruby, rooms)?;
            nogvl::io(ruby, || rb_self.inner.sockets_leave(rooms))
        })
    }

    fn disconnect_sockets(ruby: &Ruby, rb_self: &Self, close: bool) -> Result<(), Error> {
        guard(ruby, || {
            nogvl::io(ruby, || rb_self.inner.disconnect_sockets(close))
        })
    }

    fn flush(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        guard(ruby, || nogvl::io(ruby, || rb_self.inner.flush()))
    }

    /// `[channel, payload, command]` of the packet `emit` would publish (payload as a binary
    /// String; command `PUBLISH`, `SPUBLISH` or `XADD`, whose key is the channel), built
    /// through `convert`.
    fn packet(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<RArray, Error> {
        guard(ruby, || {
            let message = convert::object(ruby, message)?;
            let packet = rb_self
                .inner
                .packet(message)
                .map_err(|e| errors::from_symple(ruby, e))?;
            packet_array(ruby, &packet)
        })
    }

    /// The same built straight from the Ruby values, or nil when the message takes the
    /// general path; for the spec that proves both paths give the same bytes.
    fn direct_packet_rb(ruby: &Ruby, rb_self: &Self, message: Value) -> Result<Value, Error> {
        guard(ruby, || match rb_self.direct_packet(message) {
            Some(packet) => Ok(packet_array(ruby, &packet)?.as_value()),
            None => Ok(ruby.qnil().as_value()),
        })
    }
}

fn packet_array(ruby: &Ruby, packet: &Packet) -> Result<RArray, Error> {
    let out = ruby.ary_new_capa(3);
    out.push(ruby.str_new(&packet.channel))?;
    out.push(ruby.str_from_slice(&packet.payload))?;
    out.push(ruby.str_new(packet.command_name()))?;
    Ok(out)
}
