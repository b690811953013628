//! The load-client process of the server bench: the bench binary re-executed with
//! `SYMPLE_BENCH_ROLE=clients` and
//!
//!   KIND URL N ROOMS PREFIX CONCURRENCY
//!
//! holds N WebSocket connections (`wire`; KIND `ours` or `sio`) to one server, users
//! PREFIX0..PREFIX{N-1}, on one current-thread tokio runtime. ROOMS is `-` (each client only
//! in its personal room) or a comma-separated list of rooms, each `ROOM` (every client joins
//! it) or `ROOM@K` (clients 0..K join it). benches/node/clients.js takes the same arguments
//! and commands.
//!
//! stdout carries JSON lines only; the first is
//!   {"event":"ready","connected":C,"failed":F,"retried":R,"ms":T,"errors":{...},"frames":K}
//! once every connection is up or has failed and incoming traffic (ours: presence) has been
//! quiet for 500 ms. Commands on stdin, one JSON object per line:
//!   {"cmd":"measure","id":R,"recipients":K,"messages":M,"timeout_ms":T,"idle_ms":I}
//!       -> {"event":"armed","id":R}, later {"event":"result","id":R,...}: the deliveries of
//!          run R's messages 0..M, which clients 0..K should each get once (`measure::Run`)
//!   {"cmd":"status"} -> {"event":"status","open":O,"closed":X}
//! stdin EOF ends the process (every socket closes with it).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::{spawn_local, LocalSet};

use crate::measure::{wall_us, Run};
use crate::wire::{self, Frame, Kind};
use crate::ws::{Conn, In};

/// Set (to "clients") in the environment of a client process.
pub const ROLE_ENV: &str = "SYMPLE_BENCH_ROLE";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Tries per client: a busy shared machine can stall one handshake past the timeout; a
/// browser would try again too. Retries are reported in the `ready` line.
const ATTEMPTS: u32 = 3;
const QUIET: Duration = Duration::from_millis(500);
const QUIET_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Config {
    kind: Kind,
    url: String,
    n: usize,
    /// Each room, with the number of clients (the first ones) that join it; None: all.
    rooms: Vec<(String, Option<usize>)>,
    prefix: String,
    concurrency: usize,
}

impl Config {
    fn parse(args: &[String]) -> Option<Self> {
        let [kind, url, n, rooms, prefix, concurrency] = args else {
            return None;
        };
        let rooms = if rooms == "-" {
            Vec::new()
        } else {
            rooms
                .split(',')
                .map(|r| match r.split_once('@') {
                    Some((room, k)) => Some((room.to_owned(), Some(k.parse().ok()?))),
                    None => Some((r.to_owned(), None)),
                })
                .collect::<Option<_>>()?
        };
        Some(Config {
            kind: Kind::parse(kind)?,
            url: url.clone(),
            n: n.parse().ok().filter(|&n| n > 0)?,
            rooms,
            prefix: prefix.clone(),
            concurrency: concurrency.parse().ok().filter(|&c| c > 0)?,
        })
    }

    /// The rooms client `i` joins.
    fn rooms_of(&self, i: usize) -> Vec<&str> {
        self.rooms
            .iter()
            .filter(|(_, k)| k.is_none_or(|k| i < k))
            .map(|(r, _)| r.as_str())
            .collect()
    }
}

/// Entry point of a client process; the exit code.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(config) = Config::parse(&args) else {
        out(&json!({"event": "fatal",
            "message": "usage: ours|sio URL N ROOMS|- PREFIX CONCURRENCY"}));
        return 2;
    };
    // Each connection is a descriptor: the soft limit up to the hard one.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("cannot raise the open-files limit: {e}");
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out(&json!({"event": "fatal", "message": format!("runtime: {e}")}));
            return 1;
        }
    };
    LocalSet::new().block_on(&rt, run(config));
    0
}

/// One JSON line on stdout. A bench that went away is the end of this process.
fn out(v: &Value) {
    out_line(&v.to_string());
}

fn out_line(line: &str) {
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{line}").and_then(|()| o.flush()).is_err() {
        std::process::exit(0);
    }
}

/// What the connection tasks share (one thread: cells, no locks).
struct State {
    kind: Kind,
    /// Every application frame received, bench or not.
    frames: Cell<u64>,
    last_frame: Cell<Instant>,
    open: Cell<usize>,
    ready: Cell<bool>,
    closed_after_ready: Cell<u64>,
    run: RefCell<Option<Run>>,
}

impl State {
    /// A text frame's event, received at `now` (wall µs).
    fn on_event(&self, client: usize, event: &str, now: i64) {
        self.frames.set(self.frames.get() + 1);
        if !self.ready.get() {
            self.last_frame.set(Instant::now());
        }
        let mut slot = self.run.borrow_mut();
        let Some(run) = slot.as_mut() else { return };
        let Some(fields) = wire::bench_fields(event) else {
            return;
        };
        if fields.run != run.id {
            return;
        }
        if !run.verified {
            if let Err(e) = wire::verify(self.kind, event, fields) {
                out(&json!({"event": "fatal", "message": e}));
                std::process::exit(1);
            }
            run.verified = true;
        }
        if run.record(client, fields.seq, fields.t_us, now) {
            out_line(&run.result_line());
            *slot = None;
        }
    }

    fn finish(&self) {
        if let Some(run) = self.run.borrow_mut().take() {
            out_line(&run.result_line());
        }
    }
}

async fn run(config: Config) {
    let state = Rc::new(State {
        kind: config.kind,
        frames: Cell::new(0),
        last_frame: Cell::new(Instant::now()),
        open: Cell::new(0),
        ready: Cell::new(false),
        closed_after_ready: Cell::new(0),
        run: RefCell::new(None),
    });
    let commands = read_stdin();
    let t0 = Instant::now();
    let (failed, errors, retried) = connect_all(&config, &state).await;
    let ms = t0.elapsed().as_millis() as u64;
    // Ours tells every room member about each newcomer: wait until that has been delivered.
    let quiet_since = Instant::now();
    loop {
        let now = Instant::now();
        let last = state.last_frame.get().max(quiet_since);
        if now - quiet_since >= QUIET_LIMIT || now - last >= QUIET {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    state.ready.set(true);
    out(
        &json!({"event": "ready", "connected": config.n - failed, "failed": failed,
        "retried": retried,
        "ms": ms, "errors": errors, "frames": state.frames.get()}),
    );
    spawn_local(watch_runs(state.clone()));
    control(commands, &state).await;
}

/// Connects `n` clients, `concurrency` at a time, each tried up to ATTEMPTS times; each
/// connected one gets a task of its own. Failed clients with the last error of each, and the
/// number of retries.
async fn connect_all(config: &Config, state: &Rc<State>) -> (usize, BTreeMap<String, u64>, u64) {
    let config = Rc::new(config.clone());
    let next = Rc::new(Cell::new(0usize));
    let retried = Rc::new(Cell::new(0u64));
    let errors = Rc::new(RefCell::new(BTreeMap::<String, u64>::new()));
    let workers: Vec<_> = (0..config.concurrency.min(config.n))
        .map(|_| {
            let (config, next, errors, state, retried) = (
                config.clone(),
                next.clone(),
                errors.clone(),
                state.clone(),
                retried.clone(),
            );
            spawn_local(async move {
                loop {
                    let i = next.get();
                    if i >= config.n {
                        break;
                    }
                    next.set(i + 1);
                    let (result, tries) = connect_one(&config, i).await;
                    retried.set(retried.get() + u64::from(tries) - 1);
                    match result {
                        Ok(ws) => {
                            state.open.set(state.open.get() + 1);
                            spawn_local(serve(state.clone(), i, ws));
                        }
                        Err(e) => *errors.borrow_mut().entry(e).or_default() += 1,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        if let Err(e) = w.await {
            eprintln!("a connecting task failed: {e}");
        }
    }
    let errors = errors.take();
    (errors.values().sum::<u64>() as usize, errors, retried.get())
}

/// Client `i`, ready, within ATTEMPTS tries of CONNECT_TIMEOUT each (the last error when
/// none worked), and the tries it took.
async fn connect_one(config: &Config, i: usize) -> (Result<Conn, String>, u32) {
    let user = format!("{}{i}", config.prefix);
    let rooms = config.rooms_of(i);
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let connect = wire::connect(config.kind, &config.url, &user, &rooms);
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(Ok(ws)) => return (Ok(ws), attempt),
            Ok(Err(e)) => last = e,
            Err(_) => last = format!("not ready within {} ms", CONNECT_TIMEOUT.as_millis()),
        }
    }
    (Err(last), ATTEMPTS)
}

/// Reads one connection until it closes; answers Engine.IO pings. The clock is read once per
/// `read`: the frames it brought share one receipt time.
async fn serve(state: Rc<State>, client: usize, mut ws: Conn) {
    if let Err(e) = read_all(&state, client, &mut ws).await {
        eprintln!("client {client}: {e}");
    }
    state.open.set(state.open.get() - 1);
    if state.ready.get() {
        state
            .closed_after_ready
            .set(state.closed_after_ready.get() + 1);
    }
}

async fn read_all(state: &State, client: usize, ws: &mut Conn) -> Result<(), String> {
    while ws.fill().await? {
        let now = wall_us();
        let mut ping = false;
        while let Some(frame) = ws.next()? {
            match frame {
                In::Text(text) => match wire::classify(state.kind, text) {
                    Frame::Event(event) => state.on_event(client, event, now),
                    Frame::Ping => ping = true,
                    Frame::Other => {}
                },
                In::Closed => {
                    ws.close().await;
                    return Ok(());
                }
            }
        }
        ws.answer().await?;
        if ping {
            ws.send_text("3").await?;
        }
    }
    Ok(())
}

/// Ends a run that timed out or went idle.
async fn watch_runs(state: Rc<State>) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let expired = state.run.borrow().as_ref().is_some_and(Run::expired);
        if expired {
            state.finish();
        }
    }
}

/// stdin's lines, read on a thread of their own; EOF ends the process.
fn read_stdin() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
        std::process::exit(0);
    });
    rx
}

async fn control(mut commands: mpsc::UnboundedReceiver<String>, state: &State) {
    while let Some(line) = commands.recv().await {
        let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
            out(&json!({"event": "error", "message": "invalid JSON"}));
            continue;
        };
        match cmd["cmd"].as_str() {
            Some("measure") => {
                state.finish();
                let id = cmd["id"].as_u64().unwrap_or(0);
                let ms = |k: &str, d: u64| Duration::from_millis(cmd[k].as_u64().unwrap_or(d));
                let count = |k: &str| cmd[k].as_u64().unwrap_or(0) as usize;
                *state.run.borrow_mut() = Some(Run::new(
                    id,
                    count("recipients"),
                    count("messages"),
                    ms("timeout_ms", 90_000),
                    ms("idle_ms", 2000),
                ));
                out(&json!({"event": "armed", "id": id}));
            }
            Some("status") => out(&json!({"event": "status", "open": state.open.get(),
                "closed": state.closed_after_ready.get()})),
            _ => out(&json!({"event": "error", "message": "unknown command"})),
        }
    }
}
