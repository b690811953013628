//! One port for everything: the WebSocket upgrade, `GET /health` and `GET /metrics` (or
//! `/metrics` on its own address), over plain TCP or TLS. Every accepted socket holds a slot
//! until it ends; one that does not finish its HTTP request in time is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::server::config::canonical;
use crate::server::conn::{self, Refuse};
use crate::server::shared::Shared;
use crate::server::{demo, ws};

/// Sockets beyond `--max-connections` that are still answered (a 503) before new ones are
/// closed at once; the server's descriptor reserve covers them.
pub const REFUSAL_SLACK: usize = 32;

/// Accepted sockets, in all and by address.
#[derive(Debug, Default)]
pub struct Sockets {
    open: std::sync::atomic::AtomicUsize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

impl Sockets {
    fn addresses(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.by_address.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One accepted socket's place; freed on drop, when the socket (and the WebSocket
/// connection it became) ends.
pub struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let sockets = &self.shared.sockets;
        sockets.open.fetch_sub(1, Ordering::Relaxed);
        let mut map = sockets.addresses();
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// What the accept loop decided for a socket.
enum Admission {
    Serve(Arc<Slot>, Option<Refuse>),
    Close,
}

fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Admission {
    let c = &shared.config;
    let total = shared.sockets.open.fetch_add(1, Ordering::Relaxed) + 1;
    let per_address = {
        let mut map = shared.sockets.addresses();
        let n = map.entry(ip).or_insert(0);
        *n += 1;
        *n
    };
    let slot = Arc::new(Slot {
        shared: shared.clone(),
        ip,
    });
    if c.max_connections_per_address > 0
        && per_address > c.max_connections_per_address
        && !c.trusts_proxy(ip)
    {
        let n = shared
            .metrics
            .refused_per_address
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        // The first and every 100th: a flood must not flood the log too.
        if n == 1 || n % 100 == 0 {
            tracing::warn!(%ip, refused = n, limit = c.max_connections_per_address,
                "connection refused: too many from one address");
        }
        return Admission::Close;
    }
    if c.max_connections > 0 && total > c.max_connections {
        let n = shared.metrics.refused_limit.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n % 100 == 0 {
            tracing::warn!(
                refused = n,
                limit = c.max_connections,
                "connection refused: --max-connections reached"
            );
        }
        if total > c.max_connections + REFUSAL_SLACK {
            return Admission::Close;
        }
        return Admission::Serve(slot, Some(Refuse::Limit));
    }
    Admission::Serve(slot, None)
}

/// What a request knows about its socket.
#[derive(Clone)]
struct Accepted {
    remote: SocketAddr,
    slot: Arc<Slot>,
    refuse: Option<Refuse>,
}

/// The routes of the public port.
pub fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new().route("/health", get(health));
    if shared.config.metrics_addr.is_none() {
        r = r.route("/metrics", get(metrics));
    }
    if shared.config.demo {
        r = r.merge(demo::router());
    }
    r.fallback(get(websocket)).with_state(shared)
}

/// Serves `/metrics` (and `/health`) on their own listener until shutdown.
pub async fn serve_metrics(listener: TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(shared.clone());
    let mut stop = shared.stopping();
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stop.changed().await;
    });
    if let Err(e) = serving.await {
        tracing::error!(error = %e, "the metrics listener failed");
    }
}

async fn health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let redis = match &shared.redis {
        None => "disabled",
        Some(_) if shared.redis_up.load(Ordering::Relaxed) => "up",
        Some(_) => "down",
    };
    let body = json!({
        "status": if redis == "down" { "degraded" } else { "ok" },
        "redis": redis,
        "instance": shared.instance,
        "connections": shared.metrics.connections.load(Ordering::Relaxed),
        "peers": shared.registry().len(),
    });
    let code = if redis == "down" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let (peers, rooms) = {
        let reg = shared.registry();
        (reg.len(), reg.room_count())
    };
    let redis = shared
        .redis
        .as_ref()
        .map(|_| shared.redis_up.load(Ordering::Relaxed));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], {
        let mut text = shared.metrics.render(peers, rooms, redis);
        if let Some(r) = &shared.redis {
            r.bus.render(&mut text);
        }
        text
    })
}

async fn websocket(
    State(shared): State<Arc<Shared>>,
    Extension(accepted): Extension<Accepted>,
    mut req: Request,
) -> Response {
    let Some((on_upgrade, response)) = ws::accept(&mut req) else {
        return (StatusCode::OK, "symple server: connect with a WebSocket\n").into_response();
    };
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    if !shared.config.origin_allowed(origin) {
        shared
            .metrics
            .refused_origin
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(origin = ?origin, "WebSocket upgrade refused: origin not allowed");
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let host = (!shared.config.hide_host).then(|| {
        shared
            .config
            .client_address(accepted.remote.ip(), req.headers())
            .to_string()
    });
    // Frames above the limit get a 413 and the connection lives on; only frames far above
    // it are refused by the WebSocket layer itself.
    let ws_limit = shared
        .config
        .max_message_size
        .saturating_mul(16)
        .max(1 << 20);
    let (slot, refuse) = (accepted.slot, accepted.refuse);
    let start = Box::new(conn::Start {
        upgrade: on_upgrade,
        host,
        max_size: ws_limit,
        refuse,
    });
    tokio::spawn(conn::run(shared, start, slot));
    response
}

/// Keepalive ticks for every connection until shutdown.
async fn keepalive(shared: Arc<Shared>) {
    let mut shutdown = shared.stopping();
    let mut every = tokio::time::interval(shared.config.ping_interval);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {
                shared.tick();
                // Hand memory freed since the last tick back to the system: glibc keeps it
                // in its per-thread arenas otherwise, and after a burst of connections or
                // traffic the process would stay at its high-water mark. Cheap next to a
                // keepalive round.
                release_free_memory();
            }
            _ = shutdown.changed() => return,
        }
    }
}

fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Accepts connections until shutdown; each one is served on its own task, and must
/// finish its HTTP request (the upgrade, for a WebSocket) within the upgrade timeout.
pub async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let app = router(shared.clone());
    let mut shutdown = shared.stopping();
    tokio::spawn(keepalive(shared.clone()));
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: keep serving the others.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue
                }
            },
            _ = shutdown.changed() => return,
        };
        let (slot, refuse) = match admit(&shared, canonical(remote.ip())) {
            Admission::Serve(slot, refuse) => (slot, refuse),
            Admission::Close => continue,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        let app = app.clone();
        let tls = tls.clone();
        let limit = shared.config.upgrade_timeout;
        let shared = shared.clone();
        tokio::spawn(async move {
            let accepted = Accepted {
                remote,
                slot,
                refuse,
            };
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(accepted.clone());
                    app.clone().call(req)
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            // An upgraded connection leaves this future at the upgrade; anything else
            // (a slow or idle socket, a keep-alive HTTP client) is closed at the limit.
            let serving = async {
                match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(format!("TLS handshake: {e}")),
                    },
                    None => builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await
                        .map_err(|e| e.to_string()),
                }
            };
            match tokio::time::timeout(limit, serving).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, %remote, "HTTP connection ended"),
                Err(_) => {
                    shared
                        .metrics
                        .upgrade_timeouts
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%remote, "HTTP request not completed in time: closed");
                }
            }
        });
    }
}

/// A TLS acceptor from PEM key and certificate files.
pub fn tls_acceptor(
    key: &std::path::Path,
    cert: &std::path::Path,
) -> crate::Result<tokio_rustls::TlsAcceptor> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        crate::Error::InvalidConfig(format!("TLS {what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(&format!("certificate {}", cert.display()), &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&format!("certificate {}", cert.display()), &e))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(&format!("key {}", key.display()), &e))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("protocols", &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad("certificate and key", &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
