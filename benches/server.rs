//! Our `symple server` against npm's `symple@2.1.1` (Socket.IO 4 + @socket.io/redis-adapter)
//! doing the same jobs on the same machine and the same private `redis-server`:
//!
//! 1. delivered messages per second to 1,000 clients in one room, from an emitter,
//! 2. p50/p99 latency from publish to receipt (under that load, and at a light rate),
//! 3. resident memory per idle authenticated connection,
//! 4. how many idle connections one instance of our server holds (10,000 tried).
//!
//! Run by hand with `cargo bench --bench server` (not in CI). Needs `redis-server` and Node on
//! PATH and `npm ci` in tests/interop (benches/node/symple-server.js takes its packages from
//! there). See benches/README.md.
//!
//! Every server and every client runs in a process of its own. The client side is the same Rust
//! code for both servers (this binary re-executed as a client process, `clients`): one
//! tokio-tungstenite WebSocket client speaking our native protocol to ours and Socket.IO over
//! Engine.IO by hand to symple@2.1.1 (`wire`), so neither server is favoured by its client and
//! the clients cost little next to the servers. Rounds alternate (theirs, ours, ...) and figures
//! are medians. Missed targets are printed, never turned into a failing exit code.

#[path = "server/clients.rs"]
mod clients;
mod common;
#[path = "server/measure.rs"]
mod measure;
#[path = "server/wire.rs"]
mod wire;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use symple::{Emitter, Target};

use common::{load_average, median, require, verdict, RedisServer, Res};
use wire::Kind;

/// Clients in the room for the delivery figures.
const CLIENTS: usize = 1000;
/// The room they are in.
const ROOM: &str = "bench";
/// Messages per throughput round (`SYMPLE_BENCH_MESSAGES`); under our server's per-client
/// queue of 1024, so a burst is never dropped for being a burst.
const MESSAGES: usize = 300;
/// Publish rate of the throughput rounds, messages/s: far above what either server delivers
/// to 1,000 clients, so the delivered rate is the server's (and clients') capacity.
const PUBLISH_RATE: f64 = 2000.0;
/// The light-load latency rounds: a rate both servers keep up with.
const LIGHT_MESSAGES: usize = 40;
const LIGHT_RATE: f64 = 10.0;
/// Alternating rounds per figure (`SYMPLE_BENCH_ROUNDS`).
const ROUNDS: usize = 3;
/// Connections held open before the memory baseline is read (first-use costs: JIT, pools).
const WARM_CONNECTIONS: usize = 100;
/// Idle connections whose memory is measured.
const IDLE_CONNECTIONS: usize = 1000;
/// Idle connections one instance of our server should hold.
const CAPACITY: usize = 10_000;
/// A ~200-byte message, like the emit bench's.
const TEXT: &str =
    "Build 4812 passed on main; deploying to staging in five minutes. Build 4813 queued.";

const DELIVERY_TARGET: f64 = 5.0;
const MEMORY_TARGET: f64 = 0.2;

/// Client processes the room's clients are spread over (`SYMPLE_BENCH_CLIENT_PROCS`), for each
/// server alike.
const CLIENT_PROCS: usize = 2;

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

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn run() -> Res<()> {
    require("redis-server", "redis-server")?;
    let node_version = require("node", "nodejs")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let node_dir = root.join("benches/node");
    let modules = root.join("tests/interop/node_modules");
    for pkg in ["symple", "redis"] {
        if !modules.join(pkg).join("package.json").exists() {
            return Err(format!(
                "{} is missing: run `cd tests/interop && npm ci` first",
                modules.join(pkg).display()
            )
            .into());
        }
    }
    let rounds = common::round_count(ROUNDS);
    let messages = env_usize("SYMPLE_BENCH_MESSAGES", MESSAGES);
    let procs = env_usize("SYMPLE_BENCH_CLIENT_PROCS", CLIENT_PROCS).min(CLIENTS);
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let logs = Logs::new()?;
    let redis = RedisServer::start(|| Command::new("redis-server"))?;
    let url = redis.url();
    let clock = Clock::new();

    println!(
        "symple server bench: ours (`{} server`) vs npm symple@2.1.1 (Socket.IO {}, \
         @socket.io/redis-adapter {}), one redis-server on 127.0.0.1:{}",
        ours_bin(),
        package_version(&modules, "socket.io"),
        package_version(&modules, "@socket.io/redis-adapter"),
        redis.port
    );
    println!(
        "client side: the same Rust client for both (tokio-tungstenite, one current-thread \
         runtime per process; Socket.IO 4 / Engine.IO v4 framing by hand for symple@2.1.1), in \
         processes apart from the servers ({procs} per server for the room); symple@2.1.1 on \
         Node {}",
        node_version.trim(),
    );
    println!();

    // 3. Memory per idle connection, on fresh servers.
    let ours = OursServer::start(&logs, &url, "ours")?;
    let mut theirs = TheirsServer::start(&logs, &node_dir, &url)?;
    let ours_mem = idle_memory(&logs, Kind::Ours, &ours.url(), ours.proc.pid(), &mut || {
        ours.wait_quiet()
    })?;
    ours.expect_peers(WARM_CONNECTIONS + IDLE_CONNECTIONS, ours_mem.peers_seen)?;
    let theirs_mem = {
        let pid = theirs.proc.pid();
        let url = theirs.url();
        idle_memory(&logs, Kind::Theirs, &url, pid, &mut || theirs.gc())?
    };

    // 1 and 2. Deliveries to 1,000 clients in one room, on the same servers.
    let ours_clients = Clients::start_many(&logs, Kind::Ours, &ours.url(), procs)?;
    let theirs_clients = Clients::start_many(&logs, Kind::Theirs, &theirs.url(), procs)?;
    let mut sides = [
        Side {
            label: "symple@2.1.1",
            emitter: Emitter::connect(&url)?.to(ROOM),
            clients: theirs_clients,
            server_pid: theirs.proc.pid(),
        },
        Side {
            label: "ours",
            emitter: Emitter::builder(&url)
                .target(Target::Native)
                .connect()?
                .to(ROOM),
            clients: ours_clients,
            server_pid: ours.proc.pid(),
        },
    ];
    let joined: Vec<String> = sides
        .iter()
        .map(|s| {
            let ms = s
                .clients
                .iter()
                .filter_map(|c| c.ready["ms"].as_f64())
                .fold(0.0, f64::max);
            let frames: u64 = s
                .clients
                .iter()
                .filter_map(|c| c.ready["frames"].as_u64())
                .sum();
            format!(
                "{} {:.1} s ({frames} frames before ready)",
                s.label,
                ms / 1000.0
            )
        })
        .collect();
    let pids = Pids {
        redis: redis.pid(),
        bench: std::process::id(),
    };
    let mut next_run = 1u64;
    let mut go = |side: &mut Side, m: usize, rate: f64| -> Res<Round> {
        next_run += 1;
        side.round(&clock, &pids, next_run, m, rate)
    };
    // Untimed warm-up of each side (JIT, buffers), then alternating rounds.
    for side in sides.iter_mut() {
        go(side, messages / 5 + 1, PUBLISH_RATE)?;
    }
    let mut load: [Vec<Round>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, side) in sides.iter_mut().enumerate() {
            load[i].push(go(side, messages, PUBLISH_RATE)?);
        }
    }
    let mut light: [Vec<Round>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, side) in sides.iter_mut().enumerate() {
            light[i].push(go(side, LIGHT_MESSAGES, LIGHT_RATE)?);
        }
    }
    let [theirs_side, ours_side] = sides;
    drop(ours_side);
    drop(theirs_side);
    drop(theirs);
    drop(ours);

    // 4. Idle connections held by one fresh instance of ours.
    let capacity = capacity(&logs, &url)?;

    // Report.
    let [theirs_load, ours_load] = &load;
    let [theirs_light, ours_light] = &light;
    let expected = (messages * CLIENTS) as u64;
    let rate = |v: &[Round]| median(v.iter().map(|r| r.rate).collect());
    let ratios: Vec<f64> = ours_load
        .iter()
        .zip(theirs_load)
        .map(|(o, t)| o.rate / t.rate)
        .collect();
    let ratio = median(ratios.clone());
    println!(
        "1. {CLIENTS} clients in room {ROOM:?}, {messages} messages per round published at \
         {PUBLISH_RATE:.0}/s ({rounds} alternating rounds after a warm-up, medians)"
    );
    println!(
        "delivered msg/s   ours {:.0}   symple@2.1.1 {:.0}   ratio {ratio:.1}x (target >= {DELIVERY_TARGET:.0}x) {}   rounds {}",
        rate(ours_load),
        rate(theirs_load),
        verdict(ratio >= DELIVERY_TARGET),
        ratios.iter().map(|r| format!("{r:.1}")).collect::<Vec<_>>().join(" "),
    );
    for (label, v) in [("ours", ours_load), ("symple@2.1.1", theirs_load)] {
        let cpu = |f: fn(&Round) -> f64| median(v.iter().map(f).collect());
        let wall = cpu(|r| r.wall);
        let (server, clients) = (cpu(|r| r.cpu.server), cpu(|r| r.cpu.clients));
        println!(
            "  {label:<13} delivered {} of {expected} per round; every client got {}; published at {:.0}/s",
            v.iter().map(|r| r.count.to_string()).collect::<Vec<_>>().join("/"),
            per_client(v, messages),
            cpu(|r| r.publish_rate),
        );
        println!(
            "  {:<13} cpu s/round: server {server:.2}, clients {clients:.2}, redis {:.2}, emitter {:.2} \
             in {wall:.2} s wall = cores busy: server {:.2}, clients {:.2} (of {nproc})",
            "",
            cpu(|r| r.cpu.redis),
            cpu(|r| r.cpu.bench),
            server / wall,
            clients / wall,
        );
    }
    // Server CPU per delivery: what each server costs, whatever limits the delivered rate.
    let per_million = |v: &[Round]| {
        median(
            v.iter()
                .map(|r| r.cpu.server / r.count as f64 * 1e6)
                .collect(),
        )
    };
    let (o, t) = (per_million(ours_load), per_million(theirs_load));
    println!(
        "server cpu per 1M deliveries   ours {o:.2} s   symple@2.1.1 {t:.2} s   ratio {:.1}x (info)",
        t / o
    );
    println!(
        "  joining {CLIENTS} clients to the room took {}",
        joined.join(", ")
    );
    println!();
    let smallest = load
        .iter()
        .chain(&light)
        .flatten()
        .map(|r| r.min)
        .fold(f64::INFINITY, f64::min);
    println!(
        "2. latency, publish to receipt, ms (shared wall clock; per delivery; smallest seen {smallest:.2})"
    );
    for (what, o, t) in [
        ("under load (above)".to_string(), ours_load, theirs_load),
        (
            format!("light: {LIGHT_MESSAGES} at {LIGHT_RATE:.0}/s"),
            ours_light,
            theirs_light,
        ),
    ] {
        println!(
            "p50/p99 {what:<24} ours {}   symple@2.1.1 {}",
            latency(o),
            latency(t)
        );
    }
    let light_short: Vec<String> = [ours_light, theirs_light]
        .iter()
        .map(|v| per_client(v, LIGHT_MESSAGES))
        .collect();
    println!(
        "  light rounds: every client got ours {}, symple@2.1.1 {}",
        light_short[0], light_short[1]
    );
    println!();
    let mem_ratio = ours_mem.per_conn_kb / theirs_mem.per_conn_kb;
    println!(
        "3. resident memory per idle authenticated connection: (VmRSS with {WARM_CONNECTIONS}+{IDLE_CONNECTIONS} \
         - VmRSS with {WARM_CONNECTIONS}) / {IDLE_CONNECTIONS}"
    );
    println!(
        "memory/conn       ours {:.1} KB   symple@2.1.1 {:.1} KB   ratio {mem_ratio:.2} (target <= {MEMORY_TARGET:.2}) {}",
        ours_mem.per_conn_kb,
        theirs_mem.per_conn_kb,
        verdict(mem_ratio <= MEMORY_TARGET),
    );
    for (label, m) in [("ours", &ours_mem), ("symple@2.1.1", &theirs_mem)] {
        println!(
            "  {label:<13} VmRSS {} KB idle, {} KB with {WARM_CONNECTIONS}, {} KB with {}",
            m.rss_idle,
            m.rss_warm,
            m.rss_after,
            WARM_CONNECTIONS + IDLE_CONNECTIONS
        );
    }
    println!("  (symple@2.1.1: node --expose-gc, two full GCs before each reading)");
    println!();
    println!("4. idle connections held by one instance of ours");
    println!(
        "idle connections  ours {} of {CAPACITY} (target {CAPACITY}) {}   VmRSS {:.1} MB ({} KB before, {:.1} KB/conn)",
        capacity.held,
        verdict(capacity.held >= CAPACITY),
        capacity.rss_kb as f64 / 1024.0,
        capacity.rss_idle,
        (capacity.rss_kb - capacity.rss_idle) as f64 / capacity.held.max(1) as f64,
    );
    println!(
        "  connected in {:.1} s; server /health after {:.0} s: {} connections, {} peers; \
         failed {}{}; server open-files limit soft {} hard {}",
        capacity.connect_ms / 1000.0,
        HOLD.as_secs_f64(),
        capacity.health_connections,
        capacity.health_peers,
        capacity.failed,
        capacity.errors,
        capacity.nofile.0,
        capacity.nofile.1,
    );
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

/// "all N" or the range of per-client counts over the rounds.
fn per_client(v: &[Round], m: usize) -> String {
    let min = v.iter().map(|r| r.per_client_min).min().unwrap_or(0);
    let max = v.iter().map(|r| r.per_client_max).max().unwrap_or(0);
    if min == m as u64 && max == m as u64 {
        format!("all {m}")
    } else {
        format!("{min}..{max} of {m}")
    }
}

/// Medians of the rounds' p50 and p99, then each round's.
fn latency(v: &[Round]) -> String {
    format!(
        "{:.2}/{:.2} (rounds {})",
        median(v.iter().map(|r| r.p50).collect()),
        median(v.iter().map(|r| r.p99).collect()),
        v.iter()
            .map(|r| format!("{:.1}/{:.1}", r.p50, r.p99))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn package_version(modules: &Path, pkg: &str) -> String {
    std::fs::read_to_string(modules.join(pkg).join("package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// Where child processes write stderr; removed after a clean run, named on failure.
struct Logs(PathBuf);

impl Logs {
    fn new() -> Res<Self> {
        let dir = std::env::temp_dir().join(format!("symple-server-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Logs(dir))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.log"))
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `program` under bash, with the open-files soft limit raised first (to 65536, or to the hard
/// limit when that is lower); `exec` keeps the PID the program's.
fn with_nofile(program: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(r#"ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@""#)
        .arg(program);
    c
}

/// A child speaking JSON lines on stdout, killed by PID when dropped (on panic too).
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: PathBuf,
}

impl Proc {
    fn spawn(logs: &Logs, name: &str, mut cmd: Command) -> Res<Self> {
        let log = logs.file(name);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&mut self, v: &Value) -> Res<()> {
        self.send_line(&v.to_string())
    }

    fn send_line(&mut self, line: &str) -> Res<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// The next line whose `event` is `event` (and, when given, whose `id` is `id`).
    fn expect(&mut self, event: &str, id: Option<u64>, timeout: Duration) -> Res<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.fail(&format!("no {event:?} within {timeout:?}")))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail(&format!("exited before {event:?}")))
                }
            };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["event"] == "fatal" {
                return Err(self.fail(&format!("fatal: {}", v["message"])));
            }
            if v["event"] == event && id.is_none_or(|id| v["id"] == id) {
                return Ok(v);
            }
        }
    }

    fn fail(&self, what: &str) -> Box<dyn std::error::Error> {
        let mut tail = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut tail);
        }
        let tail: String = tail
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n  ");
        format!(
            "{}: {what}; stderr {}:\n  {tail}",
            self.name,
            self.log.display()
        )
        .into()
    }

    fn rss_kb(&self) -> Res<u64> {
        proc_status_kb(self.pid(), "VmRSS")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill signals this child's PID only (bash exec'd the program).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_status_kb(pid: u32, field: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}

/// The soft and hard open-files limits of a process.
fn nofile(pid: u32) -> (String, String) {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("Max open files"))?;
            let f: Vec<&str> = l["Max open files".len()..].split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(1)?.to_string()))
        })
        .unwrap_or_else(|| ("?".into(), "?".into()))
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32, tick: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / tick
}

/// Clock ticks per second (`CLK_TCK`), the unit of `/proc/<pid>/stat`'s CPU times. Wall-clock
/// stamps (publish time, receipt) are `measure::wall_ms` on both ends.
struct Clock {
    tick: f64,
}

impl Clock {
    fn new() -> Self {
        let tick = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Clock { tick }
    }
}

/// One GET on loopback, `Connection: close`; the body as JSON.
fn http_get_json(port: u16, path: &str) -> Res<Value> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(serde_json::from_str(body)?)
}

// ---------------------------------------------------------------------------
// Servers and clients
// ---------------------------------------------------------------------------

struct OursServer {
    proc: Proc,
    port: u16,
}

impl OursServer {
    fn start(logs: &Logs, redis_url: &str, name: &str) -> Res<Self> {
        let mut cmd = with_nofile(&ours_bin());
        cmd.args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--redis-url",
            redis_url,
        ])
        .args(["--authentication", "false", "--dynamic-rooms", "true"]);
        let mut proc = Proc::spawn(logs, name, cmd)?;
        let v = proc.expect("listening", None, Duration::from_secs(15))?;
        let port = v["addr"]
            .as_str()
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .ok_or("ours: no address in the listening line")?
            .port();
        let server = OursServer { proc, port };
        // Emitter packets arrive only once the subscriber is up.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(h) = server.health() {
                if h["redis"] == "up" {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(server.proc.fail("Redis subscription not up within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    fn url(&self) -> String {
        wire::url(Kind::Ours, self.port)
    }

    fn health(&self) -> Res<Value> {
        http_get_json(self.port, "/health")
    }

    /// Nothing to collect: a short pause lets closes and queued frames settle.
    fn wait_quiet(&self) -> Res<()> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    fn expect_peers(&self, want: usize, seen: Option<u64>) -> Res<()> {
        match seen {
            Some(n) if n as usize == want => Ok(()),
            other => Err(format!("ours: /health reported {other:?} peers, expected {want}").into()),
        }
    }
}

struct TheirsServer {
    proc: Proc,
    port: u16,
}

impl TheirsServer {
    fn start(logs: &Logs, node_dir: &Path, redis_url: &str) -> Res<Self> {
        let mut cmd = with_nofile("node");
        cmd.arg("--expose-gc")
            .arg(node_dir.join("symple-server.js"))
            .arg(redis_url);
        let mut proc = Proc::spawn(logs, "symple-2.1.1", cmd)?;
        let v = proc.expect("listening", None, Duration::from_secs(15))?;
        let port = v["port"].as_u64().ok_or("symple@2.1.1: no port")? as u16;
        Ok(TheirsServer { proc, port })
    }

    fn url(&self) -> String {
        wire::url(Kind::Theirs, self.port)
    }

    /// Two full collections (the process runs with --expose-gc), so a reading holds no garbage.
    fn gc(&mut self) -> Res<()> {
        std::thread::sleep(Duration::from_millis(300));
        self.proc.send_line("gc")?;
        self.proc.expect("gc", None, Duration::from_secs(10))?;
        Ok(())
    }
}

/// This binary as a client process (`clients`) holding `n` connections to the server at `url`.
fn client_command(
    kind: Kind,
    url: &str,
    n: usize,
    room: Option<&str>,
    prefix: &str,
    concurrency: usize,
) -> Res<Command> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(clients::ROLE_ENV, "clients")
        .args([kind.arg(), url, &n.to_string(), room.unwrap_or("-"), prefix])
        .arg(concurrency.to_string());
    Ok(cmd)
}

/// A client process holding `n` client connections.
struct Clients {
    proc: Proc,
    ready: Value,
}

impl Clients {
    fn start(
        logs: &Logs,
        kind: Kind,
        url: &str,
        n: usize,
        room: Option<&str>,
        prefix: &str,
        concurrency: usize,
    ) -> Res<Self> {
        let cmd = client_command(kind, url, n, room, prefix, concurrency)?;
        let name = format!("clients-{}-{prefix}", kind.arg());
        let mut proc = Proc::spawn(logs, &name, cmd)?;
        // Bounded: connecting, plus (ours) the presence every room member gets per newcomer.
        let timeout = Duration::from_secs(60 + (n / 100) as u64);
        let ready = proc.expect("ready", None, timeout)?;
        if ready["failed"].as_u64() != Some(0) {
            return Err(proc
                .fail(&format!(
                    "{} of {n} connections failed: {}",
                    ready["failed"], ready["errors"]
                ))
                .to_string()
                .into());
        }
        Ok(Clients { proc, ready })
    }

    /// The room's clients, spread over `procs` processes started together.
    fn start_many(logs: &Logs, kind: Kind, url: &str, procs: usize) -> Res<Vec<Self>> {
        let mut started = Vec::new();
        for p in 0..procs {
            let n = CLIENTS / procs + usize::from(p < CLIENTS % procs);
            let cmd = client_command(kind, url, n, Some(ROOM), &format!("b{p}-"), 100)?;
            let name = format!("clients-{}-b{p}", kind.arg());
            started.push((n, Proc::spawn(logs, &name, cmd)?));
        }
        let timeout = Duration::from_secs(60 + (CLIENTS / 100) as u64);
        started
            .into_iter()
            .map(|(n, mut proc)| {
                let ready = proc.expect("ready", None, timeout)?;
                if ready["failed"].as_u64() != Some(0) {
                    let why = format!(
                        "{} of {n} connections failed: {}",
                        ready["failed"], ready["errors"]
                    );
                    return Err(proc.fail(&why));
                }
                Ok(Clients { proc, ready })
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// 3. Memory per idle connection
// ---------------------------------------------------------------------------

struct Memory {
    rss_idle: u64,
    rss_warm: u64,
    rss_after: u64,
    per_conn_kb: f64,
    peers_seen: Option<u64>,
}

fn idle_memory(
    logs: &Logs,
    kind: Kind,
    url: &str,
    server_pid: u32,
    settle: &mut dyn FnMut() -> Res<()>,
) -> Res<Memory> {
    let rss = |settle: &mut dyn FnMut() -> Res<()>| -> Res<u64> {
        settle()?;
        std::thread::sleep(Duration::from_millis(200));
        proc_status_kb(server_pid, "VmRSS")
    };
    let rss_idle = rss(settle)?;
    let warm = Clients::start(logs, kind, url, WARM_CONNECTIONS, None, "w", 100)?;
    let rss_warm = rss(settle)?;
    let idle = Clients::start(logs, kind, url, IDLE_CONNECTIONS, None, "i", 100)?;
    std::thread::sleep(Duration::from_millis(700));
    let rss_after = rss(settle)?;
    let peers_seen = match kind {
        Kind::Ours => {
            let port = url
                .trim_start_matches("ws://127.0.0.1:")
                .trim_end_matches('/')
                .parse::<u16>()?;
            http_get_json(port, "/health")?["peers"].as_u64()
        }
        Kind::Theirs => None,
    };
    drop(idle);
    drop(warm);
    Ok(Memory {
        rss_idle,
        rss_warm,
        rss_after,
        per_conn_kb: rss_after.saturating_sub(rss_warm) as f64 / IDLE_CONNECTIONS as f64,
        peers_seen,
    })
}

// ---------------------------------------------------------------------------
// 1 and 2. Delivery rounds
// ---------------------------------------------------------------------------

struct Side {
    label: &'static str,
    emitter: Emitter,
    clients: Vec<Clients>,
    server_pid: u32,
}

struct Pids {
    redis: u32,
    bench: u32,
}

#[derive(Default, Clone, Copy)]
struct Cpu {
    server: f64,
    clients: f64,
    redis: f64,
    bench: f64,
}

struct Round {
    /// The smallest latency, ms: below zero the two clocks would disagree.
    min: f64,
    count: u64,
    rate: f64,
    publish_rate: f64,
    p50: f64,
    p99: f64,
    per_client_min: u64,
    per_client_max: u64,
    cpu: Cpu,
    wall: f64,
}

impl Side {
    fn cpu(&self, clock: &Clock, pids: &Pids) -> Cpu {
        Cpu {
            server: cpu_seconds(self.server_pid, clock.tick),
            clients: self
                .clients
                .iter()
                .map(|c| cpu_seconds(c.proc.pid(), clock.tick))
                .sum(),
            redis: cpu_seconds(pids.redis, clock.tick),
            bench: cpu_seconds(pids.bench, clock.tick),
        }
    }

    /// Publishes `m` messages at `rate`/s to the room; the clients count deliveries.
    fn round(&mut self, clock: &Clock, pids: &Pids, id: u64, m: usize, rate: f64) -> Res<Round> {
        let timeout = Duration::from_secs(90);
        for c in &mut self.clients {
            let share = c.ready["connected"].as_u64().unwrap_or(0) * m as u64;
            c.proc.send(&json!({
                "cmd": "measure", "id": id, "expect": share,
                "timeout_ms": timeout.as_millis() as u64, "idle_ms": 3000,
            }))?;
        }
        for c in &mut self.clients {
            c.proc.expect("armed", Some(id), Duration::from_secs(10))?;
        }
        let cpu0 = self.cpu(clock, pids);
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = Instant::now();
        let first_publish = measure::wall_ms();
        for seq in 0..m {
            let due = start + interval * seq as u32;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            self.emitter.emit(json!({
                "type": "message", "subtype": "bench",
                "data": {"run": id, "seq": seq, "t": measure::wall_ms(), "text": TEXT},
            }))?;
        }
        let publish_rate = m as f64 / start.elapsed().as_secs_f64();
        let mut count = 0;
        let mut last_rx = first_publish;
        let mut per_client = (u64::MAX, 0);
        let mut lat: Vec<i64> = Vec::with_capacity(m * CLIENTS);
        for c in &mut self.clients {
            let r = c
                .proc
                .expect("result", Some(id), timeout + Duration::from_secs(10))?;
            count += r["count"].as_u64().unwrap_or(0);
            last_rx = last_rx.max(r["last_rx"].as_f64().unwrap_or(0.0));
            per_client.0 = per_client.0.min(r["per_client_min"].as_u64().unwrap_or(0));
            per_client.1 = per_client.1.max(r["per_client_max"].as_u64().unwrap_or(0));
            if let Some(v) = r["lat_us"].as_array() {
                lat.extend(v.iter().filter_map(Value::as_i64));
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu1 = self.cpu(clock, pids);
        if count == 0 || lat.is_empty() {
            return Err(format!("{}: round {id}: no message delivered", self.label).into());
        }
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        Ok(Round {
            count,
            rate: count as f64 / ((last_rx - first_publish) / 1000.0),
            publish_rate,
            p50: pct(0.5),
            p99: pct(0.99),
            min: pct(0.0),
            per_client_min: per_client.0,
            per_client_max: per_client.1,
            cpu: Cpu {
                server: cpu1.server - cpu0.server,
                clients: cpu1.clients - cpu0.clients,
                redis: cpu1.redis - cpu0.redis,
                bench: cpu1.bench - cpu0.bench,
            },
            wall,
        })
    }
}

// ---------------------------------------------------------------------------
// 4. Capacity
// ---------------------------------------------------------------------------

/// How long the connections are held before they are counted.
const HOLD: Duration = Duration::from_secs(3);

struct Capacity {
    held: usize,
    failed: u64,
    errors: String,
    connect_ms: f64,
    rss_idle: u64,
    rss_kb: u64,
    health_connections: u64,
    health_peers: u64,
    nofile: (String, String),
}

fn capacity(logs: &Logs, redis_url: &str) -> Res<Capacity> {
    let server = OursServer::start(logs, redis_url, "ours-capacity")?;
    std::thread::sleep(Duration::from_millis(200));
    let rss_idle = server.proc.rss_kb()?;
    // Not Clients::start: failures here are the figure, not an error.
    let cmd = client_command(Kind::Ours, &server.url(), CAPACITY, None, "cap", 256)?;
    let mut clients = Proc::spawn(logs, "clients-capacity", cmd)?;
    let ready = clients.expect("ready", None, Duration::from_secs(180))?;
    std::thread::sleep(HOLD);
    clients.send(&json!({"cmd": "status"}))?;
    let status = clients.expect("status", None, Duration::from_secs(30))?;
    let health = server.health()?;
    let errors = match ready["errors"].as_object() {
        Some(e) if !e.is_empty() => format!(" {}", ready["errors"]),
        _ => String::new(),
    };
    Ok(Capacity {
        held: status["open"].as_u64().unwrap_or(0) as usize,
        failed: ready["failed"].as_u64().unwrap_or(0),
        errors,
        connect_ms: ready["ms"].as_f64().unwrap_or(0.0),
        rss_idle,
        rss_kb: server.proc.rss_kb()?,
        health_connections: health["connections"].as_u64().unwrap_or(0),
        health_peers: health["peers"].as_u64().unwrap_or(0),
        nofile: nofile(server.proc.pid()),
    })
}
