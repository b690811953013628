//! Each session operation as a value: the Redis calls to make, step by step, and what to do
//! with their replies. Building one does no I/O, so the blocking and the async store share
//! every line of logic (they only run the calls: [`Step`]).
//!
//! Redis Cluster keeps `symple:session:<token>` (its name is fixed by every server) apart
//! from the bookkeeping (hash-tagged, one slot), so no script can change both. Instead every
//! operation writes in an order that never leaves a live session unlisted, on one node and
//! on a cluster alike:
//! - a write that makes a session live for a user is preceded by recording it in the
//!   bookkeeping (a crash in between leaves an entry without a session, which `list` skips
//!   and `cleanup` removes) and followed by recording it again (so a concurrent removal of
//!   the same entry cannot win);
//! - an entry is removed only when its session is gone or belongs to someone else, and the
//!   session is read again after the removal: live for that user by then, the entry is put
//!   back.
//!
//! Scripts touch one session key, or only bookkeeping keys, and run as EVAL (no script
//! cache to lose on a restart or a failover).

use chrono::{DateTime, Utc};
use redis::{Cmd, Value as RValue};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::protocol::Object;
use crate::redis::Order;
use crate::session::keys::{self, CLEANUP_CURSOR, EXPIRY_INDEX};
use crate::session::validate::{stored_user, validate_data, validate_token, validate_ttl, User};

// Bookkeeping. KEYS: expiry index, then one user index per entry. ARGV: ttl (seconds, 0 =
// never), then token and member per entry. Scores are unix seconds by Redis's clock.
const REMEMBER: &str = r"
local score = '+inf'
local ttl = tonumber(ARGV[1])
if ttl > 0 then score = tonumber(redis.call('TIME')[1]) + ttl end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], score, ARGV[2 * i - 2])
  redis.call('ZADD', KEYS[1], score, ARGV[2 * i - 1])
end
return 1
";

// KEYS: expiry index, then one user index per entry. ARGV: token, member and expected score
// per entry ('' = any): an entry whose score changed since it was read (written again
// meanwhile) is kept. Returns 1/0 per entry.
const FORGET: &str = r"
local out = {}
for i = 2, #KEYS do
  local token, member, expected = ARGV[3 * i - 5], ARGV[3 * i - 4], ARGV[3 * i - 3]
  if expected ~= '' and redis.call('ZSCORE', KEYS[1], member) ~= expected then
    out[#out + 1] = 0
  else
    redis.call('ZREM', KEYS[i], token)
    out[#out + 1] = redis.call('ZREM', KEYS[1], member)
  end
end
return out
";

// KEYS: expiry index, cleanup cursor. ARGV: batch size, 1 to also read the next window of
// sessions that never expire (a TTL set on one from outside, then passed, leaves an entry
// scored +inf that is never due). Returns due entries and that window, with scores.
const CLEANUP_READ: &str = r"
local n = tonumber(ARGV[1])
local t = tonumber(redis.call('TIME')[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'WITHSCORES', 'LIMIT', 0, n)
local never = {}
if ARGV[2] == '1' then
  local offset = tonumber(redis.call('GET', KEYS[2]) or '0')
  never = redis.call('ZRANGEBYSCORE', KEYS[1], '+inf', '+inf', 'WITHSCORES', 'LIMIT', offset, n)
  if #never < 2 * n then redis.call('DEL', KEYS[2]) else redis.call('SET', KEYS[2], offset + n) end
end
return {due, never}
";

// One session key. KEYS: session.
const READ: &str = r"
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
";

// KEYS: session. ARGV: ttl. The value, or nil when there is no session (nothing created).
const TOUCH: &str = r"
if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('GET', KEYS[1])
";

// KEYS: session. ARGV: the value read, the new value. 1 written, 0 absent, -1 changed since.
const COMPARE_AND_SET: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
";

// KEYS: session. ARGV: the value read. Deletes only that value.
const DELETE_IF: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

fn eval(script: &str, keys: &[&str], args: &[&[u8]]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(keys.len());
    for k in keys {
        cmd.arg(*k);
    }
    for a in args {
        cmd.arg(*a);
    }
    cmd
}

/// What happens next: run these commands and decide from their replies, or a result.
pub(crate) enum Step<T> {
    Run {
        cmds: Vec<Cmd>,
        order: Order,
        then: Box<dyn FnOnce(Vec<RValue>) -> Result<Step<T>> + Send>,
    },
    Done(T),
}

impl<T: Send + 'static> Step<T> {
    fn run(
        cmds: Vec<Cmd>,
        order: Order,
        then: impl FnOnce(Vec<RValue>) -> Result<Step<T>> + Send + 'static,
    ) -> Self {
        Step::Run {
            cmds,
            order,
            then: Box::new(then),
        }
    }

    /// One command and the step its reply leads to.
    fn one(cmd: Cmd, then: impl FnOnce(RValue) -> Result<Step<T>> + Send + 'static) -> Self {
        Step::run(vec![cmd], Order::Any, |mut r| {
            then(r.pop().unwrap_or(RValue::Nil))
        })
    }

    /// This step, then `f` with its result.
    fn then<U: Send + 'static>(
        self,
        f: impl FnOnce(T) -> Result<Step<U>> + Send + 'static,
    ) -> Step<U> {
        match self {
            // No commands: the runner calls `f` without any I/O.
            Step::Done(v) => Step::run(Vec::new(), Order::Any, move |_| f(v)),
            Step::Run { cmds, order, then } => {
                Step::run(cmds, order, move |r| Ok(then(r)?.then(f)))
            }
        }
    }
}

/// How long a session has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// The session never expires.
    Never,
    /// Seconds left.
    Seconds(u64),
}

/// One of a user's live sessions.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// The token.
    pub token: String,
    /// When it expires; `None` for never.
    pub expires_at: Option<DateTime<Utc>>,
}

fn reply_error(e: redis::RedisError) -> Error {
    Error::Redis(e)
}

fn int(v: &RValue) -> Result<i64> {
    redis::from_redis_value_ref::<i64>(v).map_err(|e| reply_error(e.into()))
}

fn bytes(v: RValue) -> Option<Vec<u8>> {
    match v {
        RValue::BulkString(b) => Some(b),
        _ => None,
    }
}

/// A session's value and milliseconds left (-1: never expires), from [`READ`].
struct Read {
    value: Option<Vec<u8>>,
    pttl: i64,
}

impl Read {
    fn cmd(token: &str) -> Cmd {
        eval(READ, &[&keys::session(token)], &[])
    }

    fn parse(v: RValue) -> Result<Read> {
        let RValue::Array(mut parts) = v else {
            return Err(Error::InvalidSession(format!(
                "unexpected reply to a session read: {v:?}"
            )));
        };
        let pttl = parts.pop().map(|p| int(&p)).transpose()?.unwrap_or(-2);
        let value = parts.pop().and_then(bytes);
        Ok(Read { value, pttl })
    }

    fn user(&self) -> Option<User> {
        self.value.as_deref().and_then(stored_user)
    }

    /// Whole seconds left, rounded up; 0 for never.
    fn ttl_seconds(&self) -> u64 {
        if self.pttl < 0 {
            0
        } else {
            (self.pttl as u64).div_ceil(1000).max(1)
        }
    }
}

/// An entry of the bookkeeping: a token recorded for a user.
#[derive(Clone)]
struct Entry {
    token: String,
    user: User,
}

fn remember_cmd(entries: &[Entry], ttl: u64) -> Cmd {
    let index_keys: Vec<String> = entries.iter().map(|e| keys::user_index(&e.user)).collect();
    let members: Vec<String> = entries
        .iter()
        .map(|e| keys::expiry_member(&e.token, &e.user))
        .collect();
    let mut key_refs = vec![EXPIRY_INDEX];
    key_refs.extend(index_keys.iter().map(String::as_str));
    let ttl = ttl.to_string();
    let mut args: Vec<&[u8]> = vec![ttl.as_bytes()];
    for (e, m) in entries.iter().zip(&members) {
        args.push(e.token.as_bytes());
        args.push(m.as_bytes());
    }
    eval(REMEMBER, &key_refs, &args)
}

fn remember(entry: Entry, ttl: u64) -> Cmd {
    remember_cmd(&[entry], ttl)
}

/// Removes entries (each only if its score is still the one given, when given), then reads
/// their sessions and puts back those live for the entry's user. Returns how many stayed
/// removed.
fn forget_verified(entries: Vec<(Entry, Option<String>)>) -> Step<u64> {
    forget_verified_along(Vec::new(), entries)
}

/// [`forget_verified`], its first round trip also carrying `along` (commands of any slot
/// whose replies are not needed).
fn forget_verified_along(along: Vec<Cmd>, entries: Vec<(Entry, Option<String>)>) -> Step<u64> {
    if entries.is_empty() {
        return Step::run(along, Order::Any, |_| Ok(Step::Done(0)));
    }
    let index_keys: Vec<String> = entries
        .iter()
        .map(|(e, _)| keys::user_index(&e.user))
        .collect();
    let members: Vec<String> = entries
        .iter()
        .map(|(e, _)| keys::expiry_member(&e.token, &e.user))
        .collect();
    let mut key_refs = vec![EXPIRY_INDEX];
    key_refs.extend(index_keys.iter().map(String::as_str));
    let mut args: Vec<&[u8]> = Vec::new();
    for ((e, score), m) in entries.iter().zip(&members) {
        args.push(e.token.as_bytes());
        args.push(m.as_bytes());
        args.push(score.as_deref().unwrap_or("").as_bytes());
    }
    let mut cmds = along;
    cmds.push(eval(FORGET, &key_refs, &args));
    Step::run(cmds, Order::Any, move |mut r| {
        let v = r.pop().unwrap_or(RValue::Nil);
        let removed: Vec<i64> = redis::from_redis_value(v).map_err(|e| reply_error(e.into()))?;
        let gone: Vec<Entry> = entries
            .into_iter()
            .zip(removed)
            .filter(|(_, r)| *r == 1)
            .map(|((e, _), _)| e)
            .collect();
        if gone.is_empty() {
            return Ok(Step::Done(0));
        }
        let reads = gone.iter().map(|e| Read::cmd(&e.token)).collect();
        Ok(Step::run(reads, Order::Any, move |replies| {
            let mut back = Vec::new();
            let n = gone.len() as u64;
            for (e, r) in gone.into_iter().zip(replies) {
                let read = Read::parse(r)?;
                if read.user().as_ref() == Some(&e.user) {
                    back.push((e, read.ttl_seconds()));
                }
            }
            let restored = back.len() as u64;
            // One REMEMBER per distinct TTL is rare enough: one each.
            let cmds = back.into_iter().map(|(e, ttl)| remember(e, ttl)).collect();
            Ok(Step::run(cmds, Order::Any, move |_| {
                Ok(Step::Done(n - restored))
            }))
        }))
    })
}

pub(crate) fn set(
    token: &str,
    data: &Object,
    ttl: Option<i64>,
    only_if_absent: bool,
) -> Result<Step<bool>> {
    validate_token(token)?;
    let user = validate_data(data)?;
    let ttl = validate_ttl(ttl)?;
    let value = serde_json::to_string(data)?;
    let entry = Entry {
        token: token.to_owned(),
        user,
    };
    let mut write = redis::cmd("SET");
    write.arg(keys::session(token)).arg(value);
    if let Some(t) = ttl {
        write.arg("EX").arg(t);
    }
    write.arg(if only_if_absent { "NX" } else { "GET" });
    let ttl = ttl.unwrap_or(0);
    let cmds = vec![
        remember(entry.clone(), ttl),
        write,
        remember(entry.clone(), ttl),
    ];
    Ok(Step::run(cmds, Order::Sequential, move |mut r| {
        let reply = r.swap_remove(1);
        if only_if_absent {
            return Ok(Step::Done(!matches!(reply, RValue::Nil)));
        }
        match bytes(reply).as_deref().and_then(stored_user) {
            Some(old) if old != entry.user => Ok(forget_verified(vec![(
                Entry {
                    token: entry.token,
                    user: old,
                },
                None,
            )])
            .then(|_| Ok(Step::Done(true)))),
            _ => Ok(Step::Done(true)),
        }
    }))
}

pub(crate) fn get(token: &str) -> Result<Step<Option<Object>>> {
    validate_token(token)?;
    let key = keys::session(token);
    let mut cmd = redis::cmd("GET");
    cmd.arg(&key);
    Ok(Step::one(cmd, move |v| match v {
        RValue::Nil => Ok(Step::Done(None)),
        RValue::BulkString(b) => parse_stored(&key, &b).map(|(obj, _)| Step::Done(Some(obj))),
        other => Err(Error::InvalidSession(format!(
            "unexpected reply for {key}: {other:?}"
        ))),
    }))
}

/// Reads a stored value: a JSON object, else an error naming the key.
pub(crate) fn parse_stored(key: &str, bytes: &[u8]) -> Result<(Object, String)> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::InvalidSession(format!("the value under {key} is not UTF-8 text")))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(obj)) => Ok((obj, text.to_owned())),
        Ok(other) => Err(Error::InvalidSession(format!(
            "the value under {key} is not a JSON object: {other}"
        ))),
        Err(e) => Err(Error::InvalidSession(format!(
            "the value under {key} is not JSON: {e}"
        ))),
    }
}

pub(crate) fn exists(token: &str) -> Result<Step<bool>> {
    validate_token(token)?;
    let mut cmd = redis::cmd("EXISTS");
    cmd.arg(keys::session(token));
    Ok(Step::one(cmd, |v| Ok(Step::Done(int(&v)? == 1))))
}

pub(crate) fn ttl(token: &str) -> Result<Step<Option<Ttl>>> {
    validate_token(token)?;
    let mut cmd = redis::cmd("TTL");
    cmd.arg(keys::session(token));
    Ok(Step::one(cmd, |v| {
        Ok(Step::Done(match int(&v)? {
            -2 => None,
            -1 => Some(Ttl::Never),
            n => Some(Ttl::Seconds(n.max(0) as u64)),
        }))
    }))
}

pub(crate) fn touch(token: &str, ttl: i64) -> Result<Step<bool>> {
    validate_token(token)?;
    let Some(ttl) = validate_ttl(Some(ttl))? else {
        unreachable!("Some in, Some out")
    };
    let token = token.to_owned();
    let cmd = eval(
        TOUCH,
        &[&keys::session(&token)],
        &[ttl.to_string().as_bytes()],
    );
    Ok(Step::one(cmd, move |v| {
        let Some(value) = bytes(v) else {
            return Ok(Step::Done(false));
        };
        match stored_user(&value) {
            Some(user) => Ok(Step::one(remember(Entry { token, user }, ttl), |_| {
                Ok(Step::Done(true))
            })),
            None => Ok(Step::Done(true)),
        }
    }))
}

/// `PUBLISH symple:logout <token>` for each deleted session: servers close its connections.
fn logout(tokens: &[String]) -> Vec<Cmd> {
    tokens
        .iter()
        .map(|t| {
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(keys::LOGOUT_CHANNEL).arg(t);
            cmd
        })
        .collect()
}

pub(crate) fn delete(token: &str) -> Result<Step<bool>> {
    validate_token(token)?;
    let token = token.to_owned();
    let mut cmd = redis::cmd("GETDEL");
    cmd.arg(keys::session(&token));
    Ok(Step::one(cmd, move |v| {
        let Some(value) = bytes(v) else {
            return Ok(Step::Done(false));
        };
        let notify = logout(std::slice::from_ref(&token));
        let entries = match stored_user(&value) {
            Some(user) => vec![(Entry { token, user }, None)],
            None => Vec::new(),
        };
        Ok(forget_verified_along(notify, entries).then(|_| Ok(Step::Done(true))))
    }))
}

/// How many times `update` re-reads a value that changed under it before giving up.
pub(crate) const UPDATE_ATTEMPTS: usize = 5;

/// Merges `fields` into the session (compare-and-set against the value read, retried when
/// another writer got in between); moving the session to another user moves its entry.
pub(crate) fn update(token: &str, fields: &Object) -> Result<Step<bool>> {
    validate_token(token)?;
    // Checks the fields on their own terms now, so bad input fails before any read.
    if let Some(user) = fields.get("user") {
        User::from_json(user)?;
    }
    let mut probe = Object::new();
    probe.insert("user".into(), Value::String("x".into()));
    probe.extend(fields.clone());
    validate_data(&probe)?;
    Ok(update_attempt(
        token.to_owned(),
        fields.clone(),
        UPDATE_ATTEMPTS,
    ))
}

fn update_attempt(token: String, fields: Object, attempts: usize) -> Step<bool> {
    let key = keys::session(&token);
    Step::one(Read::cmd(&token), move |v| {
        let read = Read::parse(v)?;
        let Some(current) = read.value.as_deref() else {
            return Ok(Step::Done(false));
        };
        let (mut merged, current_text) = parse_stored(&key, current)?;
        merged.extend(fields.clone());
        let new_user = validate_data(&merged)?;
        let old_user = read.user();
        let new_value = serde_json::to_string(&merged)?;
        let cas = eval(
            COMPARE_AND_SET,
            &[&key],
            &[current_text.as_bytes(), new_value.as_bytes()],
        );
        let moved = old_user.as_ref() != Some(&new_user);
        let entry = Entry {
            token: token.clone(),
            user: new_user,
        };
        let cmds = if moved {
            let ttl = read.ttl_seconds();
            vec![remember(entry.clone(), ttl), cas, remember(entry, ttl)]
        } else {
            vec![cas]
        };
        let cas_at = if moved { 1 } else { 0 };
        Ok(Step::run(cmds, Order::Sequential, move |r| {
            match r.get(cas_at).map(int).transpose()?.unwrap_or(0) {
                0 => Ok(Step::Done(false)),
                -1 if attempts > 1 => Ok(update_attempt(token, fields, attempts - 1)),
                -1 => Err(Error::InvalidSession(format!(
                    "session {token} kept changing while being updated; try again"
                ))),
                _ => match old_user {
                    Some(old) if moved => {
                        Ok(forget_verified(vec![(Entry { token, user: old }, None)])
                            .then(|_| Ok(Step::Done(true))))
                    }
                    _ => Ok(Step::Done(true)),
                },
            }
        }))
    })
}

pub(crate) fn list(user: User) -> Result<Step<Vec<SessionInfo>>> {
    user.check()?;
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(keys::user_index(&user))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES");
    Ok(Step::one(cmd, move |v| {
        let listed: Vec<(String, String)> =
            redis::from_redis_value(v).map_err(|e| reply_error(e.into()))?;
        if listed.is_empty() {
            return Ok(Step::Done(Vec::new()));
        }
        let reads = listed.iter().map(|(t, _)| Read::cmd(t)).collect();
        Ok(Step::run(reads, Order::Any, move |replies| {
            let now = Utc::now();
            let mut live = Vec::new();
            let mut stale = Vec::new();
            let mut rescore = Vec::new();
            for ((token, score), r) in listed.into_iter().zip(replies) {
                let read = Read::parse(r)?;
                let entry = Entry {
                    token: token.clone(),
                    user: user.clone(),
                };
                if read.user().as_ref() != Some(&user) {
                    stale.push((entry, None));
                    continue;
                }
                let expires_at =
                    (read.pttl >= 0).then(|| now + chrono::Duration::milliseconds(read.pttl));
                // A TTL changed from outside (a server's EXPIRE): record the real one.
                let recorded = score.parse::<f64>().unwrap_or(f64::NAN);
                let actual = expires_at.map_or(f64::INFINITY, |t| t.timestamp() as f64);
                if !((recorded - actual).abs() <= 2.0 || recorded == actual) {
                    rescore.push((entry, read.ttl_seconds()));
                }
                live.push(SessionInfo { token, expires_at });
            }
            let cmds = rescore
                .into_iter()
                .map(|(e, ttl)| remember(e, ttl))
                .collect();
            Ok(Step::run(cmds, Order::Any, move |_| {
                Ok(forget_verified(stale).then(move |_| Ok(Step::Done(live))))
            }))
        }))
    }))
}

pub(crate) fn delete_user(user: User) -> Result<Step<u64>> {
    user.check()?;
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(keys::user_index(&user)).arg(0).arg(-1);
    Ok(Step::one(cmd, move |v| {
        let tokens: Vec<String> = redis::from_redis_value(v).map_err(|e| reply_error(e.into()))?;
        if tokens.is_empty() {
            return Ok(Step::Done(0));
        }
        let reads = tokens.iter().map(|t| Read::cmd(t)).collect();
        Ok(Step::run(reads, Order::Any, move |replies| {
            let mut deletes = Vec::new();
            let mut candidates = Vec::new();
            for (token, r) in tokens.iter().zip(replies) {
                let read = Read::parse(r)?;
                if read.user().as_ref() == Some(&user) {
                    if let Some(value) = read.value {
                        deletes.push(eval(DELETE_IF, &[&keys::session(token)], &[&value]));
                        candidates.push(token.clone());
                    }
                }
            }
            Ok(Step::run(deletes, Order::Any, move |r| {
                let flags = r.iter().map(int).collect::<Result<Vec<i64>>>()?;
                let deleted: Vec<String> = candidates
                    .into_iter()
                    .zip(&flags)
                    .filter(|(_, f)| **f == 1)
                    .map(|(t, _)| t)
                    .collect();
                let count = deleted.len() as i64;
                let notify = logout(&deleted);
                let entries = tokens
                    .into_iter()
                    .map(|token| {
                        (
                            Entry {
                                token,
                                user: user.clone(),
                            },
                            None,
                        )
                    })
                    .collect();
                Ok(forget_verified_along(notify, entries)
                    .then(move |_| Ok(Step::Done(count as u64))))
            }))
        }))
    }))
}

/// Members of a sorted set with their scores, as Redis prints them.
type Scored = Vec<(String, String)>;

/// Entries one cleanup step looks at.
pub(crate) const CLEANUP_BATCH: usize = 1000;
/// Steps one cleanup takes at most (a million due entries), so it always ends.
const CLEANUP_STEPS: usize = 1000;

/// Removes bookkeeping of sessions that are gone (or now belong to someone else), and
/// re-scores entries whose TTL changed from outside. Returns how many entries it removed.
pub(crate) fn cleanup() -> Step<u64> {
    cleanup_batch(0, 0)
}

fn cleanup_batch(step: usize, removed_so_far: u64) -> Step<u64> {
    let with_never = step == 0;
    let batch = CLEANUP_BATCH.to_string();
    let cmd = eval(
        CLEANUP_READ,
        &[EXPIRY_INDEX, CLEANUP_CURSOR],
        &[batch.as_bytes(), if with_never { b"1" } else { b"0" }],
    );
    Step::one(cmd, move |v| {
        let (due, never): (Scored, Scored) =
            redis::from_redis_value(v).map_err(|e| reply_error(e.into()))?;
        let more = due.len() == CLEANUP_BATCH && step + 1 < CLEANUP_STEPS;
        let mut entries = Vec::new();
        let mut malformed = Vec::new();
        for (member, score) in due.into_iter().chain(never) {
            match keys::parse_expiry_member(&member) {
                Some((token, user)) => entries.push((Entry { token, user }, score)),
                None => malformed.push(member),
            }
        }
        let reads: Vec<Cmd> = entries.iter().map(|(e, _)| Read::cmd(&e.token)).collect();
        Ok(Step::run(reads, Order::Any, move |replies| {
            let mut stale = Vec::new();
            let mut rescore = Vec::new();
            for ((entry, score), r) in entries.into_iter().zip(replies) {
                let read = Read::parse(r)?;
                if read.user().as_ref() != Some(&entry.user) {
                    stale.push((entry, Some(score)));
                } else if !(score == "inf" && read.pttl < 0) {
                    rescore.push((entry, read.ttl_seconds()));
                }
            }
            let mut cmds: Vec<Cmd> = rescore.into_iter().map(|(e, t)| remember(e, t)).collect();
            let malformed_n = malformed.len() as u64;
            if !malformed.is_empty() {
                let mut zrem = redis::cmd("ZREM");
                zrem.arg(EXPIRY_INDEX).arg(malformed);
                cmds.push(zrem);
            }
            Ok(Step::run(cmds, Order::Any, move |_| {
                Ok(forget_verified(stale).then(move |n| {
                    let removed = removed_so_far + n + malformed_n;
                    Ok(if more {
                        cleanup_batch(step + 1, removed)
                    } else {
                        Step::Done(removed)
                    })
                }))
            }))
        }))
    })
}
