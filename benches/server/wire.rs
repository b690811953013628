//! What the Rust bench clients say on the wire, over the bench's own WebSocket client (`ws`):
//! our native protocol (JSON text frames), and Socket.IO 4 spoken by hand over Engine.IO v4's
//! websocket transport, for both Socket.IO servers (npm's symple@2.1.1 and socketioxide).
//! benches/node/clients.js says the same with the npm clients. Framing checked against
//! engine.io-parser 5 / socket.io-parser 4 and the running servers:
//!
//! - Engine.IO: one packet per text frame, a type digit then the data. `0{"sid":…,
//!   "pingInterval":25000,…}` opens; the server sends ping `2` and wants pong `3` within
//!   pingTimeout.
//! - Socket.IO inside an Engine.IO message (`4`), namespace `/`: CONNECT `0` + auth JSON (what
//!   socket.io-client's `auth` option sends), answered `40{"sid":…}` or CONNECT_ERROR
//!   `44{"message":…}`; EVENT `42[name,…args]`, with an ack id `42<id>[…]`, the ack coming back
//!   as `43<id>[…]`.

use std::sync::LazyLock;

use memchr::memmem;
use serde_json::{json, Value};

use crate::ws::{Conn, In};

/// Which protocol a client speaks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Symple v4 over WebSocket (our server).
    Ours,
    /// Socket.IO 4 (Engine.IO v4), the room joined with a `join` event. `join_acks`: the server
    /// acknowledges a `join` once it is done (socketioxide, which runs each event handler as a
    /// task of its own, so nothing else proves the join); otherwise it handles one socket's
    /// events in order without acknowledging joins (symple@2.1.1: Socket.IO 4's `socket.join`
    /// takes no callback, so the ack symple passes it is never called), and the ack of a
    /// `message` sent after the joins proves them.
    SocketIo { join_acks: bool },
}

impl Kind {
    pub fn arg(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::SocketIo { join_acks: true } => "sio",
            Kind::SocketIo { join_acks: false } => "sio-ordered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ours" => Some(Kind::Ours),
            "sio" => Some(Kind::SocketIo { join_acks: true }),
            "sio-ordered" => Some(Kind::SocketIo { join_acks: false }),
            _ => None,
        }
    }
}

/// Where a Rust client connects: ours at its root, a Socket.IO server at Engine.IO's path,
/// websocket transport from the start (socket.io-client with `transports: ['websocket']` does
/// the same).
pub fn url(kind: Kind, port: u16) -> String {
    match kind {
        Kind::Ours => format!("ws://127.0.0.1:{port}/"),
        Kind::SocketIo { .. } => {
            format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
        }
    }
}

/// A WebSocket to `url`, handshake done: for ours, `welcome` received; for Socket.IO,
/// connected and, with rooms, joined: a `join` per room, then as `Kind::SocketIo` says, every
/// join's ack or the ack of one `message` sent after them.
pub async fn connect(kind: Kind, url: &str, user: &str, rooms: &[&str]) -> Result<Conn, String> {
    let mut ws = Conn::connect(url).await?;
    match kind {
        Kind::Ours => {
            let mut auth = json!({"type": "auth", "user": user});
            if !rooms.is_empty() {
                auth["rooms"] = json!(rooms);
            }
            send(&mut ws, auth.to_string()).await?;
            let first = next_text(&mut ws).await?;
            match serde_json::from_str::<Value>(&first) {
                Ok(v) if v["type"] == "welcome" => Ok(ws),
                _ => Err(format!("first frame was not welcome: {}", head(&first))),
            }
        }
        Kind::SocketIo { join_acks } => {
            let open = next_text(&mut ws).await?;
            if !open.starts_with('0') {
                return Err(format!(
                    "expected the Engine.IO open packet: {}",
                    head(&open)
                ));
            }
            send(&mut ws, format!("40{}", json!({"user": user}))).await?;
            let sid = loop {
                let p = next_text(&mut ws).await?;
                if p == "2" {
                    send(&mut ws, "3".into()).await?;
                } else if let Some(data) = p.strip_prefix("40") {
                    let v: Value = serde_json::from_str(data).map_err(|e| e.to_string())?;
                    let sid = v["sid"].as_str().ok_or("CONNECT answered without a sid")?;
                    break sid.to_owned();
                } else if let Some(data) = p.strip_prefix("44") {
                    return Err(format!("connect_error {}", head(data)));
                } else {
                    return Err(format!("unexpected packet before CONNECT: {}", head(&p)));
                }
            };
            // The acks awaited, by id: 1..=n, one per room's join; or 0, the `message`.
            let mut awaited = vec![false; rooms.len() + 1];
            for (i, room) in rooms.iter().enumerate() {
                if join_acks {
                    send(&mut ws, format!("42{}{}", i + 1, json!(["join", room]))).await?;
                    awaited[i + 1] = true;
                } else {
                    send(&mut ws, format!("42{}", json!(["join", room]))).await?;
                }
            }
            if !join_acks && !rooms.is_empty() {
                let sync = json!(["message", {
                    "type": "message", "from": format!("{user}|{sid}"), "to": [SYNC_ROOM], "data": {},
                }]);
                send(&mut ws, format!("420{sync}")).await?;
                awaited[0] = true;
            }
            let mut left = awaited.iter().filter(|&&a| a).count();
            while left > 0 {
                let p = next_text(&mut ws).await?;
                if p == "2" {
                    send(&mut ws, "3".into()).await?;
                } else if let Some(ack) = p.strip_prefix("43") {
                    let id = ack
                        .split('[')
                        .next()
                        .and_then(|id| id.parse::<usize>().ok());
                    match id.and_then(|id| awaited.get_mut(id)) {
                        Some(wait) if *wait => {
                            *wait = false;
                            left -= 1;
                        }
                        _ => return Err(format!("an unexpected ack: {}", head(&p))),
                    }
                }
                // Anything else (another client's message, say) is not ours to wait for.
            }
            Ok(ws)
        }
    }
}

/// The `to` of the `message` whose ack proves the joins (a room nobody is in).
const SYNC_ROOM: &str = "__bench_sync__";

async fn send(ws: &mut Conn, text: String) -> Result<(), String> {
    ws.send_text(&text).await
}

/// The next text frame (WebSocket pings answered on the way).
async fn next_text(ws: &mut Conn) -> Result<String, String> {
    loop {
        match ws.next()? {
            Some(In::Text(t)) => return Ok(t.to_owned()),
            Some(In::Closed) => return Err("closed before ready".into()),
            None => {
                ws.answer().await?;
                if !ws.fill().await? {
                    return Err("closed before ready".into());
                }
            }
        }
    }
}

fn head(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A text frame from a connected server.
pub enum Frame<'a> {
    /// Engine.IO ping: answer `3`.
    Ping,
    /// A message for the application: ours, the whole frame (a JSON object); theirs, a Socket.IO
    /// EVENT's argument array (`["message",{…}]`).
    Event(&'a str),
    /// Acks, pongs and the like.
    Other,
}

pub fn classify(kind: Kind, text: &str) -> Frame<'_> {
    match kind {
        Kind::Ours => Frame::Event(text),
        Kind::SocketIo { .. } => match text.strip_prefix("42") {
            Some(args) => Frame::Event(args),
            None if text == "2" => Frame::Ping,
            None => Frame::Other,
        },
    }
}

/// `data.run`, `data.seq` and `data.t` of a bench message, read in one pass over the bytes instead of a JSON
/// parse: find `"data":{` (it cannot occur inside a JSON string, whose quotes are escaped), then
/// walk that object's keys until all three are read; the values walked must be flat (the
/// bench's are `run`, `seq`, `t` and `text`, in that order: `text` is not walked). Anything
/// else is not a bench message. `verify` checks the first hit of every run against a full parse.
pub fn bench_fields(event: &str) -> Option<Fields> {
    static DATA: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"\"data\":{"));
    let b = event.as_bytes();
    let mut i = DATA.find(b)? + DATA.needle().len();
    let (mut run, mut seq, mut t) = (None, None, None);
    loop {
        // A key: no escapes in the bench's keys.
        if *b.get(i)? != b'"' {
            return None;
        }
        let key_end = i + 1 + memchr::memchr(b'"', &b[i + 1..])?;
        let key = &b[i + 1..key_end];
        if key.contains(&b'\\') || *b.get(key_end + 1)? != b':' {
            return None;
        }
        let value = key_end + 2;
        i = value;
        if *b.get(i)? == b'"' {
            i += 1;
            loop {
                // `get`: an escape at the very end leaves `i` past the end.
                i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
                match b[i] {
                    b'\\' => i += 2,
                    _ => break,
                }
            }
            i += 1;
        } else {
            while !matches!(*b.get(i)?, b',' | b'}' | b'{' | b'[') {
                i += 1;
            }
        }
        match key {
            b"run" => run = Some(event.get(value..i)?.parse::<u64>().ok()?),
            b"seq" => seq = Some(event.get(value..i)?.parse::<u32>().ok()?),
            b"t" => t = Some(ms_as_us(&b[value..i])?),
            _ => {}
        }
        if let (Some(run), Some(seq), Some(t_us)) = (run, seq, t) {
            return Some(Fields { run, seq, t_us });
        }
        match *b.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

/// A JSON number of milliseconds (`1764750000123.456`: what `measure::wall_ms` writes) as
/// integer microseconds, without a float parse; digits past the microsecond are dropped.
fn ms_as_us(n: &[u8]) -> Option<i64> {
    let (int, frac) = match memchr::memchr(b'.', n) {
        Some(dot) => (&n[..dot], &n[dot + 1..]),
        None => (n, &[][..]),
    };
    if int.is_empty() || int.len() > 15 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut us = 0i64;
    for &d in int {
        if !d.is_ascii_digit() {
            return None;
        }
        us = us * 10 + i64::from(d - b'0');
    }
    us *= 1000;
    for (&d, scale) in frac.iter().zip([100, 10, 1]) {
        us += i64::from(d - b'0') * scale;
    }
    Some(us)
}

/// What the clients read of a bench message: its round, its number in the round, and the
/// publish time (wall-clock µs).
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub run: u64,
    pub seq: u32,
    pub t_us: i64,
}

/// Fails unless a full JSON parse of `event` finds the message `bench_fields` read.
pub fn verify(kind: Kind, event: &str, f: Fields) -> Result<(), String> {
    let v: Value = serde_json::from_str(event).map_err(|e| format!("{e}: {}", head(event)))?;
    let m = match kind {
        Kind::Ours => &v,
        Kind::SocketIo { .. } if v[0] == "message" => &v[1],
        Kind::SocketIo { .. } => return Err(format!("not a message event: {}", head(event))),
    };
    let ok = m["type"] == "message"
        && m["data"]["run"].as_u64() == Some(f.run)
        && m["data"]["seq"].as_u64() == Some(u64::from(f.seq))
        && m["data"]["t"]
            .as_f64()
            .is_some_and(|full| ((full * 1000.0).round() as i64 - f.t_us).abs() <= 1);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "fast extraction read {f:?} from a frame a full parse disagrees with: {}",
            head(event)
        ))
    }
}
