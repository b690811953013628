//! One measuring run in a client process: deliveries of the bench messages of run `id`, with
//! the latency of each, until `expect` arrived, nothing came for `idle`, or `timeout` passed.

use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch with microseconds (CLOCK_REALTIME): the clock the publisher
/// stamps `data.t` with.
pub fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_micros() as f64 / 1000.0)
}

pub struct Run {
    pub id: u64,
    /// Whether a hit of this run has been checked against a full JSON parse.
    pub verified: bool,
    expect: u64,
    timeout: Duration,
    idle: Duration,
    armed: Instant,
    count: u64,
    /// Receipt − `data.t`, µs, the first `expect` deliveries.
    lat_us: Vec<i64>,
    per_client: Vec<u32>,
    first_rx: f64,
    last_rx: f64,
}

impl Run {
    pub fn new(id: u64, expect: u64, timeout: Duration, idle: Duration, clients: usize) -> Self {
        Run {
            id,
            verified: false,
            expect,
            timeout,
            idle,
            armed: Instant::now(),
            count: 0,
            lat_us: Vec::with_capacity(expect as usize),
            per_client: vec![0; clients],
            first_rx: 0.0,
            last_rx: 0.0,
        }
    }

    /// Counts a delivery to `client` stamped `t` (wall ms); true once `expect` arrived. One
    /// clock read per delivery.
    pub fn record(&mut self, client: usize, t: f64) -> bool {
        let now = wall_ms();
        if (self.lat_us.len() as u64) < self.expect {
            self.lat_us.push(((now - t) * 1000.0).round() as i64);
        }
        self.count += 1;
        if let Some(c) = self.per_client.get_mut(client) {
            *c += 1;
        }
        if self.count == 1 {
            self.first_rx = now;
        }
        self.last_rx = now;
        self.count >= self.expect
    }

    /// Past the timeout, or idle since the last delivery.
    pub fn expired(&self) -> bool {
        self.armed.elapsed() > self.timeout
            || (self.count > 0 && wall_ms() - self.last_rx > self.idle.as_secs_f64() * 1000.0)
    }

    /// The `result` line: counts, first and last receipt (wall ms), every latency (µs).
    pub fn result_line(&self) -> String {
        let min = self.per_client.iter().min().copied().unwrap_or(0);
        let max = self.per_client.iter().max().copied().unwrap_or(0);
        let mut s = String::with_capacity(128 + self.lat_us.len() * 8);
        let _ = write!(
            s,
            r#"{{"event":"result","id":{},"count":{},"first_rx":{},"last_rx":{},"per_client_min":{min},"per_client_max":{max},"lat_us":["#,
            self.id, self.count, self.first_rx, self.last_rx,
        );
        for (i, l) in self.lat_us.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{l}");
        }
        s.push_str("]}");
        s
    }
}
