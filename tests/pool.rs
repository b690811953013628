//! Threads sharing a pooled emitter or session store (Puma's threads in a Rails process) do
//! not queue behind one connection: while one call is stuck on its connection, the others
//! go through on the pool's other connections. A TCP relay between symple and a real Redis
//! holds back any request that carries a marker, which makes one call stuck for as long as
//! the test wants; with a pool of one, the same setup shows the others waiting.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::Commands;
use serde_json::json;
use support::{shared, Kind, Subscriber};
use symple::redis::{ConnectOptions, Pool};
use symple::session::{data_object, SessionStore};
use symple::{Emitter, Target};

const MARK: &[u8] = b"STALL-ME";
/// Generous bounds for a shared, loaded machine; none of them is what a test asserts.
const BOUND: Duration = Duration::from_secs(60);

/// A relay on a free loopback port to `upstream`; a request chunk that carries [`MARK`] waits
/// until `release`.
struct Relay {
    port: u16,
    accepted: Arc<AtomicUsize>,
    gate: Arc<(Mutex<Gate>, Condvar)>,
}

#[derive(Default)]
struct Gate {
    open: bool,
    holding: usize,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(Gate::default()), Condvar::new()));
        let (count, g) = (accepted.clone(), gate.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || copy(s2, c2, None));
                let g = g.clone();
                std::thread::spawn(move || copy(client, server, Some(g)));
            }
        });
        Relay {
            port,
            accepted,
            gate,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) until a marked request is held.
    fn wait_holding(&self) {
        let (lock, cv) = &*self.gate;
        let g = lock.lock().unwrap();
        let (g, _) = cv.wait_timeout_while(g, BOUND, |g| g.holding == 0).unwrap();
        assert_eq!(g.holding, 1, "the marked request never reached the relay");
    }

    fn release(&self) {
        let (lock, cv) = &*self.gate;
        lock.lock().unwrap().open = true;
        cv.notify_all();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.release();
    }
}

/// Copies `from` to `to`; with a gate, a chunk carrying the mark waits for the gate to open.
fn copy(mut from: TcpStream, mut to: TcpStream, gate: Option<Arc<(Mutex<Gate>, Condvar)>>) {
    let mut buf = vec![0; 64 * 1024];
    // The end of the previous chunk, so a mark split between two reads is still seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(gate) = &gate {
            tail.extend_from_slice(&buf[..n]);
            if marked(&tail) {
                let (lock, cv) = &**gate;
                let mut g = lock.lock().unwrap();
                g.holding += 1;
                cv.notify_all();
                let (mut g, _) = cv.wait_timeout_while(g, 2 * BOUND, |g| !g.open).unwrap();
                g.holding -= 1;
            }
            let keep = tail.len().saturating_sub(MARK.len() - 1);
            tail.drain(..keep);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn marked(bytes: &[u8]) -> bool {
    bytes.windows(MARK.len()).any(|w| w == MARK)
}

fn native_emitter(url: &str, pool_size: usize) -> Emitter {
    Emitter::builder(url)
        .target(Target::Native)
        .options(|o| o.pool_size(pool_size).response_timeout(BOUND))
        .connect()
        .unwrap()
}

/// Runs `calls` on `threads` threads; returns a receiver that gets one `()` per thread done.
fn on_threads(threads: usize, call: impl Fn(usize) + Send + Sync + 'static) -> mpsc::Receiver<()> {
    let call = Arc::new(call);
    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let (call, tx) = (call.clone(), tx.clone());
        std::thread::spawn(move || {
            call(t);
            tx.send(()).unwrap();
        });
    }
    rx
}

/// The stuck call, on its own thread.
fn stuck(f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::spawn(f)
}

#[test]
fn seven_threads_emit_while_the_eighth_is_stuck_on_its_connection() {
    let redis = shared(Kind::Plain);
    let relay = Relay::start(redis.nodes[0].port);
    let sub = Subscriber::new(&redis, "symple:broadcast");
    let emitter = Arc::new(native_emitter(&relay.url(), 8));

    let e = emitter.clone();
    let a = stuck(move || e.to("room").send(json!({"mark": "STALL-ME"})).unwrap());
    relay.wait_holding();

    let e = emitter.clone();
    let done = on_threads(7, move |t| {
        if t == 0 {
            // A pipelined batch takes a connection of its own too.
            let batch = (0..50).map(|i| json!({"type": "message", "data": {"t": t, "i": i}}));
            e.to("room").emit_batch(batch).unwrap();
            return;
        }
        for i in 0..50 {
            e.to("room").send(json!({"t": t, "i": i})).unwrap();
        }
    });
    for _ in 0..7 {
        done.recv_timeout(BOUND)
            .expect("a thread was held up by the stuck connection");
    }
    assert!(!a.is_finished(), "the marked emit went through early");
    // Every emit of the seven threads arrived (each was acknowledged), and only those.
    for _ in 0..350 {
        let (_, payload) = sub.next(BOUND).expect("an acknowledged emit arrives");
        assert!(!marked(&payload));
    }
    assert!(sub.next(Duration::from_millis(200)).is_none());

    relay.release();
    a.join().unwrap();
    let (_, last) = sub
        .next(BOUND)
        .expect("the held emit arrives once let through");
    assert!(marked(&last));
    // More than one connection, and never more than the pool's size.
    let opened = relay.accepted.load(Ordering::SeqCst);
    assert!((2..=8).contains(&opened), "{opened} connections");
}

#[test]
fn session_calls_go_on_while_one_is_stuck() {
    let redis = shared(Kind::Plain);
    let relay = Relay::start(redis.nodes[0].port);
    let opts = ConnectOptions::new(relay.url())
        .pool_size(4)
        .response_timeout(BOUND);
    let store = Arc::new(SessionStore::with_options(opts).unwrap());

    let s = store.clone();
    let a = stuck(move || {
        let data = data_object(json!({"user": "STALL-ME"})).unwrap();
        s.create(&data, Some(60)).unwrap();
    });
    relay.wait_holding();

    let s = store.clone();
    let done = on_threads(3, move |t| {
        let data = data_object(json!({"user": format!("user-{t}")})).unwrap();
        for _ in 0..20 {
            let token = s.create(&data, Some(60)).unwrap();
            assert!(s.get(&token).unwrap().is_some());
            assert!(s.delete(&token).unwrap());
        }
    });
    for _ in 0..3 {
        done.recv_timeout(BOUND)
            .expect("a session call was held up by the stuck connection");
    }
    assert!(!a.is_finished());
    // Asked past the relay (a request naming the user would be held too).
    let index = "symple:{sessions}:user:STALL-ME";
    let listed = |redis: &support::Redis| -> usize { redis.conn().zcard(index).unwrap() };
    assert_eq!(listed(&redis), 0, "not written yet");

    relay.release();
    a.join().unwrap();
    assert_eq!(listed(&redis), 1);
    assert_eq!(store.list("STALL-ME").unwrap().len(), 1);
}

/// The control: with one connection, a call behind the stuck one waits for it. (So the tests
/// above would fail on an emitter that shares one connection.)
#[test]
fn with_one_connection_the_others_wait() {
    let redis = shared(Kind::Plain);
    let relay = Relay::start(redis.nodes[0].port);
    let sub = Subscriber::new(&redis, "symple:broadcast");
    let emitter = Arc::new(native_emitter(&relay.url(), 1));

    let e = emitter.clone();
    let a = stuck(move || e.to("room").send(json!({"mark": "STALL-ME"})).unwrap());
    relay.wait_holding();
    let e = emitter.clone();
    let done = on_threads(1, move |_| {
        e.to("room").send(json!({"behind": true})).unwrap()
    });
    // It cannot finish while the only connection is stuck, however long this waits.
    assert!(done.recv_timeout(Duration::from_millis(500)).is_err());
    assert!(sub.next(Duration::from_millis(100)).is_none());

    relay.release();
    a.join().unwrap();
    done.recv_timeout(BOUND)
        .expect("goes through once the first is let through");
    assert!(marked(&sub.next(BOUND).expect("the first emit").1));
    assert!(!marked(&sub.next(BOUND).expect("then the one behind it").1));
    assert_eq!(relay.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn pool_size_is_bounded() {
    let redis = shared(Kind::Plain);
    let pool = Pool::open(ConnectOptions::new(redis.url()).pool_size(1000)).unwrap();
    assert_eq!(pool.size(), 64);
    let pool = Pool::open(ConnectOptions::new(redis.url()).pool_size(0)).unwrap();
    assert_eq!(pool.size(), 1);
}
