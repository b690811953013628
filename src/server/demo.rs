//! `symple server --demo`: a page at `/demo` with a small browser client of this project
//! (`demo/symple.js`: Symple v4 over the native WebSocket, token auth, a roster from presence,
//! messages, join/leave, reconnection), to watch pushes arrive in a browser. Off by default;
//! the files are compiled into the binary.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::server::shared::Shared;

const PAGE: &str = include_str!("demo/index.html");
const CLIENT: &str = include_str!("demo/symple.js");

/// The page and its script.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/demo", get(page))
        .route("/demo/symple.js", get(client))
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

async fn client() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        CLIENT,
    )
}
