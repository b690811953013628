//! `symple server` instances and counting WebSocket clients, for the benches that drive the
//! server (routing, history).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::Res;

/// Bound on any wait for deliveries.
pub const WAIT: Duration = Duration::from_secs(120);

/// A `symple server` process, killed on drop.
pub struct Instance {
    pub child: Child,
    pub addr: String,
}

impl Instance {
    /// `bin server` on `redis`, with the rate limit and queue the benches need, and `extra`
    /// flags.
    pub fn start(bin: &Path, redis: &str, extra: &[&str]) -> Res<Instance> {
        let mut child = Command::new(bin)
            .args(["server", "--listen", "127.0.0.1:0", "--redis-url", redis])
            .args(["--rate-limit", "100000", "--max-queued", "4096"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
        let v: Value = serde_json::from_str(&line)?;
        let addr = v["addr"].as_str().ok_or("no addr")?.to_owned();
        Ok(Instance { child, addr })
    }

    pub fn metric(&self, name: &str) -> Res<u64> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    pub async fn wait_up(&self) -> Res<()> {
        for _ in 0..200 {
            if self.metric("symple_redis_up")? == 1 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("the instance never subscribed".into())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// Connects and authenticates a client whose received `message` frames are counted in
/// `count`; returns its sink.
pub async fn client(addr: &str, user: &str, room: &str, count: Arc<AtomicU64>) -> Res<Sink> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await?;
    let (mut tx, mut rx) = ws.split();
    tx.send(Message::text(
        json!({"type": "auth", "user": user, "rooms": [room]}).to_string(),
    ))
    .await?;
    match rx.next().await {
        Some(Ok(Message::Text(t))) if t.contains("welcome") => {}
        other => return Err(format!("no welcome: {other:?}").into()),
    }
    tokio::spawn(async move {
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Text(t) = m {
                if t.starts_with(r#"{"type":"message""#) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    Ok(tx)
}

pub async fn wait_count(count: &AtomicU64, want: u64) -> Res<Duration> {
    let start = Instant::now();
    while count.load(Ordering::Relaxed) < want {
        if start.elapsed() > WAIT {
            return Err(format!(
                "{} of {want} deliveries within {WAIT:?}",
                count.load(Ordering::Relaxed)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(start.elapsed())
}

/// CPU seconds (user + system) process `pid` has used, from `/proc/<pid>/stat` (clock ticks
/// of 1/100 s).
pub fn cpu_seconds(pid: u32) -> Res<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces), from field 3 on.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).ok_or("no utime")?.parse::<f64>()?
        + f.get(12).ok_or("no stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}
