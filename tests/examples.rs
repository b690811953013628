//! `examples/client.rs` as the README runs it: authenticated with a session token against
//! `symple server --authentication`, it prints a message pushed to its user; with a token that
//! has no session it is refused and says so.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::ws::ServerProc;
use support::Redis;
use symple::session::{data_object, SessionStore};
use symple::{Emitter, Target};

fn client_bin() -> std::path::PathBuf {
    // `cargo test` builds the examples next to the binaries.
    let dir = support::symple_bin()
        .parent()
        .unwrap()
        .join("examples/client");
    assert!(
        dir.exists(),
        "{} is missing: cargo test builds it",
        dir.display()
    );
    dir
}

#[test]
fn the_example_client_authenticates_with_a_token() {
    let redis = Redis::start();
    let url = redis.url();
    let server = ServerProc::start(&["--redis-url", &url, "--authentication"], &[]);
    let store = SessionStore::connect(url.clone()).unwrap();
    let token = store
        .create(&data_object(json!({"user": "alice"})).unwrap(), Some(60))
        .unwrap();

    let child = Command::new(client_bin())
        .args([&server.url(), "--token", &token, "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Push once alice is connected (her peer shows in /metrics), bounded.
    let emitter = Emitter::builder(url.clone())
        .target(Target::Native)
        .connect()
        .unwrap();
    for _ in 0..400 {
        if server.metric("symple_peers") == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    emitter.to("alice").send(json!({"text": "hi"})).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#""type":"welcome""#), "{stdout}");
    assert!(stdout.contains(r#""data":{"text":"hi"}"#), "{stdout}");
    assert!(
        !stdout.contains(&token),
        "the token never comes back: {stdout}"
    );

    // A token without a session: refused, and the example says so.
    let out = Command::new(client_bin())
        .args([&server.url(), "--token", "no-such-token"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
