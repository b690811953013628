//! Our Socket.IO packets are byte-identical to what the real `@socket.io/redis-emitter@5.1.0`
//! publishes for the same inputs (run at test time through tests/interop/golden.js).

mod support;

use serde_json::{json, Value};
use support::golden_cases::{cases, rooms, symple_message};
use symple::packet::socketio::{Broadcast, Request, Server};
use symple::packet::Adapter;
use symple::Room;

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
            server.encode_event(&b, case["event"].as_str().unwrap_or("message"), &args)
        }
        "socketsJoin" => server.encode_request(&b, &Request::Join(rooms(&case["joinRooms"]))),
        "socketsLeave" => server.encode_request(&b, &Request::Leave(rooms(&case["joinRooms"]))),
        "disconnectSockets" => {
            server.encode_request(&b, &Request::Disconnect(case["close"] == true))
        }
        op => panic!("unknown op {op}"),
    }
    .map_err(|e| e.to_string())?;
    let hex = packet.payload.iter().map(|b| format!("{b:02x}")).collect();
    Ok((packet.channel, hex))
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
    let p = Server::new("symple", "/")
        .unwrap()
        .encode_event(&b, "message", std::slice::from_ref(&msg))
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
