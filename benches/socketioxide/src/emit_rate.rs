//! socketioxide-emitter 0.1's publishing rate, for benches/emit.rs:
//!
//!   emit-rate REDIS_URL one|pipelined N DEPTH ROOM MESSAGE_JSON
//!
//! emits MESSAGE_JSON as the event `message` to ROOM, N times, on one current-thread tokio
//! runtime (one thread, like our blocking emitter's caller):
//!
//! - `one`: each `emit` awaited before the next (a round trip per message);
//! - `pipelined`: DEPTH emits in flight at once on the one multiplexed connection, which
//!   writes them back to back (socketioxide-emitter has no batch call; concurrent emits on a
//!   multiplexed connection are how it pipelines).
//!
//! Messages are cloned before the clock starts, as the bench does for ours. An untimed
//! warm-up of N/10 comes first. Prints {"rate":R,"bytes":B,"channel":C}: messages/s and the
//! size of one published payload.

use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use socketioxide_emitter::IoEmitter;

use crate::driver::RedisDriver;
use crate::{out, Res};

pub fn main(args: &[String]) -> Res<()> {
    let [url, mode, n, depth, room, message] = args else {
        return Err("usage: emit-rate REDIS_URL one|pipelined N DEPTH ROOM MESSAGE_JSON".into());
    };
    let pipelined = match mode.as_str() {
        "one" => false,
        "pipelined" => true,
        other => return Err(format!("mode {other:?}: use one or pipelined").into()),
    };
    let n: usize = n.parse()?;
    let depth: usize = depth.parse::<usize>()?.max(1);
    let message: Value = serde_json::from_str(message)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let driver = RedisDriver::connect(url).await?;
        let emitter = IoEmitter::new().to(room.clone());
        let run = |count: usize| {
            let messages = vec![message.clone(); count];
            let (driver, emitter) = (&driver, &emitter);
            async move {
                let t = Instant::now();
                if pipelined {
                    let mut sent = stream::iter(messages)
                        .map(|m| async move { emitter.clone().emit("message", &m, driver).await })
                        .buffer_unordered(depth);
                    while let Some(r) = sent.next().await {
                        r.map_err(|e| e.to_string())?;
                    }
                } else {
                    for m in messages {
                        emitter
                            .clone()
                            .emit("message", &m, driver)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Res::Ok(count as f64 / t.elapsed().as_secs_f64())
            }
        };
        run((n / 10).max(1)).await?;
        let rate = run(n).await?;
        out(&json!({
            "rate": rate,
            "bytes": driver.last_len.load(Ordering::Relaxed),
            "channel": "socket.io-request#/#",
        }));
        Res::Ok(())
    })
}
