//! The real `symple server` binary and real WebSocket clients (tokio-tungstenite).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::symple_bin;

/// A `symple server` process on a free loopback port, stopped by PID on drop.
pub struct ServerProc {
    pub child: Child,
    pub addr: String,
    /// Where /metrics is served when it has its own address.
    pub metrics_addr: Option<String>,
}

impl ServerProc {
    /// Starts the server with these flags and environment (no inherited SYMPLE_/REDIS_ vars).
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ServerProc {
        let mut cmd = Command::new(symple_bin());
        cmd.args(["server", "--listen", "127.0.0.1:0"]).args(args);
        Self::spawn(cmd, env)
    }

    /// [`start`](Self::start) with the server's stderr (its log) written to `log`.
    pub fn start_logged(args: &[&str], env: &[(&str, &str)], log: &std::path::Path) -> ServerProc {
        let mut cmd = Command::new(symple_bin());
        cmd.args(["server", "--listen", "127.0.0.1:0"]).args(args);
        cmd.stderr(std::fs::File::create(log).expect("create the log file"));
        Self::spawn_with(cmd, env, false)
    }

    /// Starts the server under a hard open-file limit (through the shell's `ulimit`).
    pub fn start_with_nofile(limit: u32) -> ServerProc {
        Self::start_with_nofile_args(limit, &[])
    }

    /// [`start_with_nofile`](Self::start_with_nofile) with more flags.
    pub fn start_with_nofile_args(limit: u32, args: &[&str]) -> ServerProc {
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -n {limit} && exec \"$0\" server --listen 127.0.0.1:0 \"$@\""
            ))
            .arg(symple_bin())
            .args(args);
        Self::spawn(cmd, &[])
    }

    /// The server's resident memory in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// A `/proc/<pid>/status` figure in KiB (`VmRSS:`, `RssAnon:`, ...).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    fn spawn(cmd: Command, env: &[(&str, &str)]) -> ServerProc {
        Self::spawn_with(cmd, env, true)
    }

    fn spawn_with(mut cmd: Command, env: &[(&str, &str)], set_stderr: bool) -> ServerProc {
        for (k, _) in std::env::vars() {
            if k.starts_with("SYMPLE_") || k == "REDIS_URL" || k == "PORT" {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        if set_stderr {
            cmd.stderr(if std::env::var_os("SYMPLE_TEST_SERVER_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn symple server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("server did not start: {line:?}"));
        let addr = v["addr"].as_str().expect("addr").to_owned();
        let metrics_addr = v["metrics"].as_str().map(str::to_owned);
        ServerProc {
            child,
            addr,
            metrics_addr,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn http(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
    }

    /// A counter or gauge from /metrics on the metrics address.
    pub fn metrics_text(&self) -> String {
        http_get(
            self.metrics_addr.as_deref().unwrap_or(&self.addr),
            "/metrics",
        )
        .1
    }
}

/// A presence frame as `online:<user>` or `offline:<user>`, to compare what clients saw.
#[allow(dead_code)] // Not every test binary compares presence.
pub fn presence_label(v: &Value) -> String {
    let state = if v["data"]["online"] == true {
        "online"
    } else {
        "offline"
    };
    format!("{state}:{}", v["data"]["user"].as_str().unwrap_or("?"))
}

/// `GET path` on `addr`: status and body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect http");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }
}

impl ServerProc {
    /// A counter or gauge from /metrics.
    pub fn metric(&self, name: &str) -> u64 {
        let body = self.metrics_text();
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name}"))
    }

    /// Waits (bounded) until the instance's Redis subscription is live.
    pub async fn wait_redis_up(&self) {
        for _ in 0..100 {
            if self.metric("symple_redis_up") == 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("instance never subscribed");
    }

    /// Sends a signal and waits for the exit status (bounded).
    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("kill");
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A WebSocket client that reads JSON frames.
pub struct Client {
    pub ws: Ws,
    pub welcome: Value,
}

/// How long a client waits for an expected frame.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a client listens to be sure nothing (more) arrives.
pub const QUIET: Duration = Duration::from_millis(400);

impl Client {
    pub async fn raw(url: &str) -> Ws {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connect");
        ws
    }

    /// Connects and authenticates; panics unless welcomed.
    pub async fn auth(url: &str, auth: Value) -> Client {
        let mut ws = Self::raw(url).await;
        let mut msg = auth;
        msg["type"] = json!("auth");
        ws.send(Message::text(msg.to_string()))
            .await
            .expect("send auth");
        let mut c = Client {
            ws,
            welcome: Value::Null,
        };
        let w = c.next().await.expect("an answer to auth");
        assert_eq!(w["type"], "welcome", "{w}");
        c.welcome = w;
        c
    }

    pub fn id(&self) -> String {
        self.welcome["peer"]["id"]
            .as_str()
            .expect("peer id")
            .to_owned()
    }

    pub fn address(&self) -> String {
        format!(
            "{}|{}",
            self.welcome["peer"]["user"].as_str().unwrap(),
            self.id()
        )
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    /// The next JSON text frame within WAIT; `None` on close or timeout.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(WAIT).await
    }

    pub async fn next_within(&mut self, d: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(&t).ok(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// Waits for a frame matching `pred`, skipping others (bounded).
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(v) if pred(&v) => return v,
                Some(_) => continue,
                None => panic!("expected {what}, got nothing"),
            }
        }
    }

    /// Every frame until QUIET passes with none.
    pub async fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next_within(QUIET).await {
            out.push(v);
        }
        out
    }

    /// Frames of `type: message` until quiet, skipping presence and the like.
    pub async fn messages(&mut self) -> Vec<Value> {
        self.drain()
            .await
            .into_iter()
            .filter(|v| v["type"] == "message")
            .collect()
    }

    /// The server's close frame (code, reason) within WAIT, skipping frames before it;
    /// `None` when the connection ended without one (or did not end).
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => {
                    return Some((f.code.into(), f.reason.to_string()))
                }
                Ok(Some(Ok(Message::Close(None)))) => return Some((1005, String::new())),
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    /// Whether the server closed the connection within WAIT (frames before it are skipped).
    pub async fn closed(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.ws.next()).await {
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
                Err(_) => return false,
            }
        }
    }
}
