//! One port for everything: the WebSocket upgrade, `GET /health` and `GET /metrics`, over
//! plain TCP or TLS.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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

use crate::server::shared::Shared;
use crate::server::{conn, demo, ws};

/// The routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let mut routes = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    if shared.config.demo {
        routes = routes.merge(demo::router());
    }
    routes.fallback(get(websocket)).with_state(shared)
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(peers, rooms, redis),
    )
}

async fn websocket(
    State(shared): State<Arc<Shared>>,
    Extension(remote): Extension<SocketAddr>,
    mut req: Request,
) -> Response {
    let Some((on_upgrade, response)) = ws::accept(&mut req) else {
        return (StatusCode::OK, "symple server: connect with a WebSocket\n").into_response();
    };
    // Behind a proxy the client's address comes in a header, as the Node server reads it.
    let host = ["x-real-ip", "x-forwarded-for"]
        .iter()
        .find_map(|h| req.headers().get(*h).and_then(|v| v.to_str().ok()))
        .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
        .unwrap_or_else(|| remote.ip().to_string());
    // Frames above the limit get a 413 and the connection lives on; only frames far above
    // it are refused by the WebSocket layer itself.
    let ws_limit = shared
        .config
        .max_message_size
        .saturating_mul(16)
        .max(1 << 20);
    tokio::spawn(conn::run(shared, on_upgrade, host, ws_limit));
    response
}

/// Keepalive ticks for every connection until shutdown.
async fn keepalive(shared: Arc<Shared>) {
    let mut shutdown = shared.stopping();
    let mut every = tokio::time::interval(shared.config.ping_interval);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => shared.tick(),
            _ = shutdown.changed() => return,
        }
    }
}

/// Accepts connections until shutdown; each one is served on its own task.
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
                Err(_) => { tokio::time::sleep(std::time::Duration::from_millis(50)).await; continue }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(remote);
                    app.clone().call(req)
                });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
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
