//! URLs that cannot work, each against the kind of Redis that makes it wrong: a clear error
//! naming the problem (password masked) within the connect/response bounds, never a hang or
//! a panic, from the Rust API and from the CLI (exit 2: bad input found before connecting;
//! 1: a problem found by talking to Redis).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::servers::{ACL_PASSWORD, ACL_USER};
use support::{shared, symple_bin, Kind, Redis};
use symple::session::{data_object, SessionStore};
use symple::{Emitter, Target};

/// Far beyond every bound involved; only there to turn a hang into a failure.
const HANG: Duration = Duration::from_secs(30);

struct Outcome {
    rust: String,
    rust_is_connection: bool,
    cli_code: Option<i32>,
    cli_stderr: String,
    session_cli_code: Option<i32>,
}

/// Tries `url` through the blocking emitter, the async emitter, the session store and both
/// CLI commands; checks they agree and that none took long.
fn attempt(url: &str) -> Outcome {
    let started = Instant::now();
    let opts = |o: symple::redis::ConnectOptions| {
        o.connect_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(2))
    };
    let rust = Emitter::builder(url)
        .target(Target::Native)
        .options(opts)
        .connect()
        .and_then(|e| e.to("a").send(1))
        .unwrap_err();
    let rt = support::runtime();
    let async_err = rt
        .block_on(async {
            Emitter::builder(url)
                .options(opts)
                .connect_async()
                .await
                .map(drop)
        })
        .unwrap_err();
    let store_err =
        SessionStore::with_options(opts(symple::redis::ConnectOptions::new(url))).unwrap_err();
    for other in [&async_err, &store_err] {
        assert_eq!(
            other.is_connection(),
            rust.is_connection(),
            "{rust} / {other}"
        );
    }
    let out = Command::new(symple_bin())
        .args(["emit", "--url", url, "--connect-timeout", "1", "--to", "a"])
        .args(["--data", "1"])
        .output()
        .expect("run symple");
    let session = Command::new(symple_bin())
        .args(["session", "--url", url, "get", "tok"])
        .output()
        .expect("run symple");
    assert!(started.elapsed() < HANG, "took {:?}", started.elapsed());
    let o = Outcome {
        rust: rust.to_string(),
        rust_is_connection: rust.is_connection(),
        cli_code: out.status.code(),
        cli_stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        session_cli_code: session.status.code(),
    };
    for text in [&o.rust, &o.cli_stderr] {
        assert!(!text.contains("s3cret"), "password shown: {text}");
        assert!(!text.contains(ACL_PASSWORD), "password shown: {text}");
        assert!(!text.contains("panicked"), "{text}");
    }
    o
}

fn expect(o: &Outcome, code: i32, needles: &[&str]) {
    assert_eq!(o.cli_code, Some(code), "emit: {}", o.cli_stderr);
    assert_eq!(o.session_cli_code, Some(code), "session");
    assert_eq!(o.rust_is_connection, code == 1, "{}", o.rust);
    for n in needles {
        assert!(o.rust.contains(n), "{n:?} not in: {}", o.rust);
        assert!(o.cli_stderr.contains(n), "{n:?} not in: {}", o.cli_stderr);
    }
}

#[test]
fn urls_symple_cannot_use_are_bad_input() {
    for (url, needle) in [
        (
            "http://u:s3cret@127.0.0.1:6379",
            "unsupported scheme http://",
        ),
        ("127.0.0.1:6379", "not a Redis URL"),
        ("redis://u:s3cret@a:1,b:2", "redis+cluster://"),
        ("redis+cluster://u:s3cret@127.0.0.1:1/3", "database 0"),
        ("redis://u:s3cret@127.0.0.1:1?tls_ca=/x.pem", "rediss://"),
        (
            "rediss://u:s3cret@127.0.0.1:1?tls_ca=/nonexistent.pem",
            "CA file",
        ),
        ("redis://127.0.0.1:1?pool=3", "unknown URL parameter"),
    ] {
        let o = attempt(url);
        expect(&o, 2, &[needle, "invalid Redis URL"]);
        if url.contains("s3cret") {
            assert!(o.rust.contains("u:***@"), "{}", o.rust);
        }
    }
}

#[test]
fn tls_on_one_side_only() {
    let plain = shared(Kind::Plain);
    let o = attempt(&format!("rediss://127.0.0.1:{}", plain.port));
    expect(&o, 1, &["did not answer in TLS", "use redis://"]);
    drop(plain);

    let tls = shared(Kind::Tls);
    let o = attempt(&format!("redis://127.0.0.1:{}", tls.port));
    expect(&o, 1, &["use rediss://"]);
    // Our own CA is not a system root: refused, with the way out named.
    let o = attempt(&format!("rediss://127.0.0.1:{}", tls.port));
    expect(&o, 1, &["tls_ca="]);
    // Development mode gets in without checks.
    let insecure = format!("rediss://127.0.0.1:{}?tls_insecure=true", tls.port);
    assert!(symple::redis::ConnectOptions::new(insecure.as_str()).is_insecure());
    Emitter::connect(insecure.as_str())
        .unwrap()
        .to("a")
        .send(1)
        .unwrap();
    // ... and the CLI says so at start-up.
    let out = Command::new(symple_bin())
        .args(["emit", "--url", &insecure, "--to", "a", "--data", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: TLS certificate checks are off"),
        "{err}"
    );
}

#[test]
fn logins_that_fail() {
    let acl = shared(Kind::Acl);
    let wrong = format!("redis://{ACL_USER}:s3cret@127.0.0.1:{}", acl.port);
    let o = attempt(&wrong);
    expect(&o, 1, &["check the user name and password"]);
    assert!(o.rust.contains(&format!("{ACL_USER}:***@")), "{}", o.rust);

    let none = format!("redis://127.0.0.1:{}", acl.port);
    let o = attempt(&none);
    expect(&o, 1, &["wants a login"]);

    // The right login, escaped in the URL, selects its database.
    let store = SessionStore::connect(acl.url()).unwrap();
    store
        .set("t", &data_object(json!({"user": "a"})).unwrap(), None)
        .unwrap();
    let mut admin = acl.node_conn(0);
    let db: i64 = redis::cmd("CLIENT")
        .arg("INFO")
        .query::<String>(&mut admin)
        .map(|s| {
            s.split_whitespace()
                .find_map(|kv| kv.strip_prefix("db="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1)
        })
        .unwrap();
    assert_eq!(db, support::servers::ACL_DB);
    let found: bool = redis::cmd("EXISTS")
        .arg("symple:session:t")
        .query(&mut admin)
        .unwrap();
    assert!(found);
}

#[test]
fn cluster_and_plain_urls_at_the_wrong_kind_of_node() {
    let plain = shared(Kind::Plain);
    let o = attempt(&format!("redis+cluster://127.0.0.1:{}", plain.port));
    expect(&o, 1, &["not a Redis Cluster node", "use redis://"]);
    drop(plain);

    let cluster = shared(Kind::Cluster);
    let o = attempt(&format!("redis://127.0.0.1:{}", cluster.port));
    expect(&o, 1, &["part of a Redis Cluster", "redis+cluster://"]);
    // Nothing answers at any seed.
    let port = support::free_port();
    let o = attempt(&format!("redis+cluster://127.0.0.1:{port}"));
    expect(&o, 1, &[&format!("127.0.0.1:{port}")]);
}

/// Redis dies while a batch waits for its replies: an error, not a hang, for the blocking
/// batch and for the queued writer (reported by flush); both recover once it is back.
#[test]
fn a_node_that_goes_away_mid_batch() {
    let mut redis = Redis::start_kind(Kind::Plain);
    let blocking = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    let queued = Emitter::builder(redis.url())
        .target(Target::Native)
        .queued(true)
        .connect()
        .unwrap();
    // Paused, Redis reads the batches but answers none of them until it is killed.
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(20_000)
        .arg("ALL")
        .query(&mut redis.node_conn(0))
        .unwrap();
    let started = Instant::now();
    let batch = std::thread::spawn({
        let e = blocking.to("room");
        move || e.emit_batch((0..1000).map(|i| json!({"type": "message", "data": i})))
    });
    for i in 0..1000 {
        queued.to("room").send(i).unwrap();
    }
    let flushed = std::thread::spawn({
        let q = queued.clone();
        move || q.flush()
    });
    // Give both a moment to be waiting on Redis (either way, they must fail, not hang).
    std::thread::sleep(Duration::from_millis(300));
    redis.stop();
    let err = batch.join().expect("no panic").unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(err.to_string().contains(&redis.url()), "{err}");
    let err = flushed.join().expect("no panic").unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(started.elapsed() < HANG, "took {:?}", started.elapsed());

    redis.restart();
    blocking.to("room").send(1).unwrap();
    queued.to("room").send(1).unwrap();
    queued.flush().unwrap();
}
