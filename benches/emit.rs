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
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use symple::packet::native::{self, Fill};
use symple::packet::socketio::{Broadcast, Server};
use symple::packet::Adapter;
use symple::{Emitter, Object, Packet, Room, Target};

use common::servers::{Kind, Redis};
use common::{load_average, median, require, verdict, Res};

/// Alternating rounds per figure (baseline, ours, baseline, ours, ...); `SYMPLE_BENCH_ROUNDS`
/// raises it when the machine is too noisy for a median of three.
const ROUNDS: usize = 3;
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
    require("redis-server", "redis-server")?;
    let benchmark_version = require("redis-benchmark", "redis-tools")?;
    // Counted before pinning, which narrows what available_parallelism reports.
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    // Built before pinning, so the build has every CPU.
    let peer = common::socketioxide_peer()?;
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

    encode_table(&msg, &blocking_native, &blocking_sio)?;

    let targets = [
        ("native", &blocking_native, &queued_native),
        ("socket.io", &blocking_sio, &queued_sio),
    ];
    for (name, blocking, queued) in targets {
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
        peer_msg.insert("id".into(), Value::String(symple::id::message_id()));
        peer_msg.insert("from".into(), Value::String("server".into()));
        let bench = Baseline {
            port: redis.port,
            packet: &baseline,
            pin: &pin,
            peer: &peer,
            peer_message: Value::Object(peer_msg).to_string(),
        };
        let (peer_bytes, peer_channel) = bench.peer_sample()?;
        println!(
            "  socketioxide-emitter: the same message (with id and from) to room alice, {peer_bytes} B \
             (its request envelope around Socket.IO's JSON encoding) on {peer_channel}"
        );

        let r = compare(
            &bench,
            &[Probe::Benchmark(1), Probe::PeerOne],
            BLOCKING_N,
            || {
                let objects = copies(&msg, BLOCKING_N);
                let t = Instant::now();
                for o in objects {
                    blocking.emit(o)?;
                }
                Ok(BLOCKING_N as f64 / t.elapsed().as_secs_f64())
            },
        )?;
        r.print("blocking emit", &[BLOCKING_TARGET, SOCKETIOXIDE_TARGET]);

        let pipelined = [
            Probe::Benchmark(BASELINE_PIPELINE),
            Probe::Benchmark(SAME_DEPTH_PIPELINE),
            Probe::PeerPipelined(SAME_DEPTH_PIPELINE),
        ];
        let pipelined_targets = [PIPELINED_TARGET, SAME_DEPTH_TARGET, SOCKETIOXIDE_TARGET];
        let r = compare(&bench, &pipelined, PIPELINED_N, || {
            let batches: Vec<Vec<Object>> = (0..PIPELINED_N / BATCH)
                .map(|_| copies(&msg, BATCH))
                .collect();
            let t = Instant::now();
            for batch in batches {
                blocking.emit_batch(batch)?;
            }
            Ok(PIPELINED_N as f64 / t.elapsed().as_secs_f64())
        })?;
        r.print(&format!("emit_batch x{BATCH}"), &pipelined_targets);

        let r = compare(&bench, &pipelined, PIPELINED_N, || {
            let objects = copies(&msg, PIPELINED_N);
            let t = Instant::now();
            for o in objects {
                queued.emit(o)?;
            }
            queued.flush()?;
            Ok(PIPELINED_N as f64 / t.elapsed().as_secs_f64())
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
        per_packet(ENCODE_N, || {
            black_box(native::encode(black_box(base), None, fill)?);
            Ok(())
        })
    })?);
    let native_emit = median(rounds(|| emit_path(native_emitter, base))?);
    let sio_encoder = median(rounds(|| {
        per_packet(ENCODE_N, || {
            black_box(server.encode_event(&to_alice, "message", black_box(&sio_arg))?);
            Ok(())
        })
    })?);
    let sio_emit = median(rounds(|| emit_path(sio_emitter, base))?);
    // The id alone, since `emit` makes one per message; uuid v4 for comparison.
    let id_ns = median(rounds(|| {
        per_packet(ENCODE_N, || {
            black_box(symple::id::message_id());
            Ok(())
        })
    })?);
    let uuid = median(rounds(|| {
        per_packet(ENCODE_N, || {
            black_box(uuid::Uuid::new_v4().to_string());
            Ok(())
        })
    })?);

    println!(
        "encode, ns/packet: encoder (target < 1000 ns) and emit path = id + route + encode \
         (target <= {EMIT_PATH_TARGET_NS:.0} ns, pinned: SYMPLE_BENCH_PIN=same)"
    );
    for (name, encoder, emit) in [
        ("native JSON", native_encoder, native_emit),
        ("socket.io msgpack", sio_encoder, sio_emit),
    ] {
        println!(
            "  {name:<18}  encoder {encoder:>6.0} ns  {:<6}  emit path {emit:>6.0} ns  {}",
            verdict(encoder < 1000.0),
            verdict(emit <= EMIT_PATH_TARGET_NS),
        );
    }
    println!(
        "  of which the id: symple::id::message_id() {id_ns:>4.0} ns   \
         (uuid::Uuid::new_v4().to_string(): {uuid:.0} ns)"
    );
    println!("  (encoder: packet::native::encode / Server::encode_event on a ready object;");
    println!("   emit path: Emitter::packet = message id + Route::message_packet, object moved in");
    println!("   and dropped: what `emit` does before Redis)");
    Ok(())
}

/// ns per `Emitter::packet` call, the part of `emit` before Redis.
fn emit_path(emitter: &Emitter, base: &Object) -> Res<f64> {
    // Copies are made in chunks outside the clock, small enough to stay in cache.
    const CHUNK: usize = 1000;
    let mut spent = Duration::ZERO;
    for _ in 0..ENCODE_N / CHUNK {
        let objects = copies(base, CHUNK);
        let t = Instant::now();
        for o in objects {
            black_box(emitter.packet(black_box(o))?);
        }
        spent += t.elapsed();
    }
    Ok(spent.as_nanos() as f64 / (ENCODE_N / CHUNK * CHUNK) as f64)
}

fn per_packet(n: usize, mut f: impl FnMut() -> Res<()>) -> Res<f64> {
    let t = Instant::now();
    for _ in 0..n {
        f()?;
    }
    Ok(t.elapsed().as_nanos() as f64 / n as f64)
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

/// Rates of each round: one list per probe, and ours.
struct Comparison {
    probes: Vec<Probe>,
    baselines: Vec<Vec<f64>>,
    ours: Vec<f64>,
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
        for (&p, rates) in probes.iter().zip(&mut c.baselines) {
            rates.push(bench.rate(p, n)?);
        }
        c.ours.push(ours()?);
    }
    Ok(c)
}

impl Comparison {
    /// One line per probe, each with its target (`targets[i]`).
    fn print(&self, label: &str, targets: &[f64]) {
        let ours = median(self.ours.clone());
        println!("  {label:<18} {ours:>8.0}/s");
        for ((p, baseline), target) in self.probes.iter().zip(&self.baselines).zip(targets) {
            let ratios: Vec<f64> = self.ours.iter().zip(baseline).map(|(o, b)| o / b).collect();
            let ratio = median(ratios.clone());
            let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "    vs {:<38} {:>8.0}/s  ratio {ratio:>5.2}x  (target >= {target:.2}x) {:<6}  rounds {}",
                p.label(),
                median(baseline.clone()),
                verdict(ratio >= *target),
                each.join(" "),
            );
        }
    }
}

/// The baselines' side: `redis-benchmark -c 1` publishing one packet's bytes (passed as one
/// argv element), and the socketioxide peer's `emit-rate` publishing the same message.
struct Baseline<'a> {
    port: u16,
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
