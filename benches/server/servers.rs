//! The servers under test and the client processes that load them. Every server runs in a
//! process of its own on the same private redis-server; every client set in processes apart
//! from the servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::clients;
use crate::common::Res;
use crate::procs::{http_get_json, with_nofile, Logs, Proc};
use crate::wire::{self, Kind};

/// Which server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ServerKind {
    /// `symple server`, native protocol, fed by our emitter (`Target::Native`).
    Ours,
    /// socketioxide 0.18 + socketioxide-redis 0.4, fed by socketioxide-emitter 0.1.
    Socketioxide,
    /// npm's symple@2.1.1 (Socket.IO 4 + @socket.io/redis-adapter), fed by our emitter
    /// (Socket.IO target, key `symple`).
    Symple2,
}

impl ServerKind {
    pub fn label(self) -> &'static str {
        match self {
            ServerKind::Ours => "ours",
            ServerKind::Socketioxide => "socketioxide",
            ServerKind::Symple2 => "symple@2.1.1",
        }
    }

    pub fn protocol(self) -> Kind {
        match self {
            ServerKind::Ours => Kind::Ours,
            ServerKind::Socketioxide => Kind::SocketIo { join_acks: true },
            ServerKind::Symple2 => Kind::SocketIo { join_acks: false },
        }
    }
}

/// Which load client.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientKind {
    /// This bench binary re-executed (`clients`, `wire`, `ws`): WebSocket and Socket.IO by
    /// hand.
    Rust,
    /// benches/node/clients.js: npm `ws` for ours, `socket.io-client` for Socket.IO, as a web
    /// page would use them.
    Node,
}

impl ClientKind {
    pub fn label(self) -> &'static str {
        match self {
            ClientKind::Rust => "rust",
            ClientKind::Node => "node",
        }
    }
}

/// A running server.
pub struct Server {
    pub kind: ServerKind,
    pub proc: Proc,
    pub port: u16,
}

impl Server {
    pub fn start(
        paths: &Paths,
        logs: &Logs,
        kind: ServerKind,
        redis: &str,
        name: &str,
    ) -> Res<Self> {
        let cmd = match kind {
            ServerKind::Ours => {
                let mut cmd = with_nofile(&paths.ours);
                cmd.args(["server", "--listen", "127.0.0.1:0", "--redis-url", redis])
                    .args(["--authentication", "false", "--dynamic-rooms", "true"]);
                cmd
            }
            ServerKind::Socketioxide => {
                let mut cmd = Command::new(&paths.socketioxide);
                cmd.args(["server", redis]);
                cmd
            }
            ServerKind::Symple2 => {
                let mut cmd = with_nofile("node");
                cmd.arg("--expose-gc")
                    .arg(paths.root.join("benches/node/symple-server.js"))
                    .arg(redis);
                cmd
            }
        };
        let mut proc = Proc::spawn(logs, name, cmd)?;
        let v = proc.expect("listening", None, Duration::from_secs(60))?;
        let port = match kind {
            ServerKind::Ours => v["addr"]
                .as_str()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .map(|a| a.port()),
            _ => v["port"].as_u64().and_then(|p| u16::try_from(p).ok()),
        }
        .ok_or_else(|| proc.fail("no port in the listening line"))?;
        let server = Server { kind, proc, port };
        if kind == ServerKind::Ours {
            server.wait_subscribed()?;
        }
        Ok(server)
    }

    /// Ours: emitter packets arrive only once the subscriber is up. (The others say
    /// `listening` only after their adapter subscribed.)
    fn wait_subscribed(&self) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(h) = http_get_json(self.port, "/health") {
                if h["redis"] == "up" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(self.proc.fail("Redis subscription not up within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where a client of `client` kind connects.
    pub fn url(&self, client: ClientKind) -> String {
        match (client, self.kind.protocol()) {
            (ClientKind::Node, Kind::SocketIo { .. }) => format!("http://127.0.0.1:{}", self.port),
            (_, protocol) => wire::url(protocol, self.port),
        }
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// Lets closes and queued frames settle before a memory reading; symple@2.1.1 (run with
    /// --expose-gc) also collects twice, so the reading holds no garbage.
    pub fn settle(&mut self) -> Res<()> {
        std::thread::sleep(Duration::from_millis(300));
        if self.kind == ServerKind::Symple2 {
            self.proc.send_line("gc")?;
            self.proc.expect("gc", None, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// Connections the server itself counts (ours: /health's peers; socketioxide: sockets on
    /// `/`); None for symple@2.1.1.
    pub fn peers(&mut self) -> Res<Option<u64>> {
        match self.kind {
            ServerKind::Ours => Ok(http_get_json(self.port, "/health")?["peers"].as_u64()),
            ServerKind::Socketioxide => {
                self.proc.send_line("count")?;
                let v = self.proc.expect("count", None, Duration::from_secs(10))?;
                Ok(v["sockets"].as_u64())
            }
            ServerKind::Symple2 => Ok(None),
        }
    }
}

/// A client process holding connections to one server.
pub struct Clients {
    pub proc: Proc,
    pub ready: Value,
}

/// What a client process is asked to hold.
pub struct ClientSpec<'a> {
    pub kind: ClientKind,
    pub server: &'a Server,
    pub n: usize,
    /// `-` or the ROOMS argument of benches/server/clients.rs.
    pub rooms: String,
    pub prefix: String,
    pub concurrency: usize,
}

impl ClientSpec<'_> {
    fn command(&self, paths: &Paths) -> Res<Command> {
        let args = [
            self.server.kind.protocol().arg().to_owned(),
            self.server.url(self.kind),
            self.n.to_string(),
            self.rooms.clone(),
            self.prefix.clone(),
            self.concurrency.to_string(),
        ];
        Ok(match self.kind {
            ClientKind::Rust => {
                let mut cmd = Command::new(std::env::current_exe()?);
                cmd.env(clients::ROLE_ENV, "clients").args(args);
                cmd
            }
            ClientKind::Node => {
                let mut cmd = with_nofile("node");
                cmd.arg(&paths.node_clients).args(args);
                cmd
            }
        })
    }

    fn name(&self) -> String {
        format!(
            "clients-{}-{}-{}",
            self.server.kind.label(),
            self.kind.label(),
            self.prefix.trim_end_matches('-')
        )
    }
}

impl Clients {
    /// Starts one process per spec, all at once, and waits until each is ready. `strict`: a
    /// failed connection is an error (else it is part of the figure).
    pub fn start_all(
        paths: &Paths,
        logs: &Logs,
        specs: &[ClientSpec<'_>],
        strict: bool,
    ) -> Res<Vec<Self>> {
        let mut started = Vec::new();
        for spec in specs {
            let proc = Proc::spawn(logs, &spec.name(), spec.command(paths)?)?;
            started.push((spec.n, proc));
        }
        started
            .into_iter()
            .map(|(n, mut proc)| {
                // Bounded: connecting, plus (ours) the presence every room member gets per
                // newcomer.
                let timeout = Duration::from_secs(180 + (n / 50) as u64);
                let ready = proc.expect("ready", None, timeout)?;
                if strict && ready["failed"].as_u64() != Some(0) {
                    let why = format!(
                        "{} of {n} connections failed: {}",
                        ready["failed"], ready["errors"]
                    );
                    return Err(proc.fail(&why));
                }
                Ok(Clients { proc, ready })
            })
            .collect()
    }

    pub fn connected(&self) -> usize {
        self.ready["connected"].as_u64().unwrap_or(0) as usize
    }

    /// Sockets still open (`status` command).
    pub fn open(&mut self) -> Res<u64> {
        self.proc.send(&json!({"cmd": "status"}))?;
        let status = self.proc.expect("status", None, Duration::from_secs(30))?;
        Ok(status["open"].as_u64().unwrap_or(0))
    }
}

/// The version in an installed npm package's package.json, or "?".
pub fn package_version(modules: &Path, pkg: &str) -> String {
    std::fs::read_to_string(modules.join(pkg).join("package.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Fails with the install command when an npm package is missing.
pub fn require_npm(modules: &Path, pkgs: &[&str], dir: &str) -> Res<()> {
    for pkg in pkgs {
        if !modules.join(pkg).join("package.json").exists() {
            return Err(format!(
                "{} is missing: run `cd {dir} && npm ci` first",
                modules.join(pkg).display()
            )
            .into());
        }
    }
    Ok(())
}

/// The programs and scripts a bench run uses.
pub struct Paths {
    pub root: PathBuf,
    /// Our `symple` binary.
    pub ours: String,
    /// The socketioxide peer (benches/socketioxide).
    pub socketioxide: PathBuf,
    pub node_clients: PathBuf,
}
