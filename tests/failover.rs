//! Failover: a 3-master / 3-replica cluster loses the master that the emitters' channel and
//! some sessions live on (SIGKILL). Once its replica is promoted, the blocking, queued and
//! async emitters and the session store carry on without a restart. Meanwhile an emit either
//! succeeds or returns an error: whatever a blocking or async emit reported sent, and whatever
//! a successful flush covered, arrives. Prints what the failover cost each of them.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Kind, Redis, Subscriber};
use symple::session::{data_object, SessionStore};
use symple::{Emitter, Target};

/// The bound on the whole failover: promotion takes a few seconds here (node timeout 1 s).
const RECOVERY: Duration = Duration::from_secs(60);
/// Successes in a row that count as "carrying on".
const STREAK: usize = 20;

/// What one path saw: numbers it reported delivered, errors, time to the first success after
/// the kill and to the streak.
#[derive(Debug, Default)]
struct Seen {
    confirmed: BTreeSet<u64>,
    errors: usize,
    first_ok: Option<Duration>,
    recovered: Option<Duration>,
}

/// Calls `attempt(n)` for n = 0, 1, ... until STREAK in a row succeed (bounded by RECOVERY).
/// `attempt` returns the numbers a success confirms.
fn until_recovered(
    killed: Instant,
    mut attempt: impl FnMut(u64) -> symple::Result<Vec<u64>>,
) -> Seen {
    let mut seen = Seen::default();
    let mut streak = 0;
    for n in 0.. {
        assert!(
            killed.elapsed() < RECOVERY,
            "not recovered within {RECOVERY:?}: {seen:?}"
        );
        match attempt(n) {
            Ok(confirmed) => {
                seen.confirmed.extend(confirmed);
                seen.first_ok.get_or_insert(killed.elapsed());
                streak += 1;
                if streak == STREAK {
                    seen.recovered = Some(killed.elapsed());
                    return seen;
                }
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                seen.errors += 1;
                streak = 0;
            }
        }
    }
    unreachable!()
}

fn message(path: &str, n: u64) -> Value {
    json!({"type": "message", "data": {"path": path, "n": n}})
}

#[test]
fn a_master_dies_and_everything_carries_on() {
    let mut redis = Redis::start_kind(Kind::Cluster);
    let url = redis.url();
    // The master of the Streams adapter's stream: XADD must wait for its replica. (PUBLISH,
    // which any node takes, goes to a live node at once.)
    let victim = redis.master_of(symple::packet::streams::DEFAULT_STREAM);
    let watcher = (0..redis.nodes.len()).find(|&i| i != victim).unwrap();
    let sub = Subscriber::on_node(&redis, watcher, "symple:broadcast");
    let native = |b: symple::EmitterBuilder| b.target(Target::Native).connect().unwrap();
    let blocking = native(Emitter::builder(&url));
    let streams = Emitter::builder(&url)
        .target(Target::SocketIoStreams(Default::default()))
        .connect()
        .unwrap();
    // The same with a 1 s bound, shorter than the promotion: it errors, then carries on.
    let streams_1s = Emitter::builder(&url)
        .target(Target::SocketIoStreams(Default::default()))
        .options(|o| o.response_timeout(Duration::from_secs(1)))
        .connect()
        .unwrap();
    let queued = native(Emitter::builder(&url).queued(true));
    let store = Arc::new(SessionStore::connect(&url).unwrap());
    // Session keys on the victim's slots, so the store must wait for the promotion too.
    let tokens: Vec<String> = (0..)
        .map(|i| format!("tok-{i}"))
        .filter(|t| redis.master_of(&format!("symple:session:{t}")) == victim)
        .take(200)
        .collect();
    let alice = data_object(json!({"user": "alice"})).unwrap();
    // Everything works before, and the async emitter is connected before the kill too.
    blocking.to("x").emit(message("before", 0)).unwrap();
    queued.to("x").emit(message("before", 1)).unwrap();
    queued.flush().unwrap();
    store.set(&tokens[0], &alice, Some(600)).unwrap();
    let (async_tx, async_rx) = std::sync::mpsc::channel::<Instant>();
    let async_path = std::thread::spawn({
        let url = url.clone();
        move || {
            let rt = support::runtime();
            let e = rt.block_on(async {
                Emitter::builder(url)
                    .target(Target::Native)
                    .connect_async()
                    .await
                    .unwrap()
            });
            rt.block_on(e.to("x").emit(message("before", 2))).unwrap();
            let killed = async_rx.recv().unwrap();
            until_recovered(killed, |n| {
                rt.block_on(e.to("x").emit(message("async", n)))
                    .map(|_| vec![n])
            })
        }
    });
    assert_eq!(sub.drain(Duration::from_millis(500)).len(), 3);

    redis.nodes[victim].kill();
    let killed = Instant::now();
    async_tx.send(killed).unwrap();
    let blocking_path = std::thread::spawn(move || {
        until_recovered(killed, |n| {
            blocking
                .to("x")
                .emit(message("blocking", n))
                .map(|_| vec![n])
        })
    });
    let streams_path = std::thread::spawn(move || {
        until_recovered(killed, |n| {
            streams
                .emit(json!({"path": "streams", "n": n}))
                .map(|_| vec![n])
        })
    });
    let streams_1s_path = std::thread::spawn(move || {
        until_recovered(killed, |n| {
            streams_1s
                .emit(json!({"path": "streams-1s", "n": n}))
                .map(|_| vec![n])
        })
    });
    let queued_path = std::thread::spawn(move || {
        // A burst queued at the kill: flush says whether all of it went out.
        let burst: Vec<u64> = (1_000_000..1_001_000).collect();
        for &n in &burst {
            queued.to("x").emit(message("queued", n)).unwrap();
        }
        let burst_flushed = queued.flush();
        let mut seen = until_recovered(killed, |n| {
            queued.to("x").emit(message("queued", n))?;
            queued.flush().map(|_| vec![n])
        });
        if burst_flushed.is_ok() {
            seen.confirmed.extend(burst);
        }
        seen
    });
    let store_path = std::thread::spawn({
        let store = store.clone();
        let tokens = tokens.clone();
        move || {
            until_recovered(killed, |n| {
                let t = &tokens[1 + (n as usize % (tokens.len() - 1))];
                store.set(t, &alice, Some(600))?;
                store.get(t)?;
                store.list("alice").map(|_| vec![n])
            })
        }
    });
    let blocking_seen = blocking_path.join().expect("blocking path");
    let queued_seen = queued_path.join().expect("queued path");
    let async_seen = async_path.join().expect("async path");
    let store_seen = store_path.join().expect("session path");
    let streams_seen = streams_path.join().expect("streams path");
    let streams_1s_seen = streams_1s_path.join().expect("streams path, 1 s bound");

    // Every XADD reported done is in the stream.
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(symple::packet::streams::DEFAULT_STREAM)
        .arg("-")
        .arg("+")
        .query(&mut redis.conn())
        .unwrap();
    let in_stream = |path: &str| -> BTreeSet<u64> {
        entries
            .iter()
            .flat_map(|(_, fields)| fields.iter().filter(|(k, _)| k == "data"))
            .filter_map(|(_, data)| {
                let v: Value = serde_json::from_str(data).ok()?;
                let m = v.pointer("/packet/data/1")?;
                (m["path"] == path).then(|| m["n"].as_u64()).flatten()
            })
            .collect()
    };
    for (path, seen) in [("streams", &streams_seen), ("streams-1s", &streams_1s_seen)] {
        let stored = in_stream(path);
        assert!(!stored.is_empty());
        let missing: Vec<&u64> = seen.confirmed.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "{path}: XADD reported done, not in the stream: {missing:?}"
        );
    }

    // Every emit reported sent arrived (each at most once per send, the crate may resend a
    // pipeline it could not confirm).
    let expected: usize = [&blocking_seen, &queued_seen, &async_seen]
        .iter()
        .map(|s| s.confirmed.len())
        .sum();
    let mut got: BTreeSet<(String, u64)> = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let confirmed_seen = [
            ("blocking", &blocking_seen),
            ("queued", &queued_seen),
            ("async", &async_seen),
        ]
        .iter()
        .map(|(p, s)| {
            s.confirmed
                .iter()
                .filter(|n| got.contains(&(p.to_string(), **n)))
                .count()
        })
        .sum::<usize>();
        if confirmed_seen == expected {
            break;
        }
        match sub.next(Duration::from_millis(200)) {
            Some((_, payload)) => {
                let v: Value = serde_json::from_slice(&payload).unwrap();
                let d = &v["data"];
                got.insert((
                    d["path"].as_str().unwrap().to_owned(),
                    d["n"].as_u64().unwrap(),
                ));
            }
            None => continue,
        }
    }
    for (path, seen) in [
        ("blocking", &blocking_seen),
        ("queued", &queued_seen),
        ("async", &async_seen),
    ] {
        let lost: Vec<&u64> = seen
            .confirmed
            .iter()
            .filter(|n| !got.contains(&(path.to_owned(), **n)))
            .collect();
        assert!(
            lost.is_empty(),
            "{path}: reported sent but never arrived: {lost:?}"
        );
    }
    // Every session the store reported written is there (the last write of each token wins;
    // all of them wrote the same value).
    for n in &store_seen.confirmed {
        let t = &tokens[1 + (*n as usize % (tokens.len() - 1))];
        assert!(
            store.get(t).unwrap().is_some(),
            "session {t} reported written, not there"
        );
    }
    redis.wait_for_cluster();

    let cost = |s: &Seen| {
        format!(
            "first success {:.1} s, {} in a row {:.1} s, {} errors",
            s.first_ok.unwrap_or_default().as_secs_f64(),
            STREAK,
            s.recovered.unwrap_or_default().as_secs_f64(),
            s.errors
        )
    };
    eprintln!(
        "failover (SIGKILL of a master, cluster-node-timeout 1 s): PUBLISH blocking: {}; PUBLISH queued (flush each): {}; PUBLISH async: {}; XADD (streams target): {}; XADD with a 1 s response timeout: {}; sessions: {}",
        cost(&blocking_seen),
        cost(&queued_seen),
        cost(&async_seen),
        cost(&streams_seen),
        cost(&streams_1s_seen),
        cost(&store_seen)
    );
}
