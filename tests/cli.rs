//! The `symple` command's promises, one test each: exit status 2 for bad input and 1 for an
//! environment problem (Redis down or silent, a port in use), each problem named once,
//! `--listen` with a host name, bare boolean flags, and the warning of `symple emit` when
//! its packets can reach no server of the chosen kind.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::ws::ServerProc;
use support::{symple_bin, Redis, Subscriber};

fn symple(args: &[&str]) -> Output {
    let mut cmd = Command::new(symple_bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("SYMPLE_") || k == "REDIS_URL" || k == "PORT" {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).output().expect("run symple")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_silent_redis_exits_1_and_says_timed_out() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let out = symple(&["emit", "--url", &url, "--to", "a", "--data", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("os error 11"), "{}", stderr(&out));
    let out = symple(&["session", "--url", &url, "get", "tok"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
}

#[test]
fn server_start_up_failures_exit_1_for_the_system_and_2_for_configuration() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = symple(&["server", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot listen on {addr}: address in use")),
        "{err}"
    );
    assert!(!err.contains("unsupported"), "{err}");

    // A Redis nobody listens on: the environment, so 1, named once.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = symple(&["server", "--listen", "127.0.0.1:0", "--redis-url", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("redis connection error").count(), 1);

    let cases: &[(&[&str], &str)] = &[
        (
            &["--listen", "nowhere"],
            "--listen \"nowhere\": expected HOST:PORT",
        ),
        (&["--rate-limit", "0"], "invalid configuration: rate limit"),
        (
            &[
                "--tls-key",
                "/nonexistent.key",
                "--tls-cert",
                "/nonexistent.pem",
            ],
            "invalid configuration: TLS",
        ),
        (
            &["--auth-timeout", "0"],
            "--auth-timeout must be a positive",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["server", "--listen", "127.0.0.1:0"];
        if args[0] == "--listen" {
            all.truncate(1);
        }
        all.extend_from_slice(args);
        let out = symple(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).matches("invalid configuration").count(), 1);
    }
}

#[test]
fn a_bad_stdin_line_is_named_once() {
    let redis = Redis::start();
    let sub = Subscriber::new(&redis, "*");
    let url = redis.url();
    let run = |to: &[&str], input: &[u8]| {
        let mut child = Command::new(symple_bin())
            .args(["emit", "--url", &url, "--target", "native"])
            .args(to)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&["--to", "a"], b"{\"type\":\"message\"}\n{oops\n");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("symple: error: invalid message: stdin line 2 is not valid JSON: "),
        "{err}"
    );
    assert_eq!(err.matches("invalid message").count(), 1, "{err}");
    assert_eq!(err.matches("stdin line 2").count(), 1, "{err}");

    // A line that parses but cannot be routed (no recipient): the line, then the problem.
    let out = run(&[], b"{\"type\":\"message\"}\n");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("symple: error: invalid message: stdin line 1: "),
        "{err}"
    );
    assert_eq!(err.matches("invalid message").count(), 1, "{err}");
    assert_eq!(err.matches("no recipient").count(), 1, "{err}");
    assert!(
        sub.next(Duration::from_millis(300)).is_none(),
        "nothing published"
    );
}

#[test]
fn listen_takes_a_host_name() {
    let mut child = Command::new(symple_bin())
        .args(["server", "--listen", "localhost:0"])
        .env_remove("SYMPLE_REDIS_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&line).expect("a listening line");
    let addr: std::net::SocketAddr = v["addr"].as_str().unwrap().parse().unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
}

#[test]
fn boolean_flags_work_bare() {
    // Bare --authentication means true: without Redis the server refuses to start, which
    // it only does in token mode.
    let out = symple(&["server", "--listen", "127.0.0.1:0", "--authentication"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("token authentication needs Redis"),
        "{}",
        stderr(&out)
    );
    // ... and is followed by other flags; `false` still works.
    let out = symple(&[
        "server",
        "--authentication",
        "--dynamic-rooms",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(stderr(&out).contains("needs Redis"), "{}", stderr(&out));
    let redis = Redis::start();
    let url = redis.url();
    let mut server = ServerProc::start(
        &[
            "--redis-url",
            &url,
            "--authentication",
            "false",
            "--dynamic-rooms",
        ],
        &[],
    );
    // Started in anonymous mode (with token mode and dynamic rooms it would warn or refuse).
    assert!(server.http("/health").1.contains("\"status\""));
    assert_eq!(server.signal("TERM"), Some(0));
}

#[test]
fn emit_warns_when_only_the_other_kind_of_server_listens() {
    let redis = Redis::start();
    let url = redis.url();
    let emit = |target: &str| {
        symple(&[
            "emit", "--url", &url, "--target", target, "--to", "alice", "--data", "1",
        ])
    };

    // `--help` says which target reads what, before anyone has to find out.
    let help = String::from_utf8_lossy(&symple(&["emit", "--help"]).stdout).into_owned();
    for needle in ["npm `symple` 2.x", "--target native", "`symple server`"] {
        assert!(
            help.contains(needle),
            "{needle:?} not in emit --help: {help}"
        );
    }

    // Nobody listens at all: nothing to tell apart, no warning.
    let out = emit("socketio");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // `symple server` reads native packets only.
    let server = ServerProc::start(&["--redis-url", &url], &[]);
    wait_for_subscribers(&redis, "symple:broadcast", 1);
    let out = emit("socketio");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("symple: warning:"), "{err}");
    assert!(err.contains("use --target native"), "{err}");
    let out = emit("native");
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // A Socket.IO server (subscribed the way @socket.io/redis-adapter is) and no native one.
    drop(server);
    wait_for_subscribers(&redis, "symple:broadcast", 0);
    let mut conn = redis.node_conn(0);
    let mut pubsub = conn.as_pubsub();
    pubsub.subscribe("symple-request#/#").unwrap();
    wait_for_subscribers(&redis, "symple-request#/#", 1);
    let out = emit("native");
    let err = stderr(&out);
    assert!(err.contains("use --target socketio"), "{err}");
    let out = emit("socketio");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

/// Waits (bounded) until `channel` has exactly `n` subscribers.
fn wait_for_subscribers(redis: &Redis, channel: &str, n: u64) {
    let mut conn = redis.conn();
    for _ in 0..500 {
        let counts: Vec<(String, u64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query(&mut conn)
            .unwrap();
        if counts[0].1 == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{channel} never had {n} subscribers");
}
