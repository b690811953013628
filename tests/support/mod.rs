//! Test harness: real redis-servers of every kind (`servers`), a pattern subscriber, and the
//! Node interop harness (npm `symple@2.1.1` servers with socket.io-client clients).
#![allow(dead_code)]

pub mod golden_cases;
pub mod servers;
pub mod ws;

#[allow(unused_imports)]
pub use servers::{each_kind, free_port, shared, Kind, Redis, KINDS};

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A single-threaded tokio runtime for tests that mix blocking and async code.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A pattern subscriber that collects `(channel, payload)` pairs.
pub struct Subscriber {
    rx: mpsc::Receiver<(String, Vec<u8>)>,
}

impl Subscriber {
    /// Subscribed on the first node (PUBLISH on any node of a cluster reaches every node).
    pub fn new(redis: &Redis, pattern: &str) -> Subscriber {
        Subscriber::on_node(redis, 0, pattern)
    }

    /// Subscribed on node `node`.
    pub fn on_node(redis: &Redis, node: usize, pattern: &str) -> Subscriber {
        let mut conn = redis.node_conn(node);
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let pattern = pattern.to_owned();
        std::thread::spawn(move || {
            let mut ps = conn.as_pubsub();
            ps.psubscribe(&pattern).expect("psubscribe");
            ps.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("timeout");
            let _ = ready_tx.send(());
            loop {
                match ps.get_message() {
                    Ok(msg) => {
                        let item = (
                            msg.get_channel_name().to_owned(),
                            msg.get_payload_bytes().to_vec(),
                        );
                        if tx.send(item).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_timeout() => {
                        // Stop once the test dropped the receiver.
                        if tx.send((String::new(), Vec::new())).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("subscriber ready");
        Subscriber { rx }
    }

    /// The next packet within `timeout`, if any.
    pub fn next(&self, timeout: Duration) -> Option<(String, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok((ch, _)) if ch.is_empty() => continue,
                Ok(item) => return Some(item),
                Err(_) => return None,
            }
        }
    }

    /// Every packet that arrives within `quiet` of the previous one.
    pub fn drain(&self, quiet: Duration) -> Vec<(String, Vec<u8>)> {
        std::iter::from_fn(|| self.next(quiet)).collect()
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The `symple` binary under test; `SYMPLE_TEST_BIN` points the server tests at another
/// build (for example the previous commit's, to see a new test fail there).
pub fn symple_bin() -> PathBuf {
    std::env::var_os("SYMPLE_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_symple")))
}

fn interop_dir() -> PathBuf {
    let dir = repo_path("tests/interop");
    assert!(
        dir.join("node_modules/symple").exists(),
        "tests/interop/node_modules is missing: run `npm ci` in tests/interop (the README's test command does)"
    );
    dir
}

/// Runs `node tests/interop/golden.js` on `cases`, returning its results.
pub fn golden(cases: &Value) -> Vec<Value> {
    node_golden("golden.js", cases)
}

/// Runs a golden script of tests/interop on `cases`: a JSON array in, one out.
pub fn node_golden(script: &str, cases: &Value) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(interop_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node not found");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(cases.to_string().as_bytes())
        .expect("write cases");
    let out = child.wait_with_output().expect("golden.js");
    assert!(out.status.success(), "{script} failed");
    serde_json::from_slice(&out.stdout).expect("golden output is JSON")
}

/// Log lines of the harness kept for a failed start's message.
const LOG_LINES: usize = 40;

/// The Node cluster: npm `symple@2.1.1` servers sharing one Redis, plus socket.io clients.
pub struct Harness {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    /// Lines read while waiting for something else.
    backlog: Vec<Value>,
    pub ports: Vec<u16>,
    next_id: u64,
}

impl Harness {
    pub fn start(redis: &Redis, servers: usize) -> Harness {
        Harness::start_kind(redis, servers, "symple")
    }

    /// `servers` of a kind (SERVER_KIND in tests/interop/README.md): `symple` (npm
    /// symple@2.1.1), `classic`, `sharded:<mode>` or `streams` (socket.io 4.8 with an adapter).
    pub fn start_kind(redis: &Redis, servers: usize, kind: &str) -> Harness {
        let mut child = Command::new("node")
            .arg("harness.js")
            .arg(servers.to_string())
            .current_dir(interop_dir())
            .env("REDIS_URL", redis.url())
            .env("SERVER_KIND", kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node not found");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        // What the harness and its servers log (symple@2.1.1 logs Redis errors on stdout),
        // the last lines kept to explain a failed start.
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let keep = |log: &Arc<Mutex<VecDeque<String>>>, line: String| {
            let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
            if l.len() == LOG_LINES {
                l.pop_front();
            }
            l.push_back(line);
        };
        let (tx, rx) = mpsc::channel();
        let out_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(_) => keep(&out_log, line),
                }
            }
        });
        let err_log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep(&err_log, line);
            }
        });
        let stdin = child.stdin.take();
        let mut h = Harness {
            child,
            stdin,
            lines: rx,
            backlog: Vec::new(),
            ports: Vec::new(),
            next_id: 1,
        };
        // Generous: on a loaded shared machine, starting Node and its servers alone can take 20 s.
        let ready = h.wait_for(Duration::from_secs(60), |v| {
            v["event"] == "listening" || v["event"] == "fatal"
        });
        if ready["event"] != "listening" {
            let log = log.lock().unwrap_or_else(|p| p.into_inner());
            let log: Vec<&str> = log.iter().map(String::as_str).collect();
            panic!(
                "harness ({kind}) failed: {ready}\nits last log lines:\n{}",
                log.join("\n")
            );
        }
        h.ports = ready["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| p.as_u64().expect("port") as u16)
            .collect();
        h
    }

    fn send(&mut self, mut cmd: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let stdin = self.stdin.as_mut().expect("harness stdin");
        writeln!(stdin, "{cmd}").expect("write to harness");
        stdin.flush().expect("flush harness stdin");
        id
    }

    /// Waits for a line matching `pred`, keeping the others for later.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| {
                    panic!(
                        "harness: nothing matched within {timeout:?}; backlog {:?}",
                        self.backlog
                    )
                });
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => self.backlog.push(v),
                Err(_) => panic!(
                    "harness: nothing matched within {timeout:?}; backlog {:?}",
                    self.backlog
                ),
            }
        }
    }

    /// Sends a command and waits for its reply.
    pub fn call(&mut self, cmd: Value) -> Value {
        let id = self.send(cmd);
        self.wait_for(Duration::from_secs(15), |v| v["id"] == json!(id))
    }

    pub fn session(&mut self, token: &str, value: Value) {
        let r = self.call(json!({"cmd": "session", "token": token, "value": value}));
        assert_eq!(r["event"], "ok", "{r}");
    }

    /// Connects a client; returns its socket id, or the connect error.
    pub fn connect(
        &mut self,
        name: &str,
        server: usize,
        user: Value,
        token: &str,
        join: &[&str],
    ) -> Result<String, String> {
        let r = self.call(json!({"cmd": "connect", "name": name, "server": server, "user": user, "token": token, "join": join}));
        match r["event"].as_str() {
            Some("connected") => Ok(r["sid"].as_str().expect("sid").to_owned()),
            _ => Err(r["message"].as_str().unwrap_or("").to_owned()),
        }
    }

    /// Every `message` event received until `quiet` passes with none: `(client, data)`.
    pub fn messages(&mut self, quiet: Duration) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = Vec::new();
        let take = |v: Value, out: &mut Vec<(String, Value)>| {
            if v["event"] == "message" {
                out.push((
                    v["name"].as_str().unwrap_or("").to_owned(),
                    v["data"].clone(),
                ));
            }
        };
        for v in std::mem::take(&mut self.backlog) {
            take(v, &mut out);
        }
        while let Ok(v) = self.lines.recv_timeout(quiet) {
            take(v, &mut out);
        }
        out
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF makes the harness shut down cleanly
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
