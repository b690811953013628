//! Helpers shared by the benches (`mod common;`): the Redis fixture, tool checks, medians
//! and verdicts. Each bench uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::error::Error;
use std::process::{Command, Stdio};

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

/// Per-round rates of a baseline and of ours, measured back to back, and their ratios.
pub struct Rounds {
    pub base: Vec<f64>,
    pub ours: Vec<f64>,
    pub ratios: Vec<f64>,
}

impl Rounds {
    /// `n` rounds of the baseline, then ours.
    pub fn alternate(
        n: usize,
        mut base: impl FnMut() -> Res<f64>,
        mut ours: impl FnMut() -> Res<f64>,
    ) -> Res<Rounds> {
        let mut r = Rounds {
            base: Vec::new(),
            ours: Vec::new(),
            ratios: Vec::new(),
        };
        for _ in 0..n {
            let b = base()?;
            let o = ours()?;
            r.ratios.push(o / b);
            r.base.push(b);
            r.ours.push(o);
        }
        Ok(r)
    }

    /// The median ratio.
    pub fn ratio(&self) -> f64 {
        median(self.ratios.clone())
    }
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

/// Runs a bench's `run` on a multi-thread tokio runtime; an error exits 1, naming the bench.
pub fn run_async<F: std::future::Future<Output = Res<()>>>(bench: &str, run: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(run) {
        eprintln!("{bench} bench failed: {e}");
        std::process::exit(1);
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

/// The tests' Redis fixture (tests/support/servers.rs): the benches start their
/// redis-servers (one node, or a cluster) the way the tests do, pinned with a launcher.
#[path = "../../tests/support/servers.rs"]
pub mod servers;

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

/// `symple server` instances and counting clients.
pub mod fleet;
