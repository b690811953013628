//! The server bench's child processes: each speaks JSON lines on stdout and is killed by PID
//! when dropped; plus what is read about a process from /proc, and one HTTP GET.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Res;

/// Where child processes write stderr; removed after a clean run, named on failure.
pub struct Logs(PathBuf);

impl Logs {
    pub fn new() -> Res<Self> {
        let dir = std::env::temp_dir().join(format!("symple-server-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Logs(dir))
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.log"))
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `program` under bash, with the open-files soft limit raised first (to 65536, or to the hard
/// limit when that is lower); `exec` keeps the PID the program's.
pub fn with_nofile(program: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(r#"ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@""#)
        .arg(program);
    c
}

/// A child speaking JSON lines on stdout, killed by PID when dropped (on panic too).
pub struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(logs: &Logs, name: &str, mut cmd: Command) -> Res<Self> {
        let log = logs.file(name);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(&log)?)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn send(&mut self, v: &Value) -> Res<()> {
        self.send_line(&v.to_string())
    }

    pub fn send_line(&mut self, line: &str) -> Res<()> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// The next line whose `event` is `event` (and, when given, whose `id` is `id`).
    pub fn expect(&mut self, event: &str, id: Option<u64>, timeout: Duration) -> Res<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(l) => l,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.fail(&format!("no {event:?} within {timeout:?}")))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail(&format!("exited before {event:?}")))
                }
            };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v["event"] == "fatal" {
                return Err(self.fail(&format!("fatal: {}", v["message"])));
            }
            if v["event"] == event && id.is_none_or(|id| v["id"] == id) {
                return Ok(v);
            }
        }
    }

    pub fn fail(&self, what: &str) -> Box<dyn std::error::Error> {
        let mut tail = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut tail);
        }
        let tail: String = tail
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n  ");
        format!(
            "{}: {what}; stderr {}:\n  {tail}",
            self.name,
            self.log.display()
        )
        .into()
    }

    pub fn rss_kb(&self) -> Res<u64> {
        proc_status_kb(self.pid(), "VmRSS")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Child::kill signals this child's PID only (bash exec'd the program).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn proc_status_kb(pid: u32, field: &str) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}

/// The soft and hard open-files limits of a process.
pub fn nofile(pid: u32) -> (String, String) {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("Max open files"))?;
            let f: Vec<&str> = l["Max open files".len()..].split_whitespace().collect();
            Some((f.first()?.to_string(), f.get(1)?.to_string()))
        })
        .unwrap_or_else(|| ("?".into(), "?".into()))
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32, tick: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / tick
}

/// Clock ticks per second (`CLK_TCK`), the unit of `/proc/<pid>/stat`'s CPU times. Wall-clock
/// stamps (publish time, receipt) are `measure::wall_ms` on both ends.
pub struct Clock {
    pub tick: f64,
}

impl Clock {
    pub fn new() -> Self {
        let tick = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Clock { tick }
    }
}

/// One GET on loopback, `Connection: close`; the body as JSON.
pub fn http_get_json(port: u16, path: &str) -> Res<Value> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok(serde_json::from_str(body)?)
}
