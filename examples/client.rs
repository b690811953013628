//! A browser-free Symple client: connects to a `symple server`, authenticates, and prints every
//! frame it receives, until `count` messages have arrived (or 20 s pass).
//! `cargo run --example client -- ws://127.0.0.1:4500 alice 3`

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "ws://127.0.0.1:4500".into());
    let user = args.next().unwrap_or_else(|| "alice".into());
    let count: usize = args.next().and_then(|c| c.parse().ok()).unwrap_or(1);

    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    ws.send(Message::text(
        json!({"type": "auth", "user": user}).to_string(),
    ))
    .await?;
    let mut messages = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while messages < count {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(_))) => continue,
            _ => break,
        };
        let v: Value = serde_json::from_str(&frame)?;
        println!("{user} received {v}");
        if v["type"] == "message" {
            messages += 1;
        }
    }
    ws.close(None).await?;
    if messages < count {
        return Err(format!("only {messages} of {count} messages arrived").into());
    }
    Ok(())
}
