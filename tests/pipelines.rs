//! Pipelined publishing over the one-node connection's own stream (src/redis/wire.rs), on
//! every kind of Redis (plain, TLS, ACL user with a database, cluster): every byte of a batch
//! reaches a subscriber, in order; a PUBLISH Redis refuses inside a batch is reported while
//! the others still go out; bytes that are not Redis replies give a clear error, never a
//! hang, and the next call reconnects.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{each_kind, shared, Kind, Subscriber};
use symple::redis::{ConnectOptions, Connection, Publisher, Queued};
use symple::{Emitter, Packet, Target};

const WAIT: Duration = Duration::from_secs(10);

/// Payloads that look like replies, binary ones, an empty one, one larger than a read.
fn payloads() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        Vec::new(),
        b":1\r\n-ERR not an error\r\n".to_vec(),
        (0..=255u8).collect(),
        vec![b'$'; 100_000],
    ];
    v.extend((0..1500).map(|i| format!("{i:>200}").into_bytes()));
    v
}

/// What the subscriber got within its quiet time: (channel, payload) in arrival order.
fn received(sub: &Subscriber, want: usize) -> Vec<(String, Vec<u8>)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT * 3;
    while got.len() < want && Instant::now() < deadline {
        match sub.next(WAIT) {
            Some(item) => got.push(item),
            None => break,
        }
    }
    // Nothing more than what was sent.
    got.extend(sub.drain(Duration::from_millis(300)));
    got
}

#[test]
fn every_byte_of_a_batch_reaches_redis_on_every_kind() {
    each_kind(|redis| {
        let sub = Subscriber::new(redis, "pipe:*");
        let sent: Vec<Packet> = payloads()
            .into_iter()
            .enumerate()
            .map(|(i, p)| Packet::new(format!("pipe:{}", i % 3), p))
            .collect();
        let bytes: usize = sent.iter().map(|p| p.payload.len()).sum();

        // A blocking batch, the same batch through the queued writer, and the batch again on
        // the connection that published it (its buffers reused).
        let opts = ConnectOptions::new(redis.url());
        let conn = Connection::open(opts.clone()).unwrap();
        conn.publish_batch(sent.clone()).unwrap();
        let queued = Queued::start(Connection::open(opts.clone()).unwrap(), &opts).unwrap();
        for p in &sent {
            queued.publish(p.clone()).unwrap();
        }
        queued.flush().unwrap();
        conn.publish_batch(sent.clone()).unwrap();

        let got = received(&sub, 3 * sent.len());
        assert_eq!(got.len(), 3 * sent.len(), "messages received");
        let got_bytes: usize = got.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(got_bytes, 3 * bytes, "payload bytes received");
        let want: Vec<(String, Vec<u8>)> = sent
            .iter()
            .map(|p| (p.channel.to_string(), p.payload.clone()))
            .collect();
        for (round, chunk) in got.chunks(sent.len()).enumerate() {
            if redis.kind == Kind::Cluster {
                // Relayed over the cluster bus: each message once, whatever the order.
                let (mut a, mut b) = (chunk.to_vec(), want.clone());
                a.sort();
                b.sort();
                assert!(a == b, "round {round}: not the batch that was sent");
            } else {
                assert!(chunk == want, "round {round}: not the batch, in order");
            }
        }

        // emit_batch, encoded straight into the pipeline: one packet per message.
        let sub = Subscriber::new(redis, "symple:*");
        let e = Emitter::builder(redis.url())
            .target(Target::Native)
            .connect()
            .unwrap();
        for _ in 0..2 {
            e.to("room")
                .emit_batch((0..1000).map(|i| json!({"type": "message", "data": i})))
                .unwrap();
        }
        let got = received(&sub, 2000);
        assert_eq!(got.len(), 2000);
        for (i, (_, payload)) in got.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
            if redis.kind != Kind::Cluster {
                assert_eq!(v["data"], json!(i % 1000));
            }
        }
    });
}

#[test]
fn a_refused_publish_in_a_batch_is_reported_and_the_others_go_out() {
    let redis = shared(Kind::Acl);
    let mut admin = redis.node_conn(0);
    // A user who may publish on open:* only.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("pipe-limited")
        .arg("reset")
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("resetchannels")
        .arg("&open:*")
        .arg("+@all")
        .query(&mut admin)
        .unwrap();
    let url = format!("redis://pipe-limited:pw@127.0.0.1:{}", redis.port);
    let sub = Subscriber::new(&redis, "*");
    let batch = |tag: &str| {
        vec![
            Packet::new(format!("open:{tag}1"), b"a".to_vec()),
            Packet::new(format!("shut:{tag}"), b"b".to_vec()),
            Packet::new(format!("open:{tag}2"), b"c".to_vec()),
        ]
    };

    let opts = ConnectOptions::new(url.as_str());
    let conn = Connection::open(opts.clone()).unwrap();
    let err = conn.publish_batch(batch("x")).unwrap_err().to_string();
    assert!(err.contains("NoPerm") && err.contains("ACL"), "{err}");
    // The connection is still good for the next batch.
    conn.publish_batch(vec![Packet::new("open:y", b"d".to_vec())])
        .unwrap();

    let queued = Queued::start(Connection::open(opts.clone()).unwrap(), &opts).unwrap();
    for p in batch("q") {
        queued.publish(p).unwrap();
    }
    let err = queued.flush().unwrap_err().to_string();
    assert!(err.contains("NoPerm") && err.contains("ACL"), "{err}");
    queued.flush().unwrap();

    let got: Vec<(String, Vec<u8>)> = received(&sub, 5);
    let want = [
        ("open:x1", "a"),
        ("open:x2", "c"),
        ("open:y", "d"),
        ("open:q1", "a"),
        ("open:q2", "c"),
    ]
    .map(|(c, p)| (c.to_string(), p.as_bytes().to_vec()));
    assert_eq!(
        got, want,
        "the allowed ones, once each, nothing of the refused"
    );
    let _: () = redis::cmd("ACL")
        .arg("DELUSER")
        .arg("pipe-limited")
        .query(&mut admin)
        .unwrap();
}

/// A "Redis" that logs nothing in, answers `INFO cluster`, then answers the first batch
/// with `reply` and closes; the next connection gets proper replies.
fn fake_redis(reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().take(2).enumerate() {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(WAIT)).unwrap();
            let mut buf = vec![0; 1 << 16];
            let mut seen = Vec::new();
            let mut answered_info = false;
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
                if !answered_info && seen.windows(7).any(|w| w == b"cluster") {
                    answered_info = true;
                    seen.clear();
                    conn.write_all(b"$19\r\ncluster_enabled:0\r\n\r\n").unwrap();
                    continue;
                }
                // Two PUBLISHes per batch, whole.
                if seen.windows(7).filter(|w| *w == b"PUBLISH").count() == 2
                    && seen.ends_with(b"\r\n")
                {
                    let answer: &[u8] = if i == 0 { reply } else { b":0\r\n:0\r\n" };
                    conn.write_all(answer).unwrap();
                    seen.clear();
                    if i == 0 {
                        break;
                    }
                }
            }
        }
    });
    port
}

#[test]
fn bytes_that_are_not_replies_are_a_clear_error_and_the_next_call_reconnects() {
    for reply in [&b":0\r\n?what\r\n"[..], b":0\r\n$9999999999\r\n", b":0\r\n"] {
        let port = fake_redis(reply);
        let opts = ConnectOptions::new(format!("redis://127.0.0.1:{port}"))
            .response_timeout(Duration::from_secs(2));
        let conn = Connection::open(opts).unwrap();
        let two = || {
            vec![
                Packet::new("c", b"1".to_vec()),
                Packet::new("c", b"2".to_vec()),
            ]
        };
        let started = Instant::now();
        let err = conn.publish_batch(two()).unwrap_err();
        assert!(err.is_connection(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("not a Redis reply") || text.contains("closed"),
            "{reply:?}: {text}"
        );
        assert!(started.elapsed() < WAIT, "an error, not a hang");
        if let Err(e) = conn.publish_batch(two()) {
            panic!("{reply:?}: after the error: {e}");
        }
    }
}
