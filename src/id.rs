//! Message ids: unique, cheap, and safe across `fork`.
//!
//! A message id needs to be unique, not secret, so it is a random per-process base plus a
//! counter, written as a version-4 uuid. The base comes from the OS (as session tokens do) and
//! is drawn again when the process id changes, so forked workers never repeat each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

struct Base {
    pid: u32,
    random: u128,
}

static BASE: Mutex<Option<Base>> = Mutex::new(None);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh message id.
///
/// ```
/// let (a, b) = (symple::id::message_id(), symple::id::message_id());
/// assert_ne!(a, b);
/// assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
/// ```
pub fn message_id() -> String {
    let pid = std::process::id();
    let random = {
        let mut base = BASE.lock().unwrap_or_else(|p| p.into_inner());
        match &*base {
            Some(b) if b.pid == pid => b.random,
            _ => {
                let random = uuid::Uuid::new_v4().as_u128();
                *base = Some(Base { pid, random });
                random
            }
        }
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bytes = random.wrapping_add(u128::from(n)).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}
