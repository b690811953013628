//! Bad input gets a clear error and publishes nothing; Redis trouble gives a clear error in
//! bounded time, and the emitter recovers once Redis is back.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{symple_bin, Redis, Subscriber};
use symple::{Emitter, Error, Message, Target};

const QUIET: Duration = Duration::from_millis(300);

fn cli(redis: &Redis, args: &[&str]) -> Output {
    Command::new(symple_bin())
        .arg("emit")
        .args(["--url", &redis.url()])
        .args(args)
        .output()
        .expect("run symple")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn refused_inputs_publish_nothing() {
    let redis = Redis::start();
    let sub = Subscriber::new(&redis, "*");
    let native = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    let io = Emitter::connect(redis.url()).unwrap();

    let err = native.send(json!({"x": 1})).unwrap_err();
    assert!(matches!(err, Error::MissingRecipient), "{err}");
    assert!(err.to_string().contains("needs `to`"));

    let err = io.event("disconnect").unwrap_err();
    assert!(
        matches!(&err, Error::ReservedEvent(e) if e == "disconnect"),
        "{err}"
    );
    let err = io.emit_event("connect", &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"connect\" is a reserved Socket.IO event name"),
        "{err}"
    );

    for bad in ["|", ""] {
        let err = io.to(bad).send(1).unwrap_err();
        assert!(err.to_string().contains("empty"), "{bad:?}: {err}");
    }
    let err = Message::new(1).from("").unwrap_err();
    assert!(matches!(err, Error::InvalidAddress(_)), "{err}");
    let err = native
        .emit(json!({"type": "message", "to": {"room": 1}}))
        .unwrap_err();
    assert!(err.to_string().contains("`to` must be"), "{err}");
    let err = native.to("a").except("b").send(1).unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err}");
    let err = io.emit(json!("not an object")).unwrap_err();
    assert!(err.to_string().contains("JSON object"), "{err}");

    assert!(sub.next(QUIET).is_none(), "nothing was published");
}

#[test]
fn cli_reports_bad_input_with_exit_code_2() {
    let redis = Redis::start();
    let sub = Subscriber::new(&redis, "*");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--target", "native", "--data", "{\"x\":1}"],
            "no recipient",
        ),
        (
            &["--to", "a", "--data", "{not json"],
            "--data is not valid JSON",
        ),
        (
            &["--to", "a", "--message", "[1,2]"],
            "--message must be a JSON object",
        ),
        (
            &["--to", "a", "--event", "connect", "--data", "1"],
            "reserved",
        ),
        (&["--to", "|", "--data", "1"], "empty address"),
        (&["--to", "a", "--from", "", "--data", "1"], "empty address"),
        (&["--to", "a", "--type", "event", "--data", "1"], "name"),
        (
            &[
                "--target", "native", "--to", "a", "--except", "b", "--data", "1",
            ],
            "Socket.IO",
        ),
        (
            &["--stream", "events", "--to", "a", "--data", "1"],
            "--stream does not apply to --target socketio",
        ),
        (
            &[
                "--target", "native", "--key", "k", "--to", "a", "--data", "1",
            ],
            "--key does not apply to --target native",
        ),
        (
            &[
                "--target",
                "socketio-streams",
                "--subscription-mode",
                "static",
                "--data",
                "1",
            ],
            "--subscription-mode does not apply",
        ),
        (
            &[
                "--target",
                "socketio-sharded",
                "--subscription-mode",
                "private",
                "--data",
                "1",
            ],
            "invalid value 'private'",
        ),
        (
            &[
                "--target",
                "socketio-streams",
                "--maxlen",
                "0",
                "--data",
                "1",
            ],
            "maxlen must be at least 1",
        ),
        (
            &[
                "--target",
                "socketio-streams",
                "--stream-count",
                "3",
                "--namespace",
                "/private",
                "--data",
                "1",
            ],
            "never read",
        ),
        (
            &[
                "--target",
                "socketio-sharded",
                "--to",
                "9007199254740993",
                "--data",
                "1",
            ],
            "safe integers",
        ),
        (
            &[
                "--target",
                "socketio-streams",
                "--except=-9007199254740993",
                "--data",
                "1",
            ],
            "safe integers",
        ),
        (&["--target", "mqtt", "--data", "1"], "invalid value 'mqtt'"),
    ];
    for (args, needle) in cases {
        let out = cli(&redis, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    // A bad line in bulk input: reported with its line number, nothing published.
    let mut child = Command::new(symple_bin())
        .args([
            "emit",
            "--url",
            &redis.url(),
            "--target",
            "native",
            "--to",
            "a",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"type\":\"message\"}\n\n{oops\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("stdin line 3"), "{}", stderr(&out));
    // An unknown SYMPLE_TARGET is bad input too.
    let out = Command::new(symple_bin())
        .args(["emit", "--url", &redis.url(), "--data", "1"])
        .env("SYMPLE_TARGET", "bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("invalid value 'bogus'"),
        "{}",
        stderr(&out)
    );
    assert!(sub.next(QUIET).is_none(), "nothing was published");
    let mut admin = redis.conn();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut admin).unwrap();
    assert_eq!(keys, Vec::<String>::new(), "no stream was written");
}

#[test]
fn cli_names_every_target_and_reads_symple_target() {
    // --dry-run prints each command with its arguments; no Redis is needed for it.
    let run = |env: Option<&str>, args: &[&str]| -> String {
        let mut cmd = Command::new(symple_bin());
        cmd.args([
            "emit",
            "--dry-run",
            "--to",
            "team",
            "--message",
            r#"{"type":"t"}"#,
        ])
        .args(args)
        .env_remove("SYMPLE_TARGET");
        if let Some(t) = env {
            cmd.env("SYMPLE_TARGET", t);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let data = r#"{"packet":{"type":2,"data":["message",{"type":"t"}]},"opts":{"rooms":["team"],"except":[],"flags":{}}}"#;
    let sharded = format!(
        "SPUBLISH\tsymple#/#team#\t{{\"type\":3,\"data\":{data},\"uid\":\"emitter\",\"nsp\":\"/\"}}\n"
    );
    assert_eq!(run(None, &["--target", "socketio-sharded"]), sharded);
    assert_eq!(run(Some("socketio-sharded"), &[]), sharded);
    assert_eq!(
        run(Some("socketio_sharded"), &[]),
        sharded,
        "Ruby's spelling too"
    );
    assert_eq!(
        run(
            None,
            &[
                "--target",
                "socketio-sharded",
                "--subscription-mode",
                "static",
                "--key",
                "socket.io"
            ]
        ),
        sharded.replace("symple#/#team#", "socket.io#/#")
    );
    let streams =
        format!("XADD\tevents\tMAXLEN\t~\t50\t*\tuid\temitter\tnsp\t/\ttype\t3\tdata\t{data}\n");
    assert_eq!(
        run(
            Some("socketio-streams"),
            &["--stream", "events", "--maxlen", "50"]
        ),
        streams
    );
    // --target wins over SYMPLE_TARGET.
    let native = run(Some("socketio-streams"), &["--target", "native"]);
    assert_eq!(
        native,
        "PUBLISH\tsymple:broadcast\t{\"type\":\"t\",\"to\":\"team\"}\n"
    );
    let classic = run(None, &[]);
    assert!(
        classic.starts_with("PUBLISH\tsymple#/#team#\t93a7656d6974746572"),
        "{classic}"
    );
}

#[test]
fn cli_emits_single_and_bulk() {
    let redis = Redis::start();
    let sub = Subscriber::new(&redis, "*");
    let out = cli(
        &redis,
        &[
            "--target",
            "native",
            "--to",
            "alice",
            "--from",
            "cli",
            "--data",
            "{\"n\":1}",
            "--subtype",
            "chat",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"published":1}"#
    );
    let (ch, payload) = sub.next(Duration::from_secs(5)).unwrap();
    assert_eq!(ch, "symple:broadcast");
    let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        (v["to"].as_str(), v["from"].as_str(), v["subtype"].as_str()),
        (Some("alice"), Some("cli"), Some("chat"))
    );

    let mut child = Command::new(symple_bin())
        .args([
            "emit",
            "--url",
            &redis.url(),
            "--to",
            "42",
            "--to",
            "\"42\"",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: String = (0..10_000)
        .map(|i| format!("{{\"type\":\"message\",\"data\":{i}}}\n"))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"published":10000}"#
    );
    let got = sub.drain(Duration::from_millis(500));
    assert_eq!(got.len(), 10_000);
    // The message is unchanged, and integer and string rooms keep their types.
    let v = rmpv::decode::read_value(&mut &got[9999].1[..]).unwrap();
    assert_eq!(
        serde_json::to_value(&v[1].as_map().unwrap()[1].1).unwrap(),
        json!(["message", {"type": "message", "data": 9999}])
    );
    let rooms = &v[2].as_map().unwrap()[0].1;
    assert_eq!(
        (rooms[0].as_i64(), rooms[1].as_str()),
        (Some(42), Some("42"))
    );
}

#[test]
fn unreachable_redis_fails_fast_and_clearly() {
    // Nothing listens on a port we just freed.
    let port = support::free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let err = Emitter::connect(url.clone()).unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );

    // A server that accepts but never answers: the connect timeout bounds the wait.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let started = Instant::now();
    let result = Emitter::builder(url.clone())
        .options(|o| {
            o.connect_timeout(Duration::from_millis(300))
                .response_timeout(Duration::from_millis(300))
        })
        .connect()
        .and_then(|e| e.to("a").send(1));
    let err = result.unwrap_err();
    assert!(err.is_connection(), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    // Generous bound: the point is that it returns at all instead of hanging.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // A pipelined batch and the queued writer end at the first timeout, not one timeout per
    // packet (1,000 x 300 ms before).
    let opts = |o: symple::redis::ConnectOptions| o.response_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let batch = Emitter::builder(url.clone())
        .target(Target::Native)
        .options(opts)
        .connect()
        .and_then(|e| {
            e.to("a")
                .emit_batch((0..1000).map(|i| json!({"type": "message", "data": i})))
        });
    assert!(batch.unwrap_err().to_string().contains("timed out"));
    let queued = Emitter::builder(url.clone())
        .target(Target::Native)
        .queued(true)
        .options(opts)
        .connect()
        .and_then(|e| {
            for i in 0..1000 {
                e.to("a").send(i)?;
            }
            e.flush()
        });
    assert!(queued.unwrap_err().to_string().contains("timed out"));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    let out = Command::new(symple_bin())
        .args([
            "emit",
            "--url",
            &url,
            "--connect-timeout",
            "0.3",
            "--to",
            "a",
            "--data",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("redis connection error"),
        "{}",
        stderr(&out)
    );
    drop(silent);
}

#[test]
fn recovers_after_redis_restarts() {
    let mut redis = Redis::start();
    let e = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    let q = Emitter::builder(redis.url())
        .target(Target::Native)
        .queued(true)
        .connect()
        .unwrap();
    e.to("a").send(1).unwrap();
    q.to("a").send(1).unwrap();
    q.flush().unwrap();

    redis.restart();
    let sub = Subscriber::new(&redis, "symple:broadcast");
    // The second emit may fail (the old socket is dead) but must not hang or panic; the third
    // reconnects and arrives.
    let second = e.to("a").send(2);
    if let Err(err) = &second {
        assert!(err.is_connection(), "{err}");
    }
    e.to("a").send(3).unwrap();
    let _ = q.to("a").send(2).and_then(|_| q.flush());
    q.to("a").send(3).unwrap();
    q.flush().unwrap();

    let got: Vec<i64> = sub
        .drain(Duration::from_millis(500))
        .iter()
        .map(|(_, p)| {
            serde_json::from_slice::<serde_json::Value>(p).unwrap()["data"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(got.iter().filter(|&&d| d == 3).count(), 2, "{got:?}");
    assert!(got.iter().all(|&d| d == 2 || d == 3), "{got:?}");

    // The async emitter reconnects by itself too.
    let rt = support::runtime();
    rt.block_on(async {
        let a = Emitter::builder(redis.url())
            .target(Target::Native)
            .connect_async()
            .await
            .unwrap();
        a.to("a").send(4).await.unwrap();
        redis.restart();
        let _ = a.to("a").send(5).await;
        let mut ok = false;
        for _ in 0..50 {
            if a.to("a").send(6).await.is_ok() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ok, "async emitter reconnected");
    });
}
