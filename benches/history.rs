//! History on against history off, in one run (issue 11):
//!
//! 1. One instance's fan-out to 1,000 clients in one room: emitter packets (`native-history`
//!    to an instance with `--history big` against `native-rooms` to one without), and a
//!    client's messages (recorded by its instance with `--history big`, or not). Target ≥ 0.8×.
//!    The emitter's rounds, in messages, are the emit throughput for one room of 1,000
//!    clients (end to end, printed `EMIT THROUGHPUT`), with the emitter's hand-off beside it.
//! 2. Raw emit throughput, no fan-out: `emit_batch` of 20,000 messages (1,000 a call) to a
//!    room of one client, recorded (`native-history`) against not (`native-rooms`): bound by
//!    Redis's time per command (see benches/README.md).
//! 3. The time to replay 10,000 missed messages to one client: from its `auth` with the
//!    offset to its `recovery` frame.
//!
//! Each round measures off and on back to back, which one first swapped every round (the
//! side measured second meets more of a rising or falling load); each ratio is the median of
//! the per-round ratios. Run with `cargo bench --bench history`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use common::fleet::{client, cpu_seconds, wait_count, Instance, WAIT};
use common::servers::Redis;
use common::{load_average, median, round_count, verdict, Res};
use symple::history::Settings;
use symple::{Emitter, Target};

const FANOUT_CLIENTS: usize = 1000;
const FANOUT_MESSAGES: usize = 2000;
const EMIT_MESSAGES: usize = 20_000;
const EMIT_BATCH: usize = 1000;
const MISSED: usize = 10_000;
const ROUNDS: usize = 5;

fn main() {
    common::run_async("history", run());
}

fn target(history: bool) -> Target {
    if history {
        Target::NativeHistory(Settings::default())
    } else {
        Target::NativeRooms
    }
}

fn flags(history: bool) -> &'static [&'static str] {
    if history {
        &["--history", "big"]
    } else {
        &[]
    }
}

fn numbered(n: usize) -> symple::Message {
    symple::Message::new(json!({"n": n, "text": "a chat message of some forty characters"}))
}

/// Who sends the fan-out's messages.
#[derive(Clone, Copy, Debug)]
enum Source {
    Emitter,
    Client,
}

/// One fan-out round's figures.
struct Fanout {
    /// Deliveries per second, until every client had every message.
    rate: f64,
    /// The instance's CPU time per delivery (ns).
    ns: f64,
    /// Messages per second the emitter handed to Redis (until `emit_batch` returned: Redis
    /// acknowledged them all); the client's sends for `Source::Client`.
    handed: f64,
}

/// Deliveries per second to FANOUT_CLIENTS clients in one room of one instance, the
/// instance's CPU time per delivery, and the sender's hand-off rate.
async fn fanout_round(bin: &Path, history: bool, source: Source) -> Res<Fanout> {
    let redis = Redis::start();
    let url = redis.url();
    let inst = Instance::start(bin, &url, flags(history))?;
    inst.wait_up().await?;
    let count = Arc::new(AtomicU64::new(0));
    let mut keep = Vec::new();
    for c in 0..FANOUT_CLIENTS {
        keep.push(client(&inst.addr, &format!("f{c}"), "big", count.clone()).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    count.store(0, Ordering::Relaxed);
    let cpu = cpu_seconds(inst.child.id())?;
    let start = Instant::now();
    let handed;
    let want = match source {
        Source::Emitter => {
            let e = Emitter::builder(url.clone())
                .target(target(history))
                .connect()?
                .to("big");
            // The connection is open (and the script loaded) before the clock starts.
            let start = Instant::now();
            e.emit_batch((0..FANOUT_MESSAGES).map(numbered))?;
            handed = FANOUT_MESSAGES as f64 / start.elapsed().as_secs_f64();
            FANOUT_CLIENTS * FANOUT_MESSAGES
        }
        Source::Client => {
            // The first client sends; it does not get its own.
            let tx = &mut keep[0];
            for n in 0..FANOUT_MESSAGES {
                let m = json!({"type": "message", "to": "big", "data": {"n": n}});
                tx.feed(Message::text(m.to_string())).await?;
            }
            tx.flush().await?;
            handed = FANOUT_MESSAGES as f64 / start.elapsed().as_secs_f64();
            (FANOUT_CLIENTS - 1) * FANOUT_MESSAGES
        }
    };
    wait_count(&count, want as u64).await?;
    let deliveries = want as f64;
    let rate = deliveries / start.elapsed().as_secs_f64();
    let ns = (cpu_seconds(inst.child.id())? - cpu) * 1e9 / deliveries;
    Ok(Fanout { rate, ns, handed })
}

/// Messages per second `emit_batch` hands to Redis (and Redis acknowledges), with an
/// instance holding one client in the room.
async fn emit_round(bin: &Path, history: bool) -> Res<f64> {
    let redis = Redis::start();
    let url = redis.url();
    let inst = Instance::start(bin, &url, flags(history))?;
    inst.wait_up().await?;
    let count = Arc::new(AtomicU64::new(0));
    let _keep = client(&inst.addr, "one", "big", count.clone()).await?;
    let e = Emitter::builder(url.clone())
        .target(target(history))
        .connect()?
        .to("big");
    let batches: Vec<Vec<symple::Message>> = (0..EMIT_MESSAGES / EMIT_BATCH)
        .map(|b| {
            (0..EMIT_BATCH)
                .map(|i| numbered(b * EMIT_BATCH + i))
                .collect()
        })
        .collect();
    // Warm-up: one batch.
    e.emit_batch(batches[0].clone())?;
    let start = Instant::now();
    for b in batches {
        e.emit_batch(b)?;
    }
    let rate = EMIT_MESSAGES as f64 / start.elapsed().as_secs_f64();
    // Everything reached the client: nothing was dropped on the way.
    wait_count(&count, (EMIT_MESSAGES + EMIT_BATCH) as u64).await?;
    Ok(rate)
}

/// A client's frames, bounded.
async fn next_frame(
    rx: &mut futures_util::stream::SplitStream<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
) -> Res<Value> {
    loop {
        match tokio::time::timeout(WAIT, rx.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Ok(serde_json::from_str(&t)?),
            Ok(Some(Ok(_))) => continue,
            other => return Err(format!("no frame: {other:?}").into()),
        }
    }
}

/// Seconds from a reconnecting client's `auth` (with its offset) to its `recovery` frame,
/// MISSED messages replayed.
async fn replay_round(bin: &Path) -> Res<f64> {
    let redis = Redis::start();
    let url = redis.url();
    let size = (MISSED * 2).to_string();
    let inst = Instance::start(bin, &url, &["--history", "big", "--history-size", &size])?;
    inst.wait_up().await?;
    let connect = |recover: Value| {
        let addr = inst.addr.clone();
        async move {
            let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await?;
            let (mut tx, mut rx) = ws.split();
            let auth =
                json!({"type": "auth", "user": "x", "rooms": ["big"], "recover": {"big": recover}});
            tx.send(Message::text(auth.to_string())).await?;
            let mut messages = 0usize;
            loop {
                let v = next_frame(&mut rx).await?;
                match v["type"].as_str() {
                    Some("message") => messages += 1,
                    Some("recovery") => return Res::Ok((v, messages, tx)),
                    _ => {}
                }
            }
        }
    };
    let (first, _, tx) = connect(Value::Null).await?;
    let offset = first["rooms"]["big"]["offset"].clone();
    drop(tx);
    let settings = Settings {
        size: MISSED as u64 * 2,
        ..Settings::default()
    };
    let e = Emitter::builder(url.clone())
        .target(Target::NativeHistory(settings))
        .connect()?
        .to("big");
    for b in 0..MISSED / EMIT_BATCH {
        e.emit_batch((0..EMIT_BATCH).map(|i| numbered(b * EMIT_BATCH + i)))?;
    }
    let start = Instant::now();
    let (answer, messages, _tx) = connect(offset).await?;
    let took = start.elapsed().as_secs_f64();
    let room = &answer["rooms"]["big"];
    if room["recovered"] != true || room["replayed"] != MISSED || messages != MISSED {
        return Err(format!("replayed {messages} messages, answer {room}").into());
    }
    Ok(took)
}

/// History off and on, back to back, the first swapped every round (the side measured
/// second meets more of a rising or falling load); gives (off, on).
async fn back_to_back<T, F: std::future::Future<Output = Res<T>>>(
    round: usize,
    mut side: impl FnMut(bool) -> F,
) -> Res<(T, T)> {
    if round % 2 == 0 {
        let off = side(false).await?;
        Ok((off, side(true).await?))
    } else {
        let on = side(true).await?;
        Ok((side(false).await?, on))
    }
}

async fn run() -> Res<()> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_symple"));
    let rounds = round_count(ROUNDS);
    println!(
        "history bench, {rounds} rounds, off and on back to back (load {})",
        load_average()
    );
    let mut summary = Vec::new();
    let mut emit_lines = Vec::new();
    for source in [Source::Emitter, Source::Client] {
        let (mut ratios, mut cpu_ratios, mut off, mut on) = (vec![], vec![], vec![], vec![]);
        let (mut handed_ratios, mut handed_off, mut handed_on) = (vec![], vec![], vec![]);
        for round in 0..rounds {
            let (b, o) = back_to_back(round, |on| fanout_round(&bin, on, source)).await?;
            println!(
                "  fan-out ({source:?}) round: off {:.0}/s ({:.0} ns CPU per delivery, sender {:.0} msg/s), on {:.0}/s ({:.0} ns, sender {:.0} msg/s), on / off {:.2}",
                b.rate, b.ns, b.handed, o.rate, o.ns, o.handed,
                o.rate / b.rate
            );
            ratios.push(o.rate / b.rate);
            cpu_ratios.push(b.ns / o.ns);
            off.push(b.rate);
            on.push(o.rate);
            handed_ratios.push(o.handed / b.handed);
            handed_off.push(b.handed);
            handed_on.push(o.handed);
        }
        let ratio = median(ratios.clone());
        if let Source::Emitter = source {
            // The Done-when line: the same rounds, in messages.
            let per = FANOUT_CLIENTS as f64;
            emit_lines.push(format!(
                "EMIT THROUGHPUT, one room of {FANOUT_CLIENTS} clients connected (end to end: emit_batch of {FANOUT_MESSAGES} until every client had every message): history on {:.0} msg/s, off {:.0} msg/s (medians): ratio {ratio:.2}, target >= 0.8: {}",
                median(on.clone()) / per,
                median(off.clone()) / per,
                verdict(ratio >= 0.8)
            ));
            let handed = median(handed_ratios);
            emit_lines.push(format!(
                "  the emitter's hand-off in those rounds (emit_batch returned, Redis acknowledged; the fan-out still running): on {:.0} msg/s, off {:.0} msg/s: ratio {handed:.2}",
                median(handed_on),
                median(handed_off)
            ));
        }
        summary.push(format!(
            "fan-out to {FANOUT_CLIENTS} clients in one room, {FANOUT_MESSAGES} messages from the {}: history on {:.0}/s, off {:.0}/s (medians): ratio {ratio:.2}, target >= 0.8: {}; server CPU per delivery off / on {:.2}",
            match source {
                Source::Emitter => "emitter",
                Source::Client => "client",
            },
            median(on),
            median(off),
            verdict(ratio >= 0.8),
            median(cpu_ratios)
        ));
    }
    let (mut ratios, mut off, mut on) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let (b, o) = back_to_back(round, |on| emit_round(&bin, on)).await?;
        println!(
            "  emit round: native-rooms {b:.0}/s, native-history {o:.0}/s, ratio {:.2}",
            o / b
        );
        ratios.push(o / b);
        off.push(b);
        on.push(o);
    }
    let ratio = median(ratios);
    emit_lines.push(format!(
        "  raw emit, no fan-out (emit_batch x{EMIT_BATCH}, {EMIT_MESSAGES} messages to a room of one client, until Redis acknowledged; Redis-bound): native-history {:.0}/s, native-rooms {:.0}/s (medians): ratio {ratio:.2} (not the target's measure: a PUBLISH costs Redis far less than the record script)",
        median(on),
        median(off),
    ));
    summary.append(&mut emit_lines);
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = replay_round(&bin).await?;
        println!("  replay round: {MISSED} messages in {:.0} ms", t * 1e3);
        times.push(t);
    }
    let t = median(times);
    summary.push(format!(
        "replay of {MISSED} missed messages to one client (auth to recovery frame): {:.0} ms (median), {:.0} messages/s",
        t * 1e3,
        MISSED as f64 / t
    ));
    println!("(load after the rounds {})", load_average());
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
