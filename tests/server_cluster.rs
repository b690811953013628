//! Several server instances on one Redis act as one server; emitter packets reach the right
//! peers once; Redis restarts, TLS and graceful shutdown.

mod support;

use serde_json::{json, Value};
use support::ws::{Client, ServerProc};
use support::{Kind, Redis};
use symple::{Emitter, Message, Target};

fn instance(redis: &Redis, args: &[&str]) -> ServerProc {
    ServerProc::start(args, &[("SYMPLE_REDIS_URL", &redis.url())])
}

fn marks(v: Vec<Value>) -> Vec<String> {
    v.iter()
        .map(|m| m["data"]["mark"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// On each kind of Redis (one node, TLS, an ACL user, a cluster: there the rooms' and
/// peers' channels are sharded, SSUBSCRIBE / SPUBLISH, and the fixed ones classic).
#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn two_instances_behave_as_one() {
    for kind in support::KINDS {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        two_instances_on(&redis).await;
    }
}

async fn two_instances_on(redis: &Redis) {
    let (a, b) = (instance(redis, &[]), instance(redis, &[]));
    a.wait_redis_up().await;
    b.wait_redis_up().await;

    let mut alice = Client::auth(&a.url(), json!({"user": "alice", "rooms": ["team"]})).await;
    // Bob on the other instance: each sees the other (presence and roster cross instances).
    let mut bob = Client::auth(&b.url(), json!({"user": "bob", "rooms": ["team"]})).await;
    let p = alice
        .expect("bob online via B", |v| v["type"] == "presence")
        .await;
    assert_eq!(p["data"]["user"], "bob");
    let r = bob
        .expect("alice in roster via A", |v| v["type"] == "presence")
        .await;
    assert_eq!(r["data"]["user"], "alice");
    let mut alice2 = Client::auth(&b.url(), json!({"user": "alice"})).await;
    let mut carol = Client::auth(&b.url(), json!({"user": "carol", "rooms": ["elsewhere"]})).await;
    for c in [&mut alice, &mut bob, &mut alice2, &mut carol] {
        c.drain().await;
    }

    // Cross-instance routing with the same rules.
    alice
        .send(json!({"type": "message", "to": bob.address(), "data": {"mark": "direct"}}))
        .await;
    alice
        .send(json!({"type": "message", "to": carol.address(), "data": {"mark": "no-room"}}))
        .await;
    alice
        .send(json!({"type": "message", "data": {"mark": "rooms"}}))
        .await;
    bob.send(json!({"type": "message", "to": "alice", "data": {"mark": "user"}}))
        .await;
    // One sender's messages on different channels (bob's peer channel, the room's) keep their
    // order on one node; on a cluster two masters may serve them (README "Channel scheme").
    let mut got = marks(bob.messages().await);
    if redis.kind == support::Kind::Cluster {
        got.sort();
    }
    assert_eq!(got, ["direct", "rooms"]);
    assert_eq!(
        marks(alice2.messages().await),
        ["rooms"],
        "alice's own room spans instances"
    );
    assert_eq!(marks(alice.messages().await), ["user"]);
    assert!(carol.messages().await.is_empty());

    // Emitter packets (native target): once per recipient, whichever instance holds it.
    let e = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    e.to("alice").send(json!({"mark": "e-user"})).unwrap();
    e.to(["team", "elsewhere"])
        .send(json!({"mark": "e-rooms"}))
        .unwrap();
    e.emit(
        Message::new(json!({"mark": "e-one"}))
            .to(bob.address().parse::<symple::Address>().unwrap()),
    )
    .unwrap();
    assert_eq!(marks(alice.messages().await), ["e-user", "e-rooms"]);
    assert_eq!(marks(alice2.messages().await), ["e-user"]);
    assert_eq!(marks(bob.messages().await), ["e-rooms", "e-one"]);
    assert_eq!(marks(carol.messages().await), ["e-rooms"]);

    // The same published by hand, and packets without `to` or not JSON are dropped and
    // counted.
    let mut admin = redis.node_conn(0);
    let mut publish = |payload: &str| {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("symple:broadcast")
            .arg(payload)
            .query(&mut admin)
            .unwrap();
    };
    publish(r#"{"type":"message","to":"carol","data":{"mark":"cli"}}"#);
    publish(r#"{"type":"message","data":{"mark":"no-to"}}"#);
    publish("not json");
    publish("[1,2]");
    assert_eq!(marks(carol.messages().await), ["cli"]);
    assert!(alice.messages().await.is_empty());
    for srv in [&a, &b] {
        assert_eq!(
            srv.metric("symple_dropped_total{reason=\"no_recipient\"}"),
            1
        );
        assert_eq!(srv.metric("symple_dropped_total{reason=\"invalid\"}"), 2);
    }

    // Bob leaves B: alice on A sees him go.
    drop(bob);
    let p = alice
        .expect("bob offline", |v| {
            v["type"] == "presence" && v["data"]["user"] == "bob"
        })
        .await;
    assert_eq!(p["data"]["online"], false);
}

#[tokio::test]
// The guard is this test's hold on the shared Redis, for all of its awaits (one thread).
#[allow(clippy::await_holding_lock)]
async fn sessions_created_by_the_store_authenticate_on_any_instance() {
    for kind in [Kind::Plain, Kind::Cluster] {
        let redis = support::shared(kind);
        eprintln!("on the {kind:?} Redis");
        sessions_created_by_the_store_authenticate_on_any_instance_on(&redis).await;
    }
}

async fn sessions_created_by_the_store_authenticate_on_any_instance_on(redis: &Redis) {
    let store = symple::session::SessionStore::connect(redis.url()).unwrap();
    let data = symple::session::data_object(json!({"user": "alice", "rooms": ["team"]})).unwrap();
    let token = store.create(&data, Some(60)).unwrap();
    let (a, b) = (
        instance(redis, &["--authentication", "true"]),
        instance(redis, &["--authentication", "true"]),
    );
    let one = Client::auth(&a.url(), json!({"token": token})).await;
    let two = Client::auth(&b.url(), json!({"token": token})).await;
    assert_eq!(one.welcome["rooms"], json!(["alice", "team"]));
    assert_eq!(two.welcome["peer"]["user"], "alice");
    assert_ne!(one.id(), two.id(), "ids are unique across instances");
}

#[tokio::test]
async fn clients_survive_a_redis_restart() {
    let mut redis = Redis::start();
    let srv = instance(&redis, &[]);
    srv.wait_redis_up().await;
    let mut alice = Client::auth(&srv.url(), json!({"user": "alice", "rooms": ["r"]})).await;
    let mut bob = Client::auth(&srv.url(), json!({"user": "bob", "rooms": ["r"]})).await;
    alice.drain().await;
    bob.drain().await;

    redis.restart();
    // Resubscribed (bounded), counted, and nobody was dropped.
    let mut up = false;
    for _ in 0..100 {
        if srv.metric("symple_redis_reconnects_total") >= 1 && srv.metric("symple_redis_up") == 1 {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "resubscribed after the restart");
    assert_eq!(srv.metric("symple_peers"), 2);
    let e = Emitter::builder(redis.url())
        .target(Target::Native)
        .connect()
        .unwrap();
    e.to("alice")
        .send(json!({"mark": "after-restart"}))
        .unwrap();
    assert_eq!(marks(alice.messages().await), ["after-restart"]);
    bob.send(json!({"type": "message", "to": "alice", "data": {"mark": "peer"}}))
        .await;
    assert_eq!(marks(alice.messages().await), ["peer"]);
}

#[tokio::test]
async fn graceful_shutdown_tells_peers_and_exits_zero() {
    let mut srv = ServerProc::start(&[], &[]);
    let mut a = Client::auth(&srv.url(), json!({"user": "a"})).await;
    let mut b = Client::auth(&srv.url(), json!({"user": "b"})).await;
    assert_eq!(srv.signal("TERM"), Some(0));
    for c in [&mut a, &mut b] {
        let ev = c.expect("shutdown event", |v| v["type"] == "event").await;
        assert_eq!(ev["name"], "shutdown");
        assert!(c.closed().await);
    }
    let mut srv = ServerProc::start(&[], &[]);
    let mut c = Client::auth(&srv.url(), json!({"user": "c"})).await;
    assert_eq!(srv.signal("INT"), Some(0));
    assert_eq!(
        c.expect("shutdown event", |v| v["type"] == "event").await["name"],
        "shutdown"
    );
}

#[tokio::test]
async fn serves_wss_with_a_certificate() {
    let dir = std::env::temp_dir().join(format!("symple-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (key_path, cert_path) = (dir.join("key.pem"), dir.join("cert.pem"));
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    let srv = ServerProc::start(
        &[],
        &[
            ("SYMPLE_SSL_ENABLED", "true"),
            ("SYMPLE_SSL_KEY", key_path.to_str().unwrap()),
            ("SYMPLE_SSL_CERT", cert_path.to_str().unwrap()),
        ],
    );
    // Trust exactly this certificate.
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let port = srv.addr.rsplit(':').next().unwrap();
    let tcp = tokio::net::TcpStream::connect(&srv.addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("wss://localhost:{port}"), tls)
        .await
        .expect("upgrade over TLS");
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"auth","user":"tls"}"#,
    ))
    .await
    .unwrap();
    let welcome = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(welcome.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "welcome");
    // Plain WebSocket on the TLS port fails.
    assert!(tokio_tungstenite::connect_async(srv.url()).await.is_err());
    let _ = std::fs::remove_dir_all(dir);
}
