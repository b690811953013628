//! Native-server packets through a real Redis: a subscriber on `symple:broadcast` receives
//! exactly the JSON we promise, for each message kind and each form of `to`.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{each_kind, Redis, Subscriber};
use symple::{Action, Address, Command, Emitter, Event, Message, Peer, Presence, Target};

type EmitFn<'a> = Box<dyn Fn() -> symple::Result<()> + 'a>;

const WAIT: Duration = Duration::from_secs(5);

fn native(redis: &Redis) -> Emitter {
    Emitter::builder(redis.url())
        .target(Target::Native)
        .from("rails|worker-1")
        .connect()
        .unwrap()
}

fn next_json(sub: &Subscriber) -> (String, Value, Vec<u8>) {
    let (channel, payload) = sub.next(WAIT).expect("a packet on symple:broadcast");
    let v = serde_json::from_slice(&payload).expect("payload is JSON");
    (channel, v, payload)
}

fn is_uuid(v: &Value) -> bool {
    v.as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok())
}

#[test]
fn exact_bytes_for_each_kind_and_recipient_form() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "*");
        let e = native(redis);
        let alice_s1: Address = "alice|s1".parse().unwrap();

        // Each case: what we emit, and the exact bytes promised (ids given, so nothing is random).
        let cases: Vec<(EmitFn, &str)> = vec![
            (
                Box::new(|| {
                    e.to("alice")
                        .emit(Message::new(json!({"text": "hi"})).id("m1"))
                }),
                r#"{"type":"message","id":"m1","data":{"text":"hi"},"from":"rails|worker-1","to":"alice"}"#,
            ),
            (
                Box::new(|| {
                    e.emit(
                        Message::new(1)
                            .id("m2")
                            .to(alice_s1.clone())
                            .subtype("call:offer"),
                    )
                }),
                r#"{"type":"message","id":"m2","to":"alice|s1","subtype":"call:offer","data":1,"from":"rails|worker-1"}"#,
            ),
            (
                Box::new(|| {
                    e.to(["team-a", "team-b"]).emit(
                        Event::new("deploy")
                            .unwrap()
                            .id("m3")
                            .time(1700000000)
                            .data(json!({"v": 3})),
                    )
                }),
                r#"{"type":"event","id":"m3","name":"deploy","time":1700000000,"data":{"v":3},"from":"rails|worker-1","to":["team-a","team-b"]}"#,
            ),
            (
                Box::new(|| {
                    e.to(4242).emit(
                        Command::new("media:video")
                            .unwrap()
                            .id("m4")
                            .action(Action::Set)
                            .data(json!({"on": true})),
                    )
                }),
                r#"{"type":"command","id":"m4","node":"media:video","action":"set","data":{"on":true},"from":"rails|worker-1","to":[4242]}"#,
            ),
            (
                Box::new(|| {
                    e.to("bob").from("server").emit(
                        Presence::new(Peer::new("server").id("srv"))
                            .id("m5")
                            .probe(true),
                    )
                }),
                r#"{"type":"presence","id":"m5","data":{"id":"srv","user":"server","online":true},"probe":true,"from":"server","to":"bob"}"#,
            ),
            (
                // A message's own `from` and extra fields are kept; the route's `to` replaces its own.
                Box::new(|| {
                    e.to("carol").emit_raw(
                        json!({"type":"message","from":"me|1","to":"ignored","custom":{"k":[1,2]}}),
                    )
                }),
                r#"{"type":"message","from":"me|1","to":"carol","custom":{"k":[1,2]}}"#,
            ),
        ];
        for (emit, promised) in cases {
            emit().unwrap();
            let (channel, _, bytes) = next_json(&sub);
            assert_eq!(channel, "symple:broadcast");
            assert_eq!(String::from_utf8(bytes).unwrap(), promised);
        }
        assert!(
            sub.next(Duration::from_millis(300)).is_none(),
            "one packet per emit"
        );
    })
}

#[test]
fn built_messages_get_an_id_a_from_and_a_time() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "symple:broadcast");
        let e = native(redis);

        e.to("alice").send(json!({"text": "hello"})).unwrap();
        let (_, v, _) = next_json(&sub);
        assert!(is_uuid(&v["id"]), "{v}");
        assert_eq!(v["from"], "rails|worker-1");
        assert_eq!(v["to"], "alice");
        assert_eq!(
            (v["type"].as_str(), &v["data"]),
            (Some("message"), &json!({"text": "hello"}))
        );

        e.to("alice")
            .send_event("order:paid", json!({"id": 9}))
            .unwrap();
        let (_, v, _) = next_json(&sub);
        assert_eq!(
            (v["type"].as_str(), v["name"].as_str()),
            (Some("event"), Some("order:paid"))
        );
        let now = chrono::Utc::now().timestamp();
        assert!(
            (now - 60..=now).contains(&v["time"].as_i64().unwrap()),
            "{v}"
        );

        e.to("alice|s9")
            .send_command("media:video", Action::Get, Value::Null)
            .unwrap();
        let (_, v, _) = next_json(&sub);
        assert_eq!(
            (v["node"].as_str(), v["action"].as_str(), v["to"].as_str()),
            (Some("media:video"), Some("get"), Some("alice|s9"))
        );

        e.to("room")
            .send_presence(Peer::new("server").field("token", "secret"))
            .unwrap();
        let (_, v, _) = next_json(&sub);
        assert!(
            v["data"].get("token").is_none(),
            "a token never goes out: {v}"
        );

        // Two emits, two different ids.
        e.to("x").send(1).unwrap();
        e.to("x").send(2).unwrap();
        let (_, a, _) = next_json(&sub);
        let (_, b, _) = next_json(&sub);
        assert_ne!(a["id"], b["id"]);
    })
}

#[test]
fn batch_is_pipelined_in_order_and_all_or_nothing() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "symple:broadcast");
        let e = native(redis).to("alice");
        e.emit_batch((0..100).map(Message::new)).unwrap();
        for i in 0..100 {
            let (_, v, _) = next_json(&sub);
            assert_eq!(v["data"], i);
        }
        // One invalid message after a valid one: nothing of the batch is published.
        let bad = vec![json!({"type": "message", "to": "alice"}), json!([1])];
        let err = native(redis).emit_batch(bad).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        assert!(sub.next(Duration::from_millis(300)).is_none());
    })
}

/// The integer `data` of each native message received, in order.
fn numbers(got: &[(String, Vec<u8>)]) -> Vec<i64> {
    got.iter()
        .map(|(_, bytes)| {
            serde_json::from_slice::<Value>(bytes).unwrap()["data"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

#[test]
fn queued_mode_flushes_everything_and_on_drop() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "symple:broadcast");
        let e = Emitter::builder(redis.url())
            .target(Target::Native)
            .queued(true)
            .connect()
            .unwrap();
        for i in 0..5000 {
            e.to("alice").send(i).unwrap();
        }
        e.flush().unwrap();
        // Every one, in order (a cluster's writer sends a backlog in slices, one after another).
        let data = numbers(&sub.drain(Duration::from_millis(500)));
        assert_eq!(data, (0..5000).collect::<Vec<i64>>(), "all, in order");

        // A backlog of 2 MB (1 KB messages) goes out in several pipelines: all, in order.
        let pad = "x".repeat(1000);
        for i in 0..2000 {
            e.to("alice").send(json!({"i": i, "pad": pad})).unwrap();
        }
        e.flush().unwrap();
        let got: Vec<i64> = sub
            .drain(Duration::from_millis(500))
            .iter()
            .map(|(_, bytes)| {
                let v: Value = serde_json::from_slice(bytes).unwrap();
                assert_eq!(v["data"]["pad"], pad);
                v["data"]["i"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(got, (0..2000).collect::<Vec<i64>>(), "all, in order");

        // Dropping the last handle without a flush still delivers everything queued.
        let e2 = e.clone();
        for i in 0..1000 {
            e2.to("bob").send(i).unwrap();
        }
        drop(e);
        drop(e2);
        assert_eq!(sub.drain(Duration::from_millis(500)).len(), 1000);
    })
}

#[test]
fn async_emitter_speaks_the_same_packets() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "*");
        let rt = support::runtime();
        rt.block_on(async {
            let e = Emitter::builder(redis.url())
                .target(Target::Native)
                .connect_async()
                .await
                .unwrap();
            e.to("alice")
                .emit(Message::new(json!({"a": 1})).id("x1"))
                .await
                .unwrap();
            e.to("alice")
                .emit_batch(vec![Message::new(1).id("b1"), Message::new(2).id("b2")])
                .await
                .unwrap();
            let io = Emitter::builder(redis.url()).connect_async().await.unwrap();
            io.to("room-9").send(json!({"b": 2})).await.unwrap();
            assert!(matches!(
                e.emit(Message::new(1)).await,
                Err(symple::Error::MissingRecipient)
            ));
        });
        let (_, v, bytes) = next_json(&sub);
        assert_eq!(
            bytes,
            br#"{"type":"message","id":"x1","data":{"a":1},"from":"server","to":"alice"}"#
        );
        assert_eq!(v["id"], "x1");
        assert_eq!(next_json(&sub).1["id"], "b1");
        assert_eq!(next_json(&sub).1["id"], "b2");
        let (channel, payload) = sub.next(WAIT).unwrap();
        assert_eq!(channel, "symple#/#room-9#");
        assert_eq!(&payload[..9], b"\x93\xa7emitter");
        assert!(sub.next(Duration::from_millis(300)).is_none());
    })
}

#[test]
fn try_publish_takes_a_packet_only_when_nothing_waits() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "symple:broadcast");
        let blocking = Emitter::builder(redis.url())
            .target(Target::Native)
            .connect()
            .unwrap();
        let packet = blocking.to("alice").packet(Message::new(0)).unwrap();
        assert_eq!(
            blocking.try_publish(packet.clone()).unwrap(),
            Some(packet),
            "a blocking emitter hands the packet back"
        );

        let queued = Emitter::builder(redis.url())
            .target(Target::Native)
            .options(|o| o.queue_capacity(2))
            .queued(true)
            .connect()
            .unwrap();
        // Paused (every node: the writer may go to any), Redis holds the writer's first
        // batch, so the queue behind it fills up. The pause ends by itself, well within the
        // response timeout (an UNPAUSE would wait for it too).
        for i in 0..redis.nodes.len() {
            let _: () = redis::cmd("CLIENT")
                .arg("PAUSE")
                .arg(2000)
                .arg("ALL")
                .query(&mut redis.node_conn(i))
                .unwrap();
        }
        let mut handed_back = None;
        for i in 1..=10 {
            let p = queued.to("alice").packet(Message::new(i)).unwrap();
            if let Some(p) = queued.try_publish(p).unwrap() {
                handed_back = Some((i, p));
                break;
            }
        }
        let (last, p) = handed_back.expect("a queue of 2 behind a paused Redis fills within 10");
        assert!(
            last >= 3,
            "two fit in the queue and one is in flight: full at {last}"
        );
        queued.publish_packets(vec![p]).unwrap();
        queued.flush().unwrap();
        let got = numbers(&sub.drain(Duration::from_millis(500)));
        assert_eq!(
            got,
            (1..=last).collect::<Vec<_>>(),
            "each once, in order, none lost"
        );
    })
}
