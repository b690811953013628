//! `symple server`: environment variables as the Node server reads them, flags over them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Args;

use super::seconds;
use crate::error::Result;
use crate::server::{Config, Server};

#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Address to listen on, HOST:PORT with an IP or a host name (localhost:4600)
    /// [default: 0.0.0.0:$PORT, port 4500].
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Redis URL [default: $SYMPLE_REDIS_URL, $REDIS_URL, or none: a lone instance].
    #[arg(long)]
    redis_url: Option<String>,
    /// Require tokens with a session in Redis; bare means true [env: SYMPLE_AUTHENTICATION].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    authentication: Option<bool>,
    /// Allow join/leave; bare means true [env: SYMPLE_DYNAMIC_ROOMS, default true].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new(), value_name = "BOOL")]
    dynamic_rooms: Option<bool>,
    /// Session TTL in minutes kept alive for active peers; -1 never [env: SYMPLE_SESSION_TTL].
    #[arg(long, allow_negative_numbers = true)]
    session_ttl: Option<i64>,
    /// Max simultaneous connections [default: the open-file limit less a reserve].
    #[arg(long)]
    max_connections: Option<usize>,
    /// Max message size in bytes [default 65536].
    #[arg(long)]
    max_message_size: Option<usize>,
    /// Messages per peer per window [default 100].
    #[arg(long)]
    rate_limit: Option<f64>,
    /// Rate window in seconds [default 10].
    #[arg(long)]
    rate_seconds: Option<f64>,
    /// Seconds a connection may take to authenticate [default 10].
    #[arg(long)]
    auth_timeout: Option<f64>,
    /// Seconds between keepalive pings [default 25].
    #[arg(long)]
    ping_interval: Option<f64>,
    /// Serve a demo page at /demo: a small browser client that shows your roster and the
    /// messages pushed to you (open it with #token=TOKEN, or #user=NAME without --authentication).
    #[arg(long)]
    demo: bool,
    /// Frames queued for one client before it is disconnected as a slow consumer
    /// (close code 4008) [default 1024].
    #[arg(long)]
    max_queued: Option<usize>,
    /// Seconds one write to a client may take before it is disconnected as a slow consumer
    /// (close code 4008) [default 10].
    #[arg(long)]
    write_timeout: Option<f64>,
    /// Seconds a TCP connection may take to finish its HTTP request (the WebSocket upgrade)
    /// [default 10].
    #[arg(long)]
    upgrade_timeout: Option<f64>,
    /// Most simultaneous connections from one IP address; more are closed at once
    /// [default: no limit].
    #[arg(long)]
    max_connections_per_address: Option<usize>,
    /// Token mode: let clients join any room, not only those their session's `join` list
    /// permits (the Node server's behaviour; warned about at start-up).
    #[arg(long, env = "SYMPLE_OPEN_JOINS", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    open_joins: Option<bool>,
    /// Addresses or CIDRs (comma-separated) whose X-Forwarded-For / X-Real-IP headers are
    /// believed [env: SYMPLE_TRUSTED_PROXIES; default: none].
    #[arg(long, env = "SYMPLE_TRUSTED_PROXIES")]
    trusted_proxies: Option<String>,
    /// Origins (comma-separated `scheme://host[:port]`) allowed to open a WebSocket; others
    /// get 403 [env: SYMPLE_ALLOWED_ORIGINS; default: any].
    #[arg(long, env = "SYMPLE_ALLOWED_ORIGINS")]
    allowed_origins: Option<String>,
    /// Keep clients' addresses (`host`) out of their peer objects and presence.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    hide_host: Option<bool>,
    /// Serve /metrics on this address (e.g. 127.0.0.1:9100) instead of the public port.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Rooms with more members than this (on one instance) get no presence fan-out on join
    /// and leave, and no roster [default 100].
    #[arg(long)]
    presence_limit: Option<usize>,
    /// Seconds within which the other instances announce the peers of an instance that died
    /// without saying goodbye offline [env: SYMPLE_INSTANCE_TIMEOUT; default 15].
    #[arg(long)]
    instance_timeout: Option<f64>,
    /// Rooms whose messages are kept in Redis Streams so reconnecting clients recover what
    /// they missed: comma-separated names and `*` patterns, `*` for all (users' personal
    /// rooms included) [env: SYMPLE_HISTORY; default: none].
    #[arg(long, value_name = "ROOMS")]
    history: Option<String>,
    /// Messages kept per history room (about: trimmed with MAXLEN ~)
    /// [env: SYMPLE_HISTORY_SIZE; default 1000].
    #[arg(long, value_name = "N")]
    history_size: Option<u64>,
    /// Seconds a message stays in a room's history [env: SYMPLE_HISTORY_AGE; default 600].
    #[arg(long, value_name = "S")]
    history_age: Option<f64>,
    /// Log level (error, warn, info, debug, trace) or a filter such as
    /// `info,symple::server::bus=debug` [default: $RUST_LOG, or info].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Log format on stderr: text, or json (one object per line) [default: text].
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// TLS private key (PEM) [env: SYMPLE_SSL_KEY with SYMPLE_SSL_ENABLED].
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// TLS certificate (PEM) [env: SYMPLE_SSL_CERT].
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs to stderr (stdout carries the one `listening` line scripts read), at the level of
/// `--log-level`, else `RUST_LOG`, else info.
fn init_logs(level: Option<&str>, format: LogFormat) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l)
            .map_err(|e| crate::Error::InvalidConfig(format!("--log-level {l:?}: {e}")))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // Err only when a subscriber is already set (a test harness): keep that one.
    let _already = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().try_init(),
    };
    Ok(())
}

/// `HOST:PORT` with an IP address or a host name; the first address it resolves to.
fn listen_addr(text: &str) -> Result<SocketAddr> {
    let bad = |why: String| crate::Error::InvalidConfig(format!("--listen {text:?}: {why}"));
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if !text.contains(':') {
        return Err(bad("expected HOST:PORT, e.g. localhost:4600".into()));
    }
    text.to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .next()
        .ok_or_else(|| bad("the host name has no address".into()))
}

pub(crate) fn run(args: ServerArgs) -> Result<()> {
    let mut c = Config::from_env()?;
    if let Some(a) = &args.listen {
        c.addr = listen_addr(a)?;
    }
    if args.redis_url.is_some() {
        c.redis_url = args.redis_url;
    }
    if let Some(v) = args.authentication {
        c.authentication = v;
    }
    if let Some(v) = args.dynamic_rooms {
        c.dynamic_rooms = v;
    }
    if let Some(m) = args.session_ttl {
        c.session_ttl = (m > 0).then(|| Duration::from_secs(m as u64 * 60));
    }
    if let Some(v) = args.max_connections {
        c.max_connections = v;
    }
    if let Some(v) = args.max_message_size {
        c.max_message_size = v;
    }
    if let Some(v) = args.rate_limit {
        c.rate_limit = v;
    }
    if let Some(v) = args.rate_seconds {
        c.rate_seconds = v;
    }
    if let Some(v) = args.auth_timeout {
        c.auth_timeout = seconds(v, "auth-timeout")?;
    }
    if let Some(v) = args.ping_interval {
        c.ping_interval = seconds(v, "ping-interval")?;
    }
    c.demo = args.demo;
    if let (Some(k), Some(cert)) = (args.tls_key, args.tls_cert) {
        c.tls = Some((k, cert));
    }
    let (demo, tls) = (c.demo, c.tls.is_some());
    if let Some(v) = args.max_queued {
        c.max_queued = v;
    }
    if let Some(v) = args.write_timeout {
        c.write_timeout = seconds(v, "write-timeout")?;
    }
    if let Some(v) = args.upgrade_timeout {
        c.upgrade_timeout = seconds(v, "upgrade-timeout")?;
    }
    if let Some(v) = args.max_connections_per_address {
        c.max_connections_per_address = v;
    }
    if let Some(v) = args.open_joins {
        c.open_joins = v;
    }
    if let Some(v) = args.trusted_proxies {
        c.trusted_proxies = crate::server::parse_networks(&v)?;
    }
    if let Some(v) = args.allowed_origins {
        c.allowed_origins = crate::server::config::split_list(&v);
    }
    if let Some(v) = args.history {
        c.history = crate::server::config::split_list(&v);
    }
    if let Some(v) = args.history_size {
        c.history_settings.size = v;
    }
    if let Some(v) = args.history_age {
        c.history_settings.age = seconds(v, "history-age")?;
    }
    if let Some(v) = args.hide_host {
        c.hide_host = v;
    }
    if args.metrics_listen.is_some() {
        c.metrics_addr = args.metrics_listen;
    }
    if let Some(v) = args.instance_timeout {
        c.instance_timeout = seconds(v, "instance-timeout")?;
    }
    if let Some(v) = args.presence_limit {
        c.presence_limit = v;
    }
    init_logs(args.log_level.as_deref(), args.log_format)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(super::worker_idle)
        .build()
        .map_err(|source| crate::Error::Io {
            what: "cannot start the runtime".into(),
            source,
        })?;
    rt.block_on(async {
        let server = Server::bind(c).await?;
        let addr = server.local_addr()?;
        // One line on stdout when ready, for scripts and tests.
        let mut ready = serde_json::json!({"event": "listening", "addr": addr.to_string()});
        if let Some(m) = server.metrics_addr() {
            ready["metrics"] = serde_json::json!(m.to_string());
        }
        if demo {
            let scheme = if tls { "https" } else { "http" };
            ready["demo"] = format!("{scheme}://{addr}/demo").into();
        }
        println!("{ready}");
        server.run().await
    })
}

#[cfg(test)]
mod tests {
    use super::listen_addr;

    #[test]
    fn listen_takes_ips_and_host_names() {
        assert_eq!(listen_addr("127.0.0.1:4600").unwrap().port(), 4600);
        assert_eq!(listen_addr("[::1]:4600").unwrap().port(), 4600);
        let local = listen_addr("localhost:4600").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 4600, "{local}");
        for bad in ["localhost", "localhost:http-ish", "127.0.0.1:99999"] {
            let e = listen_addr(bad).unwrap_err();
            assert!(
                e.to_string().starts_with("invalid configuration: --listen"),
                "{e}"
            );
            assert_eq!(e.exit_code(), 2);
        }
    }
}
