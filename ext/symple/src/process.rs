//! `Symple::Native`'s process hooks, called by `lib/symple/process_hooks.rb` from
//! `Process._fork` and `at_exit`: flush queued emitters, and the fork gate.
//!
//! Why a gate: a forked child has only the forking thread. Had another thread been in the
//! middle of a Redis call, holding a connection's mutex, the child's copy of that mutex would
//! stay locked forever and the child's first emit would hang. So every Redis call made from
//! Ruby holds a [`Pass`], and `before_fork` closes the gate and waits until no pass is out.
//! The gate is plain atomics: unlike a mutex, they mean the same thing in the child.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use magnus::{function, Error, RArray, RModule, Ruby};

use crate::{emitter, errors, nogvl};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static FORKING: AtomicBool = AtomicBool::new(false);

/// How often a waiting thread looks at the gate again; waits last one Redis call at most.
const POLL: Duration = Duration::from_millis(1);

/// Held for the length of one Redis call.
pub struct Pass(());

impl Pass {
    /// Waits while a fork is being prepared, then holds the gate open.
    pub fn enter() -> Pass {
        loop {
            while FORKING.load(SeqCst) {
                thread::sleep(POLL);
            }
            IN_FLIGHT.fetch_add(1, SeqCst);
            if !FORKING.load(SeqCst) {
                return Pass(());
            }
            IN_FLIGHT.fetch_sub(1, SeqCst);
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, SeqCst);
    }
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let _ = ruby;
    native.define_module_function("before_fork", function!(before_fork, 0))?;
    native.define_module_function("after_fork", function!(after_fork, 0))?;
    native.define_module_function("flush_all", function!(flush_all, 0))?;
    native.define_module_function("forking?", function!(forking, 0))?;
    Ok(())
}

/// Flushes queued emitters, then closes the gate and waits (without the GVL) for Redis calls
/// in flight to end. Returns the flush failures as messages; the fork goes ahead regardless.
fn before_fork(ruby: &Ruby) -> Result<RArray, Error> {
    errors::guard(ruby, || {
        let failures = emitter::flush_all(ruby)?;
        FORKING.store(true, SeqCst);
        let waited = nogvl::without_gvl(|| {
            while IN_FLIGHT.load(SeqCst) > 0 {
                thread::sleep(POLL);
            }
        });
        if let Err(e) = waited {
            FORKING.store(false, SeqCst);
            return Err(e);
        }
        Ok(ruby.ary_from_vec(failures))
    })
}

/// Opens the gate again, in the parent and in the child.
fn after_fork() {
    FORKING.store(false, SeqCst);
}

/// Flushes every live queued emitter; returns the failures as messages.
fn flush_all(ruby: &Ruby) -> Result<RArray, Error> {
    errors::guard(ruby, || Ok(ruby.ary_from_vec(emitter::flush_all(ruby)?)))
}

/// Whether a fork is waiting at the gate (for specs).
fn forking() -> bool {
    FORKING.load(SeqCst)
}
