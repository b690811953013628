//! Session store throughput: `create` + `delete` pairs per second (each a Lua script that also
//! keeps the per-user and expiry bookkeeping), against `redis-benchmark` doing plain SET and
//! DEL on the same redis-server in the same run. Run with `cargo bench --bench session`.

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

use common::servers::{Kind, Redis};
use common::{load_average, median, require, round_count, verdict, Res, Rounds};
use serde_json::json;
use symple::session::{data_object, SessionStore};

/// Pairs per round.
const PAIRS: usize = 10_000;
/// The pairs/s ratio the issue asks for.
const TARGET: f64 = 0.5;

fn main() -> Res<()> {
    let version = require("redis-benchmark", "redis-tools")?;
    require("redis-server", "redis-server")?;
    let redis = Redis::start_kind(Kind::Plain);
    let store = SessionStore::connect(redis.url())?;
    let data =
        data_object(json!({"user": "alice", "name": "Alice", "rooms": ["team-a", "team-b"]}))?;
    let value = serde_json::to_string(&data)?;

    // Warm up: scripts loaded, connections open.
    ours(&store, &data, 500)?;
    baseline(redis.port, &value, 500)?;

    let Rounds {
        base: base_rates,
        ours: ours_rates,
        ratios,
    } = Rounds::alternate(
        round_count(3),
        || baseline(redis.port, &value, PAIRS),
        || ours(&store, &data, PAIRS),
    )?;
    let ratio = median(ratios.clone());
    println!(
        "symple session bench: redis-server on 127.0.0.1:{}, {} rounds, medians\n",
        redis.port,
        ratios.len()
    );
    println!(
        "create+delete pairs/s  ours {:>7.0}  redis-benchmark SET+DEL {:>7.0}  ratio {ratio:.2}x  (target >= {TARGET:.2}x) {}  rounds {}",
        median(ours_rates),
        median(base_rates),
        verdict(ratio >= TARGET),
        ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ")
    );
    println!("  ours: SessionStore::create (SET EX + 2 ZADD in one script) then delete (GET, DEL, 2 ZREM), one reply awaited each");
    println!("  baseline: redis-benchmark -c 1 -P 1 SET then DEL of the same value; pairs/s = 1 / (1/set + 1/del)");
    println!(
        "\nmachine: nproc={}, load average {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
        version.trim()
    );
    println!("command: cargo bench --bench session");
    Ok(())
}

fn ours(store: &SessionStore, data: &symple::Object, n: usize) -> Res<f64> {
    let start = Instant::now();
    for _ in 0..n {
        let token = store.create(data, Some(3600))?;
        store.delete(&token)?;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

fn baseline(port: u16, value: &str, n: usize) -> Res<f64> {
    let set = redis_benchmark(
        port,
        n,
        &["SET", "symple:session:bench", value, "EX", "3600"],
    )?;
    let del = redis_benchmark(port, n, &["DEL", "symple:session:bench"])?;
    Ok(1.0 / (1.0 / set + 1.0 / del))
}

/// Requests per second of `redis-benchmark -c 1 -P 1` running one command.
fn redis_benchmark(port: u16, n: usize, command: &[&str]) -> Res<f64> {
    let out = Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "1",
            "-P",
            "1",
            "-n",
            &n.to_string(),
            "--csv",
        ])
        .args(command)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    common::parse_csv_rps(&text)
        .ok_or_else(|| format!("cannot read redis-benchmark output: {text}").into())
}
