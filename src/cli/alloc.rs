//! What the `symple server` process asks of its allocator (jemalloc, set in `src/bin`).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The least time between two thread-cache flushes of one worker thread.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Called when a runtime worker thread runs out of work: hands the blocks its allocator
/// thread cache holds back to the shared arena, at most every [`FLUSH_EVERY`].
///
/// jemalloc trims a thread's cache only as that thread allocates more, so after a burst
/// of connects an idle server would keep every block the burst freed, and the pages
/// under them, for good (about 0.2 KB per connection at 1,000; benches/README.md,
/// "Memory per idle connection"). Busy threads park rarely, and a flush costs microseconds.
///
/// ```
/// symple::cli::worker_idle(); // harmless on any thread, at any rate
/// ```
pub fn worker_idle() {
    thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
    let now = Instant::now();
    if LAST
        .get()
        .is_some_and(|t| now.duration_since(t) < FLUSH_EVERY)
    {
        return;
    }
    LAST.set(Some(now));
    // SAFETY: "thread.tcache.flush" reads and writes nothing: null pointers, zero lengths.
    let rc = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        // The cache is off (e.g. `_RJEM_MALLOC_CONF=tcache:false`): nothing to hand back.
        tracing::trace!(rc, "thread cache flush refused");
    }
}
