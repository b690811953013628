//! Helpers shared by the benches (`mod common;`): a private redis-server, tool checks,
//! medians and verdicts. Each bench uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::error::Error;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn Error>>;

/// Fails with an install hint when `tool` is not on PATH; returns its version line.
pub fn require(tool: &str, package: &str) -> Res<String> {
    match Command::new(tool).arg("--version").output() {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "`{tool}` is not on PATH; install it (Debian: apt-get install {package})"
        )
        .into()),
        Err(e) => Err(format!("cannot run `{tool}`: {e}").into()),
    }
}

/// Rounds per figure: `SYMPLE_BENCH_ROUNDS` when set to a positive number, else `default`.
pub fn round_count(default: usize) -> usize {
    std::env::var("SYMPLE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISSED"
    }
}

/// The 1, 5 and 15 minute load averages, space-separated.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A free loopback port (free when probed: whoever binds it should retry on failure).
pub fn free_port() -> Res<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A private redis-server on a free loopback port, killed by PID when dropped (on panic too).
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts `command()` (redis-server, or a wrapper that execs it, so the PID is the
    /// server's) without persistence.
    pub fn start(command: impl Fn() -> Command) -> Res<Self> {
        // The port is free when probed but could be taken before redis binds it: retry.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let child = command()
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start redis-server: {e}"))?;
            let mut server = RedisServer { child, port };
            match server.wait_for_ping() {
                Ok(()) => return Ok(server),
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("redis-server did not start: {last}").into())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_for_ping(&mut self) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!("redis-server exited ({status}) {err}").into());
            }
            if self.ping().unwrap_or(false) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("no PONG within 10 s".into())
    }

    fn ping(&self) -> std::io::Result<bool> {
        let addr = (Ipv4Addr::LOCALHOST, self.port).into();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))?;
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
        s.write_all(b"PING\r\n")?;
        let mut reply = [0u8; 7];
        s.read_exact(&mut reply)?;
        Ok(&reply == b"+PONG\r\n")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Child::kill signals this child's PID only.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// redis-benchmark 7 `--csv` prints `"test","rps","avg_latency_ms",...` then one row whose
/// test name is the command line unescaped (it may hold commas and quotes), so the rate is
/// read as the 7th field from the right.
pub fn parse_csv_rps(out: &str) -> Option<f64> {
    let row = out.lines().rev().find(|l| !l.trim().is_empty())?;
    row.rsplit(',').nth(6)?.trim_matches('"').parse().ok()
}

/// The socketioxide peer (benches/socketioxide: a package of its own, outside the workspace),
/// built in release mode from its lock file into `<target dir>/socketioxide-peer`, or
/// `SYMPLE_BENCH_SOCKETIOXIDE_BIN` when set (a build to reuse). The first build takes minutes.
pub fn socketioxide_peer() -> Res<std::path::PathBuf> {
    if let Some(bin) = std::env::var_os("SYMPLE_BENCH_SOCKETIOXIDE_BIN").filter(|v| !v.is_empty()) {
        return Ok(bin.into());
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), std::path::PathBuf::from)
        .join("socketioxide-peer");
    let manifest = root.join("benches/socketioxide/Cargo.toml");
    eprintln!(
        "building the socketioxide peer ({}) into {}",
        manifest.display(),
        target.display()
    );
    let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo to build the socketioxide peer: {e}"))?;
    if !status.success() {
        return Err(format!("building {} failed ({status})", manifest.display()).into());
    }
    Ok(target.join("release/symple-bench-socketioxide"))
}
