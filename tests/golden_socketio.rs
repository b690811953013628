//! Our Socket.IO packets are byte-identical to what the real `@socket.io/redis-emitter@5.1.0`
//! publishes for the same inputs (run at test time through tests/interop/golden.js).

mod support;

use serde_json::{json, Value};
use symple::packet::socketio::{encode_event, encode_request, Broadcast, Request, Server};
use symple::Room;

fn rooms(v: &Value) -> Vec<Room> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| Room::from_json(r).expect("room"))
                .collect()
        })
        .unwrap_or_default()
}

/// Our packet for one golden case: `Ok((channel, hex))` or `Err(message)`.
fn ours(case: &Value) -> Result<(String, String), String> {
    let server = Server::new(
        case["key"].as_str().unwrap_or("symple"),
        case["nsp"].as_str().unwrap_or("/"),
    )
    .map_err(|e| e.to_string())?;
    let mut b = Broadcast::default();
    b.add_rooms(rooms(&case["rooms"]));
    b.add_except(rooms(&case["except"]));
    b.volatile = case["volatile"].as_bool().unwrap_or(false);
    b.compress = case["compress"].as_bool();
    let packet = match case["op"].as_str().unwrap_or("emit") {
        "emit" => {
            let args = case["args"].as_array().cloned().unwrap_or_default();
            encode_event(
                &server,
                &b,
                case["event"].as_str().unwrap_or("message"),
                &args,
            )
        }
        "socketsJoin" => encode_request(&server, &b, &Request::Join(rooms(&case["joinRooms"]))),
        "socketsLeave" => encode_request(&server, &b, &Request::Leave(rooms(&case["joinRooms"]))),
        "disconnectSockets" => {
            encode_request(&server, &b, &Request::Disconnect(case["close"] == true))
        }
        op => panic!("unknown op {op}"),
    }
    .map_err(|e| e.to_string())?;
    let hex = packet.payload.iter().map(|b| format!("{b:02x}")).collect();
    Ok((packet.channel, hex))
}

fn symple_message() -> Value {
    json!({
        "type": "message", "id": "5f0c6d1e-7c1a-4d8e-9f1b-2a3b4c5d6e7f", "from": "rails|worker-1",
        "to": "alice", "subtype": "call:offer",
        "data": {"sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n", "candidates": [], "n": 3}
    })
}

fn cases() -> Vec<Value> {
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

#[test]
fn byte_identical_to_the_real_socket_io_emitter() {
    let cases = cases();
    let reference = support::golden(&Value::Array(cases.clone()));
    assert_eq!(reference.len(), cases.len());
    for (case, theirs) in cases.iter().zip(&reference) {
        match (ours(case), theirs.get("error")) {
            (Ok((channel, hex)), None) => {
                assert_eq!(channel, theirs["channel"], "channel of {case}");
                assert!(
                    hex == theirs["hex"],
                    "bytes differ for {case}\n ours:   {hex}\n theirs: {}",
                    theirs["hex"]
                );
            }
            (Err(ours), Some(theirs)) => {
                assert!(ours.contains("reserved"), "{case}: {ours} vs {theirs}");
            }
            (ours, _) => panic!("{case}: ours {ours:?}, theirs {theirs}"),
        }
    }
}

#[test]
fn independent_decoder_reads_the_documented_structure() {
    // rmpv is not the encoder we use: it decodes our bytes into a generic tree.
    let mut b = Broadcast::default();
    b.add_rooms([Room::from("team-a"), Room::Id(4242)]);
    b.add_except([Room::from("bob")]);
    b.compress = Some(true);
    let msg = symple_message();
    let p = encode_event(
        &Server::new("symple", "/").unwrap(),
        &b,
        "message",
        std::slice::from_ref(&msg),
    )
    .unwrap();
    let v = rmpv::decode::read_value(&mut &p.payload[..]).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[0].as_str(), Some("emitter"));
    let packet = arr[1].as_map().unwrap();
    let get = |m: &Vec<(rmpv::Value, rmpv::Value)>, k: &str| {
        m.iter()
            .find(|(kk, _)| kk.as_str() == Some(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get(packet, "type").as_i64(), Some(2));
    assert_eq!(get(packet, "nsp").as_str(), Some("/"));
    let data = get(packet, "data");
    assert_eq!(data[0].as_str(), Some("message"));
    // The message decodes back to the same JSON.
    let back: Value = serde_json::to_value(&data[1]).unwrap();
    assert_eq!(back, msg);
    let opts = arr[2].as_map().unwrap();
    let rooms = get(opts, "rooms");
    assert_eq!(rooms[0].as_str(), Some("team-a"));
    assert_eq!(
        rooms[1].as_i64(),
        Some(4242),
        "integer room stays an integer"
    );
    assert_eq!(get(opts, "except")[0].as_str(), Some("bob"));
    assert_eq!(
        get(&get(opts, "flags").as_map().unwrap().clone(), "compress").as_bool(),
        Some(true)
    );
}

#[test]
fn huge_integral_numbers_survive_where_notepack_wraps_them() {
    // notepack writes 1e300 through its uint64 path and it decodes as 0; we keep the float.
    let case = json!({"args": [1e300, -1e300]});
    let theirs = &support::golden(&json!([case]))[0];
    let (_, ours) = ours(&case).unwrap();
    assert_ne!(theirs["hex"], json!(ours));
    let decode = |hex: &str| -> Value {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let v = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        serde_json::to_value(&v[1].as_map().unwrap()[1].1).unwrap()
    };
    assert_eq!(decode(&ours), json!(["message", 1e300, -1e300]));
    assert_ne!(
        decode(theirs["hex"].as_str().unwrap()),
        json!(["message", 1e300, -1e300])
    );
}
