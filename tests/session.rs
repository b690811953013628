//! The session store against a real redis-server: every operation, every bad input, expiry,
//! bookkeeping and cleanup.

mod support;

use std::time::{Duration, Instant};

use redis::Commands;
use serde_json::{json, Value};
use support::{each_kind, Redis};
use symple::session::{data_object, AsyncSessionStore, SessionStore, Ttl, User};
use symple::Object;

fn obj(v: Value) -> Object {
    data_object(v).unwrap()
}

fn raw(redis: &Redis, key: &str) -> Option<String> {
    redis.conn().get(key).unwrap()
}

fn dbsize(redis: &Redis) -> i64 {
    redis::cmd("DBSIZE").query(&mut redis.conn()).unwrap()
}

/// Polls until `f` holds (bounded).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn create_get_exists_ttl_list() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let data = obj(
            json!({"user": "alice", "name": "Alice", "rooms": ["team-a"], "plan": {"tier": 2}}),
        );
        let token = store.create(&data, Some(3600)).unwrap();
        assert!(uuid::Uuid::parse_str(&token).is_ok());

        // Only the session object, byte for byte, under the session key.
        let key = format!("symple:session:{token}");
        assert_eq!(
            raw(redis, &key).unwrap(),
            r#"{"user":"alice","name":"Alice","rooms":["team-a"],"plan":{"tier":2}}"#
        );
        assert_eq!(store.get(&token).unwrap(), Some(data.clone()));
        assert!(store.exists(&token).unwrap());
        assert!(
            matches!(store.ttl(&token).unwrap(), Some(Ttl::Seconds(s)) if (3590..=3600).contains(&s))
        );

        let listed = store.list("alice").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].token, token);
        let left = listed[0].expires_at.unwrap().timestamp() - chrono::Utc::now().timestamp();
        assert!((3590..=3601).contains(&left), "{left}");

        // No TTL: never expires.
        let forever = store.create(&obj(json!({"user": "alice"})), None).unwrap();
        assert_eq!(store.ttl(&forever).unwrap(), Some(Ttl::Never));
        let listed = store.list("alice").unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed
            .iter()
            .any(|s| s.token == forever && s.expires_at.is_none()));

        // Absent sessions.
        assert_eq!(store.get("nope").unwrap(), None);
        assert!(!store.exists("nope").unwrap());
        assert_eq!(store.ttl("nope").unwrap(), None);
        assert!(store.list("nobody").unwrap().is_empty());

        // A caller-chosen token, refused when taken.
        store
            .create_with_token("tok-1", &obj(json!({"user": "bob"})), Some(60))
            .unwrap();
        let err = store
            .create_with_token("tok-1", &obj(json!({"user": "mallory"})), Some(60))
            .unwrap_err();
        assert!(err.to_string().contains("already in use"), "{err}");
        assert_eq!(store.get("tok-1").unwrap().unwrap()["user"], "bob");
    })
}

#[test]
fn set_replaces_and_moves_bookkeeping() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        store
            .set("t1", &obj(json!({"user": "alice"})), Some(60))
            .unwrap();
        store
            .set("t1", &obj(json!({"user": "bob", "x": 1})), None)
            .unwrap();
        assert_eq!(
            store.get("t1").unwrap().unwrap(),
            obj(json!({"user": "bob", "x": 1}))
        );
        assert_eq!(
            store.ttl("t1").unwrap(),
            Some(Ttl::Never),
            "set without a TTL removes it"
        );
        assert!(store.list("alice").unwrap().is_empty());
        assert_eq!(store.list("bob").unwrap().len(), 1);
    })
}

#[test]
fn touch_extends_and_never_creates() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let t = store
            .create(&obj(json!({"user": "alice"})), Some(10))
            .unwrap();
        assert!(store.touch(&t, 5000).unwrap());
        assert!(matches!(store.ttl(&t).unwrap(), Some(Ttl::Seconds(s)) if s > 4000));
        let exp = store.list("alice").unwrap()[0]
            .expires_at
            .unwrap()
            .timestamp();
        assert!(
            exp > chrono::Utc::now().timestamp() + 4000,
            "bookkeeping follows the touch"
        );

        // Absent: reports false and leaves no key behind.
        let before = dbsize(redis);
        assert!(!store.touch("never-created", 60).unwrap());
        assert!(raw(redis, "symple:session:never-created").is_none());
        assert_eq!(dbsize(redis), before);

        // Expired: the same, nothing resurrected.
        let short = store.create(&obj(json!({"user": "bob"})), Some(1)).unwrap();
        eventually("short session expires", || !store.exists(&short).unwrap());
        assert!(!store.touch(&short, 60).unwrap());
        assert!(!store.exists(&short).unwrap());
        assert!(raw(redis, &format!("symple:session:{short}")).is_none());
    })
}

#[test]
fn ttl_really_expires_and_list_never_shows_it() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let short = store
            .create(&obj(json!({"user": "alice"})), Some(1))
            .unwrap();
        let long = store
            .create(&obj(json!({"user": "alice"})), Some(600))
            .unwrap();
        eventually("expired in Redis", || {
            redis
                .conn()
                .exists::<_, bool>(format!("symple:session:{short}"))
                .map(|e| !e)
                .unwrap()
        });
        let listed: Vec<String> = store
            .list("alice")
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect();
        assert_eq!(listed, [long]);
    })
}

#[test]
fn update_merges_and_keeps_ttl() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let t = store
            .create(
                &obj(json!({"user": "alice", "name": "A", "rooms": ["r1"]})),
                Some(1000),
            )
            .unwrap();
        assert!(store
            .update(&t, &obj(json!({"name": "Alice", "status": "busy"})))
            .unwrap());
        assert_eq!(
            raw(redis, &format!("symple:session:{t}")).unwrap(),
            r#"{"user":"alice","name":"Alice","rooms":["r1"],"status":"busy"}"#
        );
        assert!(
            matches!(store.ttl(&t).unwrap(), Some(Ttl::Seconds(s)) if s > 990),
            "TTL kept"
        );

        // Moving the session to another user moves its bookkeeping.
        assert!(store.update(&t, &obj(json!({"user": "alicia"}))).unwrap());
        assert!(store.list("alice").unwrap().is_empty());
        assert_eq!(store.list("alicia").unwrap()[0].token, t);

        // Invalid result: refused, nothing changed.
        let before = raw(redis, &format!("symple:session:{t}"));
        for bad in [
            json!({"user": 5.5}),
            json!({"rooms": "r"}),
            json!({"user": ""}),
        ] {
            assert!(store.update(&t, &obj(bad)).is_err());
        }
        assert_eq!(raw(redis, &format!("symple:session:{t}")), before);

        // Absent: false, nothing created.
        assert!(!store.update("ghost", &obj(json!({"user": "x"}))).unwrap());
        assert!(raw(redis, "symple:session:ghost").is_none());
    })
}

#[test]
fn delete_and_delete_user() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let a: Vec<String> = (0..3)
            .map(|_| {
                store
                    .create(&obj(json!({"user": "alice"})), Some(600))
                    .unwrap()
            })
            .collect();
        let b = store.create(&obj(json!({"user": "bob"})), None).unwrap();
        let logouts = support::Subscriber::new(redis, "symple:logout");

        assert!(store.delete(&a[0]).unwrap());
        assert!(!store.delete(&a[0]).unwrap());
        assert!(!store.exists(&a[0]).unwrap());
        assert_eq!(store.list("alice").unwrap().len(), 2);

        assert_eq!(store.delete_user("alice").unwrap(), 2);
        for t in &a {
            assert!(!store.exists(t).unwrap());
        }
        assert!(store.list("alice").unwrap().is_empty());
        assert!(store.exists(&b).unwrap(), "another user's session survives");
        assert_eq!(store.list("bob").unwrap().len(), 1);
        // No bookkeeping of alice is left.
        let left: Vec<String> = redis.conn().keys("*alice*").unwrap();
        assert!(left.is_empty(), "{left:?}");
        let members: Vec<String> = redis
            .conn()
            .zrange("symple:{sessions}:expiry", 0, -1)
            .unwrap();
        assert_eq!(members, [format!("{b}\n\"bob\"")]);
        // Each deleted session's token went out on symple:logout, once; nothing else did.
        let mut tokens: Vec<String> = logouts
            .drain(Duration::from_millis(500))
            .into_iter()
            .map(|(_, t)| String::from_utf8(t).unwrap())
            .collect();
        tokens.sort();
        let mut expected = a.clone();
        expected.sort();
        assert_eq!(tokens, expected);
    })
}

#[test]
fn cleanup_removes_stale_bookkeeping_and_nothing_live() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let stale: Vec<String> = (0..3)
            .map(|_| {
                store
                    .create(&obj(json!({"user": "alice"})), Some(1))
                    .unwrap()
            })
            .collect();
        let live = store
            .create(&obj(json!({"user": "alice"})), Some(600))
            .unwrap();
        let forever = store.create(&obj(json!({"user": "bob"})), None).unwrap();
        // Extended behind the store's back (as a server's EXPIREAT would): must survive.
        let extended = store
            .create(&obj(json!({"user": "carol"})), Some(1))
            .unwrap();
        let _: bool = redis
            .conn()
            .expire(format!("symple:session:{extended}"), 600)
            .unwrap();

        eventually("stale sessions expire", || {
            stale.iter().all(|t| !store.exists(t).unwrap())
        });
        std::thread::sleep(Duration::from_millis(1100)); // let the recorded expiry pass too
        let zcard = |k: &str| -> i64 { redis.conn().zcard(k).unwrap() };
        assert_eq!(
            zcard("symple:{sessions}:user:alice"),
            4,
            "stale entries still recorded"
        );

        assert_eq!(store.cleanup().unwrap(), 3);
        assert_eq!(zcard("symple:{sessions}:user:alice"), 1);
        assert_eq!(zcard("symple:{sessions}:expiry"), 3);
        for t in [&live, &forever, &extended] {
            assert!(store.exists(t).unwrap());
        }
        let carol = store.list("carol").unwrap();
        assert!(
            carol[0].expires_at.unwrap().timestamp() > chrono::Utc::now().timestamp() + 500,
            "re-scored"
        );
        assert_eq!(store.cleanup().unwrap(), 0, "idempotent");
    })
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let good = obj(json!({"user": "alice"}));
        let long = "t".repeat(257);
        let bad_tokens = [
            "",
            "a b",
            "tab\there",
            "nl\n",
            "ctl\u{7}",
            "star*",
            "q?",
            "[set]",
            "back\\slash",
            long.as_str(),
        ];
        for t in bad_tokens {
            for err in [
                store.set(t, &good, Some(60)).unwrap_err(),
                store.get(t).unwrap_err(),
                store.touch(t, 60).unwrap_err(),
                store.delete(t).unwrap_err(),
                store.exists(t).unwrap_err(),
                store.update(t, &good).unwrap_err(),
            ] {
                assert!(err.to_string().contains("token"), "{t:?}: {err}");
            }
        }
        let bad_data = [
            (json!({}), "no `user`"),
            (json!({"user": true}), "must be a string or an integer"),
            (json!({"user": 1.5}), "must be a string or an integer"),
            (json!({"user": ""}), "empty"),
            (json!({"user": "a", "rooms": [1]}), "non-empty strings"),
            (json!({"user": "a", "rooms": "r"}), "array"),
        ];
        for (d, needle) in bad_data {
            let err = store.set("tok", &obj(d.clone()), Some(60)).unwrap_err();
            assert!(err.to_string().contains(needle), "{d}: {err}");
            assert!(store.create(&obj(d), None).is_err());
        }
        assert!(data_object(json!([1, 2]))
            .unwrap_err()
            .to_string()
            .contains("JSON object"));
        for ttl in [0, -1] {
            let err = store.set("tok", &good, Some(ttl)).unwrap_err();
            assert!(err.to_string().contains("TTL"), "{err}");
            assert!(store.touch("tok", ttl).is_err());
        }
        assert!(store.delete_user("").is_err());
        assert_eq!(dbsize(redis), 0, "nothing was written");
    })
}

#[test]
fn non_json_values_are_reported_not_crashed_on() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let _: () = redis
            .conn()
            .set("symple:session:junk", "not json {")
            .unwrap();
        let _: () = redis.conn().set("symple:session:arr", "[1,2]").unwrap();
        let err = store.get("junk").unwrap_err().to_string();
        assert!(
            err.contains("symple:session:junk") && err.contains("not JSON"),
            "{err}"
        );
        let err = store.get("arr").unwrap_err().to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        assert!(store.update("junk", &obj(json!({"user": "a"}))).is_err());
        assert_eq!(
            raw(redis, "symple:session:junk").unwrap(),
            "not json {",
            "left as it was"
        );
        // The store still works, and can remove the junk.
        assert!(store.touch("junk", 60).unwrap());
        assert!(store.delete("junk").unwrap());
        assert!(store.create(&obj(json!({"user": "ok"})), Some(5)).is_ok());
    })
}

#[test]
fn async_store_does_the_same() {
    each_kind(|redis| {
        let rt = support::runtime();
        rt.block_on(async {
            let store = AsyncSessionStore::connect(redis.url()).await.unwrap();
            let t = store
                .create(&obj(json!({"user": "alice"})), Some(100))
                .await
                .unwrap();
            assert_eq!(store.get(&t).await.unwrap().unwrap()["user"], "alice");
            assert!(store.exists(&t).await.unwrap());
            assert!(store.touch(&t, 200).await.unwrap());
            assert!(matches!(store.ttl(&t).await.unwrap(), Some(Ttl::Seconds(s)) if s > 100));
            assert!(store.update(&t, &obj(json!({"name": "A"}))).await.unwrap());
            assert_eq!(store.list("alice").await.unwrap().len(), 1);
            store
                .set("fixed", &obj(json!({"user": "alice"})), None)
                .await
                .unwrap();
            store
                .create_with_token("fixed2", &obj(json!({"user": "bob"})), None)
                .await
                .unwrap();
            assert!(store.delete(&t).await.unwrap());
            assert_eq!(store.delete_user("alice").await.unwrap(), 1);
            assert_eq!(store.cleanup().await.unwrap(), 0);
            assert!(!store.touch("absent", 5).await.unwrap());
            assert!(store.get("bad token").await.is_err());
        });
        assert_eq!(
            dbsize(redis),
            3,
            "bob's session and its two bookkeeping keys"
        );
    })
}

#[test]
fn cli_session_commands() {
    each_kind(|redis| {
        let run = |args: &[&str]| -> (Option<i32>, Value, String) {
            let out = std::process::Command::new(support::symple_bin())
                .arg("session")
                .args(["--url", &redis.url()])
                .args(args)
                .output()
                .unwrap();
            let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            (
                out.status.code(),
                v,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, v, _) = run(&[
            "create",
            "--data",
            r#"{"user":"alice","rooms":["r"]}"#,
            "--ttl",
            "100",
        ]);
        assert_eq!(code, Some(0));
        let token = v["token"].as_str().unwrap().to_owned();
        assert_eq!(
            run(&["get", &token]).1,
            json!({"user": "alice", "rooms": ["r"]})
        );
        assert_eq!(
            run(&["touch", &token, "--ttl", "500"]).1,
            json!({"existed": true})
        );
        assert_eq!(
            run(&["touch", "ghost", "--ttl", "500"]).1,
            json!({"existed": false})
        );
        assert_eq!(
            run(&["update", &token, "--data", r#"{"name":"A"}"#]).1,
            json!({"existed": true})
        );
        let listed = run(&["list", "alice"]).1;
        assert_eq!(listed[0]["token"], token.as_str());
        assert!(listed[0]["expires_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            run(&["create", "--data", r#"{"user":"alice"}"#, "--token", "mine"]).1,
            json!({"token": "mine"})
        );
        assert_eq!(run(&["delete", &token]).1, json!({"existed": true}));
        assert_eq!(run(&["get", &token]).1, Value::Null);
        assert_eq!(run(&["delete-user", "alice"]).1, json!({"deleted": 1}));
        assert_eq!(run(&["cleanup"]).1, json!({"removed": 0}));

        for (args, needle) in [
            (vec!["create", "--data", "{oops"], "not valid JSON"),
            (vec!["create", "--data", "[1]"], "JSON object"),
            (
                vec!["create", "--data", r#"{"user":true}"#],
                "must be a string or an integer",
            ),
            (
                vec!["create", "--data", r#"{"user":"a"}"#, "--ttl", "0"],
                "TTL",
            ),
            (vec!["get", "a*"], "glob"),
            (vec!["touch", "t", "--ttl", "-5"], "TTL"),
        ] {
            let (code, _, err) = run(&args);
            assert_eq!(code, Some(2), "{args:?}");
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        assert_eq!(dbsize(redis), 0);
    })
}

#[test]
fn integer_users_stay_integers_and_apart_from_strings() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let int = store
            .create(&obj(json!({"user": 4242, "name": "Four"})), Some(600))
            .unwrap();
        let text = store
            .create(&obj(json!({"user": "4242"})), Some(600))
            .unwrap();
        assert_eq!(
            raw(redis, &format!("symple:session:{int}")).unwrap(),
            r#"{"user":4242,"name":"Four"}"#
        );
        let tokens = |u: User| -> Vec<String> {
            store
                .list(u)
                .unwrap()
                .into_iter()
                .map(|s| s.token)
                .collect()
        };
        assert_eq!(tokens(User::from(4242)), [int.as_str()]);
        assert_eq!(tokens(User::from("4242")), [text.as_str()]);
        // Moving a session between the two users moves its bookkeeping.
        assert!(store.update(&text, &obj(json!({"user": 4242}))).unwrap());
        assert_eq!(tokens(User::from(4242)).len(), 2);
        assert!(tokens(User::from("4242")).is_empty());
        assert_eq!(store.delete_user(4242).unwrap(), 2);
        assert!(tokens(User::from(4242)).is_empty());
        assert!(store.delete_user(-1i64).is_ok());
        let err = store.list(User::Id(1 << 53)).unwrap_err().to_string();
        assert!(err.contains("beyond"), "{err}");
        assert_eq!(dbsize(redis), 0, "nothing left behind");

        // The CLI reads a bare number as the integer user, a JSON string as the name.
        let cli = |args: &[&str]| -> Value {
            let out = std::process::Command::new(support::symple_bin())
                .arg("session")
                .args(["--url", &redis.url()])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}: {out:?}");
            serde_json::from_slice(&out.stdout).unwrap()
        };
        let t = cli(&["create", "--data", r#"{"user":4242}"#])["token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(cli(&["get", &t]), json!({"user": 4242}));
        assert_eq!(cli(&["list", "4242"])[0]["token"], t.as_str());
        assert_eq!(cli(&["list", r#""4242""#]), json!([]));
        assert_eq!(cli(&["delete-user", "4242"]), json!({"deleted": 1}));
    })
}

/// The reproduction in issue 9: a session created without a TTL, given one from outside (a
/// server's EXPIRE), then expired, used to keep its `+inf` entry forever.
#[test]
fn cleanup_finds_a_never_expiring_session_that_expired_anyway() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let t = store.create(&obj(json!({"user": "orph"})), None).unwrap();
        let kept = store.create(&obj(json!({"user": "orph"})), None).unwrap();
        let _: bool = redis
            .conn()
            .pexpire(format!("symple:session:{t}"), 1)
            .unwrap();
        eventually("the session expires", || !store.exists(&t).unwrap());
        assert_eq!(store.cleanup().unwrap(), 1);
        let left: Vec<String> = redis
            .conn()
            .zrange("symple:{sessions}:user:orph", 0, -1)
            .unwrap();
        assert_eq!(left, [kept.as_str()]);
        assert_eq!(store.cleanup().unwrap(), 0);
        assert!(store.exists(&kept).unwrap());
    })
}

/// What a crash between two writes leaves (an entry written before its session, an entry of
/// the user a session was moved away from) is skipped by list and removed by cleanup.
#[test]
fn cleanup_repairs_what_a_crash_between_writes_leaves() {
    each_kind(|redis| {
        let store = SessionStore::connect(redis.url()).unwrap();
        let live = store
            .create(&obj(json!({"user": "ann"})), Some(600))
            .unwrap();
        let moved = store
            .create(&obj(json!({"user": "bob"})), Some(600))
            .unwrap();
        // As if a create crashed after its first write (the bookkeeping), due at once...
        let mut admin = redis.conn();
        let past = chrono::Utc::now().timestamp() - 5;
        for (key, member) in [
            ("symple:{sessions}:user:ann", "ghost".to_string()),
            ("symple:{sessions}:expiry", "ghost\n\"ann\"".to_string()),
            // ...and as if an update that moved `moved` to ann crashed before forgetting bob.
            ("symple:{sessions}:user:ann", moved.clone()),
            ("symple:{sessions}:expiry", format!("{moved}\n\"ann\"")),
        ] {
            let _: i64 = admin.zadd(key, member, past).unwrap();
        }
        let listed: Vec<String> = store
            .list("ann")
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect();
        assert_eq!(
            listed,
            [live.as_str()],
            "list skips entries without a live session"
        );
        // list already dropped ann's stale entries; put them back to see cleanup do it.
        for (key, member) in [
            ("symple:{sessions}:user:ann", "ghost".to_string()),
            ("symple:{sessions}:expiry", "ghost\n\"ann\"".to_string()),
        ] {
            let _: i64 = admin.zadd(key, member, past).unwrap();
        }
        assert_eq!(store.cleanup().unwrap(), 1);
        let ann: Vec<String> = admin.zrange("symple:{sessions}:user:ann", 0, -1).unwrap();
        assert_eq!(ann, [live.as_str()]);
        assert_eq!(store.list("bob").unwrap()[0].token, moved);
        assert_eq!(store.cleanup().unwrap(), 0);
    })
}

#[test]
fn bookkeeping_shares_one_slot() {
    let redis = support::shared(support::Kind::Cluster);
    let store = SessionStore::connect(redis.url()).unwrap();
    for user in ["alice", "bob", "carol", "dave"] {
        store.create(&obj(json!({"user": user})), Some(60)).unwrap();
    }
    store.create(&obj(json!({"user": 7})), None).unwrap();
    let mut admin = redis.node_conn(0);
    let mut slot = |k: &str| -> i64 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(k)
            .query(&mut admin)
            .unwrap()
    };
    let keys: Vec<String> = redis.conn().keys("symple:{sessions}:*").unwrap();
    assert_eq!(keys.len(), 6, "{keys:?}");
    let slots: std::collections::HashSet<i64> = keys.iter().map(|k| slot(k)).collect();
    assert_eq!(slots.len(), 1, "{keys:?}");
}
