//! Emitting to a Redis Cluster against emitting to one node, in one run, for the classic
//! Socket.IO target (PUBLISH), the sharded one (SPUBLISH, routed by its channel's slot) and the
//! Streams one (XADD, routed by its key's slot), each with `emit_batch` and with the queued
//! writer:
//!
//! - judged: the emitter's own work per message, in instructions counted by callgrind (one
//!   node ÷ cluster, target ≥ 0.8×: slot routing costs nothing that matters). Counted, so the
//!   load of a shared machine does not move it: this binary re-runs itself under
//!   `valgrind --tool=callgrind` (`--probe`) for a short and a long run of each case and takes
//!   the difference, so start-up and connecting cancel out.
//! - information: the emitter's CPU time per message, the messages per second, and the CPU
//!   every redis-server spent per message. On one machine the wall clock is Redis Cluster's own
//!   work: each node forwards every PUBLISH to every other node, and each write goes to a
//!   replica too; no client can avoid that, and a real cluster spreads it over machines.
//!
//! Then how the `socketio-sharded` target spreads rooms over the cluster's masters: one message
//! to each of 1,000 rooms, counted on each master (`INFO commandstats`); in the adapter's
//! `dynamic` mode each room has a channel of its own, hashed to a slot, so the target is each
//! master between 25% and 42% of the packets (`static` puts every packet on the namespace's
//! channel, one shard: printed as information).
//!
//! Both Redis deployments come from the tests' fixture (tests/support/servers.rs): one
//! redis-server, and six (3 masters, 3 replicas) on this machine, on CPU 0 while the emitter
//! runs on CPU 1 (`SYMPLE_BENCH_PIN=off`: unpinned). Timed rounds alternate one node, cluster.
//!
//! Run with `cargo bench --bench cluster`; needs `redis-server`, `redis-cli`, `valgrind` and
//! `taskset` on PATH (Debian: redis-server, redis-tools, valgrind, util-linux).

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::servers::{Kind, Redis};
use serde_json::json;
use symple::packet::sharded::{Sharded, SubscriptionMode};
use symple::{Emitter, Message, Object, Target};

use common::{load_average, median, require, verdict, Res};

/// Timed rounds (`SYMPLE_BENCH_ROUNDS` changes it).
const ROUNDS: usize = 5;
/// Messages per timed round.
const N: usize = 100_000;
/// Messages per `emit_batch` call.
const BATCH: usize = 1000;
/// Messages of the short and the long counted run.
const COUNTED: (usize, usize) = (2_000, 12_000);
const TARGET: f64 = 0.8;
/// Rooms of the sharded spread, one message each.
const ROOMS: usize = 1000;
/// Each master's share of the sharded packets must fall in this range (percent).
const SHARE: std::ops::RangeInclusive<f64> = 25.0..=42.0;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("--probe") => probe(&args[2..]),
        _ => run(),
    };
    if let Err(e) = result {
        eprintln!("cluster bench failed: {e}");
        std::process::exit(1);
    }
}

/// The targets compared, by name.
fn targets() -> [(&'static str, Target); 3] {
    [
        ("socket.io (PUBLISH)", Target::default()),
        (
            "sharded (SPUBLISH)",
            Target::SocketIoSharded(Default::default()),
        ),
        (
            "streams (XADD)",
            Target::SocketIoStreams(Default::default()),
        ),
    ]
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Batch,
    Queued,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Batch => "batch",
            Mode::Queued => "queued",
        }
    }

    fn emitter(self, url: &str, target: &Target) -> Res<Emitter> {
        Ok(Emitter::builder(url)
            .target(target.clone())
            .queued(self == Mode::Queued)
            .connect()?)
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

/// `n` messages, made beforehand, in batches of [`BATCH`] (one per message when queued).
fn messages(mode: Mode, n: usize) -> Vec<Vec<Object>> {
    let per = if mode == Mode::Batch { BATCH } else { 1 };
    (0..n / per).map(|_| vec![message(); per]).collect()
}

/// Emits `batches` (`emit_batch` each, or `emit` each message then `flush`).
fn send(e: &Emitter, mode: Mode, batches: impl IntoIterator<Item = Vec<Object>>) -> Res<()> {
    for b in batches {
        match mode {
            Mode::Batch => e.emit_batch(b)?,
            Mode::Queued => {
                for o in b {
                    e.emit(o)?;
                }
            }
        }
    }
    Ok(e.flush()?)
}

/// Under callgrind: `--probe <url> <target index> <batch|queued> <messages>`. Connects, warms
/// up, then emits `messages` of [`COUNTED`]'s long run's worth made beforehand; the ones not
/// sent are leaked, so both runs make and free the same objects and only the sending differs.
fn probe(args: &[String]) -> Res<()> {
    let [url, target, mode, n] = args else {
        return Err("--probe <url> <target index> <batch|queued> <messages>".into());
    };
    let (_, target) = targets()
        .into_iter()
        .nth(target.parse()?)
        .ok_or("no such target")?;
    let mode = if mode == "batch" {
        Mode::Batch
    } else {
        Mode::Queued
    };
    let e = mode.emitter(url, &target)?;
    send(&e, mode, messages(mode, BATCH))?;
    let mut all = messages(mode, COUNTED.1).into_iter();
    let per = if mode == Mode::Batch { BATCH } else { 1 };
    send(&e, mode, all.by_ref().take(n.parse::<usize>()? / per))?;
    std::mem::forget(all);
    Ok(())
}

/// Instructions per message the emitter runs (callgrind), against the Redis at `url`.
fn instructions(url: &str, target: usize, mode: Mode) -> Res<f64> {
    let exe = std::env::current_exe()?;
    let mut counts = Vec::new();
    for n in [COUNTED.0, COUNTED.1] {
        let out = Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args([
                "--probe",
                url,
                &target.to_string(),
                mode.name(),
                &n.to_string(),
            ])
            .stdin(Stdio::null())
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(format!("the callgrind probe failed: {stderr}").into());
        }
        let collected = stderr
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .map(|v| v.trim().replace(',', ""))
            .ok_or_else(|| format!("no instruction count from callgrind: {stderr}"))?;
        counts.push(collected.parse::<f64>()?);
    }
    Ok((counts[1] - counts[0]) / (COUNTED.1 - COUNTED.0) as f64)
}

/// What one timed round measured: messages per second, and CPU per message (µs) spent by
/// this process (the emitter) and by every redis-server of the deployment.
#[derive(Clone, Copy)]
struct Round {
    rate: f64,
    client_us: f64,
    redis_us: f64,
}

/// One timed round of N messages through `e` to `redis`.
fn round(redis: &Redis, e: &Emitter, mode: Mode) -> Res<Round> {
    let batches = messages(mode, N);
    // The admin reads of the servers' CPU stay outside the emitter's measured span.
    let r0 = redis_cpu(redis)?;
    let c0 = process_cpu();
    let t = Instant::now();
    send(e, mode, batches)?;
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

/// Unless `SYMPLE_BENCH_PIN=off` (or one CPU): this process on CPU 1 and every redis-server on
/// CPU 0, so the emitter's CPU time is its own work, not time sharing a core (and its caches)
/// with six busy servers; called before any thread starts, so every thread stays on CPU 1.
fn pin(cpus: usize) -> Res<bool> {
    if cpus < 2 || std::env::var("SYMPLE_BENCH_PIN").as_deref() == Ok("off") {
        return Ok(false);
    }
    require("taskset", "util-linux")?;
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(1, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!("cannot pin to CPU 1: {}", std::io::Error::last_os_error()).into());
        }
    }
    Ok(true)
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
    require("valgrind", "valgrind")?;
    let rounds = common::round_count(ROUNDS);
    // Counted before pinning, which narrows what available_parallelism reports.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pinned = pin(cpus)?;
    let launcher = move || {
        if pinned {
            let mut c = Command::new("taskset");
            c.args(["-c", "0", "redis-server"]);
            c
        } else {
            Command::new("redis-server")
        }
    };
    let single = Redis::start_with(Kind::Plain, Box::new(launcher));
    let cluster = Redis::start_with(Kind::Cluster, Box::new(launcher));
    println!(
        "symple cluster bench: one redis-server vs a 3-master/3-replica cluster on this machine; \
         instructions counted by callgrind ({} and {} messages), then {rounds} timed rounds of \
         {N} messages (medians); {}",
        COUNTED.0,
        COUNTED.1,
        if pinned {
            "redis-servers on CPU 0, the emitter on CPU 1 (SYMPLE_BENCH_PIN=off: unpinned)"
        } else {
            "unpinned"
        }
    );
    for (t, (name, target)) in targets().into_iter().enumerate() {
        for mode in [Mode::Batch, Mode::Queued] {
            let what = match mode {
                Mode::Batch => format!("emit_batch x{BATCH}"),
                Mode::Queued => "queued emit, then flush".to_owned(),
            };
            println!("  {name}, {what}:");
            let one_i = instructions(&single.url(), t, mode)?;
            let cl_i = instructions(&cluster.url(), t, mode)?;
            let ratio = one_i / cl_i;
            println!(
                "    emitter instructions per message: cluster {cl_i:.0}, one node {one_i:.0}; \
                 one node/cluster {ratio:.2}x  target >= {TARGET}x {}",
                verdict(ratio >= TARGET)
            );
            let (one, cl) = (
                mode.emitter(&single.url(), &target)?,
                mode.emitter(&cluster.url(), &target)?,
            );
            // (one node, cluster), round after round.
            let pairs = (0..rounds)
                .map(|_| Ok((round(&single, &one, mode)?, round(&cluster, &cl, mode)?)))
                .collect::<Res<Vec<(Round, Round)>>>()?;
            let med = |f: &dyn Fn(&(Round, Round)) -> f64| median(pairs.iter().map(f).collect());
            println!(
                "    information: emitter CPU per message cluster {:.2} us, one node {:.2} us ({:.2}x); \
                 cluster {:.0}k msg/s, one node {:.0}k msg/s ({:.2}x); \
                 redis-servers CPU per message cluster {:.2} us, one node {:.2} us",
                med(&|(_, c)| c.client_us),
                med(&|(o, _)| o.client_us),
                med(&|(o, c)| o.client_us / c.client_us),
                med(&|(_, c)| c.rate) / 1e3,
                med(&|(o, _)| o.rate) / 1e3,
                med(&|(o, c)| c.rate / o.rate),
                med(&|(_, c)| c.redis_us),
                med(&|(o, _)| o.redis_us),
            );
        }
    }
    sharded_spread(&cluster)?;
    println!("machine: nproc={cpus}, load average {}", load_average());
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
