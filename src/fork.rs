//! Noticing a `fork` without a system call per check.
//!
//! `std::process::id()` is a `getpid` system call on every call (glibc stopped caching it),
//! and the emit path asks on every message. A `pthread_atfork` child handler bumps a counter
//! instead, so the check is one atomic load.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static HOOKED: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

#[cfg(unix)]
extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Which process this is, as far as forks go: equal values mean no fork happened in between.
/// State made before a fork compares its saved value with this one to know it is a copy.
///
/// ```
/// let a = symple::fork::generation();
/// assert_eq!(a, symple::fork::generation());
/// ```
pub fn generation() -> u64 {
    HOOK.call_once(|| {
        // SAFETY: registers a handler that only touches an atomic, which is async-signal-safe
        // and so safe in a forked child.
        #[cfg(unix)]
        let ok = unsafe { libc::pthread_atfork(None, None, Some(in_child)) } == 0;
        #[cfg(not(unix))]
        let ok = false;
        HOOKED.store(ok, Ordering::Relaxed);
    });
    if HOOKED.load(Ordering::Relaxed) {
        GENERATION.load(Ordering::Relaxed)
    } else {
        // No handler (out of memory at registration): the slow, always-right answer.
        u64::from(std::process::id()) | 1 << 63
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::generation;

    #[test]
    fn a_forked_child_sees_a_new_generation() {
        let parent = generation();
        // SAFETY: the child only reads an atomic and exits; it touches no locks.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = if generation() != parent { 0 } else { 1 };
            // SAFETY: leaves the child at once, without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(
            generation(),
            parent,
            "the parent's generation never changes"
        );
    }
}
