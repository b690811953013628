//! A browser-free Symple client: connects to a `symple server`, authenticates with a session
//! token (token mode) or a user name (anonymous mode), and prints every frame it receives until
//! `--count` messages have arrived (or 20 s pass).
//!
//! ```text
//! cargo run --example client -- ws://127.0.0.1:4500 --token "$TOKEN" --count 3
//! cargo run --example client -- ws://127.0.0.1:4500 --user alice --room lobby
//! ```

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const USAGE: &str = "usage: client URL (--token TOKEN | --user NAME [--room ROOM]...) [--count N]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or(USAGE)?;
    let mut auth = json!({"type": "auth"});
    let mut rooms = Vec::new();
    let mut count = 1usize;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--token" => auth["token"] = value.into(),
            "--user" => auth["user"] = value.into(),
            "--room" => rooms.push(value),
            "--count" => count = value.parse().map_err(|_| USAGE)?,
            _ => return Err(USAGE.into()),
        }
    }
    if auth.get("token").is_none() && auth.get("user").is_none() {
        return Err(USAGE.into());
    }
    if !rooms.is_empty() {
        auth["rooms"] = rooms.into();
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    ws.send(Message::text(auth.to_string())).await?;
    let mut messages = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while messages < count {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(c)))) => {
                return Err(format!("closed by the server: {c:?}").into())
            }
            Ok(Some(Ok(_))) => continue,
            _ => break,
        };
        let v: Value = serde_json::from_str(&frame)?;
        println!("received {v}");
        match v["type"].as_str() {
            Some("message") => messages += 1,
            Some("error") if v["status"] == 401 => {
                return Err(format!("refused: {}", v["message"]).into())
            }
            _ => {}
        }
    }
    ws.close(None).await?;
    if messages < count {
        return Err(format!("only {messages} of {count} messages arrived").into());
    }
    Ok(())
}
