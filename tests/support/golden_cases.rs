//! The golden cases every packet family is checked on against the real npm packages: the
//! fields of tests/interop/golden.js (rooms, except, flags, namespace, event, args, requests),
//! with arguments that exercise every JSON and MessagePack form JavaScript distinguishes.

use serde_json::{json, Value};
use symple::Room;

/// A case's room list (`rooms`, `except`, `joinRooms`): JSON strings and integers.
pub fn rooms(v: &Value) -> Vec<Room> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| Room::from_json(r).expect("room"))
                .collect()
        })
        .unwrap_or_default()
}

pub fn symple_message() -> Value {
    json!({
        "type": "message", "id": "5f0c6d1e-7c1a-4d8e-9f1b-2a3b4c5d6e7f", "from": "rails|worker-1",
        "to": "alice", "subtype": "call:offer",
        "data": {"sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n", "candidates": [], "n": 3}
    })
}

pub fn cases() -> Vec<Value> {
    let ints = json!([
        0,
        1,
        127,
        128,
        255,
        256,
        65535,
        65536,
        4294967295u64,
        4294967296u64,
        9007199254740991u64,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -2147483648i64,
        -2147483649i64,
        -9007199254740991i64
    ]);
    let floats = json!([
        0.5,
        -1.25,
        1e-7,
        std::f64::consts::PI,
        -2.5e-300,
        2.0,
        -0.0,
        1e19,
        -9e18
    ]);
    let long = |n: usize| Value::String("x".repeat(n));
    let wide_map: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("k{i}"), json!(i))).collect();
    let narrow_map: serde_json::Map<String, Value> =
        (0..15).map(|i| (format!("k{i}"), json!(i))).collect();
    vec![
        json!({"args": [symple_message()]}),
        json!({"rooms": ["alice"], "args": [symple_message()]}),
        json!({"rooms": ["a", "b", "a"], "except": ["c", 7], "args": [{"x": 1}]}),
        json!({"rooms": [4242], "args": [{"to": 4242}]}),
        json!({"rooms": ["4242", 4242], "args": [1]}),
        json!({"except": ["bob"], "args": [{}]}),
        json!({"volatile": true, "args": [null]}),
        json!({"compress": false, "args": [true, false]}),
        json!({"volatile": true, "compress": true, "rooms": ["r"], "args": []}),
        json!({"nsp": "/chat", "rooms": ["r"], "args": ["hi"]}),
        json!({"nsp": "chat", "args": ["no leading slash"]}),
        json!({"key": "socket.io", "args": ["default socket.io key"]}),
        json!({"event": "custom", "args": [1, "two", [3], {"four": 4}]}),
        json!({"args": [ints]}),
        json!({"args": [floats]}),
        json!({"args": [{"unicode": "héllo wörld — 日本語 — 😀🎉", "empty": "", "nul": "a\u{0}b"}]}),
        json!({"args": [long(31), long(32), long(255), long(256), long(65535), long(65536)]}),
        json!({"args": [(0..15).collect::<Vec<_>>(), (0..16).collect::<Vec<_>>(), (0..70000).map(|_| 0).collect::<Vec<_>>()]}),
        json!({"args": [Value::Object(narrow_map), Value::Object(wide_map)]}),
        json!({"args": [{"nested": {"deep": {"deeper": [[[{"x": [null, {"y": []}]}]]]}}}]}),
        json!({"args": [serde_json::from_str::<Value>(r#"{"b":1,"10":2,"2":3,"01":4,"-1":5,"4294967295":6,"a":7}"#).unwrap()]}),
        json!({"event": "connect"}),
        json!({"event": "disconnect"}),
        json!({"event": "newListener"}),
        json!({"op": "socketsJoin", "rooms": ["alice"], "joinRooms": ["vip", 9]}),
        json!({"op": "socketsLeave", "rooms": ["a", "b"], "except": ["c"], "joinRooms": ["vip"]}),
        json!({"op": "disconnectSockets", "rooms": [4242], "close": true}),
        json!({"op": "disconnectSockets"}),
    ]
}
