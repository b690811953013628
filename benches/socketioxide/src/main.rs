//! The Rust Socket.IO stack the symple benches measure against, in one binary:
//!
//!   symple-bench-socketioxide server REDIS_URL
//!       socketioxide 0.18 with the socketioxide-redis 0.4 adapter (redis driver) on a loopback
//!       port; what the bench clients expect of a Socket.IO server (`server.rs`).
//!   symple-bench-socketioxide publish REDIS_URL
//!       socketioxide-emitter 0.1 publishing bench rounds into Redis on command (`publish.rs`).
//!   symple-bench-socketioxide emit-rate REDIS_URL one|pipelined N DEPTH ROOM MESSAGE_JSON
//!       socketioxide-emitter's publishing rate for benches/emit.rs (`emit_rate.rs`).
//!
//! Every mode speaks JSON lines on stdout (errors as {"event":"fatal","message":…}, exit 1)
//! and the long-running ones end when stdin closes, so they never outlive the bench.

mod driver;
mod emit_rate;
mod publish;
mod server;

use std::io::Write;

use serde_json::Value;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("server") => server::main(&args[1..]),
        Some("publish") => publish::main(&args[1..]),
        Some("emit-rate") => emit_rate::main(&args[1..]),
        _ => Err("usage: symple-bench-socketioxide server|publish|emit-rate ARGS…".into()),
    };
    if let Err(e) = result {
        out(&serde_json::json!({"event": "fatal", "message": e.to_string()}));
        std::process::exit(1);
    }
}

/// One JSON line on stdout; a bench that went away ends this process.
fn out(v: &Value) {
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{v}").and_then(|()| o.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Ends the process when stdin closes (the bench went away), on a thread of its own; each
/// line read is handed to `on_line`.
fn watch_stdin(mut on_line: impl FnMut(String) + Send + 'static) {
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) => on_line(line),
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

/// Milliseconds since the epoch with microseconds, as benches/server/measure.rs stamps them.
fn wall_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_micros() as f64 / 1000.0)
}
