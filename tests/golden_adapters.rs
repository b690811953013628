//! Our sharded (SPUBLISH) and Streams (XADD) packets are the very commands the real adapters
//! send: `createShardedAdapter` of `@socket.io/redis-adapter@8.3.0` in each subscription mode
//! and `@socket.io/redis-streams-adapter@0.3.1`, driven through a socket.io 4.8 server at test
//! time (tests/interop/golden_adapters.js), argument for argument and byte for byte.

mod support;

use serde_json::{json, Value};
use support::golden_cases::{cases, rooms};
use symple::packet::sharded::Sharded;
use symple::packet::socketio::{Broadcast, Request};
use symple::packet::streams::Streams;
use symple::packet::Adapter;
use symple::Packet;

/// Our packet for one case.
fn packet(case: &Value) -> symple::Result<Packet> {
    let nsp = case["nsp"].as_str().unwrap_or("/");
    let mut b = Broadcast::default();
    b.add_rooms(rooms(&case["rooms"]));
    b.add_except(rooms(&case["except"]));
    b.volatile = case["volatile"].as_bool().unwrap_or(false);
    b.compress = case["compress"].as_bool();
    let event = case["event"].as_str().unwrap_or("message");
    let args = case["args"].as_array().cloned().unwrap_or_default();
    let request = match case["op"].as_str().unwrap_or("emit") {
        "emit" => None,
        "socketsJoin" => Some(Request::Join(rooms(&case["joinRooms"]))),
        "socketsLeave" => Some(Request::Leave(rooms(&case["joinRooms"]))),
        "disconnectSockets" => Some(Request::Disconnect(case["close"] == true)),
        op => panic!("unknown op {op}"),
    };
    match case["adapter"].as_str() {
        Some("sharded") => {
            let mut t = Sharded::new(case["key"].as_str().unwrap_or("symple"), nsp)?;
            if let Some(mode) = case["mode"].as_str() {
                t = t.subscription_mode(mode.parse()?);
            }
            match request {
                None => t.encode_event(&b, event, &args),
                Some(r) => t.encode_request(&b, &r),
            }
        }
        Some("streams") => {
            let mut t = Streams::new(nsp);
            if let Some(s) = case["stream"].as_str() {
                t = t.stream(s)?;
            }
            if let Some(n) = case["maxLen"].as_u64() {
                t = t.maxlen(n)?;
            }
            if let Some(n) = case["streamCount"].as_u64() {
                t = t.stream_count(n as u32)?;
            }
            match request {
                None => t.encode_event(&b, event, &args),
                Some(r) => t.encode_request(&b, &r),
            }
        }
        other => panic!("unknown adapter {other:?}"),
    }
}

/// The command as text: its name, then every argument.
fn words(p: &Packet) -> Vec<String> {
    std::iter::once(p.command_name().to_owned())
        .chain(
            p.args()
                .iter()
                .map(|a| String::from_utf8(a.to_vec()).expect("UTF-8 argument")),
        )
        .collect()
}

fn with(case: &Value, config: &Value) -> Value {
    let mut c = case.clone();
    for (k, v) in config.as_object().unwrap() {
        if c.get(k).is_none() {
            c[k] = v.clone();
        }
    }
    c
}

fn configs() -> Vec<Value> {
    vec![
        json!({"adapter": "sharded", "mode": "static"}),
        json!({"adapter": "sharded"}),
        json!({"adapter": "sharded", "mode": "dynamic"}),
        json!({"adapter": "sharded", "mode": "dynamic-private"}),
        json!({"adapter": "streams"}),
        json!({"adapter": "streams", "stream": "events", "maxLen": 500}),
        json!({"adapter": "streams", "streamCount": 3, "nsp": "/chat"}),
    ]
}

/// Rooms whose channel differs between the subscription modes.
fn channel_cases() -> Vec<Value> {
    [
        json!("abcdefghij0123456789"), // 20 characters: looks like a socket id
        json!("😀😀😀😀😀😀😀😀😀😀"), // 20 UTF-16 units in 10 characters
        json!("éééééééééééééééééééé"), // 20 UTF-16 units in 40 bytes
        json!("abcdefghij012345678"),  // 19
        json!(42),
        json!("a#b"),
    ]
    .into_iter()
    .flat_map(|r| {
        [
            json!({"rooms": [r], "args": [1]}),
            json!({"rooms": [r], "except": ["x"], "args": [2]}),
            json!({"op": "socketsJoin", "rooms": [r], "joinRooms": [r]}),
        ]
    })
    .collect()
}

#[test]
fn the_real_adapters_send_the_same_commands() {
    let base: Vec<Value> = cases().into_iter().chain(channel_cases()).collect();
    let all: Vec<Value> = configs()
        .iter()
        .flat_map(|config| base.iter().map(move |c| with(c, config)))
        .collect();
    let reference = support::node_golden("golden_adapters.js", &Value::Array(all.clone()));
    assert_eq!(reference.len(), all.len());
    let mut compared = 0;
    for (case, theirs) in all.iter().zip(&reference) {
        let brief = {
            let mut b = case.clone();
            if b["args"].to_string().len() > 200 {
                b["args"] = json!("(long)");
            }
            b
        };
        match (packet(case), theirs.get("error")) {
            (Ok(ours), None) => {
                let theirs: Vec<String> = serde_json::from_value(theirs["command"].clone())
                    .unwrap_or_else(|e| panic!("{brief}: {theirs}: {e}"));
                let ours_words = words(&ours);
                assert_eq!(ours_words.len(), theirs.len(), "{brief}");
                for (i, (o, t)) in ours_words.iter().zip(&theirs).enumerate() {
                    assert!(
                        o == t,
                        "{brief}: argument {i} differs\n ours:   {o}\n theirs: {t}"
                    );
                }
                // And the RESP bytes of the whole command.
                let mut cmd = redis::cmd(&theirs[0]);
                theirs[1..].iter().for_each(|a| {
                    cmd.arg(a);
                });
                assert_eq!(
                    symple::redis::command(&ours).get_packed_command(),
                    cmd.get_packed_command(),
                    "{brief}"
                );
                compared += 1;
            }
            (Err(ours), Some(theirs)) => {
                assert!(
                    ours.to_string().contains("reserved"),
                    "{brief}: {ours} vs {theirs}"
                );
            }
            (ours, _) => panic!("{brief}: ours {ours:?}, theirs {theirs}"),
        }
    }
    assert!(compared > 200, "only {compared} commands compared");
}

#[test]
fn where_the_adapters_would_lose_a_packet_we_refuse() {
    let cases = [
        // Beyond 2^53 JavaScript reads another integer: another room.
        json!({"adapter": "sharded", "rooms": [9007199254740993u64], "args": [1]}),
        json!({"adapter": "streams", "except": [-9007199254740993i64], "args": [1]}),
        // The adapter puts "/private" in "socket.io--1"; its readers read socket.io-0, -1, -2.
        json!({"adapter": "streams", "streamCount": 3, "nsp": "/private", "args": [1]}),
    ];
    let theirs = support::node_golden("golden_adapters.js", &json!(cases));
    let expected = ["safe integers", "safe integers", "never read"];
    for ((case, theirs), needle) in cases.iter().zip(&theirs).zip(expected) {
        assert!(theirs.get("command").is_some(), "{case}: {theirs}");
        let err = packet(case).unwrap_err().to_string();
        assert!(err.contains(needle), "{case}: {err}");
    }
    assert_eq!(theirs[2]["command"][1], "socket.io--1");
}
