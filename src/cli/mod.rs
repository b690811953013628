//! The `symple` command line: `symple emit …`, `symple session …`.

#[cfg(feature = "server")]
mod alloc;
mod emit;
#[cfg(feature = "server")]
mod server;
mod session;

use clap::{Parser, Subcommand};

use crate::error::Result;
#[cfg(feature = "server")]
pub use alloc::worker_idle;

/// Push Symple messages through Redis.
#[derive(Debug, Parser)]
#[command(name = "symple", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish one message, or JSON lines from stdin (one packet each, pipelined).
    ///
    /// Packets go to Socket.IO servers (npm `symple` 2.x) unless `--target native`, which
    /// `symple server` and the v4 Node server read. Exit status: 0 published, 1 Redis
    /// unreachable or silent, 2 bad input (nothing published).
    Emit(Box<emit::EmitArgs>),
    /// Manage sessions under `symple:session:<token>`.
    Session(session::SessionArgs),
    /// Run the standalone Symple v4 WebSocket server.
    #[cfg(feature = "server")]
    Server(Box<server::ServerArgs>),
}

/// Prints the start-up warning for a URL without TLS certificate checks.
fn warn_if_insecure(url: &str) {
    if let Some(w) = crate::redis::ConnectOptions::new(url).insecure_warning() {
        eprintln!("symple: warning: {w}");
    }
}

/// `--<what>`'s number of seconds, which must be positive.
fn seconds(v: f64, what: &str) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            crate::Error::InvalidConfig(format!("--{what} must be a positive number of seconds"))
        })
}

/// Runs a parsed command line.
///
/// ```no_run
/// use clap::Parser;
/// let cli = symple::cli::Cli::parse_from(["symple", "emit", "--to", "alice", "--data", "{\"x\":1}"]);
/// symple::cli::run(cli)?;
/// # Ok::<(), symple::Error>(())
/// ```
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Emit(args) => emit::run(*args),
        Command::Session(args) => session::run(args),
        #[cfg(feature = "server")]
        Command::Server(args) => server::run(*args),
    }
}
