//! A token bucket per peer: `capacity` messages, refilled evenly over `window`.

use std::time::{Duration, Instant};

/// Rate limiter; excess messages are dropped, and the first drop of a burst is reported.
///
/// ```
/// use std::time::{Duration, Instant};
/// let t0 = Instant::now();
/// let mut b = symple::server::TokenBucket::new(2.0, Duration::from_secs(10), t0);
/// assert!(b.take(t0).is_ok());
/// assert!(b.take(t0).is_ok());
/// assert_eq!(b.take(t0), Err(true));  // first drop: report it
/// assert_eq!(b.take(t0), Err(false)); // later drops in the same burst: silent
/// assert!(b.take(t0 + Duration::from_secs(5)).is_ok()); // one token back after 5 s
/// ```
#[derive(Debug)]
pub struct TokenBucket {
    // f32: every connection holds one for life, and a message count needs no more precision.
    capacity: f32,
    per_second: f32,
    tokens: f32,
    last: Instant,
    limited: bool,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, window: Duration, now: Instant) -> Self {
        TokenBucket {
            capacity: capacity as f32,
            per_second: (capacity / window.as_secs_f64().max(f64::EPSILON)) as f32,
            tokens: capacity as f32,
            last: now,
            limited: false,
        }
    }

    /// Takes a token. `Err(report)` when empty: `report` is true for the first drop since
    /// the last accepted message.
    pub fn take(&mut self, now: Instant) -> Result<(), bool> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f32();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.limited = false;
            Ok(())
        } else {
            let first = !self.limited;
            self.limited = true;
            Err(first)
        }
    }
}
