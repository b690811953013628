//! Ruby exceptions for symple errors. The classes are defined in `lib/symple/errors.rb`
//! (loaded before this extension, so Ruby code can document and rescue them); here they are
//! looked up once at load time and every `symple::Error` is mapped to one of them.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use magnus::value::Opaque;
use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby};

/// The exception classes, in the order of [`NAMES`].
#[derive(Clone, Copy)]
pub enum Kind {
    Base,
    Connection,
    Redis,
    InvalidMessage,
    InvalidAddress,
    MissingRecipient,
    ReservedEvent,
    Unsupported,
    InvalidSession,
    Configuration,
}

const NAMES: [&str; 10] = [
    "Error",
    "ConnectionError",
    "RedisError",
    "InvalidMessage",
    "InvalidAddress",
    "MissingRecipient",
    "ReservedEvent",
    "Unsupported",
    "InvalidSession",
    "ConfigurationError",
];

static CLASSES: OnceLock<Vec<Opaque<ExceptionClass>>> = OnceLock::new();

/// Looks the classes up under `Symple`; a missing one fails the `require` with a NameError.
pub fn init(symple: RModule) -> Result<(), Error> {
    let classes = NAMES
        .iter()
        .map(|name| {
            symple
                .const_get::<_, ExceptionClass>(*name)
                .map(Opaque::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let _ = CLASSES.set(classes);
    Ok(())
}

fn class(ruby: &Ruby, kind: Kind) -> ExceptionClass {
    CLASSES
        .get()
        .and_then(|c| c.get(kind as usize))
        .map(|c| ruby.get_inner(*c))
        .unwrap_or_else(|| ruby.exception_standard_error())
}

/// A `Symple::<kind>` exception with `message`.
pub fn new(ruby: &Ruby, kind: Kind, message: impl Into<String>) -> Error {
    Error::new(class(ruby, kind), message.into())
}

/// Shorthand for the most common one.
pub fn invalid_message(ruby: &Ruby, message: impl Into<String>) -> Error {
    new(ruby, Kind::InvalidMessage, message)
}

/// The Ruby exception for a crate error; its message is the crate's, which names the problem.
pub fn from_symple(ruby: &Ruby, err: symple::Error) -> Error {
    use symple::Error as E;
    let kind = if err.is_connection() {
        Kind::Connection
    } else {
        #[allow(unreachable_patterns)] // variants added to the crate later map to Symple::Error
        match &err {
            E::InvalidAddress(_) => Kind::InvalidAddress,
            E::InvalidMessage(_) | E::Json(_) => Kind::InvalidMessage,
            E::MissingRecipient => Kind::MissingRecipient,
            E::ReservedEvent(_) => Kind::ReservedEvent,
            E::Unsupported(_) => Kind::Unsupported,
            E::InvalidSession(_) => Kind::InvalidSession,
            E::InvalidUrl { .. } | E::InvalidConfig(_) => Kind::Configuration,
            E::Redis(_) => Kind::Redis,
            E::Connection { .. } | E::WriterStopped => Kind::Connection,
            _ => Kind::Base,
        }
    };
    new(ruby, kind, err.to_string())
}

/// A panic is a bug in this extension or the crate; Ruby gets a `Symple::Error` instead of
/// magnus's process-ending `fatal`.
pub fn from_panic(ruby: &Ruby, payload: Box<dyn Any + Send>) -> Error {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    new(
        ruby,
        Kind::Base,
        format!("internal error in the symple extension (please report it): {what}"),
    )
}

/// Runs a method body so that no panic reaches Ruby.
pub fn guard<T>(ruby: &Ruby, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(from_panic(ruby, p)))
}
