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

use common::{load_average, median, require, verdict, Res};

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

/// What one round measured: messages per second, and CPU per message (µs) spent by this
/// process (the emitter) and by every redis-server of the deployment.
#[derive(Clone, Copy)]
struct Round {
    rate: f64,
    client_us: f64,
    redis_us: f64,
}

/// Runs `send` (which emits N messages) against `redis` and measures it.
fn measure(redis: &Redis, send: impl FnOnce() -> Res<()>) -> Res<Round> {
    // The admin reads of the servers' CPU stay outside the emitter's measured span.
    let r0 = redis_cpu(redis)?;
    let c0 = process_cpu();
    let t = Instant::now();
    send()?;
    let secs = t.elapsed().as_secs_f64();
    let c1 = process_cpu();
    let r1 = redis_cpu(redis)?;
    let per_msg = |a: f64, b: f64| (b - a) * 1e6 / N as f64;
    Ok(Round {
        rate: N as f64 / secs,
        client_us: per_msg(c0, c1),
        redis_us: per_msg(r0, r1),
    })
}

/// `emit_batch` of N messages in batches of BATCH.
fn batch_round(redis: &Redis, e: &Emitter, msg: &Object) -> Res<Round> {
    let batches: Vec<Vec<Object>> = (0..N / BATCH).map(|_| vec![msg.clone(); BATCH]).collect();
    measure(redis, || {
        for b in batches {
            e.emit_batch(b)?;
        }
        Ok(())
    })
}

/// N queued emits and a flush.
fn queued_round(redis: &Redis, e: &Emitter, msg: &Object) -> Res<Round> {
    let objects = vec![msg.clone(); N];
    measure(redis, || {
        for o in objects {
            e.emit(o)?;
        }
        Ok(e.flush()?)
    })
}

/// CPU seconds (user + system) this process has used, every thread included.
fn process_cpu() -> f64 {
    // SAFETY: getrusage writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// CPU seconds used by every node of `redis` (`INFO cpu`), summed.
fn redis_cpu(redis: &Redis) -> Res<f64> {
    let mut total = 0.0;
    for i in 0..redis.nodes.len() {
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .query(&mut redis.node_conn(i))?;
        for line in info.lines() {
            if let Some((k, v)) = line.trim().split_once(':') {
                if k == "used_cpu_sys" || k == "used_cpu_user" {
                    total += v.parse::<f64>()?;
                }
            }
        }
    }
    Ok(total)
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
            "sharded (SPUBLISH)",
            Target::SocketIoSharded(Default::default()),
        ),
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
        type RoundFn = fn(&Redis, &Emitter, &Object) -> Res<Round>;
        for (mode, round, one, cl) in [
            (
                format!("emit_batch x{BATCH}"),
                batch_round as RoundFn,
                &one_batch,
                &cl_batch,
            ),
            (
                "queued emit+flush".to_owned(),
                queued_round,
                &one_queued,
                &cl_queued,
            ),
        ] {
            // (one node, cluster), round after round.
            let pairs = (0..rounds)
                .map(|_| Ok((round(&single, one, &msg)?, round(&cluster, cl, &msg)?)))
                .collect::<Res<Vec<(Round, Round)>>>()?;
            let med = |f: &dyn Fn(&(Round, Round)) -> f64| median(pairs.iter().map(f).collect());
            let cost: Vec<f64> = pairs
                .iter()
                .map(|(o, c)| o.client_us / c.client_us)
                .collect();
            let ratio = median(cost.clone());
            println!("  {name}, {mode}:");
            println!(
                "    emitter CPU per message: cluster {:.2} us, one node {:.2} us; one node/cluster {ratio:.2}x (rounds {}) target >= {TARGET}x {}",
                med(&|(_, c)| c.client_us),
                med(&|(o, _)| o.client_us),
                cost.iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                verdict(ratio >= TARGET)
            );
            println!(
                "    wall clock (information): cluster {:.0}k msg/s, one node {:.0}k msg/s, {:.2}x; \
                 redis-servers CPU per message: cluster {:.2} us, one node {:.2} us",
                med(&|(_, c)| c.rate) / 1e3,
                med(&|(o, _)| o.rate) / 1e3,
                med(&|(o, c)| c.rate / o.rate),
                med(&|(_, c)| c.redis_us),
                med(&|(o, _)| o.redis_us),
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
