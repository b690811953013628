//! Delivery rounds: a backend publishes numbered messages into Redis at a set rate, each to a
//! room of one side (a server with one set of load clients), and the client processes count
//! what arrives (per client and message: lost, duplicated, misrouted) and when.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use symple::Emitter;

use crate::common::Res;
use crate::measure;
use crate::procs::{cpu_seconds, Clock, Proc};
use crate::servers::{ClientKind, Clients, ServerKind};

/// A ~200-byte message, like the emit bench's.
pub const TEXT: &str =
    "Build 4812 passed on main; deploying to staging in five minutes. Build 4813 queued.";

/// What the backend of a side publishes with.
pub enum Publisher {
    /// Our emitter, in this process (native target for ours, Socket.IO for symple@2.1.1).
    Symple(Emitter),
    /// socketioxide-emitter in the peer's `publish` process.
    Socketioxide(Proc),
}

impl Publisher {
    fn pid(&self) -> u32 {
        match self {
            Publisher::Symple(_) => std::process::id(),
            Publisher::Socketioxide(p) => p.pid(),
        }
    }

    /// Publishes messages 0..m of run `id` to `room`, `rate` per second, each one waited for
    /// (one at a time, both publishers); the rate achieved.
    fn publish(&mut self, id: u64, room: &str, m: usize, rate: f64) -> Res<f64> {
        match self {
            Publisher::Symple(emitter) => {
                let emitter = emitter.to(room);
                let interval = Duration::from_secs_f64(1.0 / rate);
                let start = Instant::now();
                for seq in 0..m {
                    let due = start + interval * seq as u32;
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    emitter.emit(json!({
                        "type": "message", "subtype": "bench",
                        "data": {"run": id, "seq": seq, "t": measure::wall_ms(), "text": TEXT},
                    }))?;
                }
                Ok(m as f64 / start.elapsed().as_secs_f64())
            }
            Publisher::Socketioxide(proc) => {
                proc.send(&json!({"cmd": "publish", "run": id, "m": m, "rate": rate,
                    "room": room, "text": TEXT}))?;
                let timeout = Duration::from_secs_f64(m as f64 / rate + 30.0);
                let v = proc.expect("published", None, timeout)?;
                Ok(v["rate"].as_f64().unwrap_or(0.0))
            }
        }
    }
}

/// A server with one set of load clients and the backend that publishes to them.
pub struct Side {
    pub server: ServerKind,
    pub client: ClientKind,
    pub server_pid: u32,
    pub clients: Vec<Clients>,
    pub publisher: Publisher,
    /// The room every client of the set is in, and the one the first `small` clients (spread
    /// evenly over the processes) are in too.
    pub room: String,
    pub small_room: String,
    pub small_per_proc: usize,
}

/// What a round asks: `messages` at `rate`/s to the whole set (`small` false) or to its small
/// room.
#[derive(Clone, Copy)]
pub struct Scenario {
    pub messages: usize,
    pub rate: f64,
    pub small: bool,
}

#[derive(Default, Clone, Copy)]
pub struct Cpu {
    pub server: f64,
    pub clients: f64,
    pub redis: f64,
    pub publisher: f64,
}

pub struct Round {
    /// Deliveries expected: recipients × messages.
    pub expected: u64,
    /// First deliveries of a message to a recipient.
    pub count: u64,
    pub duplicates: u64,
    /// Deliveries to clients outside the addressed room.
    pub wrong: u64,
    pub rate: f64,
    pub publish_rate: f64,
    pub p50: f64,
    pub p99: f64,
    /// The smallest latency, ms: below zero the two clocks would disagree.
    pub min: f64,
    pub per_client_min: u64,
    pub per_client_max: u64,
    pub cpu: Cpu,
    pub wall: f64,
}

impl Round {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.count)
    }
}

impl Side {
    pub fn label(&self) -> String {
        format!("{} / {}", self.server.label(), self.client.label())
    }

    fn cpu(&self, clock: &Clock, redis_pid: u32) -> Cpu {
        Cpu {
            server: cpu_seconds(self.server_pid, clock.tick),
            clients: self
                .clients
                .iter()
                .map(|c| cpu_seconds(c.proc.pid(), clock.tick))
                .sum(),
            redis: cpu_seconds(redis_pid, clock.tick),
            publisher: cpu_seconds(self.publisher.pid(), clock.tick),
        }
    }

    /// One round of `scenario`, numbered `id`.
    pub fn round(&mut self, clock: &Clock, redis_pid: u32, id: u64, s: Scenario) -> Res<Round> {
        let timeout = Duration::from_secs(90);
        let mut expected = 0;
        for c in &mut self.clients {
            let recipients = if s.small {
                c.connected().min(self.small_per_proc)
            } else {
                c.connected()
            };
            expected += (recipients * s.messages) as u64;
            c.proc.send(&json!({
                "cmd": "measure", "id": id, "recipients": recipients, "messages": s.messages,
                "timeout_ms": timeout.as_millis() as u64, "idle_ms": 3000,
            }))?;
        }
        for c in &mut self.clients {
            c.proc.expect("armed", Some(id), Duration::from_secs(10))?;
        }
        let cpu0 = self.cpu(clock, redis_pid);
        let start = Instant::now();
        let first_publish = measure::wall_ms();
        let room = if s.small {
            &self.small_room
        } else {
            &self.room
        };
        let publish_rate = self.publisher.publish(id, room, s.messages, s.rate)?;
        let mut r = Round {
            expected,
            count: 0,
            duplicates: 0,
            wrong: 0,
            rate: 0.0,
            publish_rate,
            p50: 0.0,
            p99: 0.0,
            min: 0.0,
            per_client_min: u64::MAX,
            per_client_max: 0,
            cpu: Cpu::default(),
            wall: 0.0,
        };
        let mut last_rx = first_publish;
        let mut lat: Vec<i64> = Vec::with_capacity(expected as usize);
        for c in &mut self.clients {
            let v = c
                .proc
                .expect("result", Some(id), timeout + Duration::from_secs(10))?;
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            r.count += n("count");
            r.duplicates += n("duplicates");
            r.wrong += n("wrong");
            r.per_client_min = r.per_client_min.min(n("per_client_min"));
            r.per_client_max = r.per_client_max.max(n("per_client_max"));
            last_rx = last_rx.max(v["last_rx"].as_f64().unwrap_or(0.0));
            if let Some(l) = v["lat_us"].as_array() {
                lat.extend(l.iter().filter_map(Value::as_i64));
            }
        }
        r.wall = start.elapsed().as_secs_f64();
        let cpu1 = self.cpu(clock, redis_pid);
        if r.count == 0 || lat.is_empty() {
            return Err(format!("{}: round {id}: no message delivered", self.label()).into());
        }
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        r.p50 = pct(0.5);
        r.p99 = pct(0.99);
        r.min = pct(0.0);
        r.rate = r.count as f64 / ((last_rx - first_publish) / 1000.0);
        r.cpu = Cpu {
            server: cpu1.server - cpu0.server,
            clients: cpu1.clients - cpu0.clients,
            redis: cpu1.redis - cpu0.redis,
            publisher: cpu1.publisher - cpu0.publisher,
        };
        Ok(r)
    }
}
