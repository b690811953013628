//! Interest-based routing against broadcast-to-all, in one run:
//!
//! 1. 4 server instances on one Redis, 400 rooms of 10 clients, each room's members on one
//!    instance, 10 messages per room from one member: what each instance receives from Redis
//!    while they are delivered. Ours counts it itself (`symple_bus_received_total`, rooms and
//!    peers); the baseline (the server before interest routing, which sent every instance
//!    everything on `symple:cluster`) is counted by a subscriber with the same subscription.
//!    Target: each instance ≤ 1/3 of all traffic (ideal 1/4).
//! 2. One instance's fan-out rate to 1,000 clients in one room (emitter packets), ours ÷ the
//!    baseline's; target ≥ 0.95×. Rounds alternate; the ratio is the median.
//!
//! The baseline is the `symple` binary of commit 74da517, given as
//! `SYMPLE_BENCH_BASELINE_BIN` (benches/README.md shows how to build it); without it only our
//! figures are printed. Run with `cargo bench --bench routing`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use common::fleet::{client, cpu_seconds, wait_count, Instance};
use common::servers::Redis;
use common::{load_average, median, round_count, verdict, Res};
use symple::{Emitter, Target};

const INSTANCES: usize = 4;
const ROOMS: usize = 400;
const PER_ROOM: usize = 10;
const PER_ROOM_MESSAGES: usize = 10;
const FANOUT_CLIENTS: usize = 1000;
/// 2,000,000 deliveries a round, a few seconds: with 300 messages (a third of a second) the
/// median of the per-round ratios was 0.79 while the median rates were 0.97 apart.
const FANOUT_MESSAGES: usize = 2000;
const ROUNDS: usize = 5;

fn main() {
    common::run_async("routing", run());
}

/// Counts what is published on `channel` (a subscriber thread, which ends with the process).
fn watch(url: &str, channel: &str) -> Res<Arc<AtomicU64>> {
    let count = Arc::new(AtomicU64::new(0));
    let mut conn = redis::Client::open(url)?.get_connection()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let (n, channel) = (count.clone(), channel.to_owned());
    std::thread::spawn(move || {
        let mut ps = conn.as_pubsub();
        if ps.subscribe(&channel).is_err() {
            return;
        }
        let _ = tx.send(());
        while ps.get_message().is_ok() {
            n.fetch_add(1, Ordering::Relaxed);
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .map_err(|_| "cannot subscribe")?;
    Ok(count)
}

/// What each instance received from Redis while the rooms' messages were delivered.
async fn rooms_round(bin: &Path, baseline: bool) -> Res<Vec<u64>> {
    let redis = Redis::start();
    let url = redis.url();
    let instances: Vec<Instance> = (0..INSTANCES)
        .map(|_| Instance::start(bin, &url, &[]))
        .collect::<Res<_>>()?;
    for i in &instances {
        i.wait_up().await?;
    }
    let count = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for r in 0..ROOMS {
        let inst = &instances[r % INSTANCES];
        for m in 0..PER_ROOM {
            let tx = client(
                &inst.addr,
                &format!("u{r}-{m}"),
                &format!("room{r}"),
                count.clone(),
            )
            .await?;
            if m == 0 {
                senders.push(tx);
            }
        }
    }
    // Presence and rosters settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let classes = |i: &Instance| -> Res<u64> {
        Ok(i.metric("symple_bus_received_total{class=\"room\"}")?
            + i.metric("symple_bus_received_total{class=\"peer\"}")?)
    };
    // The baseline's instances all subscribe to symple:cluster: count what it carries.
    let watcher = if baseline {
        Some(watch(&url, "symple:cluster")?)
    } else {
        None
    };
    let before: Vec<u64> = instances.iter().map(classes).collect::<Res<_>>()?;
    for k in 0..PER_ROOM_MESSAGES {
        for (r, tx) in senders.iter_mut().enumerate() {
            tx.send(Message::text(
                json!({"type": "message", "to": [format!("room{r}")], "data": {"n": k}})
                    .to_string(),
            ))
            .await?;
        }
    }
    let want = (ROOMS * (PER_ROOM - 1) * PER_ROOM_MESSAGES) as u64;
    wait_count(&count, want).await?;
    Ok(match watcher {
        Some(w) => {
            tokio::time::sleep(Duration::from_millis(500)).await;
            vec![w.load(Ordering::Relaxed); INSTANCES]
        }
        None => instances
            .iter()
            .zip(before)
            .map(|(i, b)| Ok(classes(i)? - b))
            .collect::<Res<_>>()?,
    })
}

/// Deliveries per second to FANOUT_CLIENTS clients in one room of one instance, and the
/// instance's CPU time per delivery (ns): the second is less at the mercy of other jobs.
async fn fanout_round(bin: &Path) -> Res<(f64, f64)> {
    let redis = Redis::start();
    let url = redis.url();
    let inst = Instance::start(bin, &url, &[])?;
    inst.wait_up().await?;
    let count = Arc::new(AtomicU64::new(0));
    let mut keep = Vec::new();
    for c in 0..FANOUT_CLIENTS {
        keep.push(client(&inst.addr, &format!("f{c}"), "big", count.clone()).await?);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    count.store(0, Ordering::Relaxed);
    let e = Emitter::builder(url.clone())
        .target(Target::Native)
        .connect()?;
    let cpu = cpu_seconds(inst.child.id())?;
    let start = Instant::now();
    let batch: Vec<_> = (0..FANOUT_MESSAGES)
        .map(|n| symple::Message::new(json!({"n": n})).to(symple::To::Rooms(vec!["big".into()])))
        .collect();
    e.emit_batch(batch)?;
    wait_count(&count, (FANOUT_CLIENTS * FANOUT_MESSAGES) as u64).await?;
    let deliveries = (FANOUT_CLIENTS * FANOUT_MESSAGES) as f64;
    let rate = deliveries / start.elapsed().as_secs_f64();
    let ns = (cpu_seconds(inst.child.id())? - cpu) * 1e9 / deliveries;
    Ok((rate, ns))
}

async fn run() -> Res<()> {
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_symple"));
    let baseline = std::env::var_os("SYMPLE_BENCH_BASELINE_BIN").map(PathBuf::from);
    println!("routing bench (load {})", load_average());
    let total = (ROOMS * PER_ROOM_MESSAGES) as f64;
    let mut runs = vec![("interest-based (ours)", ours.clone(), false)];
    if let Some(b) = &baseline {
        runs.push(("broadcast-to-all (baseline)", b.clone(), true));
    }
    let mut worst = 0.0f64;
    for (name, bin, is_base) in &runs {
        let got = rooms_round(bin, *is_base).await?;
        let shares: Vec<String> = got
            .iter()
            .map(|n| format!("{n} ({:.0}%)", 100.0 * *n as f64 / total))
            .collect();
        println!(
            "{INSTANCES} instances, {ROOMS} rooms x {PER_ROOM} clients, {total} messages: {name}: received from Redis per instance: {}",
            shares.join(", ")
        );
        if !is_base {
            worst = got.iter().map(|n| *n as f64 / total).fold(0.0, f64::max);
        }
    }
    println!(
        "  largest share (ours): {:.2} of all traffic, target <= 0.33 (ideal 0.25): {}",
        worst,
        verdict(worst <= 1.0 / 3.0)
    );
    let Some(base) = baseline else {
        println!("fan-out: set SYMPLE_BENCH_BASELINE_BIN to compare with the baseline");
        let (r, _) = fanout_round(&ours).await?;
        println!("fan-out to {FANOUT_CLIENTS} clients: ours {r:.0} deliveries/s");
        return Ok(());
    };
    let mut ratios = Vec::new();
    let mut cpu_ratios = Vec::new();
    let mut rates: HashMap<&str, Vec<f64>> = HashMap::new();
    for round in 0..round_count(ROUNDS) {
        // Whichever runs second meets more of a load that is rising or falling: swap the
        // order every round so neither side always has it.
        let ((b, b_ns), (o, o_ns)) = if round % 2 == 0 {
            let b = fanout_round(&base).await?;
            (b, fanout_round(&ours).await?)
        } else {
            let o = fanout_round(&ours).await?;
            (fanout_round(&base).await?, o)
        };
        println!("  server CPU per delivery: baseline {b_ns:.0} ns, ours {o_ns:.0} ns, baseline / ours {:.2}", b_ns / o_ns);
        cpu_ratios.push(b_ns / o_ns);
        rates.entry("baseline").or_default().push(b);
        rates.entry("ours").or_default().push(o);
        println!(
            "  fan-out round: baseline {b:.0}/s, ours {o:.0}/s, ratio {:.2}",
            o / b
        );
        ratios.push(o / b);
    }
    let ratio = median(ratios);
    println!("  (load after the rounds {})", load_average());
    println!(
        "server CPU per delivery, baseline / ours (median, > 1: ours cheaper): {:.2}",
        median(cpu_ratios)
    );
    println!(
        "fan-out to {FANOUT_CLIENTS} clients in one room, {FANOUT_MESSAGES} messages: ours {:.0}/s, baseline {:.0}/s (medians): ratio {ratio:.2}, target >= 0.95: {}",
        median(rates["ours"].clone()),
        median(rates["baseline"].clone()),
        verdict(ratio >= 0.95)
    );
    Ok(())
}
