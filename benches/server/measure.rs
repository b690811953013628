//! One measuring run in a client process: the bench messages of run `id` (numbered
//! 0..messages) as clients 0..recipients receive them, until each recipient has each message,
//! nothing came for `idle`, or `timeout` passed. Deliveries are told apart per client and
//! message, so the result separates lost, duplicated and misrouted ones.
//! benches/node/clients.js keeps the same account.

use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch with microseconds (CLOCK_REALTIME): the clock the publisher
/// stamps `data.t` with.
pub fn wall_ms() -> f64 {
    wall_us() as f64 / 1000.0
}

/// The same clock in integer microseconds.
pub fn wall_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

pub struct Run {
    pub id: u64,
    /// Whether a hit of this run has been checked against a full JSON parse.
    pub verified: bool,
    recipients: usize,
    messages: usize,
    timeout: Duration,
    idle: Duration,
    armed: Instant,
    /// First deliveries of a message to a recipient.
    unique: u64,
    /// Second and later deliveries of the same message to the same recipient.
    duplicates: u64,
    /// Deliveries to clients that are not recipients, or with a number out of range.
    wrong: u64,
    /// Receipt − `data.t`, µs, one per unique delivery.
    lat_us: Vec<i64>,
    per_client: Vec<u32>,
    /// One bit per (recipient, message).
    seen: Vec<u64>,
    /// Wall µs.
    first_rx: i64,
    last_rx: i64,
}

impl Run {
    pub fn new(
        id: u64,
        recipients: usize,
        messages: usize,
        timeout: Duration,
        idle: Duration,
    ) -> Self {
        let expect = recipients * messages;
        Run {
            id,
            verified: false,
            recipients,
            messages,
            timeout,
            idle,
            armed: Instant::now(),
            unique: 0,
            duplicates: 0,
            wrong: 0,
            lat_us: Vec::with_capacity(expect),
            per_client: vec![0; recipients],
            seen: vec![0; expect.div_ceil(64)],
            first_rx: 0,
            last_rx: 0,
        }
    }

    fn expect(&self) -> u64 {
        (self.recipients * self.messages) as u64
    }

    /// Counts a delivery of message `seq` stamped `t_us` (wall µs) to `client`, received at
    /// `now` (wall µs); true once every recipient has every message.
    pub fn record(&mut self, client: usize, seq: u32, t_us: i64, now: i64) -> bool {
        let seq = seq as usize;
        if client >= self.recipients || seq >= self.messages {
            self.wrong += 1;
            return false;
        }
        let bit = client * self.messages + seq;
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if self.seen[word] & mask != 0 {
            self.duplicates += 1;
            return false;
        }
        self.seen[word] |= mask;
        self.unique += 1;
        self.per_client[client] += 1;
        self.lat_us.push(now - t_us);
        if self.unique == 1 {
            self.first_rx = now;
        }
        self.last_rx = now;
        self.unique >= self.expect()
    }

    /// Past the timeout, or idle since the last delivery.
    pub fn expired(&self) -> bool {
        self.armed.elapsed() > self.timeout
            || (self.unique > 0 && wall_us() - self.last_rx > self.idle.as_micros() as i64)
    }

    /// The `result` line: counts, first and last receipt (wall ms), every latency (µs).
    pub fn result_line(&self) -> String {
        let min = self.per_client.iter().min().copied().unwrap_or(0);
        let max = self.per_client.iter().max().copied().unwrap_or(0);
        let mut s = String::with_capacity(160 + self.lat_us.len() * 8);
        let _ = write!(
            s,
            r#"{{"event":"result","id":{},"count":{},"duplicates":{},"wrong":{},"first_rx":{},"last_rx":{},"per_client_min":{min},"per_client_max":{max},"lat_us":["#,
            self.id,
            self.unique,
            self.duplicates,
            self.wrong,
            self.first_rx as f64 / 1000.0,
            self.last_rx as f64 / 1000.0,
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
