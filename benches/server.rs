//! Our `symple server` against the Rust Socket.IO stack (socketioxide 0.18 + socketioxide-redis
//! 0.4, fed by socketioxide-emitter 0.1) and npm's `symple@2.1.1` (Socket.IO 4 +
//! @socket.io/redis-adapter), doing the same jobs on the same machine and the same private
//! `redis-server`, each loaded by two kinds of client side by side (this bench's Rust client,
//! and browser-like Node clients: npm `ws` / `socket.io-client`):
//!
//! 1. fan-out: delivered messages per second to 1,000 clients in one room, from a backend
//!    publishing into Redis (lost, duplicated and misrouted deliveries counted per client),
//!    with server CPU per delivery and p50/p99 latency under that load,
//! 2. p50/p99 latency from publish to receipt at moderate load (1,000 clients at 20 msg/s;
//!    100 clients at 200 msg/s),
//! 3. resident memory per idle authenticated connection,
//! 4. idle connections held by one instance (10,000 tried), with RSS per connection.
//!
//! Run by hand with `cargo bench --bench server` (not in CI). See benches/README.md for what it
//! needs and what each side does per message. Rounds alternate over every (server, client)
//! side and figures are medians. Missed targets are printed, never turned into a failing exit
//! code.

#[path = "server/clients.rs"]
mod clients;
mod common;
#[path = "server/measure.rs"]
mod measure;
#[path = "server/procs.rs"]
mod procs;
#[path = "server/rounds.rs"]
mod rounds;
#[path = "server/servers.rs"]
mod servers;
#[path = "server/wire.rs"]
mod wire;
#[path = "server/ws.rs"]
mod ws;

use std::path::Path;
use std::time::Duration;

use symple::{Emitter, Target};

use common::servers::{Kind, Redis};
use common::{load_average, median, require, verdict, Res};
use procs::{nofile, proc_status_kb, Clock, Logs, Proc};
use rounds::{Publisher, Round, Scenario, Side};
use servers::{
    package_version, require_npm, ClientKind, ClientSpec, Clients, Paths, Server, ServerKind,
};

/// Clients in the room for the fan-out and moderate-load figures, per side.
const CLIENTS: usize = 1000;
/// Of those, the clients also in the small room.
const SMALL_CLIENTS: usize = 100;
/// Messages per fan-out round (`SYMPLE_BENCH_MESSAGES`); under every server's per-client queue
/// of 1,024, so a burst is never dropped for being a burst.
const MESSAGES: usize = 900;
/// Publish rate of the fan-out rounds, messages/s (`SYMPLE_BENCH_FANOUT_RATE`): meant to be
/// above what the servers deliver to 1,000 clients, so the delivered rate is the servers' (and
/// clients') capacity. It also caps that rate at PUBLISH_RATE x 1,000 deliveries/s: at 2,000/s
/// (the default until 2026-12-03) ours reached that cap with the Rust clients.
const PUBLISH_RATE: f64 = 6000.0;
/// Moderate load: 1,000 clients at 20 msg/s, and 100 clients at 200 msg/s (two seconds each).
const MODERATE: Scenario = Scenario {
    messages: 40,
    rate: 20.0,
    small: false,
};
const SMALL: Scenario = Scenario {
    messages: 400,
    rate: 200.0,
    small: true,
};
/// Alternating rounds per figure (`SYMPLE_BENCH_ROUNDS`).
const ROUNDS: usize = 3;
/// Connections held open before the memory baseline is read (first-use costs: JIT, pools).
const WARM_CONNECTIONS: usize = 100;
/// Idle connections whose memory is measured.
const IDLE_CONNECTIONS: usize = 1000;
/// Idle connections one instance should hold.
const CAPACITY: usize = 10_000;
/// How long they are held before they are counted.
const HOLD: Duration = Duration::from_secs(3);

/// Targets: ours against symple@2.1.1 (Rust clients) and against socketioxide (each client
/// kind); memory per idle connection.
const SYMPLE2_DELIVERY_TARGET: f64 = 5.0;
const SOCKETIOXIDE_DELIVERY_TARGET: f64 = 1.5;
const SYMPLE2_MEMORY_TARGET: f64 = 0.2;
const CAPACITY_KB_TARGET: f64 = 2.5;

/// Client processes each side's clients are spread over (`SYMPLE_BENCH_CLIENT_PROCS`).
const CLIENT_PROCS: usize = 2;

const SERVERS: [ServerKind; 3] = [
    ServerKind::Ours,
    ServerKind::Socketioxide,
    ServerKind::Symple2,
];
const CLIENT_KINDS: [ClientKind; 2] = [ClientKind::Rust, ClientKind::Node];

const BENCH_COMMAND: &str = "CARGO_TARGET_DIR=/tmp/server-bench-target cargo bench --bench server";

/// Our server: this build's `symple`, or `SYMPLE_BENCH_SERVER_BIN` (another build to compare).
fn ours_bin() -> String {
    std::env::var("SYMPLE_BENCH_SERVER_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_symple").to_owned())
}

fn main() {
    if std::env::var_os(clients::ROLE_ENV).is_some() {
        std::process::exit(clients::main());
    }
    if let Err(e) = run() {
        eprintln!("server bench failed: {e}");
        std::process::exit(1);
    }
}

/// Which lines a run measures (`SYMPLE_BENCH_ONLY`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    Fanout,
    Latency,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn run() -> Res<()> {
    require("redis-server", "redis-server")?;
    // `fanout`: line 1 alone, ours and socketioxide with the Rust clients (no Node needed).
    // `latency`: line 2 alone, ours and socketioxide with the Node clients (its targets).
    let only = match std::env::var("SYMPLE_BENCH_ONLY")
        .unwrap_or_default()
        .as_str()
    {
        "" => Only::All,
        "fanout" => Only::Fanout,
        "latency" => Only::Latency,
        "capacity" => return capacity_only(),
        "memory" => return memory_only(),
        other => {
            return Err(format!(
                "SYMPLE_BENCH_ONLY={other}: use capacity, fanout, latency or memory"
            )
            .into())
        }
    };
    let fanout_only = only == Only::Fanout;
    let (server_kinds, client_kinds): (&[ServerKind], &[ClientKind]) = match only {
        Only::All => (&SERVERS, &CLIENT_KINDS),
        Only::Fanout => (&SERVERS[..2], &CLIENT_KINDS[..1]),
        Only::Latency => (&SERVERS[..2], &CLIENT_KINDS[1..]),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let interop = root.join("tests/interop/node_modules");
    let bench_modules = root.join("benches/node/node_modules");
    let node_version = if fanout_only {
        "not used".to_owned()
    } else {
        require_node(root)?
    };
    let paths = paths(root, common::socketioxide_peer()?);
    let rounds = common::round_count(ROUNDS);
    let messages = env_usize("SYMPLE_BENCH_MESSAGES", MESSAGES);
    let publish_rate = env_usize("SYMPLE_BENCH_FANOUT_RATE", PUBLISH_RATE as usize) as f64;
    let procs = env_usize("SYMPLE_BENCH_CLIENT_PROCS", CLIENT_PROCS).min(SMALL_CLIENTS);
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let logs = Logs::new()?;
    let redis = Redis::start_kind(Kind::Plain);
    let url = redis.url();
    let clock = Clock::new();

    println!(
        "symple server bench: ours (`{} server`) vs socketioxide 0.18 + socketioxide-redis 0.4 \
         (fed by socketioxide-emitter 0.1) vs npm symple@2.1.1 (Socket.IO {}, \
         @socket.io/redis-adapter {}, Node {}), one redis-server on 127.0.0.1:{}",
        paths.ours,
        package_version(&interop, "socket.io"),
        package_version(&interop, "@socket.io/redis-adapter"),
        node_version.trim(),
        redis.port
    );
    println!(
        "clients, side by side for every server: rust = this bench's client (its own WebSocket \
         framing read in place, one current-thread runtime per process, Socket.IO by hand); node = ws {} for \
         ours, socket.io-client {} for the Socket.IO servers; {procs} processes per side",
        package_version(&bench_modules, "ws"),
        package_version(&bench_modules, "socket.io-client"),
    );
    println!();

    // 3. Memory per idle connection, on fresh servers, Rust clients.
    let mut servers = Vec::new();
    let mut memory = Vec::new();
    for &kind in server_kinds {
        let mut server = Server::start(&paths, &logs, kind, &url, kind.label())?;
        if only == Only::All {
            memory.push(idle_memory(&paths, &logs, &mut server)?);
        }
        servers.push(server);
    }

    // 1-2. Every (server, client kind) side, all connected at once, each set in rooms of its
    // own on its server.
    let mut sides = Vec::new();
    for server in &servers {
        for &client in client_kinds {
            sides.push(side(&paths, &logs, server, client, &url, procs)?);
        }
    }
    let joined: Vec<String> = sides
        .iter()
        .map(|s| {
            let ms = s
                .clients
                .iter()
                .filter_map(|c| c.ready["ms"].as_f64())
                .fold(0.0, f64::max);
            let sum =
                |k: &str| -> u64 { s.clients.iter().filter_map(|c| c.ready[k].as_u64()).sum() };
            format!(
                "{} {:.1} s ({} frames, {} retried)",
                s.label(),
                ms / 1000.0,
                sum("frames"),
                sum("retried")
            )
        })
        .collect();
    let fanout = Scenario {
        messages,
        rate: publish_rate,
        small: false,
    };
    let mut next_run = 1u64;
    let mut go = |side: &mut Side, s: Scenario| -> Res<Round> {
        next_run += 1;
        side.round(&clock, redis.nodes[0].pid().unwrap_or(0), next_run, s)
    };
    // Untimed warm-up of each side (JIT, buffers), then alternating rounds.
    for side in sides.iter_mut() {
        go(
            side,
            Scenario {
                messages: messages / 5 + 1,
                ..fanout
            },
        )?;
    }
    let mut results: Vec<[Vec<Round>; 3]> = sides.iter().map(|_| Default::default()).collect();
    // (index in `results`, scenario)
    let scenarios: &[(usize, Scenario)] = match only {
        Only::All => &[(0, fanout), (1, MODERATE), (2, SMALL)],
        Only::Fanout => &[(0, fanout)],
        Only::Latency => &[(1, MODERATE), (2, SMALL)],
    };
    for &(i, scenario) in scenarios {
        for _ in 0..rounds {
            for (side, r) in sides.iter_mut().zip(&mut results) {
                r[i].push(go(side, scenario)?);
            }
        }
    }
    let labels: Vec<(ServerKind, ClientKind)> =
        sides.iter().map(|s| (s.server, s.client)).collect();
    drop(sides);
    drop(servers);

    let report = Report {
        labels,
        publish_rate,
        results,
        messages,
        rounds,
        nproc,
    };
    if only != Only::All {
        if fanout_only {
            report.fanout();
        } else {
            report.latency();
        }
        println!("  joining took {}", joined.join(", "));
        println!("machine: load average {} (at the end)", load_average());
        let mode = if fanout_only { "fanout" } else { "latency" };
        println!("command: SYMPLE_BENCH_ONLY={mode} {BENCH_COMMAND}");
        drop(redis);
        logs.remove();
        return Ok(());
    }

    // 4. Idle connections held by fresh instances of ours and socketioxide.
    let capacity = [ServerKind::Ours, ServerKind::Socketioxide]
        .into_iter()
        .map(|kind| held(&paths, &logs, kind, &url))
        .collect::<Res<Vec<_>>>()?;

    report.fanout();
    println!("  joining took {}", joined.join(", "));
    println!();
    report.latency();
    println!();
    print_memory(&memory);
    println!();
    print_capacity(&capacity);
    println!();
    println!(
        "machine: nproc={nproc}, load average {} (at the end), {}",
        load_average(),
        std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or("")
            .trim()
    );
    println!("command: {BENCH_COMMAND}");
    drop(redis);
    logs.remove();
    Ok(())
}

/// Node and the npm packages the Node servers and clients need; Node's version.
fn require_node(root: &Path) -> Res<String> {
    let version = require("node", "nodejs")?;
    require_npm(
        &root.join("tests/interop/node_modules"),
        &["symple", "redis"],
        "tests/interop",
    )?;
    require_npm(
        &root.join("benches/node/node_modules"),
        &["ws", "socket.io-client"],
        "benches/node",
    )?;
    Ok(version)
}

/// The programs a run starts, with `socketioxide` as the socketioxide peer.
fn paths(root: &Path, socketioxide: std::path::PathBuf) -> Paths {
    Paths {
        root: root.to_owned(),
        ours: ours_bin(),
        socketioxide,
        node_clients: root.join("benches/node/clients.js"),
    }
}

/// Part 4 alone (`SYMPLE_BENCH_ONLY=capacity`): ours and socketioxide holding CAPACITY idle
/// connections each; needs no Node. For checking memory changes quickly.
fn capacity_only() -> Res<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let paths = paths(root, common::socketioxide_peer()?);
    let logs = Logs::new()?;
    let redis = Redis::start_kind(Kind::Plain);
    let url = redis.url();
    let capacity = [ServerKind::Ours, ServerKind::Socketioxide]
        .into_iter()
        .map(|kind| held(&paths, &logs, kind, &url))
        .collect::<Res<Vec<_>>>()?;
    print_capacity(&capacity);
    println!("machine: load average {} (at the end)", load_average());
    println!("command: SYMPLE_BENCH_ONLY=capacity {BENCH_COMMAND}");
    drop(redis);
    logs.remove();
    Ok(())
}

/// Line 3 alone (`SYMPLE_BENCH_ONLY=memory`): ours and symple@2.1.1 (the ratio's two sides),
/// each round on fresh instances of both, alternating which starts first; prints every round
/// and the medians. Needs Node and `npm ci` in tests/interop and benches/node, not socketioxide.
fn memory_only() -> Res<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    require_node(root)?;
    // socketioxide is never started in this mode.
    let paths = paths(root, "symple-bench-socketioxide-unused".into());
    let rounds = common::round_count(ROUNDS);
    let logs = Logs::new()?;
    let redis = Redis::start_kind(Kind::Plain);
    let url = redis.url();
    let kinds = [ServerKind::Ours, ServerKind::Symple2];
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 0..rounds {
        // Alternate the order, so neither side always runs on a machine the other just left.
        let order = if round % 2 == 0 {
            kinds
        } else {
            [kinds[1], kinds[0]]
        };
        for kind in order {
            let name = format!("{}-memory-{round}", kind.label());
            let mut server = Server::start(&paths, &logs, kind, &url, &name)?;
            let m = idle_memory(&paths, &logs, &mut server)?;
            drop(server);
            if kind == ServerKind::Ours {
                ours.push(m);
            } else {
                theirs.push(m);
            }
        }
    }
    println!(
        "3. resident memory per idle authenticated connection: (VmRSS with \
         {WARM_CONNECTIONS}+{IDLE_CONNECTIONS} - VmRSS with {WARM_CONNECTIONS}) / \
         {IDLE_CONNECTIONS}, Rust clients, {rounds} rounds on fresh instances, medians"
    );
    let kb = |v: &[Memory]| median(v.iter().map(|m| m.per_conn_kb).collect());
    let ratios: Vec<f64> = ours
        .iter()
        .zip(&theirs)
        .map(|(o, t)| o.per_conn_kb / t.per_conn_kb)
        .collect();
    let ratio = median(ratios.clone());
    println!(
        "memory/conn  ours {:.2} KB   symple@2.1.1 {:.2} KB   ours/symple@2.1.1 {ratio:.2} \
         (target <= {SYMPLE2_MEMORY_TARGET:.2}) {}   rounds {}",
        kb(&ours),
        kb(&theirs),
        verdict(ratio <= SYMPLE2_MEMORY_TARGET),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for m in ours.iter().zip(&theirs).flat_map(|(o, t)| [o, t]) {
        println!(
            "  {:<13} {:.2} KB/conn   VmRSS {} KB idle, {} KB with {WARM_CONNECTIONS}, {} KB \
             with {}",
            m.kind.label(),
            m.per_conn_kb,
            m.rss_idle,
            m.rss_warm,
            m.rss_after,
            WARM_CONNECTIONS + IDLE_CONNECTIONS
        );
    }
    println!("  (symple@2.1.1: node --expose-gc, two full GCs before each reading)");
    println!("machine: load average {} (at the end)", load_average());
    println!("command: SYMPLE_BENCH_ONLY=memory {BENCH_COMMAND}");
    drop(redis);
    logs.remove();
    Ok(())
}

/// One side: `client` kind clients on `server`, in the rooms `bench-<client>` (all) and
/// `bench-<client>-100` (the first SMALL_CLIENTS, spread over the processes), with the
/// backend that feeds that server.
fn side(
    paths: &Paths,
    logs: &Logs,
    server: &Server,
    client: ClientKind,
    redis_url: &str,
    procs: usize,
) -> Res<Side> {
    let room = format!("bench-{}", client.label());
    let small_room = format!("{room}-{SMALL_CLIENTS}");
    let small_per_proc = SMALL_CLIENTS / procs;
    let specs: Vec<ClientSpec<'_>> = (0..procs)
        .map(|p| ClientSpec {
            kind: client,
            server,
            n: CLIENTS / procs + usize::from(p < CLIENTS % procs),
            rooms: format!("{room},{small_room}@{small_per_proc}"),
            prefix: format!("{}{p}-", &client.label()[..1]),
            concurrency: 100,
        })
        .collect();
    let clients = Clients::start_all(paths, logs, &specs, true)?;
    let publisher = match server.kind {
        ServerKind::Ours => Publisher::Symple(
            Emitter::builder(redis_url)
                .target(Target::Native)
                .connect()?,
        ),
        ServerKind::Symple2 => Publisher::Symple(Emitter::connect(redis_url)?),
        ServerKind::Socketioxide => {
            let mut cmd = std::process::Command::new(&paths.socketioxide);
            cmd.args(["publish", redis_url]);
            let name = format!("publisher-{}", client.label());
            let mut proc = Proc::spawn(logs, &name, cmd)?;
            proc.expect("ready", None, Duration::from_secs(10))?;
            Publisher::Socketioxide(proc)
        }
    };
    Ok(Side {
        server: server.kind,
        client,
        server_pid: server.pid(),
        clients,
        publisher,
        room,
        small_room,
        small_per_proc,
    })
}

// ---------------------------------------------------------------------------
// Report of the delivery rounds
// ---------------------------------------------------------------------------

struct Report {
    labels: Vec<(ServerKind, ClientKind)>,
    publish_rate: f64,
    /// Per side: fan-out, moderate, small-room rounds.
    results: Vec<[Vec<Round>; 3]>,
    messages: usize,
    rounds: usize,
    nproc: usize,
}

impl Report {
    fn measured(&self, server: ServerKind, client: ClientKind) -> bool {
        self.labels.contains(&(server, client))
    }

    fn rounds_of(&self, server: ServerKind, client: ClientKind, scenario: usize) -> &[Round] {
        let i = self
            .labels
            .iter()
            .position(|&l| l == (server, client))
            .expect("every side is measured");
        &self.results[i][scenario]
    }

    fn fanout(&self) {
        println!(
            "1. fan-out: {CLIENTS} clients in one room, {} messages per round published at \
             {:.0}/s ({} alternating rounds over every side after a warm-up, medians)",
            self.messages, self.publish_rate, self.rounds
        );
        println!(
            "  {:<27} {:>11} {:>22} {:>13} {:>9}   cores busy (of {})",
            "server / clients",
            "delivered/s",
            "lost/dup/wrong",
            "p50/p99 ms",
            "cpu s/1M",
            self.nproc
        );
        for &(server, client) in &self.labels {
            let v = self.rounds_of(server, client, 0);
            let m = |f: fn(&Round) -> f64| median(v.iter().map(f).collect());
            let wall = m(|r| r.wall);
            println!(
                "  {:<27} {:>11.0} {:>22} {:>13} {:>9.2}   server {:.2}, clients {:.2} ({:.2} µs per delivery), redis {:.2}, publisher {:.2}",
                format!("{} / {}", server.label(), client.label()),
                m(|r| r.rate),
                losses(v),
                format!("{:.1}/{:.1}", m(|r| r.p50), m(|r| r.p99)),
                m(|r| r.cpu.server / r.count as f64 * 1e6),
                m(|r| r.cpu.server) / wall,
                m(|r| r.cpu.clients) / wall,
                m(|r| r.cpu.clients / r.count.max(1) as f64 * 1e6),
                m(|r| r.cpu.redis) / wall,
                m(|r| r.cpu.publisher) / wall,
            );
        }
        println!(
            "  (cpu s/1M: server CPU seconds per million deliveries; published at {} msg/s)",
            self.labels
                .iter()
                .map(|&(s, c)| {
                    let v = self.rounds_of(s, c, 0);
                    format!("{:.0}", median(v.iter().map(|r| r.publish_rate).collect()))
                })
                .collect::<Vec<_>>()
                .join("/")
        );
        for client in CLIENT_KINDS {
            if !self.measured(ServerKind::Ours, client) {
                continue;
            }
            let ours = self.rounds_of(ServerKind::Ours, client, 0);
            for (other, target) in [
                (ServerKind::Socketioxide, Some(SOCKETIOXIDE_DELIVERY_TARGET)),
                (
                    ServerKind::Symple2,
                    (client == ClientKind::Rust).then_some(SYMPLE2_DELIVERY_TARGET),
                ),
            ] {
                if !self.measured(other, client) {
                    continue;
                }
                let theirs = self.rounds_of(other, client, 0);
                let ratios: Vec<f64> = ours
                    .iter()
                    .zip(theirs)
                    .map(|(o, t)| o.rate / t.rate)
                    .collect();
                let ratio = median(ratios.clone());
                let goal = match target {
                    Some(t) => format!("(target >= {t:.1}x) {}", verdict(ratio >= t)),
                    None => "(info)".into(),
                };
                println!(
                    "  delivered ours / {:<12} {} clients: {ratio:>5.1}x {goal}   rounds {}",
                    other.label(),
                    client.label(),
                    ratios
                        .iter()
                        .map(|r| format!("{r:.1}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
    }

    fn latency(&self) {
        println!(
            "2. latency, publish to receipt, ms, p50/p99 (medians of the rounds' percentiles; \
             shared wall clock; smallest seen {:.2})",
            self.results
                .iter()
                .flatten()
                .flatten()
                .map(|r| r.min)
                .fold(f64::INFINITY, f64::min)
        );
        let scenarios = [
            (1, format!("{CLIENTS} clients, {:.0} msg/s", MODERATE.rate)),
            (
                2,
                format!("{SMALL_CLIENTS} clients, {:.0} msg/s", SMALL.rate),
            ),
        ];
        for (i, what) in &scenarios {
            for client in CLIENT_KINDS {
                if !self.measured(ServerKind::Ours, client) {
                    continue;
                }
                let row: Vec<String> = SERVERS
                    .iter()
                    .filter(|&&s| self.measured(s, client))
                    .map(|&s| {
                        let v = self.rounds_of(s, client, *i);
                        format!("{} {} [{}]", s.label(), latency(v), losses(v))
                    })
                    .collect();
                println!("  {what:<24} {:<5} {}", client.label(), row.join("   "));
            }
        }
        // Targets: with browser-like clients, ours at or below both Socket.IO servers.
        for (i, what) in &scenarios {
            let ours = self.rounds_of(ServerKind::Ours, ClientKind::Node, *i);
            let (o50, o99) = percentiles(ours);
            for other in [ServerKind::Socketioxide, ServerKind::Symple2] {
                if !self.measured(other, ClientKind::Node) {
                    continue;
                }
                let (t50, t99) = percentiles(self.rounds_of(other, ClientKind::Node, *i));
                println!(
                    "  {what:<24} node  ours <= {:<12} p50 {o50:.2} vs {t50:.2} {}   p99 {o99:.2} vs {t99:.2} {}",
                    other.label(),
                    verdict(o50 <= t50),
                    verdict(o99 <= t99),
                );
            }
        }
        println!("  [lost/duplicated/misrouted deliveries, summed over the rounds]");
    }
}

fn percentiles(v: &[Round]) -> (f64, f64) {
    (
        median(v.iter().map(|r| r.p50).collect()),
        median(v.iter().map(|r| r.p99).collect()),
    )
}

/// Medians of the rounds' p50 and p99, then each round's.
fn latency(v: &[Round]) -> String {
    let (p50, p99) = percentiles(v);
    format!(
        "{p50:.1}/{p99:.1} ({})",
        v.iter()
            .map(|r| format!("{:.1}/{:.1}", r.p50, r.p99))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Lost, duplicated and misrouted deliveries summed over the rounds: "0/0/0" is clean.
fn losses(v: &[Round]) -> String {
    let sum = |f: fn(&Round) -> u64| v.iter().map(f).sum::<u64>();
    format!(
        "{}/{}/{}",
        sum(Round::lost),
        sum(|r| r.duplicates),
        sum(|r| r.wrong)
    )
}

// ---------------------------------------------------------------------------
// 3. Memory per idle connection
// ---------------------------------------------------------------------------

struct Memory {
    kind: ServerKind,
    rss_idle: u64,
    rss_warm: u64,
    rss_after: u64,
    per_conn_kb: f64,
}

/// VmRSS with WARM_CONNECTIONS held, then with IDLE_CONNECTIONS more (each in its personal
/// room only), Rust clients; the difference per connection.
fn idle_memory(paths: &Paths, logs: &Logs, server: &mut Server) -> Res<Memory> {
    let rss = |server: &mut Server| -> Res<u64> {
        server.settle()?;
        std::thread::sleep(Duration::from_millis(200));
        proc_status_kb(server.pid(), "VmRSS")
    };
    fn spec<'a>(server: &'a Server, n: usize, prefix: &str) -> ClientSpec<'a> {
        ClientSpec {
            kind: ClientKind::Rust,
            server,
            n,
            rooms: "-".into(),
            prefix: prefix.into(),
            concurrency: 100,
        }
    }
    let rss_idle = rss(server)?;
    let warm = Clients::start_all(paths, logs, &[spec(server, WARM_CONNECTIONS, "w")], true)?;
    let rss_warm = rss(server)?;
    let idle = Clients::start_all(paths, logs, &[spec(server, IDLE_CONNECTIONS, "i")], true)?;
    std::thread::sleep(Duration::from_millis(700));
    let rss_after = rss(server)?;
    if let Some(n) = server.peers()? {
        let want = (WARM_CONNECTIONS + IDLE_CONNECTIONS) as u64;
        if n != want {
            return Err(format!(
                "{}: {n} connections counted, expected {want}",
                server.kind.label()
            )
            .into());
        }
    }
    drop(idle);
    drop(warm);
    Ok(Memory {
        kind: server.kind,
        rss_idle,
        rss_warm,
        rss_after,
        per_conn_kb: rss_after.saturating_sub(rss_warm) as f64 / IDLE_CONNECTIONS as f64,
    })
}

fn print_memory(memory: &[Memory]) {
    println!(
        "3. resident memory per idle authenticated connection: (VmRSS with \
         {WARM_CONNECTIONS}+{IDLE_CONNECTIONS} - VmRSS with {WARM_CONNECTIONS}) / \
         {IDLE_CONNECTIONS}, Rust clients"
    );
    let kb = |k: ServerKind| {
        memory
            .iter()
            .find(|m| m.kind == k)
            .map_or(f64::NAN, |m| m.per_conn_kb)
    };
    let ours = kb(ServerKind::Ours);
    let (sx, s2) = (kb(ServerKind::Socketioxide), kb(ServerKind::Symple2));
    println!(
        "memory/conn  ours {ours:.1} KB   socketioxide {sx:.1} KB   symple@2.1.1 {s2:.1} KB   \
         ours <= socketioxide {}   ours/symple@2.1.1 {:.2} (target <= {SYMPLE2_MEMORY_TARGET:.2}) {}",
        verdict(ours <= sx),
        ours / s2,
        verdict(ours / s2 <= SYMPLE2_MEMORY_TARGET),
    );
    for m in memory {
        println!(
            "  {:<13} VmRSS {} KB idle, {} KB with {WARM_CONNECTIONS}, {} KB with {}",
            m.kind.label(),
            m.rss_idle,
            m.rss_warm,
            m.rss_after,
            WARM_CONNECTIONS + IDLE_CONNECTIONS
        );
    }
    println!("  (symple@2.1.1: node --expose-gc, two full GCs before each reading)");
}

// ---------------------------------------------------------------------------
// 4. Capacity
// ---------------------------------------------------------------------------

struct Held {
    kind: ServerKind,
    held: u64,
    failed: u64,
    errors: String,
    retried: u64,
    connect_ms: f64,
    rss_idle: u64,
    rss_kb: u64,
    counted: Option<u64>,
    nofile: (String, String),
}

impl Held {
    fn per_conn_kb(&self) -> f64 {
        self.rss_kb.saturating_sub(self.rss_idle) as f64 / self.held.max(1) as f64
    }
}

/// A fresh instance of `kind` and CAPACITY idle authenticated connections from one Rust
/// client process; held = sockets still open HOLD later.
fn held(paths: &Paths, logs: &Logs, kind: ServerKind, redis_url: &str) -> Res<Held> {
    let mut server = Server::start(
        paths,
        logs,
        kind,
        redis_url,
        &format!("{}-capacity", kind.label()),
    )?;
    std::thread::sleep(Duration::from_millis(200));
    let rss_idle = server.proc.rss_kb()?;
    let spec = ClientSpec {
        kind: ClientKind::Rust,
        server: &server,
        n: CAPACITY,
        rooms: "-".into(),
        prefix: "cap".into(),
        concurrency: 256,
    };
    // Not strict: failures here are the figure, not an error.
    let mut clients = Clients::start_all(paths, logs, &[spec], false)?;
    let c = &mut clients[0];
    std::thread::sleep(HOLD);
    let held = c.open()?;
    let errors = match c.ready["errors"].as_object() {
        Some(e) if !e.is_empty() => format!(" {}", c.ready["errors"]),
        _ => String::new(),
    };
    Ok(Held {
        kind,
        held,
        failed: c.ready["failed"].as_u64().unwrap_or(0),
        errors,
        retried: c.ready["retried"].as_u64().unwrap_or(0),
        connect_ms: c.ready["ms"].as_f64().unwrap_or(0.0),
        rss_idle,
        rss_kb: server.proc.rss_kb()?,
        counted: server.peers()?,
        nofile: nofile(server.pid()),
    })
}

fn print_capacity(capacity: &[Held]) {
    println!(
        "4. idle authenticated connections held by one fresh instance ({CAPACITY} tried, one \
         Rust client process; RSS/conn = (VmRSS held - VmRSS before) / held)"
    );
    for h in capacity {
        println!(
            "  {:<13} held {} of {CAPACITY} {}   VmRSS {:.1} MB ({} KB before) = {:.2} KB/conn   \
             connected in {:.1} s, failed {}{}, retried {}, server counts {:?} after {:.0} s, open-files soft {} hard {}",
            h.kind.label(),
            h.held,
            verdict(h.held >= CAPACITY as u64),
            h.rss_kb as f64 / 1024.0,
            h.rss_idle,
            h.per_conn_kb(),
            h.connect_ms / 1000.0,
            h.failed,
            h.errors,
            h.retried,
            h.counted,
            HOLD.as_secs_f64(),
            h.nofile.0,
            h.nofile.1,
        );
    }
    let kb = |k: ServerKind| {
        capacity
            .iter()
            .find(|h| h.kind == k)
            .map_or(f64::NAN, Held::per_conn_kb)
    };
    let (ours, sx) = (kb(ServerKind::Ours), kb(ServerKind::Socketioxide));
    println!(
        "  ours {ours:.2} KB/conn with {CAPACITY} held (target <= {CAPACITY_KB_TARGET:.1}) {}   ours <= socketioxide ({sx:.2}) {}",
        verdict(ours <= CAPACITY_KB_TARGET),
        verdict(ours <= sx),
    );
}
