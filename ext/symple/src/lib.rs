//! The native half of the `symple` gem: `Symple::Native::Emitter` and
//! `Symple::Native::SessionStore` over the `symple` crate, plus the process hooks.
//! `lib/symple/*.rb` builds the documented Ruby API on these; nothing here re-implements what
//! the crate does.
//!
//! One file per Ruby class (`emitter.rs`, `session.rs`), `errors.rs` for the exception
//! mapping, `convert.rs` for Ruby <-> JSON values, `view.rs` for reading plain Ruby messages
//! straight into packet bytes, `nogvl.rs` for releasing the GVL around
//! Redis I/O, `process.rs` for fork and exit.

mod convert;
mod emitter;
mod errors;
mod nogvl;
mod process;
mod session;
mod view;

use magnus::{prelude::*, Error, Ruby};

#[magnus::init(name = "symple_native")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let symple = ruby.define_module("Symple")?;
    errors::init(symple)?;
    let native = symple.define_module("Native")?;
    emitter::init(ruby, native)?;
    session::init(ruby, native)?;
    process::init(ruby, native)?;
    Ok(())
}
