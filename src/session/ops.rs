//! Each session operation as a value: the Redis call to make and how to read its reply.
//! Building one does no I/O, so the blocking and the async store share every line of logic.
//!
//! Atomicity comes from Lua scripts: a session and its bookkeeping change together. Under
//! Redis Cluster the session key and the per-user key usually sit in different slots; the
//! scripts name only the keys they can declare and build the others, which Cluster refuses,
//! so a Cluster deployment needs the non-atomic path (see the README).

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use redis::{Script, Value as RValue};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::protocol::Object;
use crate::session::keys::{self, EXPIRY_INDEX, SESSION_PREFIX, USER_INDEX_PREFIX};
use crate::session::validate::{validate_data, validate_token, validate_ttl};

/// Decodes the `user` of a stored value, or nil when it has none (shared by the scripts).
const USER_OF: &str = r"
local function user_of(raw)
  if not raw then return nil end
  local ok, v = pcall(cjson.decode, raw)
  if ok and type(v) == 'table' and type(v.user) == 'string' then return v.user end
  return nil
end
local function now() return tonumber(redis.call('TIME')[1]) end
local function score_of(key, t)
  local pttl = redis.call('PTTL', key)
  if pttl == -1 then return '+inf' end
  return t + math.ceil(pttl / 1000)
end
-- Bookkeeping of one session: the user's index (`prefix .. user`) and the expiry index.
local function remember(prefix, expiry, user, token, score)
  redis.call('ZADD', prefix .. user, score, token)
  redis.call('ZADD', expiry, score, token .. '\n' .. user)
end
local function forget(prefix, expiry, user, token)
  redis.call('ZREM', prefix .. user, token)
  redis.call('ZREM', expiry, token .. '\n' .. user)
end
";

fn script(body: &str) -> Script {
    Script::new(&format!("{USER_OF}{body}"))
}

// KEYS: session, user index, expiry index. ARGV: value, ttl (0 = never), token, user,
// only-if-absent (1/0), user index prefix.
static SET: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local old = redis.call('GET', KEYS[1])
if old and ARGV[5] == '1' then return 0 end
local old_user = user_of(old)
if old_user and old_user ~= ARGV[4] then
  forget(ARGV[6], KEYS[3], old_user, ARGV[3])
end
local ttl = tonumber(ARGV[2])
local score = '+inf'
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
  score = now() + ttl
else
  redis.call('SET', KEYS[1], ARGV[1])
end
remember(ARGV[6], KEYS[3], ARGV[4], ARGV[3], score)
return 1
",
    )
});

// KEYS: session, expiry index. ARGV: ttl, token, user index prefix.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
if redis.call('EXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
local user = user_of(redis.call('GET', KEYS[1]))
if user then
  remember(ARGV[3], KEYS[2], user, ARGV[2], now() + tonumber(ARGV[1]))
end
return 1
",
    )
});

// KEYS: session, expiry index. ARGV: token, user index prefix, logout channel.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local old = redis.call('GET', KEYS[1])
if not old then return 0 end
redis.call('DEL', KEYS[1])
local user = user_of(old)
if user then forget(ARGV[2], KEYS[2], user, ARGV[1]) end
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
",
    )
});

// KEYS: session, expiry index. ARGV: expected current value, new value, token, old user,
// new user, user index prefix. Returns -1 when the value changed since it was read.
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if cur ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
if ARGV[4] ~= ARGV[5] then
  local score = score_of(KEYS[1], now())
  if ARGV[4] ~= '' then forget(ARGV[6], KEYS[2], ARGV[4], ARGV[3]) end
  remember(ARGV[6], KEYS[2], ARGV[5], ARGV[3], score)
end
return 1
",
    )
});

// KEYS: user index, expiry index. ARGV: user, session prefix. Returns token, score pairs of
// live sessions; drops bookkeeping of sessions that are gone or now belong to someone else.
static LIST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local t = now()
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  local token = entries[i]
  local key = ARGV[2] .. token
  if user_of(redis.call('GET', key)) == ARGV[1] then
    local score = score_of(key, t)
    if tostring(score) ~= entries[i + 1] then
      redis.call('ZADD', KEYS[1], score, token)
      redis.call('ZADD', KEYS[2], score, token .. '\n' .. ARGV[1])
    end
    out[#out + 1] = token
    out[#out + 1] = tostring(score)
  else
    redis.call('ZREM', KEYS[1], token)
    redis.call('ZREM', KEYS[2], token .. '\n' .. ARGV[1])
  end
end
return out
",
    )
});

// KEYS: user index, expiry index. ARGV: user, session prefix, logout channel. Deletes the
// user's sessions (only those whose value still names this user) and the bookkeeping.
static DELETE_USER: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local n = 0
for _, token in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[2] .. token
  if user_of(redis.call('GET', key)) == ARGV[1] then
    redis.call('DEL', key)
    redis.call('PUBLISH', ARGV[3], token)
    n = n + 1
  end
  redis.call('ZREM', KEYS[2], token .. '\n' .. ARGV[1])
end
redis.call('DEL', KEYS[1])
return n
",
    )
});

// KEYS: expiry index. ARGV: session prefix, user index prefix, batch size. Looks only at
// entries whose recorded expiry has passed: removes those whose session is gone, and
// re-scores those whose TTL was extended behind our back (a server's EXPIREAT).
static CLEANUP: LazyLock<Script> = LazyLock::new(|| {
    script(
        r"
local t = now()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, member in ipairs(due) do
  local nl = string.find(member, '\n', 1, true)
  if not nl then
    redis.call('ZREM', KEYS[1], member)
  else
    local token = string.sub(member, 1, nl - 1)
    local user = string.sub(member, nl + 1)
    local key = ARGV[1] .. token
    if redis.call('EXISTS', key) == 0 then
      forget(ARGV[2], KEYS[1], user, token)
      removed = removed + 1
    else
      remember(ARGV[2], KEYS[1], user, token, score_of(key, t))
    end
  end
end
return {removed, #due}
",
    )
});

/// A Redis call: a script with keys and arguments, or a plain command.
pub(crate) enum Call {
    Script {
        script: &'static Script,
        keys: Vec<String>,
        args: Vec<String>,
    },
    Cmd(redis::Cmd),
}

impl Call {
    fn script(script: &'static LazyLock<Script>, keys: Vec<String>, args: Vec<String>) -> Self {
        Call::Script {
            script: LazyLock::force(script),
            keys,
            args,
        }
    }

    /// Runs the call on a blocking connection.
    pub(crate) fn run(&self, c: &mut redis::Connection) -> redis::RedisResult<RValue> {
        match self {
            Call::Script { script, keys, args } => invocation(script, keys, args).invoke(c),
            Call::Cmd(cmd) => cmd.query(c),
        }
    }

    /// Runs the call on an async connection.
    pub(crate) async fn run_async(
        &self,
        c: &mut redis::aio::ConnectionManager,
    ) -> redis::RedisResult<RValue> {
        match self {
            Call::Script { script, keys, args } => {
                invocation(script, keys, args).invoke_async(c).await
            }
            Call::Cmd(cmd) => cmd.query_async(c).await,
        }
    }
}

fn invocation<'a>(
    script: &'a Script,
    keys: &[String],
    args: &[String],
) -> redis::ScriptInvocation<'a> {
    let mut inv = script.prepare_invoke();
    for k in keys {
        inv.key(k);
    }
    for a in args {
        inv.arg(a);
    }
    inv
}

/// A call and how to read its reply.
pub(crate) struct Op<T> {
    pub(crate) call: Call,
    pub(crate) parse: Box<dyn FnOnce(RValue) -> Result<T> + Send>,
}

impl<T> Op<T> {
    fn new(call: Call, parse: impl FnOnce(RValue) -> Result<T> + Send + 'static) -> Self {
        Op {
            call,
            parse: Box::new(parse),
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

fn int(v: &RValue) -> Result<i64> {
    redis::from_redis_value_ref::<i64>(v).map_err(|e| Error::Redis(e.into()))
}

pub(crate) fn set(
    token: &str,
    data: &Object,
    ttl: Option<i64>,
    only_if_absent: bool,
) -> Result<Op<bool>> {
    validate_token(token)?;
    let user = validate_data(data)?;
    let ttl = validate_ttl(ttl)?.unwrap_or(0);
    let value = serde_json::to_string(data)?;
    let call = Call::script(
        &SET,
        vec![
            keys::session(token),
            keys::user_index(user),
            EXPIRY_INDEX.into(),
        ],
        vec![
            value,
            ttl.to_string(),
            token.into(),
            user.into(),
            if only_if_absent { "1" } else { "0" }.into(),
            USER_INDEX_PREFIX.into(),
        ],
    );
    Ok(Op::new(call, |v| Ok(int(&v)? == 1)))
}

pub(crate) fn get(token: &str) -> Result<Op<Option<Object>>> {
    validate_token(token)?;
    let key = keys::session(token);
    let mut cmd = redis::cmd("GET");
    cmd.arg(&key);
    Ok(Op::new(Call::Cmd(cmd), move |v| match v {
        RValue::Nil => Ok(None),
        RValue::BulkString(bytes) => parse_stored(&key, &bytes).map(|(obj, _)| Some(obj)),
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

pub(crate) fn exists(token: &str) -> Result<Op<bool>> {
    validate_token(token)?;
    let mut cmd = redis::cmd("EXISTS");
    cmd.arg(keys::session(token));
    Ok(Op::new(Call::Cmd(cmd), |v| Ok(int(&v)? == 1)))
}

pub(crate) fn ttl(token: &str) -> Result<Op<Option<Ttl>>> {
    validate_token(token)?;
    let mut cmd = redis::cmd("TTL");
    cmd.arg(keys::session(token));
    Ok(Op::new(Call::Cmd(cmd), |v| {
        Ok(match int(&v)? {
            -2 => None,
            -1 => Some(Ttl::Never),
            n => Some(Ttl::Seconds(n.max(0) as u64)),
        })
    }))
}

pub(crate) fn touch(token: &str, ttl: i64) -> Result<Op<bool>> {
    validate_token(token)?;
    let Some(ttl) = validate_ttl(Some(ttl))? else {
        unreachable!("Some in, Some out")
    };
    let call = Call::script(
        &TOUCH,
        vec![keys::session(token), EXPIRY_INDEX.into()],
        vec![ttl.to_string(), token.into(), USER_INDEX_PREFIX.into()],
    );
    Ok(Op::new(call, |v| Ok(int(&v)? == 1)))
}

pub(crate) fn delete(token: &str) -> Result<Op<bool>> {
    validate_token(token)?;
    let call = Call::script(
        &DELETE,
        vec![keys::session(token), EXPIRY_INDEX.into()],
        vec![
            token.into(),
            USER_INDEX_PREFIX.into(),
            keys::LOGOUT_CHANNEL.into(),
        ],
    );
    Ok(Op::new(call, |v| Ok(int(&v)? == 1)))
}

/// What `update` decided after reading the current value.
pub(crate) enum UpdateStep {
    /// The session is absent.
    Absent,
    /// Run this compare-and-set; `None` from it means the value changed meanwhile.
    Write(Op<Option<bool>>),
}

/// Merges `fields` over the current raw value (`None`: absent) into a compare-and-set.
pub(crate) fn update(token: &str, fields: &Object, current: Option<&[u8]>) -> Result<UpdateStep> {
    validate_token(token)?;
    let key = keys::session(token);
    let Some(bytes) = current else {
        return Ok(UpdateStep::Absent);
    };
    let (mut merged, old_text) = parse_stored(&key, bytes)?;
    let old_user = match merged.get("user") {
        Some(Value::String(u)) => u.clone(),
        _ => String::new(),
    };
    for (k, v) in fields {
        merged.insert(k.clone(), v.clone());
    }
    let new_user = validate_data(&merged)?.to_owned();
    let call = Call::script(
        &UPDATE,
        vec![key, EXPIRY_INDEX.into()],
        vec![
            old_text,
            serde_json::to_string(&merged)?,
            token.into(),
            old_user,
            new_user,
            USER_INDEX_PREFIX.into(),
        ],
    );
    Ok(UpdateStep::Write(Op::new(call, |v| {
        Ok(match int(&v)? {
            -1 => None,
            n => Some(n == 1),
        })
    })))
}

/// How many times `update` re-reads a value that changed under it before giving up.
pub(crate) const UPDATE_ATTEMPTS: usize = 10;

pub(crate) fn update_conflict(token: &str) -> Error {
    Error::InvalidSession(format!(
        "session {token} kept changing during update ({UPDATE_ATTEMPTS} attempts)"
    ))
}

pub(crate) fn list(user: &str) -> Result<Op<Vec<SessionInfo>>> {
    check_user(user)?;
    let call = Call::script(
        &LIST,
        vec![keys::user_index(user), EXPIRY_INDEX.into()],
        vec![user.into(), SESSION_PREFIX.into()],
    );
    Ok(Op::new(call, |v| {
        let flat: Vec<String> = redis::from_redis_value(v).map_err(|e| Error::Redis(e.into()))?;
        Ok(flat
            .chunks(2)
            .filter_map(|pair| match pair {
                [token, score] => Some(SessionInfo {
                    token: token.clone(),
                    expires_at: score
                        .parse::<i64>()
                        .ok()
                        .and_then(|s| Utc.timestamp_opt(s, 0).single()),
                }),
                _ => None,
            })
            .collect())
    }))
}

pub(crate) fn delete_user(user: &str) -> Result<Op<u64>> {
    check_user(user)?;
    let call = Call::script(
        &DELETE_USER,
        vec![keys::user_index(user), EXPIRY_INDEX.into()],
        vec![
            user.into(),
            SESSION_PREFIX.into(),
            keys::LOGOUT_CHANNEL.into(),
        ],
    );
    Ok(Op::new(call, |v| Ok(int(&v)?.max(0) as u64)))
}

/// Entries one cleanup call looks at.
pub(crate) const CLEANUP_BATCH: usize = 1000;

/// Returns (removed, looked at); a full batch means there may be more.
pub(crate) fn cleanup_batch() -> Op<(u64, usize)> {
    let call = Call::script(
        &CLEANUP,
        vec![EXPIRY_INDEX.into()],
        vec![
            SESSION_PREFIX.into(),
            USER_INDEX_PREFIX.into(),
            CLEANUP_BATCH.to_string(),
        ],
    );
    Op::new(call, |v| {
        let (removed, seen): (i64, i64) =
            redis::from_redis_value(v).map_err(|e| Error::Redis(e.into()))?;
        Ok((removed.max(0) as u64, seen.max(0) as usize))
    })
}

fn check_user(user: &str) -> Result<()> {
    if user.is_empty() {
        return Err(Error::InvalidSession("empty user".into()));
    }
    Ok(())
}
