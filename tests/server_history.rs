//! Message history per room (Redis Streams) and recovery on reconnect, against the real
//! binary: two instances on one Redis, real WebSocket clients, the emitter's `Recorder`.

mod support;

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::ws::{Client, ServerProc};
use support::{Kind, Redis};
use symple::history::{Offset, Recorder, Settings};
use symple::redis::ConnectOptions;
use tokio_tungstenite::tungstenite::Message;

fn instance(redis: &Redis, history: &str) -> ServerProc {
    ServerProc::start(
        &["--history", history],
        &[("SYMPLE_REDIS_URL", &redis.url())],
    )
}

/// Two instances keeping room R's history, both subscribed.
async fn two_instances(redis: &Redis) -> (ServerProc, ServerProc) {
    let (a, b) = (instance(redis, "R"), instance(redis, "R"));
    for srv in [&a, &b] {
        srv.wait_redis_up().await;
    }
    (a, b)
}

/// The ports of every node.
fn ports(redis: &Redis) -> Vec<u16> {
    redis.nodes.iter().map(|n| n.port).collect()
}

fn recorder(redis: &Redis, size: u64) -> Arc<Recorder> {
    let settings = Settings {
        size,
        ..Settings::default()
    };
    Arc::new(Recorder::open(ConnectOptions::new(redis.url()), settings).expect("recorder"))
}

/// The emitter's message `n` to `room`, recorded (off the async thread: the recorder blocks).
async fn emit(rec: &Arc<Recorder>, room: &str, n: u64) {
    let (rec, room) = (rec.clone(), room.to_owned());
    tokio::task::spawn_blocking(move || {
        let msg = json!({"type": "message", "id": format!("e{n}"), "from": "server", "to": room, "data": {"n": n}});
        rec.record(&room, &msg).expect("recorded");
    })
    .await
    .expect("emit task");
}

async fn say(c: &mut Client, room: &str, n: u64) {
    c.send(json!({"type": "message", "to": room, "data": {"n": n}}))
        .await;
}

/// The `n` of each `message` frame, and its offset.
fn numbered(frames: &[Value]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter(|v| v["type"] == "message")
        .map(|v| {
            (
                v["data"]["n"].as_u64().expect("numbered"),
                v["history"]["offset"]
                    .as_str()
                    .expect("an offset")
                    .to_owned(),
            )
        })
        .collect()
}

fn offset(s: &str) -> Offset {
    s.parse().expect("an offset")
}

/// Frames until one matches `pred` (included), bounded.
async fn until(c: &mut Client, what: &str, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        match c.next().await {
            Some(v) => {
                let done = pred(&v);
                out.push(v);
                if done {
                    return out;
                }
            }
            None => panic!("expected {what}; got {out:?}"),
        }
    }
}

/// `count` numbered messages as `c` receives them (other frames skipped), bounded.
async fn receive(c: &mut Client, count: usize) -> Vec<(u64, String)> {
    let mut got = Vec::new();
    while got.len() < count {
        let v = c
            .next()
            .await
            .unwrap_or_else(|| panic!("{} of {count} messages: {got:?}", got.len()));
        got.extend(numbered(&[v]));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn a_client_recovers_what_it_missed_on_the_other_instance() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        recovers_on(&redis).await;
    }
}

async fn recovers_on(redis: &Redis) {
    let (a, b) = two_instances(redis).await;
    let rec = recorder(redis, 1000);
    let mut p1 = Client::auth(&a.url(), json!({"user": "p1", "rooms": ["R"]})).await;
    let mut p2 = Client::auth(&b.url(), json!({"user": "p2", "rooms": ["R"]})).await;
    let mut watcher = Client::auth(&b.url(), json!({"user": "watcher", "rooms": ["R"]})).await;
    // Asks for the room's position on its first connection.
    let mut x = Client::auth(
        &a.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": null}}),
    )
    .await;
    let answer = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    let start = answer.last().unwrap()["rooms"]["R"].clone();
    assert_eq!(start["recovered"], true, "{start}");
    assert_eq!(start["replayed"], 0);
    for c in [&mut p1, &mut p2, &mut watcher] {
        c.drain().await;
    }

    say(&mut p1, "R", 0).await;
    let seen = receive(&mut x, 1).await;
    assert_eq!(seen[0].0, 0);
    let last = seen[0].1.clone();
    x.ws.close(None).await.expect("close");
    drop(x);

    // 100 messages while x is away: peers on both instances and the emitter, interleaved.
    // Twice the nodes forget the record script: instance A's next record (51, p1's), then the
    // recorder's (53), get NOSCRIPT and are sent again with its text.
    let ports = ports(redis);
    let noscripts_before = noscripts(&ports);
    let mut watched = Vec::new();
    let mut noscripts_at_51 = 0;
    for n in 1..=100u64 {
        if n == 51 || n == 53 {
            flush_scripts(&ports);
        }
        match n % 3 {
            0 if n == 51 => {
                say(&mut p1, "R", n).await;
                // Every record so far done (0 to 51, each delivered) before the next flush:
                // a record's EVAL with the text landing after that flush would load the
                // script there, and the recorder's 53 would not meet NOSCRIPT.
                watched = receive(&mut watcher, 52).await;
                noscripts_at_51 = noscripts(&ports);
                assert!(
                    noscripts_at_51 > noscripts_before,
                    "a record after the first SCRIPT FLUSH met NOSCRIPT"
                );
            }
            0 => say(&mut p1, "R", n).await,
            1 => say(&mut p2, "R", n).await,
            _ => emit(&rec, "R", n).await,
        }
    }
    assert!(
        noscripts(&ports) > noscripts_at_51,
        "a record after the second SCRIPT FLUSH met NOSCRIPT"
    );
    watched.extend(numbered(&watcher.drain().await));
    // The watcher saw message 0 and the 100, each once, each with its offset.
    assert_eq!(watched.len(), 101, "{watched:?}");
    watched.remove(0);
    let mut ns: Vec<u64> = watched.iter().map(|(n, _)| *n).collect();
    ns.sort();
    assert_eq!(ns, (1..=100).collect::<Vec<_>>());

    // Back, on the other instance, with its offset.
    let mut x = Client::auth(
        &b.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": last}}),
    )
    .await;
    let frames = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    let answer = frames.last().unwrap()["rooms"]["R"].clone();
    assert_eq!(answer["recovered"], true, "{answer}");
    assert_eq!(answer["replayed"], 100, "{answer}");
    let replayed = numbered(&frames);
    assert_eq!(
        replayed, watched,
        "the 100, in the order (and with the offsets) the watcher saw them"
    );
    assert_eq!(answer["offset"].as_str(), Some(watched[99].1.as_str()));

    // Then live traffic, once.
    say(&mut p1, "R", 101).await;
    let mut live = receive(&mut x, 1).await;
    emit(&rec, "R", 102).await;
    live.extend(receive(&mut x, 1).await);
    assert_eq!(live.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [101, 102]);
    assert!(offset(&live[0].1) > offset(&watched[99].1));
    assert!(
        numbered(&x.drain().await).is_empty(),
        "nothing twice, nothing more"
    );
    // The others saw no change: the two live ones, once each; the senders not their own.
    assert_eq!(
        numbered(&watcher.drain().await)
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>(),
        [101, 102]
    );
    let p1_got: Vec<u64> = numbered(&p1.drain().await)
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert!(
        !p1_got.iter().any(|n| n % 3 == 0 && *n <= 100) && !p1_got.contains(&101),
        "a sender never gets its own: {p1_got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn a_trimmed_history_says_recovered_false_then_live_traffic() {
    let redis = support::shared(Kind::Plain);
    let a = instance(&redis, "R,T");
    a.wait_redis_up().await;
    let small = recorder(&redis, 10);
    let mut p = Client::auth(&a.url(), json!({"user": "p", "rooms": ["R"]})).await;
    let mut x = Client::auth(&a.url(), json!({"user": "x", "rooms": ["R"]})).await;
    emit(&small, "R", 0).await;
    let first = receive(&mut x, 1).await[0].1.clone();
    drop(x);
    // Trimmed to about 10 (whole stream nodes of 100 entries go at once).
    for n in 1..=300 {
        emit(&small, "R", n).await;
    }
    p.drain().await;
    let mut x = Client::auth(
        &a.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": first, "T": null, "bad": "1-0"}}),
    )
    .await;
    let frames = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    assert!(numbered(&frames).is_empty(), "nothing replayed: {frames:?}");
    let rooms = &frames.last().unwrap()["rooms"];
    assert_eq!(rooms["R"]["recovered"], false, "{rooms}");
    assert!(rooms["R"]["reason"].as_str().unwrap().contains("trimmed"));
    assert!(rooms["R"]["offset"].is_string(), "where to go on from");
    assert_eq!(rooms["T"]["recovered"], false, "not a member of T: {rooms}");
    assert_eq!(rooms["bad"]["recovered"], false);
    say(&mut p, "R", 301).await;
    assert_eq!(receive(&mut x, 1).await[0].0, 301, "then live traffic");
    assert!(numbered(&x.drain().await).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn messages_published_during_the_replay_arrive_exactly_once_in_order() {
    let redis = support::shared(Kind::Plain);
    // A queue that holds what is published while the client recovers.
    let b = ServerProc::start(
        &["--history", "R", "--max-queued", "20000"],
        &[("SYMPLE_REDIS_URL", &redis.url())],
    );
    b.wait_redis_up().await;
    let rec = recorder(&redis, 100_000);
    let mut x = Client::auth(&b.url(), json!({"user": "x", "rooms": ["R"]})).await;
    emit(&rec, "R", 0).await;
    let from = receive(&mut x, 1).await[0].1.clone();
    drop(x);
    const MISSED: u64 = 3000;
    // Fewer than the client's queue holds while it recovers (--max-queued).
    const AT_MOST: u64 = 15_000;
    {
        let rec = rec.clone();
        tokio::task::spawn_blocking(move || {
            for n in 1..=MISSED {
                let msg = json!({"type": "message", "from": "server", "data": {"n": n}});
                rec.record("R", &msg).expect("recorded");
            }
        })
        .await
        .expect("backlog");
    }
    // Published from before x reconnects until it has its recovery answer.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let during = {
        let (rec, stop) = (rec.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            let mut n = MISSED;
            while n < MISSED + AT_MOST && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let msg = json!({"type": "message", "from": "server", "data": {"n": n}});
                rec.record("R", &msg).expect("recorded");
                // Paced, so that it is still publishing when the replay is done.
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
            n
        })
    };
    let mut x = Client::auth(
        &b.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": from}}),
    )
    .await;
    let frames = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answer = frames.last().unwrap()["rooms"]["R"].clone();
    assert_eq!(answer["recovered"], true, "{answer}");
    let mut got = numbered(&frames);
    let replayed = got.len() as u64;
    let last = during.await.expect("publisher");
    let live = receive(&mut x, (last - replayed) as usize).await;
    got.extend(live);
    let more = numbered(&x.drain().await);
    let ns: Vec<u64> = got.iter().map(|(n, _)| *n).collect();
    let at = |i: usize| got[i.saturating_sub(2)..(i + 3).min(got.len())].to_vec();
    let first_bad = ns
        .iter()
        .enumerate()
        .find(|(i, n)| **n != *i as u64 + 1)
        .map(|(i, _)| i);
    assert!(
        more.is_empty() && first_bad.is_none(),
        "none twice, none missing: replayed {replayed} up to {}, published {last}, then {:?}; \
         first out of order at {first_bad:?}: {:?}",
        answer["offset"],
        &more[..more.len().min(5)],
        first_bad.map(at)
    );
    assert_eq!(
        ns,
        (1..=last).collect::<Vec<_>>(),
        "every message once, in order"
    );
    eprintln!(
        "replayed {replayed} (of {MISSED} missed before the reconnect), {} live after",
        last - replayed
    );
    assert!(
        replayed > MISSED,
        "some messages published during the reconnect were in the replay"
    );
    assert!(last > replayed, "some came live after the replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn a_slow_consumer_cut_off_recovers_everything_it_missed() {
    let redis = support::shared(Kind::Plain);
    let a = ServerProc::start(
        &[
            "--history",
            "R",
            "--max-queued",
            "16",
            "--write-timeout",
            "2",
        ],
        &[("SYMPLE_REDIS_URL", &redis.url())],
    );
    a.wait_redis_up().await;
    let rec = recorder(&redis, 100_000);
    let mut x = Client::auth(&a.url(), json!({"user": "x"})).await;
    x.drain().await;
    x.send(json!({"type": "join", "room": "R"})).await;
    let ok = until(&mut x, "join:ok", |v| v["type"] == "join:ok").await;
    let joined_at = ok.last().expect("join:ok")["history"]["offset"]
        .as_str()
        .expect("the room's position")
        .to_owned();
    // x stops reading while the room is flooded with more than sockets buffer.
    const SENT: u64 = 4000;
    {
        let rec = rec.clone();
        tokio::task::spawn_blocking(move || {
            let pad = "x".repeat(4096);
            for n in 1..=SENT {
                let msg =
                    json!({"type": "message", "from": "server", "data": {"n": n, "pad": pad}});
                rec.record("R", &msg).expect("recorded");
            }
        })
        .await
        .expect("flood");
    }
    // What it was sent before the cut: a gap-free prefix, then the close that says why.
    let mut prefix = Vec::new();
    let close = loop {
        match tokio::time::timeout(support::ws::WAIT, x.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                prefix.extend(numbered(&[v]));
            }
            Ok(Some(Ok(Message::Close(Some(f))))) => break u16::from(f.code),
            Ok(Some(Ok(_))) => continue,
            other => panic!(
                "expected the close frame after {} messages: {other:?}",
                prefix.len()
            ),
        }
    };
    assert_eq!(close, 4008, "disconnected as a slow consumer");
    let ns: Vec<u64> = prefix.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        ns,
        (1..=ns.len() as u64).collect::<Vec<_>>(),
        "a gap-free prefix"
    );
    assert!((ns.len() as u64) < SENT, "cut off before the end");
    // On a busy machine the queue of 16 can fill before x's first write: then nothing came
    // before the cut, and x recovers from where it joined.
    let last = prefix.last().map_or(joined_at, |(_, o)| o.clone());
    drop(x);
    let mut x = Client::auth(
        &a.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": last}}),
    )
    .await;
    let mut got = prefix;
    loop {
        let v = x
            .next()
            .await
            .expect("the replay, then the recovery answer");
        if v["type"] == "recovery" {
            assert_eq!(v["rooms"]["R"]["recovered"], true, "{v}");
            break;
        }
        got.extend(numbered(&[v]));
    }
    let ns: Vec<u64> = got.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        ns,
        (1..=SENT).collect::<Vec<_>>(),
        "everything, once, in order"
    );
}

/// Empties the script cache of every node (`SCRIPT FLUSH`): what the emitters and instances
/// loaded when they connected is gone, so their next records get NOSCRIPT.
fn flush_scripts(ports: &[u16]) {
    for p in ports {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{p}"))
            .and_then(|c| c.get_connection())
            .expect("node");
        let () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query(&mut c)
            .expect("SCRIPT FLUSH");
    }
}

/// NOSCRIPT answers the nodes gave so far (`INFO errorstats`, summed).
fn noscripts(ports: &[u16]) -> u64 {
    ports
        .iter()
        .map(|p| {
            let mut c = redis::Client::open(format!("redis://127.0.0.1:{p}"))
                .and_then(|c| c.get_connection())
                .expect("node");
            let info: String = redis::cmd("INFO")
                .arg("errorstats")
                .query(&mut c)
                .expect("INFO");
            info.lines()
                .find_map(|l| l.strip_prefix("errorstat_NOSCRIPT:count="))
                .map_or(0, |n| n.trim().parse().expect("a count"))
        })
        .sum()
}

/// Flushes the nodes' scripts (see [`flush_scripts`]), runs `f`, and asserts that its records
/// met NOSCRIPT (each was sent again with the script's text: the messages are checked after).
fn after_script_flush<T>(ports: &[u16], what: &str, f: impl FnOnce() -> T) -> T {
    let before = noscripts(ports);
    flush_scripts(ports);
    let out = f();
    assert!(noscripts(ports) > before, "{what}: no NOSCRIPT met");
    out
}

/// The `native-history` target through every emitter path: the blocking emitter (one emit
/// and a batch), the queued one, the async one and `symple emit` (JSON lines on stdin).
/// Numbers `from..from + 5` each, in order. Before each emitter's records the script cache
/// of every node in `ports` is flushed (each emitter loaded it when it connected): each
/// path's NOSCRIPT fallback is used.
async fn push_through_every_emitter(url: &str, ports: &[u16], room: &str, first: u64) -> u64 {
    use symple::{Emitter, Target};
    let target = Target::NativeHistory(Settings::default());
    let numbered = |n: u64| json!({"type": "message", "data": {"n": n}});
    let (url_b, room_b, target_b) = (url.to_owned(), room.to_owned(), target.clone());
    let ports_b = ports.to_vec();
    tokio::task::spawn_blocking(move || {
        let e = Emitter::builder(url_b.clone())
            .target(target_b.clone())
            .connect()
            .expect("emitter")
            .to(room_b.as_str());
        after_script_flush(&ports_b, "emit", || {
            for n in first..first + 5 {
                e.send(json!({ "n": n })).expect("sent");
            }
        });
        let batch: Vec<Value> = (first + 5..first + 10).map(numbered).collect();
        after_script_flush(&ports_b, "emit_batch", || {
            e.emit_batch(&batch).expect("batch")
        });
        let q = Emitter::builder(url_b)
            .target(target_b)
            .queued(true)
            .connect()
            .expect("queued emitter")
            .to(room_b.as_str());
        after_script_flush(&ports_b, "queued", || {
            for n in first + 10..first + 15 {
                q.send(json!({ "n": n })).expect("queued");
            }
            q.flush().expect("flushed");
        });
    })
    .await
    .expect("blocking emitters");
    let a = Emitter::builder(url)
        .target(target)
        .connect_async()
        .await
        .expect("async emitter")
        .to(room);
    let before = noscripts(ports);
    flush_scripts(ports);
    for n in first + 15..first + 20 {
        a.send(json!({ "n": n })).await.expect("sent async");
    }
    assert!(noscripts(ports) > before, "async emit: no NOSCRIPT met");
    let lines: String = (first + 20..first + 25)
        .map(|n| format!("{}\n", numbered(n)))
        .collect();
    let (url, room) = (url.to_owned(), room.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut cli = Command::new(support::symple_bin())
            .args(["emit", "--url", &url, "--target", "native-history"])
            .args([
                "--history-size",
                "1000",
                "--history-age",
                "600",
                "--to",
                &room,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("symple emit");
        cli.stdin
            .take()
            .expect("stdin")
            .write_all(lines.as_bytes())
            .expect("lines written");
        cli.wait_with_output().expect("symple emit ran")
    })
    .await
    .expect("cli");
    assert!(
        out.status.success(),
        "symple emit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    first + 25
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn backend_pushes_through_every_emitter_are_recovered() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        emitter_pushes_recovered_on(&redis).await;
    }
}

async fn emitter_pushes_recovered_on(redis: &Redis) {
    let (a, b) = two_instances(redis).await;
    let mut watcher = Client::auth(&b.url(), json!({"user": "watcher", "rooms": ["R"]})).await;
    let mut outsider = Client::auth(&a.url(), json!({"user": "o", "rooms": ["S"]})).await;
    let mut x = Client::auth(
        &a.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": null}}),
    )
    .await;
    let answer = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    let start = answer.last().unwrap()["rooms"]["R"]["offset"]
        .as_str()
        .expect("the room's position")
        .to_owned();
    watcher.drain().await;
    outsider.drain().await;
    x.ws.close(None).await.expect("close");
    drop(x);

    let end = push_through_every_emitter(&redis.url(), &ports(redis), "R", 1).await;
    let watched = receive(&mut watcher, (end - 1) as usize).await;
    let ns: Vec<u64> = watched.iter().map(|(n, _)| *n).collect();
    assert_eq!(ns, (1..end).collect::<Vec<_>>(), "each emitter's, in order");

    let mut x = Client::auth(
        &b.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": start}}),
    )
    .await;
    let frames = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    let answer = frames.last().unwrap()["rooms"]["R"].clone();
    assert_eq!(answer["recovered"], true, "{answer}");
    assert_eq!(
        numbered(&frames),
        watched,
        "exactly the emitters' messages, with the offsets the watcher saw"
    );
    assert_eq!(answer["replayed"], (end - 1));

    // Several rooms: delivered (on symple:broadcast), not recorded: no offset.
    let e = symple::Emitter::builder(redis.url())
        .target(symple::Target::NativeHistory(Settings::default()))
        .connect_async()
        .await
        .expect("async emitter");
    e.to(["R", "S"])
        .send(json!({"n": end}))
        .await
        .expect("sent");
    for c in [&mut x, &mut outsider] {
        let v = until(c, "the message to R and S", |v| v["type"] == "message").await;
        let v = v.last().unwrap();
        assert_eq!(
            (v["data"]["n"].as_u64(), v.get("history")),
            (Some(end), None)
        );
    }
    assert!(numbered(&x.drain().await).is_empty(), "nothing twice");
    assert!(
        outsider
            .drain()
            .await
            .iter()
            .all(|v| v["type"] != "message"),
        "the room's messages reached no one outside it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn join_ok_gives_the_rooms_position_to_recover_from() {
    let redis = support::shared(Kind::Plain);
    let a = instance(&redis, "R");
    a.wait_redis_up().await;
    let mut p = Client::auth(&a.url(), json!({"user": "p", "rooms": ["R"]})).await;
    let mut w = Client::auth(&a.url(), json!({"user": "w", "rooms": ["R"]})).await;
    let mut x = Client::auth(&a.url(), json!({"user": "x"})).await;
    x.drain().await;
    // A quiet room: x joins and has seen nothing there yet.
    x.send(json!({"type": "join", "room": "R"})).await;
    let ok = until(&mut x, "join:ok", |v| v["type"] == "join:ok").await;
    let ok = ok.last().unwrap();
    assert_eq!(ok["history"]["room"], "R", "{ok}");
    let at = ok["history"]["offset"]
        .as_str()
        .expect("a position")
        .to_owned();
    // A room without history: no position.
    x.send(json!({"type": "join", "room": "S"})).await;
    let ok = until(&mut x, "join:ok", |v| v["type"] == "join:ok").await;
    assert!(ok.last().unwrap().get("history").is_none(), "{ok:?}");
    x.ws.close(None).await.expect("close");
    drop(x);
    p.drain().await;
    w.drain().await;
    for n in 1..=3 {
        say(&mut p, "R", n).await;
    }
    // The fence: w has them, so they are in the room's history.
    assert_eq!(receive(&mut w, 3).await.len(), 3);
    let mut x = Client::auth(
        &a.url(),
        json!({"user": "x", "rooms": ["R"], "recover": {"R": at}}),
    )
    .await;
    let frames = until(&mut x, "recovery", |v| v["type"] == "recovery").await;
    let answer = &frames.last().unwrap()["rooms"]["R"];
    assert_eq!(answer["recovered"], true, "{answer}");
    let got: Vec<u64> = numbered(&frames).iter().map(|(n, _)| *n).collect();
    assert_eq!(got, [1, 2, 3], "what came after the join, once each");
    assert!(numbered(&x.drain().await).is_empty());
}

/// The record script keeps the README's caps while trimming by age once per millisecond: the
/// first entry of a millisecond (an id ending in `-0`) trims what is older than the age and
/// pushes the key's expiry back; the size cap holds on every append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::await_holding_lock)]
async fn the_record_script_keeps_the_size_and_age_caps() {
    use redis::Commands;
    let redis = support::shared(Kind::Plain);
    let mut admin = redis.conn();
    let key = symple::history::key("caps").expect("a key");
    // 300 entries from 1970 (three full stream nodes of 100), no expiry.
    for seq in 1..=300u64 {
        let _: String = redis::cmd("XADD")
            .arg(&key)
            .arg(format!("1-{seq}"))
            .arg("s")
            .arg("")
            .arg("m")
            .arg("{}")
            .query(&mut admin)
            .expect("old entry");
    }
    let age = std::time::Duration::from_secs(600);
    let rec = Recorder::open(
        ConnectOptions::new(redis.url()),
        Settings { size: 1000, age },
    )
    .expect("recorder");
    let msg = json!({"type": "message", "from": "server", "data": {}});
    let first = rec.record("caps", &msg).expect("recorded");
    assert!(
        first.to_string().ends_with("-0"),
        "a new millisecond: {first}"
    );
    let len: usize = redis::cmd("XLEN")
        .arg(&key)
        .query(&mut admin)
        .expect("XLEN");
    assert_eq!(len, 1, "the entries older than the age are trimmed");
    let ttl: i64 = admin.pttl(&key).expect("PTTL");
    assert!(
        ttl > 0 && ttl <= age.as_millis() as i64,
        "expires within the age: {ttl}"
    );
    // The size cap, on every append (MAXLEN ~: whole nodes of 100 go, so up to 100 more stay).
    let small = Recorder::open(ConnectOptions::new(redis.url()), Settings { size: 10, age })
        .expect("recorder");
    for _ in 0..500 {
        small.record("caps", &msg).expect("recorded");
    }
    let len: usize = redis::cmd("XLEN")
        .arg(&key)
        .query(&mut admin)
        .expect("XLEN");
    assert!((10..=110).contains(&len), "about 10 kept: {len}");
}
