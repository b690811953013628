//! The standalone Symple v4 server: native WebSocket, JSON frames, token auth against Redis
//! sessions, rooms as the permission boundary, emitter packets from `symple:broadcast`, and
//! several instances on one Redis acting as one server.
//!
//! ```no_run
//! # async fn run() -> symple::Result<()> {
//! let config = symple::server::Config::from_env()?;
//! symple::server::Server::bind(config).await?.run().await
//! # }
//! ```

pub mod auth;
pub mod bus;
pub(crate) mod config;
mod conn;
mod demo;
pub mod handler;
mod history;
mod http;
pub mod interest;
mod limits;
pub mod metrics;
pub mod outbox;
mod presented;
pub mod registry;
mod remote;
pub mod routing;
mod shared;
mod ws;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use auth::Joins;
pub use config::Config;
pub use config::{canonical, parse_networks};
pub use limits::TokenBucket;
pub use ws::{websocket_config, Lean};

use crate::error::{Error, Result};
use crate::redis::aio::AsyncConnection;
use crate::redis::ConnectOptions;
use crate::session::AsyncSessionStore;
use shared::{RedisLink, Shared};

/// Descriptors kept for everything but client connections (listener, Redis, refusals).
const FD_RESERVE: u64 = 64;

/// A bound server, ready to run.
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    redis_opts: Option<ConnectOptions>,
}

impl Server {
    /// Checks the config, connects to Redis when configured, and binds the port.
    pub async fn bind(mut config: Config) -> Result<Self> {
        config.validate()?;
        // One descriptor per connection: take the hard limit, not the usual soft 1024, and
        // keep some in reserve so that past the limit a client is refused (503) rather than
        // left hanging in the accept queue.
        if let Ok(limit) = rlimit::increase_nofile_limit(u64::MAX) {
            let usable = usize::try_from(limit.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            if config.max_connections == 0 || config.max_connections > usable {
                config.max_connections = usable.max(1);
            }
        }
        let tls = match &config.tls {
            Some((key, cert)) => Some(http::tls_acceptor(key, cert)?),
            None => None,
        };
        let (redis, redis_opts) = match &config.redis_url {
            Some(url) => {
                // One node or a cluster, as the URL says (redis+cluster://).
                let opts = ConnectOptions::new(url.clone());
                if let Some(w) = opts.insecure_warning() {
                    tracing::warn!("{w}");
                }
                let sessions = AsyncSessionStore::with_options(opts.clone()).await?;
                let conn = AsyncConnection::connect(&opts).await?;
                let bus = bus::Bus::start(uuid::Uuid::new_v4().to_string(), conn.clone());
                (
                    Some(RedisLink {
                        sessions,
                        conn,
                        bus,
                    }),
                    Some(opts),
                )
            }
            None => (None, None),
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Io {
                what: format!("cannot listen on {}", config.addr),
                source,
            })?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| Error::Io {
                what: format!("cannot listen on {addr} for /metrics"),
                source,
            })?),
            None => None,
        };
        for w in config.warnings() {
            tracing::warn!("{w}");
        }
        // The configuration, never a secret: the Redis URL with its password masked.
        tracing::info!(
            listen = %config.addr,
            redis = %redis_opts.as_ref().map_or_else(|| "none".to_owned(), |o| o.redacted().to_string()),
            instance = %redis.as_ref().map_or("-", |r| r.bus.instance()),
            authentication = config.authentication,
            dynamic_rooms = config.dynamic_rooms,
            open_joins = config.open_joins,
            max_connections = config.max_connections,
            max_connections_per_address = config.max_connections_per_address,
            max_queued = config.max_queued,
            presence_limit = config.presence_limit,
            instance_timeout = ?config.instance_timeout,
            history = %config.history.join(","),
            history_size = config.history_settings.size,
            history_age = ?config.history_settings.age,
            tls = config.tls.is_some(),
            "symple server starting"
        );
        Ok(Server {
            shared: Arc::new(Shared::new(config, redis)),
            listener,
            metrics_listener,
            tls,
            redis_opts,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|source| Error::Io {
            what: "no local address".into(),
            source,
        })
    }

    /// Where `/metrics` is served when it has its own address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until SIGINT or SIGTERM, then tells every peer (a `shutdown` event), closes
    /// their connections and returns.
    pub async fn run(self) -> Result<()> {
        let shared = self.shared.clone();
        if let (Some(opts), Some(redis)) = (self.redis_opts, &shared.redis) {
            tokio::spawn(bus::run_subscriber(
                redis.bus.clone(),
                opts,
                shared.clone(),
                // A quarter of the instance timeout (3.75 s by default): a silent node is
                // noticed within that plus the response timeout.
                shared.config.instance_timeout / 4,
                shared.stopping(),
            ));
            tokio::spawn(bus::run_heartbeat(
                redis.bus.clone(),
                shared.clone(),
                shared.config.instance_timeout,
                shared.stopping(),
            ));
        }
        if let Some(l) = self.metrics_listener {
            tokio::spawn(http::serve_metrics(l, shared.clone()));
        }
        let serving = tokio::spawn(http::serve(self.listener, shared.clone(), self.tls));
        wait_for_signal().await;
        shared.stop();
        let _ = serving.await;
        // Let connection tasks say goodbye (bounded).
        for _ in 0..100 {
            if shared.metrics.connections.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Give the publisher a moment to send the offline presences to other instances, then
        // take the heartbeat away (survivors have nobody left to announce for this one).
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(r) = &shared.redis {
            r.bus.goodbye().await;
        }
        Ok(())
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
