//! Message ids: unique, cheap, and safe across `fork`.
//!
//! A message id needs to be unique, not secret, so it is a random per-thread base plus a
//! counter, written as a version-4 uuid. The base comes from the OS (as session tokens do) and
//! is drawn per thread and again after a fork, so forked workers never repeat each other.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's base and the fork generation it was drawn in. One base per thread needs
    /// no lock (a lock held by another thread at a fork would never be released in the child);
    /// two bases collide only if drawn within 2^64 of each other, about a 2^-58 chance.
    static BASE: Cell<Option<(u64, u128)>> = const { Cell::new(None) };
}

fn base() -> u128 {
    let generation = crate::fork::generation();
    match BASE.get() {
        Some((g, random)) if g == generation => random,
        _ => {
            let random = uuid::Uuid::new_v4().as_u128();
            BASE.set(Some((generation, random)));
            random
        }
    }
}

/// A fresh message id.
///
/// ```
/// let (a, b) = (symple::id::message_id(), symple::id::message_id());
/// assert_ne!(a, b);
/// assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
/// ```
pub fn message_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bytes = base().wrapping_add(u128::from(n)).to_be_bytes();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}
