//! The backend of a socketioxide delivery round: socketioxide-emitter 0.1 publishing the bench's
//! messages into Redis, paced as benches/server.rs paces our emitter (one emit at a time,
//! waiting for Redis's reply, sleeping to the next slot).
//!
//! stdin, one JSON object per line:
//!   {"cmd":"publish","run":R,"m":M,"rate":X,"room":ROOM,"text":T}
//!       -> M events `message` to ROOM, each
//!          {"type":"message","subtype":"bench","data":{"run":R,"seq":i,"t":WALL_MS,"text":T},
//!           "id":…,"from":"server"}
//!          (the fields our emitter writes), then {"event":"published","run":R,"rate":…}.
//! stdout starts with {"event":"ready"}; stdin EOF ends the process.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;
use socketioxide_emitter::IoEmitter;
use tokio::sync::mpsc;

use crate::driver::RedisDriver;
use crate::{out, wall_ms, watch_stdin, Res};

#[derive(Deserialize)]
struct Publish {
    run: u64,
    m: usize,
    rate: f64,
    room: String,
    text: String,
}

pub fn main(args: &[String]) -> Res<()> {
    let [url] = args else {
        return Err("usage: publish REDIS_URL".into());
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let driver = RedisDriver::connect(url).await?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        watch_stdin(move |line| {
            if tx.send(line).is_err() {
                std::process::exit(0);
            }
        });
        out(&json!({"event": "ready"}));
        while let Some(line) = rx.recv().await {
            let cmd: Publish = match serde_json::from_str(&line) {
                Ok(c) => c,
                Err(e) => return Err(format!("bad command {line:?}: {e}").into()),
            };
            let rate = round(&driver, &cmd).await?;
            out(&json!({"event": "published", "run": cmd.run, "rate": rate}));
        }
        Ok(())
    })
}

/// Publishes one round; the achieved rate, messages/s.
async fn round(driver: &RedisDriver, cmd: &Publish) -> Res<f64> {
    let interval = Duration::from_secs_f64(1.0 / cmd.rate);
    let emitter = IoEmitter::new().to(cmd.room.clone());
    let start = Instant::now();
    for seq in 0..cmd.m {
        let due = start + interval * seq as u32;
        let now = Instant::now();
        if due > now {
            // A blocking sleep, as the bench's own publisher does: nothing else runs on this
            // thread between emits, and tokio's timer would round up to whole milliseconds.
            std::thread::sleep(due - now);
        }
        let message = json!({
            "type": "message", "subtype": "bench",
            "data": {"run": cmd.run, "seq": seq, "t": wall_ms(), "text": cmd.text},
            "id": format!("{:08x}-0000-4000-8000-{:012x}", cmd.run, seq),
            "from": "server",
        });
        emitter
            .clone()
            .emit("message", &message, driver)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(cmd.m as f64 / start.elapsed().as_secs_f64())
}
