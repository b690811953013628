//! `symple emit`.

use std::io::{BufRead, Write};
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::packet::sharded::SubscriptionMode;
use crate::protocol::{AnyMessage, IntoObject, Object, Room};
use crate::{Emitter, Packet, Route, Target, TargetOptions};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    /// Socket.IO servers with the Redis adapter (npm `symple` 2.x): MessagePack on `<key>#<nsp>#…`.
    Socketio,
    /// Socket.IO servers with the sharded adapter (`createShardedAdapter`): SPUBLISH of JSON.
    #[value(alias = "socketio_sharded")]
    SocketioSharded,
    /// Socket.IO servers with the Redis Streams adapter: XADD of JSON to a stream.
    #[value(alias = "socketio_streams")]
    SocketioStreams,
    /// Native Symple servers: JSON on `symple:broadcast`.
    Native,
    /// This project's server: JSON on the channel of the message's one room, user or peer
    /// (`symple:room:<name>`, `symple:peer:<id>`); several rooms: `symple:broadcast`.
    #[value(alias = "native_rooms")]
    NativeRooms,
    /// This project's server with `--history`: a message to one room is appended to the
    /// room's history and published in one call, so clients recover it after a reconnect;
    /// others go as with native-rooms (not recorded).
    #[value(alias = "native_history")]
    NativeHistory,
}

impl TargetKind {
    fn name(self) -> &'static str {
        match self {
            TargetKind::Socketio => "socketio",
            TargetKind::SocketioSharded => "socketio-sharded",
            TargetKind::SocketioStreams => "socketio-streams",
            TargetKind::Native => "native",
            TargetKind::NativeRooms => "native-rooms",
            TargetKind::NativeHistory => "native-history",
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    Message,
    Presence,
    Command,
    Event,
}

/// Lines read from stdin per pipelined write.
const STDIN_CHUNK: usize = 4096;

#[derive(Debug, Args)]
pub(crate) struct EmitArgs {
    /// Redis URL [default: $SYMPLE_REDIS_URL, then $REDIS_URL, then redis://127.0.0.1:6379]
    #[arg(long)]
    url: Option<String>,
    /// Which servers read the packets: `socketio` (the default) for npm `symple` 2.x and any
    /// Socket.IO server with the Redis adapter; `native` for `symple server` (this project)
    /// and the v4 Node server. Packets of the other kind are published but nobody receives
    /// them; emit warns when Redis shows servers of the other kind only. The Socket.IO
    /// adapter's other transports: `socketio-sharded`, `socketio-streams`.
    #[arg(long, value_enum, env = "SYMPLE_TARGET", default_value = "socketio")]
    target: TargetKind,
    /// Socket.IO adapter key; the sharded adapter's channelPrefix [default: symple]
    #[arg(long)]
    key: Option<String>,
    /// Socket.IO namespace.
    #[arg(long, default_value = "/")]
    namespace: String,
    /// socketio-sharded: the adapter's subscriptionMode: static, dynamic or dynamic-private
    /// [default: dynamic]
    #[arg(long, value_parser = parse_mode)]
    subscription_mode: Option<SubscriptionMode>,
    /// socketio-streams: the adapter's streamName [default: socket.io]
    #[arg(long)]
    stream: Option<String>,
    /// socketio-streams: the adapter's maxLen, the stream's approximate length [default: 10000]
    #[arg(long)]
    maxlen: Option<u64>,
    /// socketio-streams: the adapter's streamCount [default: 1]
    #[arg(long)]
    stream_count: Option<u32>,
    /// native-history: messages kept per room, as the server's --history-size [default: 1000]
    #[arg(long)]
    history_size: Option<u64>,
    /// native-history: seconds a message is kept, as the server's --history-age [default: 600]
    #[arg(long)]
    history_age: Option<f64>,
    /// Socket.IO event name.
    #[arg(long, default_value = "message")]
    event: String,
    /// Recipient room, user or `user|id`; repeat for several. A bare integer is an integer
    /// room (Socket.IO keeps 42 and "42" apart); quote it as JSON ('"42"') for a string.
    #[arg(long = "to", value_name = "ROOM")]
    to: Vec<String>,
    /// Room to skip (Socket.IO only); repeatable, same syntax as --to.
    #[arg(long = "except", value_name = "ROOM")]
    except: Vec<String>,
    /// Sender address written into built messages that have none [default: server].
    #[arg(long)]
    from: Option<String>,
    /// A JSON object sent unchanged: the event's argument (Socket.IO) or the packet (native).
    #[arg(long, conflicts_with_all = ["data", "kind", "subtype", "name", "node", "action"])]
    message: Option<String>,
    /// JSON payload of a Symple message built around it.
    #[arg(long)]
    data: Option<String>,
    /// Kind of message built around --data.
    #[arg(
        long = "type",
        value_enum,
        default_value = "message",
        requires = "data"
    )]
    kind: Kind,
    /// Subtype of a built message (e.g. call:offer).
    #[arg(long, requires = "data")]
    subtype: Option<String>,
    /// Name of a built event.
    #[arg(long, requires = "data")]
    name: Option<String>,
    /// Node of a built command (e.g. media:video).
    #[arg(long, requires = "data")]
    node: Option<String>,
    /// Action of a built command.
    #[arg(long, requires = "data")]
    action: Option<String>,
    /// Socket.IO volatile flag.
    #[arg(long)]
    volatile: bool,
    /// Seconds to wait for a connection to Redis.
    #[arg(long, default_value_t = 2.0)]
    connect_timeout: f64,
    /// Print the commands instead of running them: one line each, the command and its
    /// arguments separated by tabs, a payload as JSON text or else hex.
    #[arg(long)]
    dry_run: bool,
}

pub(crate) fn run(args: EmitArgs) -> Result<()> {
    let route = route(&args)?;
    if let Some(text) = &args.message {
        let packet = route.raw_packet(parse_object(text, "--message")?)?;
        return deliver(&args, vec![packet]);
    }
    if let Some(text) = &args.data {
        let message = build(&args, parse_json(text, "--data")?)?;
        let packet = route.message_packet(message, crate::id::message_id)?;
        return deliver(&args, vec![packet]);
    }
    emit_stdin(&args, &route)
}

/// The target named by `--target` with the options given for it; an option that the target
/// does not read is refused, so a forgotten `--target` does not go unnoticed.
fn target(args: &EmitArgs) -> Result<Target> {
    let kind = args.target;
    let given = [
        (
            "--key",
            args.key.is_some(),
            !matches!(
                kind,
                TargetKind::Native
                    | TargetKind::NativeRooms
                    | TargetKind::NativeHistory
                    | TargetKind::SocketioStreams
            ),
        ),
        (
            "--subscription-mode",
            args.subscription_mode.is_some(),
            kind == TargetKind::SocketioSharded,
        ),
        (
            "--stream",
            args.stream.is_some(),
            kind == TargetKind::SocketioStreams,
        ),
        (
            "--maxlen",
            args.maxlen.is_some(),
            kind == TargetKind::SocketioStreams,
        ),
        (
            "--stream-count",
            args.stream_count.is_some(),
            kind == TargetKind::SocketioStreams,
        ),
        (
            "--history-size",
            args.history_size.is_some(),
            kind == TargetKind::NativeHistory,
        ),
        (
            "--history-age",
            args.history_age.is_some(),
            kind == TargetKind::NativeHistory,
        ),
    ];
    if let Some((flag, ..)) = given.iter().find(|(_, set, applies)| *set && !applies) {
        return Err(Error::InvalidConfig(format!(
            "{flag} does not apply to --target {}",
            kind.name()
        )));
    }
    let defaults = TargetOptions::default();
    let opts = TargetOptions {
        key: args.key.clone().unwrap_or(defaults.key),
        namespace: args.namespace.clone(),
        subscription_mode: args.subscription_mode.unwrap_or(defaults.subscription_mode),
        stream: args.stream.clone().unwrap_or(defaults.stream),
        maxlen: args.maxlen.unwrap_or(defaults.maxlen),
        stream_count: args.stream_count.unwrap_or(defaults.stream_count),
        history: crate::history::Settings {
            size: args.history_size.unwrap_or(defaults.history.size),
            age: match args.history_age {
                Some(v) => super::seconds(v, "history-age")?,
                None => defaults.history.age,
            },
        },
    };
    Target::from_name(kind.name(), &opts)
}

fn parse_mode(text: &str) -> std::result::Result<SubscriptionMode, String> {
    text.parse()
        .map_err(|_| "use static, dynamic or dynamic-private".to_owned())
}

fn route(args: &EmitArgs) -> Result<Route> {
    let mut route = Route {
        target: target(args)?,
        ..Route::default()
    };
    route.broadcast.add_rooms(
        args.to
            .iter()
            .map(|r| parse_room(r))
            .collect::<Result<Vec<_>>>()?,
    );
    route.broadcast.add_except(
        args.except
            .iter()
            .map(|r| parse_room(r))
            .collect::<Result<Vec<_>>>()?,
    );
    route.broadcast.volatile = args.volatile;
    crate::packet::socketio::check_event(&args.event)?;
    route.event = args.event.clone();
    if let Some(from) = &args.from {
        from.parse::<crate::Address>()?;
        route.from = from.clone();
    }
    Ok(route)
}

/// `42` is an integer room, `"42"` (JSON-quoted) the string room, anything else a name.
fn parse_room(text: &str) -> Result<Room> {
    let room = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Number(_)) | Ok(v @ Value::String(_)) => Room::from_json(&v)?,
        _ => Room::from(text),
    };
    room.validate()?;
    Ok(room)
}

fn parse_json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::InvalidMessage(format!("{what} is not valid JSON: {e}")))
}

fn parse_object(text: &str, what: &str) -> Result<Object> {
    parse_json(text, what)?
        .into_object()
        .map_err(|_| Error::InvalidMessage(format!("{what} must be a JSON object")))
}

fn build(args: &EmitArgs, data: Value) -> Result<Object> {
    let mut m = json!({ "type": kind_name(args.kind), "data": data });
    let fields = [
        ("subtype", &args.subtype),
        ("name", &args.name),
        ("node", &args.node),
        ("action", &args.action),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            m[key] = Value::String(v.clone());
        }
    }
    if matches!(args.kind, Kind::Event) {
        m["time"] = json!(chrono::Utc::now().timestamp());
    }
    // Validates the kind's required fields (event name, command node, presence peer).
    AnyMessage::from_value(m)?.into_object()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Message => "message",
        Kind::Presence => "presence",
        Kind::Command => "command",
        Kind::Event => "event",
    }
}

fn emit_stdin(args: &EmitArgs, route: &Route) -> Result<()> {
    let stdin = std::io::stdin().lock();
    let mut chunk = Vec::with_capacity(STDIN_CHUNK);
    let mut emitter = None;
    let mut total = 0usize;
    for (n, line) in stdin.lines().enumerate() {
        let line = line.map_err(|e| Error::InvalidMessage(format!("reading stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let what = format!("stdin line {}", n + 1);
        let packet = route
            .raw_packet(parse_object(&line, &what)?)
            .map_err(|e| at(&what, e))?;
        chunk.push(packet);
        if chunk.len() == STDIN_CHUNK {
            total += chunk.len();
            publish(args, &mut emitter, std::mem::take(&mut chunk))?;
        }
    }
    total += chunk.len();
    if total == 0 {
        return Err(Error::InvalidMessage(
            "nothing to emit: give --message, --data, or JSON lines on stdin".into(),
        ));
    }
    publish(args, &mut emitter, chunk)?;
    if !args.dry_run {
        println!("{}", json!({ "published": total }));
    }
    Ok(())
}

/// `e` with where it happened, the kind of problem named once:
/// "invalid message: stdin line 2: `to` must be …".
fn at(what: &str, e: Error) -> Error {
    match e {
        Error::InvalidMessage(m) => Error::InvalidMessage(format!("{what}: {m}")),
        Error::InvalidAddress(m) => Error::InvalidAddress(format!("{what}: {m}")),
        Error::Unsupported(m) => Error::Unsupported(format!("{what}: {m}")),
        other => Error::InvalidMessage(format!("{what}: {other}")),
    }
}

fn deliver(args: &EmitArgs, packets: Vec<Packet>) -> Result<()> {
    let n = packets.len();
    publish(args, &mut None, packets)?;
    if !args.dry_run {
        println!("{}", json!({ "published": n }));
    }
    Ok(())
}

fn publish(args: &EmitArgs, emitter: &mut Option<Emitter>, packets: Vec<Packet>) -> Result<()> {
    if args.dry_run {
        let mut out = std::io::stdout().lock();
        for p in packets {
            let mut line = p.command_name().to_owned();
            let args = p.args();
            for (i, a) in args.iter().enumerate() {
                line.push('\t');
                match std::str::from_utf8(a) {
                    // Every argument but the payload is text; the payload is text when JSON.
                    Ok(s) if i + 1 < args.len() || a.first() == Some(&b'{') => line.push_str(s),
                    _ => line.extend(a.iter().map(|b| format!("{b:02x}"))),
                }
            }
            let _ = writeln!(out, "{line}");
        }
        return Ok(());
    }
    if emitter.is_none() {
        let url = args.url.clone().unwrap_or_else(crate::redis::default_url);
        super::warn_if_insecure(&url);
        let timeout = Duration::try_from_secs_f64(args.connect_timeout).map_err(|_| {
            Error::InvalidConfig("--connect-timeout must be a positive number of seconds".into())
        })?;
        *emitter = Some(
            Emitter::builder(url)
                .options(|o| o.connect_timeout(timeout))
                .connect()?,
        );
    }
    match emitter {
        Some(e) => e.publish_packets(packets)?,
        None => unreachable!("emitter was just connected"),
    }
    warn_if_wrong_target(args);
    Ok(())
}

/// The channel each kind of server subscribes to: `symple:broadcast` for native servers,
/// `<key>-request#<nsp>#` for Socket.IO servers with the classic Redis adapter. The sharded
/// and Streams adapters are not told apart this way.
fn listening_channel(args: &EmitArgs, target: TargetKind) -> Option<String> {
    match target {
        TargetKind::Native | TargetKind::NativeRooms | TargetKind::NativeHistory => {
            Some(crate::packet::native::CHANNEL.to_owned())
        }
        TargetKind::Socketio => {
            let key = args
                .key
                .clone()
                .unwrap_or_else(|| crate::packet::socketio::DEFAULT_KEY.to_owned());
            crate::packet::socketio::Server::new(key, &args.namespace)
                .ok()
                .map(|s| s.request_channel())
        }
        TargetKind::SocketioSharded | TargetKind::SocketioStreams => None,
    }
}

/// Warns (stderr) when no server of the chosen kind listens on this Redis but one of the
/// other kind does: the packets went nowhere. Best effort: a failed check says nothing.
fn warn_if_wrong_target(args: &EmitArgs) {
    let other = match args.target {
        TargetKind::Socketio => TargetKind::Native,
        TargetKind::Native | TargetKind::NativeRooms | TargetKind::NativeHistory => {
            TargetKind::Socketio
        }
        TargetKind::SocketioSharded | TargetKind::SocketioStreams => return,
    };
    let (Some(ours), Some(theirs)) = (
        listening_channel(args, args.target),
        listening_channel(args, other),
    ) else {
        return;
    };
    let url = args.url.clone().unwrap_or_else(crate::redis::default_url);
    // On a cluster the crate asks every node and adds the counts up.
    let counts =
        crate::redis::Connection::open(crate::redis::ConnectOptions::new(url)).and_then(|c| {
            let mut cmd = redis::cmd("PUBSUB");
            cmd.arg("NUMSUB").arg(&ours).arg(&theirs);
            let reply = c.run(&[cmd], crate::redis::Order::Any)?.pop();
            reply
                .map(redis::from_redis_value::<std::collections::HashMap<String, u64>>)
                .transpose()
                .map_err(|e| crate::Error::Redis(e.into()))
        });
    if let Ok(Some(counts)) = counts {
        let listeners = |ch: &str| counts.get(ch).copied().unwrap_or(0);
        if listeners(&ours) == 0 && listeners(&theirs) > 0 {
            eprintln!(
                "symple: warning: no server reads --target {} on this Redis (nobody subscribes to {ours}), \
                 but {} server(s) of the other kind do: use --target {}",
                args.target.name(),
                listeners(&theirs),
                other.name(),
            );
        }
    }
}
