//! One error type for the crate, with messages a user can act on.

use std::fmt;

/// Everything that can go wrong while building, encoding or publishing a packet, or while
/// managing a session.
///
/// ```
/// use symple::{Address, Error};
/// let err = "".parse::<Address>().unwrap_err();
/// assert!(matches!(err, Error::InvalidAddress(_)));
/// assert!(err.to_string().contains("address"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address was empty or otherwise not of the `user|id` form.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// A message or one of its fields is malformed.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// A packet for the native server was built without a `to`.
    #[error("no recipient: the native target needs `to` (a user, a `user|id` address or rooms); a message without one is dropped by every native server")]
    MissingRecipient,
    /// A Socket.IO event name that Socket.IO reserves for itself.
    #[error("\"{0}\" is a reserved Socket.IO event name")]
    ReservedEvent(String),
    /// An option that the chosen target cannot honour.
    #[error("unsupported on this target: {0}")]
    Unsupported(String),
    /// Text that should have been JSON was not.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Invalid session input or a malformed value stored under a session key.
    #[error("invalid session: {0}")]
    InvalidSession(String),
    /// A Redis URL (or its TLS settings) that cannot be used: nothing was sent.
    #[error("invalid Redis URL ({url}): {reason}")]
    InvalidUrl {
        /// The URL with any password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis could not be reached, the connection broke, Redis did not answer in time, or it
    /// refused the login.
    #[error("redis connection error ({url}): {}{hint}", describe(source))]
    Connection {
        /// The URL with any password masked.
        url: String,
        /// What the redis client reported.
        source: redis::RedisError,
        /// What to check, when the cause is a likely one (empty otherwise).
        hint: String,
    },
    /// Redis answered a command with an error.
    #[error("redis error: {0}")]
    Redis(redis::RedisError),
    /// The background writer of a queued emitter has stopped.
    #[error("the emitter's background writer has stopped")]
    WriterStopped,
    /// A setting that cannot work (a server flag or environment variable, a TLS file).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The operating system refused something the program needs (listening on a port,
    /// starting a thread or a runtime).
    #[error("{what}: {}", describe_io(source))]
    Io {
        /// What was being done, e.g. "cannot listen on 0.0.0.0:4500".
        what: String,
        /// What the system reported.
        source: std::io::Error,
    },
}

/// Shorthand for `Result<T, symple::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the error comes from the connection to Redis rather than from the input.
    ///
    /// ```
    /// assert!(!symple::Error::MissingRecipient.is_connection());
    /// ```
    pub fn is_connection(&self) -> bool {
        match self {
            Error::Connection { .. } | Error::WriterStopped => true,
            Error::Redis(e) => is_io(e) || is_auth(e),
            _ => false,
        }
    }

    /// The `symple` command's exit status for this error: 1 when something outside the
    /// command failed (Redis unreachable or silent, a port already in use), 2 when the
    /// command itself was wrong (bad input, flags or configuration); nothing was done.
    ///
    /// ```
    /// assert_eq!(symple::Error::MissingRecipient.exit_code(), 2);
    /// assert_eq!(symple::Error::WriterStopped.exit_code(), 1);
    /// ```
    pub fn exit_code(&self) -> u8 {
        if self.is_connection() || matches!(self, Error::Io { .. }) {
            1
        } else {
            2
        }
    }

    pub(crate) fn from_redis(url: &Redacted, err: redis::RedisError) -> Self {
        if is_io(&err) || is_auth(&err) {
            Error::Connection {
                url: url.to_string(),
                hint: crate::redis::hint(&url.0, &err),
                source: err,
            }
        } else {
            Error::Redis(err)
        }
    }
}

/// A timeout says so (the OS's text for it is "Resource temporarily unavailable").
fn describe(err: &redis::RedisError) -> String {
    if err.is_timeout() {
        "timed out: Redis did not answer within the timeout (connect_timeout to connect, response_timeout per reply)".to_owned()
    } else {
        err.to_string()
    }
}

/// The common cases in plain words, the rest as the OS puts it.
fn describe_io(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::AddrInUse => {
            "address in use (another process listens there)".to_owned()
        }
        std::io::ErrorKind::AddrNotAvailable => "address not available on this machine".to_owned(),
        std::io::ErrorKind::PermissionDenied => format!("permission denied ({err})"),
        _ => err.to_string(),
    }
}

/// A refused login or a missing permission: a problem with the connection's settings (exit
/// code 1 in the CLI), not with the input.
pub(crate) fn is_auth(err: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    matches!(
        err.kind(),
        ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm)
    ) || err
        .code()
        .is_some_and(|c| matches!(c, "NOAUTH" | "WRONGPASS" | "NOPERM"))
}

pub(crate) fn is_io(err: &redis::RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || err.is_unrecoverable_error()
}

/// A Redis URL that prints with its password hidden.
#[derive(Clone, Debug)]
pub(crate) struct Redacted(pub String);

/// A URL scheme: a letter, then letters, digits, `+`, `-` or `.` (RFC 3986).
pub(crate) fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

impl Redacted {
    /// The URL as (scheme and `://`, credentials, the rest): everything before the last `@`
    /// after the scheme is credentials, and so it is without a scheme (`user:secret@host`).
    fn parts(&self) -> (&str, Option<&str>, &str) {
        let s = &self.0;
        let start = match s.split_once("://") {
            Some((scheme, _)) if is_scheme(scheme) => scheme.len() + 3,
            _ => 0,
        };
        let (scheme, rest) = s.split_at(start);
        match rest.rsplit_once('@') {
            Some((creds, host)) => (scheme, Some(creds), host),
            None => (scheme, None, rest),
        }
    }

    /// Whether `piece` (of the URL, for a message) is found outside the credentials, so it
    /// can be shown (case-insensitively: schemes are compared lower-cased).
    pub(crate) fn shows(&self, piece: &str) -> bool {
        let (scheme, _, host) = self.parts();
        let piece = piece.to_ascii_lowercase();
        [scheme, host]
            .iter()
            .any(|p| p.to_ascii_lowercase().contains(&piece))
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (scheme, Some(creds), host) => {
                let user = creds.split(':').next().unwrap_or("");
                let masked = if creds.contains(':') {
                    format!("{user}:***")
                } else {
                    "***".to_string()
                };
                write!(f, "{scheme}{masked}@{host}")
            }
            (_, None, _) => f.write_str(&self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn masks_passwords() {
        assert_eq!(
            Redacted("redis://u:pw@h:1/0".into()).to_string(),
            "redis://u:***@h:1/0"
        );
        assert_eq!(Redacted("redis://pw@h".into()).to_string(), "redis://***@h");
        assert_eq!(Redacted("redis://h:1".into()).to_string(), "redis://h:1");
        // No scheme (a common slip), or an `@` only before it.
        assert_eq!(Redacted("u:pw@h:1".into()).to_string(), "u:***@h:1");
        assert_eq!(Redacted("u:pw@h://x".into()).to_string(), "u:***@h://x");
        assert_eq!(Redacted("u:pw@h://x@y".into()).to_string(), "u:***@y");
    }
}
