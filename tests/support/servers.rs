//! The one Redis fixture of the Rust tests: real redis-servers on free loopback ports with
//! persistence off, of four kinds (one plain node, one over TLS with certificates made here,
//! one that only lets an ACL user in, and a 3-master / 3-replica Redis Cluster), stopped by
//! PID. A test either starts its own ([`Redis::start_kind`]: when it restarts or kills
//! servers) or borrows the binary's shared one of a kind ([`shared`]: started once, on first
//! use, flushed for each borrower, one borrower at a time).
//!
//! Servers are spawned from one long-lived thread with `PR_SET_PDEATHSIG`, so they die with
//! the test binary even when it is killed. The benches use this module too (through
//! `benches/common`), with a launcher that pins redis-server to a CPU.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// A port the kernel just said was free.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// What starts redis-server: the program itself, or a wrapper that execs it (`taskset`), so
/// the PID stays the server's.
pub type Launcher = Box<dyn Fn() -> Command + Send + Sync>;

/// What kind of Redis a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One node, `redis://127.0.0.1:<port>`.
    Plain,
    /// One node over TLS only, `rediss://…?tls_ca=<the test CA>`.
    Tls,
    /// One node whose default user is off: `redis://symple:<password>@…/3`.
    Acl,
    /// Six nodes, three masters with a replica each: `redis+cluster://<two seeds>`.
    Cluster,
}

/// Every kind, for tests that run against each.
pub const KINDS: [Kind; 4] = [Kind::Plain, Kind::Tls, Kind::Acl, Kind::Cluster];

/// The ACL fixture's user and password (with characters a URL must escape).
pub const ACL_USER: &str = "symple";
pub const ACL_PASSWORD: &str = "p@ss:w/rd";
const ACL_PASSWORD_ESCAPED: &str = "p%40ss%3Aw%2Frd";
/// The database the ACL fixture's URL selects.
pub const ACL_DB: i64 = 3;

/// One redis-server process.
pub struct Node {
    pub port: u16,
    pub bus_port: u16,
    child: Option<Child>,
    args: Vec<String>,
}

/// A running Redis of one [`Kind`].
pub struct Redis {
    pub kind: Kind,
    pub nodes: Vec<Node>,
    /// Single-node kinds: the node's port (kept for tests written before the kinds).
    pub port: u16,
    dir: PathBuf,
    ca: Option<PathBuf>,
    launcher: Launcher,
}

/// A command to spawn, and where to send the child.
type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("redis-spawner".into())
            .spawn(move || {
                // This thread lives as long as the process: children get SIGKILL when it dies.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
                // Every sender is gone only when statics are torn down: stay alive anyway.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawn the redis-spawner thread");
        Mutex::new(tx)
    })
}

/// Spawns `cmd` so that it is killed when this process dies.
fn spawn_owned(mut cmd: Command) -> Child {
    // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .expect("spawner alive");
    rx.recv()
        .expect("spawner answered")
        .expect("redis-server not found: run script/setup (the README's test command does)")
}

fn temp_dir(kind: Kind) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("symple-test-{}-{kind:?}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

impl Node {
    fn new(extra: Vec<String>) -> Node {
        Node {
            port: free_port(),
            bus_port: 0,
            child: None,
            args: extra,
        }
    }

    fn spawn(&mut self, dir: &Path, launcher: &Launcher) {
        let mut cmd = launcher();
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--dir"])
            .arg(dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(spawn_owned(cmd));
    }

    /// Stops the server by PID (SIGKILL: no shutdown work, as a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process has ended (reaped here).
    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Redis {
    /// A plain single node of its own.
    pub fn start() -> Redis {
        Redis::start_kind(Kind::Plain)
    }

    /// A Redis of `kind` of its own, running and answering.
    pub fn start_kind(kind: Kind) -> Redis {
        Redis::start_with(kind, Box::new(|| Command::new("redis-server")))
    }

    /// [`start_kind`](Self::start_kind) with redis-server started by `launcher`.
    pub fn start_with(kind: Kind, mut launcher: Launcher) -> Redis {
        // A port found free can be taken before redis-server binds it (outgoing connections
        // get ports from the same range), and then that server exits: start the whole set
        // again on fresh ports.
        for _ in 0..3 {
            match Redis::try_start(kind, launcher) {
                Ok(r) => return r,
                Err(mut r) => {
                    launcher =
                        std::mem::replace(&mut r.launcher, Box::new(|| Command::new("true")));
                }
            }
        }
        panic!("redis-server ({kind:?}) exited at start three times (ports taken?)");
    }

    /// Starts the set; gives it back (to be dropped) when a server exited at start.
    fn try_start(kind: Kind, launcher: Launcher) -> Result<Redis, Redis> {
        let dir = temp_dir(kind);
        let mut r = Redis {
            kind,
            nodes: Vec::new(),
            port: 0,
            dir,
            ca: None,
            launcher,
        };
        match kind {
            Kind::Plain => r.nodes.push(Node::new(Vec::new())),
            Kind::Tls => {
                let ca = r.make_certificates();
                r.ca = Some(ca);
                let mut node = Node::new(Vec::new());
                let d = r.dir.display().to_string();
                node.args = vec![
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    node.port.to_string(),
                    "--tls-cert-file".into(),
                    format!("{d}/server.pem"),
                    "--tls-key-file".into(),
                    format!("{d}/server.key"),
                    "--tls-ca-cert-file".into(),
                    format!("{d}/ca.pem"),
                    "--tls-auth-clients".into(),
                    "no".into(),
                ];
                r.nodes.push(node);
            }
            Kind::Acl => r.nodes.push(Node::new(vec![
                "--user".into(),
                "default".into(),
                "off".into(),
                "--user".into(),
                format!("{ACL_USER}"),
                "on".into(),
                format!(">{ACL_PASSWORD}"),
                "~*".into(),
                "&*".into(),
                "+@all".into(),
            ])),
            Kind::Cluster => {
                for _ in 0..6 {
                    let mut node = Node::new(Vec::new());
                    node.bus_port = free_port();
                    node.args = vec![
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-port".into(),
                        node.bus_port.to_string(),
                        "--cluster-config-file".into(),
                        format!("nodes-{}.conf", node.port),
                        // Long while the cluster forms: a node forgets a node that met it
                        // unless their handshake completes within this timeout, and on a
                        // loaded machine 1 s lost handshakes for good (redis-cli then waited
                        // forever). Shortened once the cluster is up (`create_cluster`).
                        "--cluster-node-timeout".into(),
                        "15000".into(),
                        // A replica may always take over, however stale.
                        "--cluster-replica-validity-factor".into(),
                        "0".into(),
                    ];
                    r.nodes.push(node);
                }
            }
        }
        for n in &mut r.nodes {
            if kind != Kind::Tls {
                let port = n.port.to_string();
                n.args.splice(0..0, ["--port".to_string(), port]);
            }
        }
        for n in &mut r.nodes {
            n.spawn(&r.dir, &r.launcher);
        }
        r.port = r.nodes[0].port;
        for i in 0..r.nodes.len() {
            if !r.wait_for_node(i) {
                return Err(r);
            }
        }
        if kind == Kind::Cluster {
            r.create_cluster();
        }
        Ok(r)
    }

    fn make_certificates(&self) -> PathBuf {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "symple test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        let cert = params.signed_by(&key, &ca).expect("server cert");
        let write = |name: &str, text: String| {
            std::fs::write(self.dir.join(name), text).expect("write certificate")
        };
        write("ca.pem", ca.pem());
        write("server.pem", cert.pem());
        write("server.key", key.serialize_pem());
        self.dir.join("ca.pem")
    }

    /// The URL a client gives symple for this Redis.
    pub fn url(&self) -> String {
        let p = self.nodes[0].port;
        match self.kind {
            Kind::Plain => format!("redis://127.0.0.1:{p}"),
            Kind::Tls => format!(
                "rediss://127.0.0.1:{p}?tls_ca={}",
                self.ca.as_ref().expect("CA").display()
            ),
            Kind::Acl => {
                format!("redis://{ACL_USER}:{ACL_PASSWORD_ESCAPED}@127.0.0.1:{p}/{ACL_DB}")
            }
            Kind::Cluster => format!(
                "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
                self.nodes[0].port, self.nodes[1].port
            ),
        }
    }

    /// The path of the test CA (TLS kind).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// A redis-rs client for node `i`, with what it takes to get in.
    pub fn node_client(&self, i: usize) -> redis::Client {
        let p = self.nodes[i].port;
        match self.kind {
            Kind::Plain | Kind::Cluster => redis::Client::open(format!("redis://127.0.0.1:{p}")),
            Kind::Acl => redis::Client::open(format!(
                "redis://{ACL_USER}:{ACL_PASSWORD_ESCAPED}@127.0.0.1:{p}/{ACL_DB}"
            )),
            Kind::Tls => {
                let ca = std::fs::read(self.ca.as_ref().expect("CA")).expect("read CA");
                redis::Client::build_with_tls(
                    format!("rediss://127.0.0.1:{p}"),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca),
                    },
                )
            }
        }
        .expect("valid url")
    }

    /// A single-node kind's client (the first node of a cluster).
    pub fn client(&self) -> redis::Client {
        self.node_client(0)
    }

    /// An admin connection: to the node, or to the whole cluster (routing by key; KEYS and
    /// DBSIZE ask every master). `redis::Commands` works on it.
    pub fn conn(&self) -> Admin {
        match self.kind {
            Kind::Cluster => {
                let seeds: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| n.is_running())
                    .map(|n| format!("redis://127.0.0.1:{}", n.port))
                    .collect();
                Admin::Cluster(Box::new(
                    redis::cluster::ClusterClient::new(seeds)
                        .and_then(|c| c.get_connection())
                        .expect("connect to the test cluster"),
                ))
            }
            _ => Admin::Single(
                self.client()
                    .get_connection()
                    .expect("connect to test redis"),
            ),
        }
    }

    /// A connection to node `i` alone (a generous timeout: the machine may be busy).
    pub fn node_conn(&self, i: usize) -> redis::Connection {
        self.node_client(i)
            .get_connection_with_timeout(Duration::from_secs(10))
            .expect("connect to a test node")
    }

    fn ping(&self, i: usize) -> bool {
        self.node_client(i)
            .get_connection_with_timeout(Duration::from_millis(500))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    /// Waits until node `i` answers: true; false when its process exited first.
    fn wait_for_node(&mut self, i: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.ping(i) {
            if self.nodes[i].exited() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server ({:?}) did not start on {}",
                self.kind,
                self.nodes[i].port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    fn create_cluster(&self) {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut cli = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("redis-cli not found: run script/setup");
        // redis-cli waits for the nodes to agree without a bound of its own.
        let deadline = Instant::now() + Duration::from_secs(60);
        while cli.try_wait().expect("wait for redis-cli").is_none() {
            if Instant::now() > deadline {
                let _ = cli.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = cli.wait_with_output().expect("redis-cli output");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed (or took over 60 s): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.wait_for_cluster();
        // Short from now on, so a failover happens within a couple of seconds.
        for i in 0..self.nodes.len() {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("cluster-node-timeout")
                .arg(1000)
                .query(&mut self.node_conn(i))
                .expect("CONFIG SET cluster-node-timeout");
        }
    }

    /// Waits until every running node reports the cluster ok, sees 3 masters with all slots,
    /// and every replica is in sync; on timeout says what each node reported.
    pub fn wait_for_cluster(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let states = self.cluster_states();
            let masters = states.iter().filter(|s| s.master).count();
            if masters == 3 && states.iter().all(|s| s.ready) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster did not settle within 60 s ({masters} masters): {states:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What each running node says of the cluster and its replication.
    fn cluster_states(&self) -> Vec<NodeState> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.is_running() {
                continue;
            }
            let mut state = NodeState {
                port: n.port,
                master: false,
                ready: false,
                seen: String::new(),
            };
            match self
                .node_client(i)
                .get_connection_with_timeout(Duration::from_millis(500))
            {
                Err(e) => state.seen = format!("no connection: {e}"),
                Ok(mut c) => {
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query(&mut c)
                        .unwrap_or_default();
                    let role: String = redis::cmd("INFO")
                        .arg("replication")
                        .query(&mut c)
                        .unwrap_or_default();
                    let cluster_ok = info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384");
                    state.master = cluster_ok && role.contains("role:master");
                    state.ready = cluster_ok
                        && (role.contains("role:master") || role.contains("master_link_status:up"));
                    state.seen = info
                        .lines()
                        .chain(role.lines())
                        .filter(|l| {
                            [
                                "cluster_state",
                                "cluster_slots",
                                "cluster_known",
                                "role",
                                "master_link",
                            ]
                            .iter()
                            .any(|k| l.starts_with(k))
                        })
                        .collect::<Vec<_>>()
                        .join(" ");
                }
            }
            out.push(state);
        }
        out
    }

    /// Empties every database of every running master (and waits for replicas to follow).
    pub fn flush(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            if !n.is_running() {
                continue;
            }
            let mut c = self.node_conn(i);
            let role: String = redis::cmd("ROLE")
                .query::<Vec<redis::Value>>(&mut c)
                .ok()
                .and_then(|v| v.into_iter().next())
                .and_then(|v| redis::from_redis_value(v).ok())
                .unwrap_or_default();
            if role == "master" {
                let _: () = redis::cmd("FLUSHALL").query(&mut c).expect("FLUSHALL");
            }
        }
    }

    /// Waits (bounded) until `key` is on two nodes, its master and that master's replica:
    /// replication is asynchronous, and a test that kills the master right after writing
    /// would otherwise sometimes lose the key with it.
    pub fn wait_replicated(&self, key: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let holding = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].is_running())
                .filter(|&i| {
                    let mut c = self.node_conn(i);
                    // Lets a replica answer for its master's slots; others answer MOVED.
                    let _: redis::RedisResult<()> = redis::cmd("READONLY").query(&mut c);
                    redis::cmd("EXISTS")
                        .arg(key)
                        .query::<i64>(&mut c)
                        .is_ok_and(|n| n == 1)
                })
                .count();
            if holding >= 2 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{key} not on a replica within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Index of the master that serves `key`'s slot.
    pub fn master_of(&self, key: &str) -> usize {
        let mut c = self.node_conn(
            self.nodes
                .iter()
                .position(Node::is_running)
                .expect("a running node"),
        );
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut c)
            .expect("KEYSLOT");
        let shards: Vec<redis::Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut c)
            .expect("CLUSTER SLOTS");
        for shard in shards {
            let (start, end, master): (i64, i64, (String, i64)) = match shard {
                redis::Value::Array(parts) if parts.len() >= 3 => (
                    redis::from_redis_value(parts[0].clone()).expect("start"),
                    redis::from_redis_value(parts[1].clone()).expect("end"),
                    {
                        let redis::Value::Array(m) = parts[2].clone() else {
                            panic!("master entry")
                        };
                        (
                            redis::from_redis_value(m[0].clone()).expect("host"),
                            redis::from_redis_value(m[1].clone()).expect("port"),
                        )
                    },
                ),
                other => panic!("unexpected CLUSTER SLOTS entry {other:?}"),
            };
            if (start..=end).contains(&slot) {
                return self
                    .nodes
                    .iter()
                    .position(|n| i64::from(n.port) == master.1)
                    .expect("a node of ours");
            }
        }
        panic!("no master for slot {slot}")
    }

    /// Stops every node by PID.
    pub fn stop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
    }

    /// Stops the servers and starts fresh ones on the same ports (single-node kinds).
    pub fn restart(&mut self) {
        assert_ne!(self.kind, Kind::Cluster, "restart is for single nodes");
        self.stop();
        for n in &mut self.nodes {
            n.spawn(&self.dir, &self.launcher);
        }
        for i in 0..self.nodes.len() {
            assert!(
                self.wait_for_node(i),
                "redis-server exited at restart (its port taken meanwhile?)"
            );
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An admin connection to one node or to the cluster.
pub enum Admin {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl redis::ConnectionLike for Admin {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        match self {
            Admin::Single(c) => c.req_packed_command(cmd),
            Admin::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Admin::Single(c) => c.req_packed_commands(cmd, offset, count),
            Admin::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        match self {
            Admin::Single(c) => c.req_command(cmd),
            Admin::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Admin::Single(c) => c.get_db(),
            Admin::Cluster(c) => c.get_db(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Admin::Single(c) => c.check_connection(),
            Admin::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Admin::Single(c) => c.is_open(),
            Admin::Cluster(c) => c.is_open(),
        }
    }
}

/// The binary's shared Redis of `kind`, flushed, for this test alone until the guard drops.
pub fn shared(kind: Kind) -> MutexGuard<'static, Redis> {
    static SHARED: [OnceLock<Mutex<Redis>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let i = KINDS.iter().position(|k| *k == kind).expect("a kind");
    let guard = SHARED[i]
        .get_or_init(|| Mutex::new(Redis::start_kind(kind)))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    guard.flush();
    guard
}

/// Runs `test` on the shared Redis of every kind, naming the kind when it fails.
pub fn each_kind(test: impl Fn(&Redis)) {
    for kind in KINDS {
        let redis = shared(kind);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&redis)));
        if let Err(e) = outcome {
            let what = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("on the {kind:?} Redis: {what}");
        }
    }
}

/// One node's view of the cluster, for [`Redis::wait_for_cluster`] and its failure message.
#[derive(Debug)]
#[allow(dead_code)] // `port` and `seen` are read through Debug.
struct NodeState {
    port: u16,
    master: bool,
    ready: bool,
    seen: String,
}
