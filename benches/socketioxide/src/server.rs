//! socketioxide 0.18 + socketioxide-redis 0.4 doing what the bench asks of every Socket.IO
//! server (the same client code drives npm's symple@2.1.1):
//!
//! - a socket connects with auth `{"user": U}` and joins the room U (its personal room, as a
//!   Symple server puts it);
//! - `join` ROOM joins that room, then acknowledges it when asked (the clients wait for that
//!   ack: socketioxide runs each event handler as a task of its own, so a later event's ack
//!   would not prove the join was done);
//! - `message` with an ack id is acknowledged; nothing else is done with it, since the bench
//!   only measures what the backend publishes through Redis;
//! - everything the backend publishes (socketioxide-emitter on `socket.io-request#/#`) is
//!   broadcast by the adapter to the local sockets in the packet's rooms.
//!
//! Runtime and settings are socketioxide's defaults (`#[tokio::main]`-style multi-thread
//! runtime, one worker per CPU) except the per-socket send buffer, raised from 128 packets to
//! the 1,024 frames our server queues per client, so neither drops a burst the other keeps.
//!
//! stdout: {"event":"listening","port":P} once the adapter is subscribed; on a `count` line on
//! stdin, {"event":"count","sockets":N} (sockets connected to `/` on this node). stdin EOF ends
//! the process.

use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::SocketIo;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};

use crate::{out, watch_stdin, Res};

/// Packets a socket may have queued before an emit to it fails (socketioxide's default: 128).
const SOCKET_BUFFER: usize = 1024;

type Adapter = RedisAdapter<socketioxide::adapter::Emitter>;

#[derive(Deserialize)]
struct Auth {
    user: Value,
}

pub fn main(args: &[String]) -> Res<()> {
    let [url] = args else {
        return Err("usage: server REDIS_URL".into());
    };
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("cannot raise the open-files limit: {e}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(url))
}

async fn serve(url: &str) -> Res<()> {
    // The redis driver reads pub/sub messages as RESP3 pushes.
    let sep = if url.contains('?') { '&' } else { '?' };
    let client = redis::Client::open(format!("{url}{sep}protocol=resp3"))?;
    let adapter = RedisAdapterCtr::new_with_redis(&client).await?;
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(SOCKET_BUFFER)
        .with_adapter::<Adapter>(adapter)
        .build_layer();
    io.ns("/", on_connect).await?;
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();

    let counter = io.clone();
    watch_stdin(move |line| {
        if line.trim() == "count" {
            out(&json!({"event": "count", "sockets": counter.sockets().len()}));
        }
    });
    out(&json!({"event": "listening", "port": port}));
    axum::serve(listener, app).await?;
    Ok(())
}

async fn on_connect(socket: SocketRef<Adapter>, auth: TryData<Auth>) {
    let user = match auth.0 {
        Ok(Auth {
            user: Value::String(u),
        }) => u,
        Ok(Auth { user }) if !user.is_null() => user.to_string(),
        _ => {
            eprintln!("refused a socket without auth.user");
            if let Err(e) = socket.disconnect() {
                eprintln!("disconnect: {e}");
            }
            return;
        }
    };
    socket.join(user);
    socket.on(
        "join",
        async |s: SocketRef<Adapter>, Data::<String>(room), ack: AckSender<Adapter>| {
            s.join(room);
            if let Err(e) = ack.send(&json!({"ok": true})) {
                eprintln!("join ack: {e}");
            }
        },
    );
    socket.on("message", async |ack: AckSender<Adapter>| {
        if let Err(e) = ack.send(&json!({"ok": true})) {
            eprintln!("ack: {e}");
        }
    });
}
