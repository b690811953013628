//! Emitter throughput against a private `redis-server`, each figure a ratio against
//! `redis-benchmark` publishing the same bytes on the same channel in the same run, and
//! against socketioxide-emitter 0.1 (the Rust Socket.IO stack's emitter, benches/socketioxide)
//! publishing the same message.
//!
//! Run with `cargo bench --bench emit`; needs `redis-server` and `redis-benchmark` (Debian
//! packages redis-server and redis-tools) on PATH, and builds benches/socketioxide on first
//! use. See benches/README.md.
//!
//! Machines are shared and noisy, so throughput is never judged in absolute terms: each round
//! runs the baseline and then ours back to back, and the reported ratio is the median of the
//! per-round ratios. Only encoding, which involves no I/O, has an absolute target. Missed
//! targets are printed, never turned into a failing exit code.

mod common;

use std::ffi::OsStr;
use std::hint::black_box;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use symple::packet::native::{self, Fill};
use symple::packet::socketio::{Broadcast, Server};
use symple::packet::Adapter;
use symple::redis::Publisher;
use symple::{Emitter, Object, Packet, Room, Target};

use common::servers::{Kind, Redis};
use common::{load_average, median, require, verdict, Res};

/// Alternating rounds per figure (baseline, ours, baseline, ours, ...); `SYMPLE_BENCH_ROUNDS`
/// changes it. Five: single pipelined rounds range from 0.5x to 1.0x on a shared 2-core
/// machine, too wide for a median of three.
const ROUNDS: usize = 5;
/// Packets per encode round.
const ENCODE_N: usize = 200_000;
/// Packets per round when every PUBLISH waits for its reply: about a second each on loopback.
const BLOCKING_N: usize = 20_000;
/// Packets per round in the pipelined modes.
const PIPELINED_N: usize = 100_000;
/// Messages per `emit_batch` call.
const BATCH: usize = 1000;
/// redis-benchmark's pipeline depth for the pipelined baselines the targets refer to.
const BASELINE_PIPELINE: usize = 16;
/// A second baseline at about the depth our pipelined modes reach (`emit_batch` sends a whole
/// batch per round trip; the queued writer up to 1024); also socketioxide-emitter's number of
/// emits in flight.
const SAME_DEPTH_PIPELINE: usize = BATCH;
/// Targets: against redis-benchmark at -P1 / -P16 / the same depth, and socketioxide-emitter.
const BLOCKING_TARGET: f64 = 0.90;
const PIPELINED_TARGET: f64 = 0.80;
const SAME_DEPTH_TARGET: f64 = 0.80;
const SOCKETIOXIDE_TARGET: f64 = 1.0;
/// The emit path (id + route + encode) per packet, pinned.
const EMIT_PATH_TARGET_NS: f64 = 300.0;
/// Target size of the native (JSON) packet, in bytes.
const PAYLOAD_BYTES: usize = 200;

const BENCH_COMMAND: &str = "CARGO_TARGET_DIR=/tmp/bench-target cargo bench --bench emit";

fn main() {
    if let Err(e) = run() {
        eprintln!("emit bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let only = std::env::var("SYMPLE_BENCH_ONLY").unwrap_or_default();
    match only.as_str() {
        "" | "ours" | "pipelined" => {}
        "encode" => return encode_only(),
        other => {
            return Err(format!("SYMPLE_BENCH_ONLY={other}: use encode, ours or pipelined").into())
        }
    }
    // Our side alone (no baselines, no encode table): for profiling, e.g. under callgrind.
    let only_ours = only == "ours";
    // The pipelined modes against `-P 1000` alone (no encode table, no blocking line, no
    // socketioxide peer): a short run for comparing two builds of the queued writer.
    let only_pipelined = only == "pipelined";
    require("redis-server", "redis-server")?;
    let benchmark_version = require("redis-benchmark", "redis-tools")?;
    // Counted before pinning, which narrows what available_parallelism reports.
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    // Built before pinning, so the build has every CPU.
    let peer = if only_ours || only_pipelined {
        std::path::PathBuf::new()
    } else {
        common::socketioxide_peer()?
    };
    let pin = Pin::from_env()?;
    // Before any thread exists, so the writer threads inherit the CPU too.
    pin.this_process()?;
    let launcher_pin = pin;
    let redis = Redis::start_with(
        Kind::Plain,
        Box::new(move || launcher_pin.command(launcher_pin.server_cpu(), "redis-server")),
    );
    let url = format!("redis://127.0.0.1:{}", redis.port);

    let msg = message(PAYLOAD_BYTES)?;
    let blocking_native = Emitter::builder(&url).target(Target::Native).connect()?;
    let blocking_sio = Emitter::builder(&url).connect()?;
    let queued_native = Emitter::builder(&url)
        .target(Target::Native)
        .queued(true)
        .connect()?;
    let queued_sio = Emitter::builder(&url).queued(true).connect()?;

    println!(
        "symple emit bench: redis-server on 127.0.0.1:{}, {} alternating rounds, medians",
        redis.port,
        round_count()
    );
    println!();

    if !only_ours && !only_pipelined {
        encode_table(&msg, &blocking_native, &blocking_sio)?;
    }

    let targets = [
        ("native", &blocking_native, &queued_native),
        ("socket.io", &blocking_sio, &queued_sio),
    ];
    // SYMPLE_BENCH_TARGET=native|socket.io runs one target only (for profiling).
    let only_target = std::env::var("SYMPLE_BENCH_TARGET").unwrap_or_default();
    for (name, blocking, queued) in targets {
        if !only_target.is_empty() && only_target != name {
            continue;
        }
        // The exact channel and bytes `emit` publishes (a fresh id each time, same length).
        let sample = blocking.packet(msg.clone())?;
        let kind = if name == "native" { "JSON" } else { "msgpack" };
        println!();
        println!(
            "{name} target: {} B {kind} on {}",
            sample.payload.len(),
            sample.channel
        );
        // A NUL cannot travel in argv, so redis-benchmark could not publish these bytes.
        let baseline = if sample.payload.contains(&0) {
            let json = json_stand_in(&blocking_native, &msg, sample.payload.len())?;
            println!(
                "  payload has a NUL byte: baseline publishes {} B of JSON on {} instead",
                json.payload.len(),
                json.channel
            );
            json
        } else {
            println!("  baseline: redis-benchmark publishes these same bytes on the same channel");
            sample
        };
        // socketioxide-emitter gets the message as our emit publishes it (with `id` and
        // `from`), to the same room.
        let mut peer_msg = msg.clone();
        peer_msg.insert("id".into(), Value::String(symple::id::message_id().into()));
        peer_msg.insert("from".into(), Value::String("server".into()));
        let bench = Baseline {
            port: redis.port,
            redis_pid: redis.nodes[0].pid(),
            packet: &baseline,
            pin: &pin,
            peer: &peer,
            peer_message: Value::Object(peer_msg).to_string(),
        };
        if !only_ours && !only_pipelined {
            let (peer_bytes, peer_channel) = bench.peer_sample()?;
            println!(
                "  socketioxide-emitter: the same message (with id and from) to room alice, \
                 {peer_bytes} B (its request envelope around Socket.IO's JSON encoding) on \
                 {peer_channel}"
            );
        }
        let probes = |p: &[Probe]| if only_ours { Vec::new() } else { p.to_vec() };

        // The caller's message is built before the clock starts and lent to `emit` (building
        // and freeing messages is the caller's cost; the baselines have none either). One
        // message lent again and again stays in cache, as a message just built would.
        if !only_pipelined {
            let r = compare(
                &bench,
                &probes(&[Probe::Benchmark(1), Probe::PeerOne]),
                BLOCKING_N,
                || timed_blocking(blocking, &msg),
            )?;
            r.print("blocking emit", &[BLOCKING_TARGET, SOCKETIOXIDE_TARGET]);
        }

        let (pipelined, pipelined_targets) = if only_pipelined {
            (
                vec![Probe::Benchmark(SAME_DEPTH_PIPELINE)],
                vec![SAME_DEPTH_TARGET],
            )
        } else {
            (
                vec![
                    Probe::Benchmark(BASELINE_PIPELINE),
                    Probe::Benchmark(SAME_DEPTH_PIPELINE),
                    Probe::PeerPipelined(SAME_DEPTH_PIPELINE),
                ],
                vec![PIPELINED_TARGET, SAME_DEPTH_TARGET, SOCKETIOXIDE_TARGET],
            )
        };
        let r = compare(&bench, &probes(&pipelined), PIPELINED_N, || {
            timed_batches(blocking, &msg)
        })?;
        r.print(&format!("emit_batch x{BATCH}"), &pipelined_targets);

        let r = compare(&bench, &probes(&pipelined), PIPELINED_N, || {
            timed_queued(queued, &msg)
        })?;
        r.print("queued emit+flush", &pipelined_targets);
    }

    println!();
    println!(
        "ratio = median of per-round ours/baseline (rounds listed); rates are per-side medians"
    );
    println!(
        "machine: nproc={nproc}, load average {}, {}, {}",
        load_average(),
        benchmark_version.trim(),
        pin.describe(),
    );
    println!("command: {BENCH_COMMAND}");
    Ok(())
}

/// The encode table alone, with no Redis and no peer (`SYMPLE_BENCH_ONLY=encode`): quick, and
/// what `valgrind --tool=callgrind` runs to count instructions per packet (see
/// benches/README.md). `SYMPLE_BENCH_ENCODE_N` sets the packets per round.
fn encode_only() -> Res<()> {
    // Pinned as the full run is (SYMPLE_BENCH_PIN=same: CPU 0), so its figures compare.
    let pin = Pin::from_env()?;
    pin.this_process()?;
    let discard: Arc<dyn Publisher> = Arc::new(Discard);
    let native_emitter = Emitter::with_publisher(discard.clone(), Target::Native);
    let sio_emitter = Emitter::with_publisher(discard, Target::default());
    encode_table(&message(PAYLOAD_BYTES)?, &native_emitter, &sio_emitter)?;
    println!("load average {}, {}", load_average(), pin.describe());
    Ok(())
}

/// A publisher that drops every packet: the encode table never publishes.
#[derive(Debug)]
struct Discard;

impl Publisher for Discard {
    fn publish(&self, _: Packet) -> symple::Result<()> {
        Ok(())
    }
    fn publish_batch(&self, _: Vec<Packet>) -> symple::Result<()> {
        Ok(())
    }
}

/// Packets per encode round: `SYMPLE_BENCH_ENCODE_N`, else [`ENCODE_N`].
fn encode_n() -> usize {
    std::env::var("SYMPLE_BENCH_ENCODE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n >= 1000)
        .unwrap_or(ENCODE_N)
}

// The timed loops of our side, each a function of its own so a profiler can single it out
// (`valgrind --tool=callgrind --toggle-collect=emit::timed_batches`, see benches/README.md).

/// `emit` waiting for each reply: messages per second.
#[inline(never)]
fn timed_blocking(emitter: &Emitter, msg: &Object) -> Res<f64> {
    let t = Instant::now();
    for _ in 0..BLOCKING_N {
        emitter.emit(msg)?;
    }
    Ok(BLOCKING_N as f64 / t.elapsed().as_secs_f64())
}

/// `emit_batch` of [`BATCH`] messages per call: messages per second.
#[inline(never)]
fn timed_batches(emitter: &Emitter, msg: &Object) -> Res<f64> {
    let t = Instant::now();
    for _ in 0..PIPELINED_N / BATCH {
        emitter.emit_batch(std::iter::repeat_n(msg, BATCH))?;
    }
    Ok(PIPELINED_N as f64 / t.elapsed().as_secs_f64())
}

/// A queued emitter's `emit`, then `flush`: messages per second.
#[inline(never)]
fn timed_queued(emitter: &Emitter, msg: &Object) -> Res<f64> {
    let t = Instant::now();
    for _ in 0..PIPELINED_N {
        emitter.emit(msg)?;
    }
    emitter.flush()?;
    Ok(PIPELINED_N as f64 / t.elapsed().as_secs_f64())
}

/// A Symple chat message whose native packet (with the id `emit` adds) is about `size` bytes.
/// It has no `id`, so the emit path generates one, as it does for most callers.
fn message(size: usize) -> Res<Object> {
    let build = |text: &str| -> Object {
        let v = json!({
            "type": "message",
            "from": "rails|worker-1",
            "to": "alice",
            "subtype": "chat",
            "data": {"text": text, "room": "team-a", "n": 42},
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("json! object literal"),
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let fill = Fill {
        id: Some(&id),
        from: None,
    };
    let bare = native::encode(&build(""), None, fill)?.payload.len();
    let filler = "Build 4812 passed on main; deploying to staging in five minutes. ";
    let text: String = filler
        .chars()
        .cycle()
        .take(size.saturating_sub(bare))
        .collect();
    Ok(build(&text))
}

/// A JSON packet of `len` bytes on the native channel, for payloads redis-benchmark can't send.
fn json_stand_in(native: &Emitter, base: &Object, len: usize) -> Res<Packet> {
    let mut p = native.packet(base.clone())?;
    // Only the length matters to Redis; pad or cut the JSON text to match.
    p.payload.resize(len, b' ');
    Ok(p)
}

/// Owned messages, built before the clock starts: building them is the caller's cost.
fn copies(base: &Object, n: usize) -> Vec<Object> {
    vec![base.clone(); n]
}

fn encode_table(base: &Object, native_emitter: &Emitter, sio_emitter: &Emitter) -> Res<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let fill = Fill {
        id: Some(&id),
        from: Some("server"),
    };
    // What the Socket.IO encoder receives from the emit path: id filled, rooms from `to`.
    let mut sio_msg = base.clone();
    sio_msg.insert("id".into(), Value::String(id.clone()));
    let sio_arg = [Value::Object(sio_msg)];
    let server = Server::default();
    let mut to_alice = Broadcast::default();
    to_alice.add_rooms([Room::from("alice")]);

    let native_encoder = median(rounds(|| {
        per_packet(encode_n(), || {
            black_box(native::encode(black_box(base), None, fill)?);
            Ok(())
        })
    })?);
    let native_emit = median(rounds(|| emit_path(native_emitter, base))?);
    let native_moved = median(rounds(|| emit_path_moved(native_emitter, base))?);
    let sio_encoder = median(rounds(|| {
        per_packet(encode_n(), || {
            black_box(server.encode_event(&to_alice, "message", black_box(&sio_arg))?);
            Ok(())
        })
    })?);
    let sio_emit = median(rounds(|| emit_path(sio_emitter, base))?);
    let sio_moved = median(rounds(|| emit_path_moved(sio_emitter, base))?);
    // The id alone, since `emit` makes one per message; uuid v4 for comparison.
    let id_ns = median(rounds(|| {
        per_packet(encode_n(), || {
            black_box(symple::id::message_id());
            Ok(())
        })
    })?);
    let uuid = median(rounds(|| {
        per_packet(encode_n(), || {
            black_box(uuid::Uuid::new_v4().to_string());
            Ok(())
        })
    })?);

    println!(
        "encode, ns of CPU per packet: encoder (target < 1000 ns) and emit path = id + route + \
         encode (target <= {EMIT_PATH_TARGET_NS:.0} ns, pinned: SYMPLE_BENCH_PIN=same)"
    );
    for (name, encoder, emit, moved) in [
        ("native JSON", native_encoder, native_emit, native_moved),
        ("socket.io msgpack", sio_encoder, sio_emit, sio_moved),
    ] {
        println!(
            "  {name:<18}  encoder {encoder:>5.0} ns  {:<6}  emit path {emit:>5.0} ns  {:<6}  \
             (message moved in and dropped: {moved:>5.0} ns)",
            verdict(encoder < 1000.0),
            verdict(emit <= EMIT_PATH_TARGET_NS),
        );
    }
    println!(
        "  of which the id: symple::id::message_id() {id_ns:>4.0} ns   \
         (uuid::Uuid::new_v4().to_string(): {uuid:.0} ns)"
    );
    println!("  (encoder: packet::native::encode / Server::encode_event on a ready object;");
    println!("   emit path: Emitter::packet(&message) = message id + route + encode, the packet");
    println!(
        "   dropped: what `emit(&message)` does before Redis; moved in: Emitter::packet(message),"
    );
    println!("   which also frees the caller's message)");
    Ok(())
}

// The encode table times work with no I/O, so it reads this thread's CPU clock: on a busy
// machine the wall clock would also count the time other processes held the CPU.

/// ns per `Emitter::packet(&message)` call, the part of `emit` before Redis.
fn emit_path(emitter: &Emitter, base: &Object) -> Res<f64> {
    let n = encode_n();
    let t = ThreadCpu::now();
    for _ in 0..n {
        black_box(emitter.packet(black_box(base))?);
    }
    Ok(t.elapsed().as_nanos() as f64 / n as f64)
}

/// ns per `Emitter::packet(message)` call on an owned message, which is dropped in the call.
fn emit_path_moved(emitter: &Emitter, base: &Object) -> Res<f64> {
    // Copies are made in chunks outside the clock, small enough to stay in cache.
    const CHUNK: usize = 1000;
    let mut spent = Duration::ZERO;
    for _ in 0..encode_n() / CHUNK {
        let objects = copies(base, CHUNK);
        let t = ThreadCpu::now();
        for o in objects {
            black_box(emitter.packet(black_box(o))?);
        }
        spent += t.elapsed();
    }
    Ok(spent.as_nanos() as f64 / (encode_n() / CHUNK * CHUNK) as f64)
}

fn per_packet(n: usize, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    let t = ThreadCpu::now();
    for _ in 0..n {
        f()?;
    }
    Ok(t.elapsed().as_nanos() as f64 / n as f64)
}

/// This thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`).
struct ThreadCpu(Duration);

impl ThreadCpu {
    fn now() -> ThreadCpu {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ThreadCpu(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    fn elapsed(&self) -> Duration {
        ThreadCpu::now().0.saturating_sub(self.0)
    }
}

fn round_count() -> usize {
    common::round_count(ROUNDS)
}

fn rounds(mut f: impl FnMut() -> Res<f64>) -> Res<Vec<f64>> {
    f()?; // warm-up, discarded
    (0..round_count()).map(|_| f()).collect()
}

/// A baseline run beside ours.
#[derive(Clone, Copy)]
enum Probe {
    /// `redis-benchmark -c 1 -P depth` publishing our packet's bytes.
    Benchmark(usize),
    /// socketioxide-emitter, each emit awaited.
    PeerOne,
    /// socketioxide-emitter, this many emits in flight.
    PeerPipelined(usize),
}

impl Probe {
    fn label(self) -> String {
        match self {
            Probe::Benchmark(p) => format!("redis-benchmark -P{p}"),
            Probe::PeerOne => "socketioxide-emitter, one at a time".into(),
            Probe::PeerPipelined(d) => format!("socketioxide-emitter, {d} in flight"),
        }
    }
}

/// One round of one side: messages per second (wall clock), and the CPU time the client and
/// redis-server spent per message.
#[derive(Clone, Copy)]
struct Sample {
    rate: f64,
    /// Client + redis-server CPU ns per message, and redis-server's part of it.
    cpu_ns: f64,
    redis_ns: f64,
}

/// Each round's samples: one list per probe, and ours.
struct Comparison {
    probes: Vec<Probe>,
    baselines: Vec<Vec<Sample>>,
    ours: Vec<Sample>,
}

/// An untimed warm-up of each side, then alternating rounds: the probes, ours, ...
fn compare(
    bench: &Baseline<'_>,
    probes: &[Probe],
    n: usize,
    mut ours: impl FnMut() -> Res<f64>,
) -> Res<Comparison> {
    for &p in probes {
        bench.rate(p, n / 10)?;
    }
    ours()?;
    let mut c = Comparison {
        probes: probes.to_vec(),
        baselines: vec![Vec::new(); probes.len()],
        ours: Vec::new(),
    };
    for _ in 0..round_count() {
        for (&p, samples) in probes.iter().zip(&mut c.baselines) {
            let before = Cpu::now(bench.redis_pid);
            let rate = bench.rate(p, n)?;
            let (cpu_ns, redis_ns) = before.spent(bench.redis_pid, Side::Children, n);
            samples.push(Sample {
                rate,
                cpu_ns,
                redis_ns,
            });
        }
        let before = Cpu::now(bench.redis_pid);
        let rate = ours()?;
        let (cpu_ns, redis_ns) = before.spent(bench.redis_pid, Side::This, n);
        c.ours.push(Sample {
            rate,
            cpu_ns,
            redis_ns,
        });
    }
    Ok(c)
}

impl Comparison {
    /// One line per probe, each with its target (`targets[i]`). For redis-benchmark also the
    /// CPU ratio: its CPU time per message (client + redis-server) over ours, which is the rate
    /// ratio one otherwise idle CPU would give; steadier than the wall clock on a busy machine.
    fn print(&self, label: &str, targets: &[f64]) {
        let ours = median(self.ours.iter().map(|s| s.rate).collect());
        let ours_cpu = median(self.ours.iter().map(|s| s.cpu_ns).collect());
        let ours_redis = median(self.ours.iter().map(|s| s.redis_ns).collect());
        println!(
            "  {label:<18} {ours:>8.0}/s  (CPU per message: client + redis-server {ours_cpu:.0} ns, \
             of which redis-server {ours_redis:.0} ns)"
        );
        for ((p, baseline), target) in self.probes.iter().zip(&self.baselines).zip(targets) {
            let ratios: Vec<f64> = self
                .ours
                .iter()
                .zip(baseline)
                .map(|(o, b)| o.rate / b.rate)
                .collect();
            let ratio = median(ratios.clone());
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "    vs {:<38} {:>8.0}/s  ratio {ratio:>5.2}x  (target >= {target:.2}x) {:<6}  rounds {}",
                p.label(),
                median(baseline.iter().map(|s| s.rate).collect()),
                verdict(ratio >= *target),
                each.join(" "),
            );
            if let Probe::Benchmark(_) = p {
                let cpu: Vec<f64> = self
                    .ours
                    .iter()
                    .zip(baseline)
                    .map(|(o, b)| b.cpu_ns / o.cpu_ns)
                    .collect();
                let each: Vec<String> = cpu.iter().map(|r| format!("{r:.2}")).collect();
                println!(
                    "       {:<38} {:>6.0} ns/msg  cpu   {:>5.2}x  (target >= {target:.2}x) {:<6}  rounds {}",
                    format!(
                        "  CPU, client + redis-server (Redis {:.0})",
                        median(baseline.iter().map(|s| s.redis_ns).collect())
                    ),
                    median(baseline.iter().map(|s| s.cpu_ns).collect()),
                    median(cpu.clone()),
                    verdict(median(cpu) >= *target),
                    each.join(" "),
                );
            }
        }
    }
}

/// Whose client CPU time a round counts: this process (our emitters and their writer
/// threads) or the children it waited for (redis-benchmark, the socketioxide peer).
#[derive(Clone, Copy)]
enum Side {
    This,
    Children,
}

/// CPU time so far, in ns: this process, its waited-for children, and redis-server.
struct Cpu {
    this: u64,
    children: u64,
    redis: u64,
}

impl Cpu {
    fn now(redis_pid: Option<u32>) -> Cpu {
        Cpu {
            this: rusage_ns(libc::RUSAGE_SELF),
            children: rusage_ns(libc::RUSAGE_CHILDREN),
            redis: redis_pid.map_or(0, task_cpu_ns),
        }
    }

    /// Client + redis-server CPU time since `self`, and redis-server's part, per message.
    fn spent(&self, redis_pid: Option<u32>, side: Side, n: usize) -> (f64, f64) {
        let now = Cpu::now(redis_pid);
        let client = match side {
            Side::This => now.this - self.this,
            Side::Children => now.children - self.children,
        };
        let redis = now.redis - self.redis;
        let per = |ns: u64| ns as f64 / n as f64;
        (per(client + redis), per(redis))
    }
}

/// User + system CPU time of `who` (`RUSAGE_SELF` or `RUSAGE_CHILDREN`), in ns.
fn rusage_ns(who: libc::c_int) -> u64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return 0;
    }
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// Time on CPU of every thread of process `pid` (`/proc/<pid>/task/*/schedstat`), in ns.
fn task_cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The baselines' side: `redis-benchmark -c 1` publishing one packet's bytes (passed as one
/// argv element), and the socketioxide peer's `emit-rate` publishing the same message.
struct Baseline<'a> {
    port: u16,
    /// redis-server's process, whose CPU time each round adds to the client's.
    redis_pid: Option<u32>,
    packet: &'a Packet,
    pin: &'a Pin,
    peer: &'a std::path::Path,
    peer_message: String,
}

impl Baseline<'_> {
    /// Messages per second: as redis-benchmark reports them, or as the peer measured them.
    fn rate(&self, probe: Probe, n: usize) -> Res<f64> {
        match probe {
            Probe::Benchmark(p) => self.benchmark(p, n),
            Probe::PeerOne => Ok(self.peer_run("one", n, 1)?.0),
            Probe::PeerPipelined(d) => Ok(self.peer_run("pipelined", n, d)?.0),
        }
    }

    /// Size and channel of the peer's packet.
    fn peer_sample(&self) -> Res<(u64, String)> {
        let (_, v) = self.peer_run("one", 10, 1)?;
        Ok((
            v["bytes"].as_u64().unwrap_or(0),
            v["channel"].as_str().unwrap_or("?").to_owned(),
        ))
    }

    fn peer_run(&self, mode: &str, n: usize, depth: usize) -> Res<(f64, Value)> {
        let out = self
            .pin
            .command(self.pin.client_cpu(), &self.peer.to_string_lossy())
            .args([
                "emit-rate",
                &format!("redis://127.0.0.1:{}", self.port),
                mode,
            ])
            .args([
                &n.to_string(),
                &depth.to_string(),
                "alice",
                &self.peer_message,
            ])
            .stdin(Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        match v["rate"].as_f64() {
            Some(rate) if out.status.success() => Ok((rate, v)),
            _ => Err(format!(
                "socketioxide emit-rate failed ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
            .into()),
        }
    }

    fn benchmark(&self, pipeline: usize, n: usize) -> Res<f64> {
        let out = self
            .pin
            .command(self.pin.client_cpu(), "redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-c", "1", "-P", &pipeline.to_string(), "-n", &n.to_string()])
            .args(["--csv", "PUBLISH", &self.packet.channel])
            .arg(OsStr::from_bytes(&self.packet.payload))
            .stdin(Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "redis-benchmark failed ({}): {}{}",
                out.status,
                stdout,
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        common::parse_csv_rps(&stdout)
            .ok_or_else(|| format!("cannot read requests/s from redis-benchmark: {stdout}").into())
    }
}

/// CPU placement. On small VMs a wake-up across vCPUs can cost more than the work, and the
/// scheduler moves processes between "client and Redis on one CPU" (fast) and "on two"
/// (several times slower), so unpinned rounds may compare different regimes.
/// `SYMPLE_BENCH_PIN=same` puts Redis and both clients on CPU 0 (every client-side cycle
/// shows), `split` puts Redis on CPU 0 and the clients on CPU 1; the default leaves it to
/// the scheduler. Uses `taskset` (util-linux).
#[derive(Clone, Copy)]
enum Pin {
    Off,
    Same,
    Split,
}

impl Pin {
    fn from_env() -> Res<Self> {
        let pin = match std::env::var("SYMPLE_BENCH_PIN").as_deref() {
            Err(_) | Ok("") | Ok("off") => return Ok(Pin::Off),
            Ok("same") => Pin::Same,
            Ok("split") => Pin::Split,
            Ok(other) => {
                return Err(format!("SYMPLE_BENCH_PIN={other}: use off, same or split").into())
            }
        };
        require("taskset", "util-linux")?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if matches!(pin, Pin::Split) && cpus < 2 {
            return Err("SYMPLE_BENCH_PIN=split needs two CPUs".into());
        }
        Ok(pin)
    }

    fn server_cpu(&self) -> Option<u32> {
        match self {
            Pin::Off => None,
            Pin::Same | Pin::Split => Some(0),
        }
    }

    fn client_cpu(&self) -> Option<u32> {
        match self {
            Pin::Off => None,
            Pin::Same => Some(0),
            Pin::Split => Some(1),
        }
    }

    /// `program`, run under `taskset -c cpu` when pinned.
    fn command(&self, cpu: Option<u32>, program: &str) -> Command {
        match cpu {
            None => Command::new(program),
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string(), program]);
                c
            }
        }
    }

    fn this_process(&self) -> Res<()> {
        let Some(cpu) = self.client_cpu() else {
            return Ok(());
        };
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", &cpu.to_string()])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("taskset could not pin the bench to CPU {cpu}: {status}").into());
        }
        Ok(())
    }

    fn describe(&self) -> &'static str {
        match self {
            Pin::Off => "unpinned (SYMPLE_BENCH_PIN=same|split pins)",
            Pin::Same => "pinned: redis-server and clients on CPU 0 (SYMPLE_BENCH_PIN=same)",
            Pin::Split => {
                "pinned: redis-server on CPU 0, clients on CPU 1 (SYMPLE_BENCH_PIN=split)"
            }
        }
    }
}
