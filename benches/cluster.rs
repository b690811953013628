//! Emitting to a Redis Cluster against emitting to one node, in one run: `emit_batch` and the
//! queued writer on the classic Socket.IO target (PUBLISH) and on the Streams target (XADD,
//! routed by its key's slot), each printed as a ratio cluster ÷ one node (target ≥ 0.8×: slot
//! routing costs nothing that matters). Then how the `socketio-sharded` target spreads rooms
//! over the cluster's masters: one message to each of 1,000 rooms, counted on each master
//! (`INFO commandstats`); in the adapter's `dynamic` mode each room has a channel of its own,
//! hashed to a slot, so the target is each master between 25% and 42% of the packets
//! (`static` puts every packet on the namespace's channel, one shard: printed as information).
//!
//! Both Redis deployments come from the tests' fixture (tests/support/servers.rs): one
//! redis-server, and six (3 masters, 3 replicas) on the same machine. Rounds alternate one
//! node, cluster, one node, ...; the ratio is the median of the per-round ratios.
//!
//! Run with `cargo bench --bench cluster`; needs `redis-server` and `redis-cli` on PATH.

mod common;

use std::time::Instant;

use common::servers::{Kind, Redis};
use serde_json::json;
use symple::packet::sharded::{Sharded, SubscriptionMode};
use symple::{Emitter, Message, Object, Target};

use common::{load_average, median, require, verdict, Res, Rounds};

/// Alternating rounds (`SYMPLE_BENCH_ROUNDS` raises it).
const ROUNDS: usize = 5;
/// Messages per round.
const N: usize = 100_000;
/// Messages per `emit_batch` call.
const BATCH: usize = 1000;
const TARGET: f64 = 0.8;
/// Rooms of the sharded spread, one message each.
const ROOMS: usize = 1000;
/// Each master's share of the sharded packets must fall in this range (percent).
const SHARE: std::ops::RangeInclusive<f64> = 25.0..=42.0;

fn main() {
    if let Err(e) = run() {
        eprintln!("cluster bench failed: {e}");
        std::process::exit(1);
    }
}

fn message() -> Object {
    match json!({
        "type": "message",
        "from": "rails|worker-1",
        "to": "alice",
        "data": {"text": "Build 4812 passed on main; deploying to staging in five minutes.", "n": 42},
    }) {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("json! object literal"),
    }
}

/// Messages per second for `emit_batch` of N messages in batches.
fn batch_rate(e: &Emitter, msg: &Object) -> Res<f64> {
    let batches: Vec<Vec<Object>> = (0..N / BATCH).map(|_| vec![msg.clone(); BATCH]).collect();
    let t = Instant::now();
    for b in batches {
        e.emit_batch(b)?;
    }
    Ok(N as f64 / t.elapsed().as_secs_f64())
}

/// Messages per second for N queued emits and a flush.
fn queued_rate(e: &Emitter, msg: &Object) -> Res<f64> {
    let objects = vec![msg.clone(); N];
    let t = Instant::now();
    for o in objects {
        e.emit(o)?;
    }
    e.flush()?;
    Ok(N as f64 / t.elapsed().as_secs_f64())
}

fn run() -> Res<()> {
    require("redis-server", "redis-server")?;
    require("redis-cli", "redis-tools")?;
    let rounds = common::round_count(ROUNDS);
    let single = Redis::start_kind(Kind::Plain);
    let cluster = Redis::start_kind(Kind::Cluster);
    println!(
        "symple cluster bench: one redis-server vs a 3-master/3-replica cluster on the same machine, \
         {N} messages per round, {rounds} alternating rounds, medians"
    );
    let msg = message();
    let targets = [
        ("socket.io (PUBLISH)", Target::default()),
        (
            "streams (XADD)",
            Target::SocketIoStreams(Default::default()),
        ),
    ];
    for (name, target) in targets {
        let emitters = |url: String| -> Res<(Emitter, Emitter)> {
            Ok((
                Emitter::builder(&url).target(target.clone()).connect()?,
                Emitter::builder(&url)
                    .target(target.clone())
                    .queued(true)
                    .connect()?,
            ))
        };
        let (one_batch, one_queued) = emitters(single.url())?;
        let (cl_batch, cl_queued) = emitters(cluster.url())?;
        for (mode, rate) in [
            (
                format!("emit_batch x{BATCH}"),
                batch_rate as fn(&Emitter, &Object) -> Res<f64>,
            ),
            ("queued emit+flush".to_owned(), queued_rate),
        ] {
            let (one, cl) = if mode.starts_with("emit_batch") {
                (&one_batch, &cl_batch)
            } else {
                (&one_queued, &cl_queued)
            };
            let rs = Rounds::alternate(rounds, || rate(one, &msg), || rate(cl, &msg))?;
            let r = rs.ratio();
            println!(
                "  {name:<20} {mode:<18} cluster/one node {r:.2}x ({:.0}k vs {:.0}k msg/s; rounds {}) target >= {TARGET}x {}",
                median(rs.ours.clone()) / 1e3,
                median(rs.base.clone()) / 1e3,
                rs.ratios
                    .iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                verdict(r >= TARGET)
            );
        }
    }
    sharded_spread(&cluster)?;
    println!(
        "machine: nproc={}, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!("command: cargo bench --bench cluster");
    Ok(())
}

/// One message to each of [`ROOMS`] rooms through the sharded target, in one batch, and the
/// share of the SPUBLISH calls each master ran. Counts, not timings: load does not move them.
fn sharded_spread(cluster: &Redis) -> Res<()> {
    let masters: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| is_master(cluster, i))
        .collect();
    println!(
        "sharded target: {ROOMS} rooms (room-0 .. room-{}), one message each, over {} masters",
        ROOMS - 1,
        masters.len()
    );
    for (mode, judged) in [
        (SubscriptionMode::Dynamic, true),
        (SubscriptionMode::Static, false),
    ] {
        let target = Target::SocketIoSharded(Sharded::default().subscription_mode(mode));
        let emitter = Emitter::builder(cluster.url()).target(target).connect()?;
        let packets = (0..ROOMS)
            .map(|i| {
                emitter
                    .to(format!("room-{i}"))
                    .packet(Message::new(json!({ "n": i })))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let before = spublish_calls(cluster, &masters)?;
        emitter.publish_packets(packets)?;
        let after = spublish_calls(cluster, &masters)?;
        let counts: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        let total: u64 = counts.iter().sum();
        if total != ROOMS as u64 {
            return Err(format!("{total} SPUBLISH counted for {ROOMS} packets").into());
        }
        let shares: Vec<String> = counts
            .iter()
            .map(|&n| {
                let share = 100.0 * n as f64 / ROOMS as f64;
                let mark = if judged {
                    verdict(SHARE.contains(&share))
                } else {
                    "information"
                };
                format!("{n} ({share:.1}%, {mark})")
            })
            .collect();
        println!(
            "  subscription mode {:<16} packets per master: {}{}",
            mode.to_string(),
            shares.join(", "),
            if judged {
                format!("  target: each {}% to {}%", SHARE.start(), SHARE.end())
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

fn is_master(cluster: &Redis, node: usize) -> bool {
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query(&mut cluster.node_conn(node))
        .unwrap_or_default();
    matches!(role.first(), Some(redis::Value::BulkString(b)) if b == b"master")
}

/// `cmdstat_spublish` calls on each of `masters`, in order.
fn spublish_calls(cluster: &Redis, masters: &[usize]) -> Res<Vec<u64>> {
    masters
        .iter()
        .map(|&i| {
            let stats: String = redis::cmd("INFO")
                .arg("commandstats")
                .query(&mut cluster.node_conn(i))?;
            Ok(stats
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_spublish:calls="))
                .and_then(|rest| rest.split(',').next())
                .map_or(Ok(0), str::parse)?)
        })
        .collect()
}
