//! Redis I/O with the GVL released, so other Ruby threads keep running while a call waits on
//! Redis.
//!
//! The closure given to [`io`] runs without the GVL: it must not touch Ruby (no Ruby objects,
//! no raising), only Rust values converted beforehand. It also passes the fork gate (see
//! `process.rs`), so no `fork` happens while it holds a connection's lock. No unblocking
//! function is given: `Thread#raise`/`kill` take effect when the call returns, which the
//! connection's timeouts bound (2 s to connect, 5 s per reply by default).

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;

use magnus::{Error, Ruby};

use crate::{errors, process};

/// Runs `f` without the GVL and maps its error (or a panic) to a Ruby exception.
pub fn io<T>(ruby: &Ruby, f: impl FnOnce() -> symple::Result<T>) -> Result<T, Error> {
    let outcome = without_gvl(|| {
        let _pass = process::Pass::enter();
        f()
    })?;
    match outcome {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(errors::from_symple(ruby, e)),
        Err(panic) => Err(errors::from_panic(ruby, panic)),
    }
}

struct Call<F, T> {
    f: Option<F>,
    out: Option<std::thread::Result<T>>,
}

unsafe extern "C" fn run<F: FnOnce() -> T, T>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `without_gvl` keeps alive for this whole call.
    let call = unsafe { &mut *(data as *mut Call<F, T>) };
    if let Some(f) = call.f.take() {
        call.out = Some(catch_unwind(AssertUnwindSafe(f)));
    }
    null_mut()
}

/// Runs `f` without the GVL; a panic inside is caught there (unwinding through Ruby's C frames
/// is undefined behaviour) and handed back.
pub fn without_gvl<F: FnOnce() -> T, T>(f: F) -> Result<std::thread::Result<T>, Error> {
    let mut call = Call {
        f: Some(f),
        out: None,
    };
    let data = &mut call as *mut Call<F, T> as *mut c_void;
    // rb_protect: an interrupt raised on the way back (Thread#raise, kill) must not longjmp
    // over Rust frames; it comes back as an Err and is re-raised by magnus.
    magnus::rb_sys::protect(|| {
        // SAFETY: `run::<F, T>` matches `data`'s type and touches no Ruby state.
        unsafe {
            rb_sys::rb_thread_call_without_gvl(Some(run::<F, T>), data, None, null_mut());
        }
        rb_sys::Qnil as rb_sys::VALUE
    })?;
    Ok(call
        .out
        .unwrap_or_else(|| Err(Box::new("the call without the GVL did not run"))))
}
