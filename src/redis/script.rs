//! Scripts sent by their SHA1 (`EVALSHA`), so Redis neither receives nor hashes a script's
//! text on every call: the history record ([`crate::history`]), one per recorded message.
//!
//! Connections load the script (`SCRIPT LOAD`, on every node of a cluster) when they open. A
//! node that does not know it (restarted, `SCRIPT FLUSH`ed, a replica promoted by a failover)
//! answers `NOSCRIPT` and runs nothing; that command is then sent again as `EVAL` with the
//! text ([`with_text`]), which loads the script there for the next ones. In a pipeline the
//! commands after it have run by then, so a record sent again comes after them; the records
//! of one pipeline to one node normally all get NOSCRIPT and go again in their order.

use std::sync::OnceLock;

use redis::{Arg, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};

use crate::history::RECORD;

/// The SHA1 of the history record script (what `EVALSHA` names it by).
pub(crate) fn record_sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| redis::Script::new(RECORD).get_hash().to_owned())
}

/// `SCRIPT LOAD` of the script sent by SHA1 (on a cluster the redis crate sends it to
/// every node).
pub(crate) fn load_cmd() -> Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(RECORD);
    cmd
}

/// Takes the reply to [`load_cmd`]. A failure (a user not allowed SCRIPT, a node down) is
/// not fatal: a record is then sent with its text where needed.
pub(crate) fn loaded(reply: redis::RedisResult<Value>) {
    if let Err(_e) = reply {
        #[cfg(feature = "server")]
        tracing::debug!(error = %_e, "could not load the history script: sent with its text where needed");
    }
}

/// Whether a reply says the node does not know the script.
pub(crate) fn is_noscript(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript))
}

/// Whether an error says the node does not know the script.
pub(crate) fn is_noscript_error(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// Whether `cmd` is an `EVALSHA` (a record).
pub(crate) fn is_record(cmd: &Cmd) -> bool {
    matches!(cmd.args_iter().next(), Some(Arg::Simple(name)) if name == b"EVALSHA")
}

/// Puts the `answers` to the commands sent `again` in their places in `replies`.
pub(crate) fn put_back(replies: &mut [Value], again: &[(usize, Cmd)], answers: Vec<Value>) {
    for ((i, _), v) in again.iter().zip(answers) {
        if let Some(slot) = replies.get_mut(*i) {
            *slot = v;
        }
    }
}

/// `cmd` (an `EVALSHA` of [`record_sha`]) as `EVAL` with the script's text; `None` for any
/// other command.
pub(crate) fn with_text(cmd: &Cmd) -> Option<Cmd> {
    with_text_args(cmd.args_iter().map(|a| match a {
        Arg::Simple(b) => b,
        // Never in a command of ours.
        _ => &b""[..],
    }))
}

fn with_text_args<'a>(mut args: impl Iterator<Item = &'a [u8]>) -> Option<Cmd> {
    if !args.next()?.eq_ignore_ascii_case(b"EVALSHA") || args.next()? != record_sha().as_bytes() {
        return None;
    }
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(RECORD);
    for a in args {
        cmd.arg(a);
    }
    Some(cmd)
}

/// The commands of a pipeline whose reply in `replies` is NOSCRIPT, each with its index, as
/// `EVAL` with the script's text (see [`with_text`]). `sent` are the pipeline's commands.
pub(crate) fn again<'c>(
    sent: impl IntoIterator<Item = &'c Cmd>,
    replies: &[Value],
) -> Vec<(usize, Cmd)> {
    sent.into_iter()
        .zip(replies)
        .enumerate()
        .filter(|(_, (_, v))| is_noscript(v))
        .filter_map(|(i, (c, _))| Some((i, with_text(c)?)))
        .collect()
}

/// [`again`] for commands packed as RESP in `buf` (arrays of bulk strings, as
/// `crate::redis::resp` and the redis crate pack them).
pub(crate) fn again_packed(buf: &[u8], replies: &[Value]) -> Vec<(usize, Cmd)> {
    if !replies.iter().any(is_noscript) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = buf;
    for (i, v) in replies.iter().enumerate() {
        let Some((args, next)) = packed_args(rest) else {
            break;
        };
        rest = next;
        if is_noscript(v) {
            if let Some(cmd) = with_text_args(args.into_iter()) {
                out.push((i, cmd));
            }
        }
    }
    out
}

/// The arguments of the first command packed in `buf`, and what follows it.
fn packed_args(buf: &[u8]) -> Option<(Vec<&[u8]>, &[u8])> {
    let (n, mut rest) = line_number(buf, b'*')?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let (len, after) = line_number(rest, b'$')?;
        let arg = after.get(..len)?;
        rest = after.get(len..)?.strip_prefix(b"\r\n")?;
        args.push(arg);
    }
    Some((args, rest))
}

/// `<mark><decimal>\r\n` at the start of `buf`: the number and what follows.
fn line_number(buf: &[u8], mark: u8) -> Option<(usize, &[u8])> {
    let rest = buf.strip_prefix(&[mark])?;
    let end = rest.iter().position(|&b| b == b'\r')?;
    let n = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    Some((n, rest.get(end..)?.strip_prefix(b"\r\n")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noscript() -> Value {
        redis::parse_redis_value(b"-NOSCRIPT No matching script.\r\n").expect("parsed")
    }

    #[test]
    fn noscript_commands_go_again_with_the_text() {
        let sha = || {
            let mut c = redis::cmd("EVALSHA");
            c.arg(record_sha()).arg(2).arg("k").arg("c").arg(b"\r\n$x");
            c
        };
        let mut publish = redis::cmd("PUBLISH");
        publish.arg("c").arg("m");
        let mut other = redis::cmd("EVALSHA");
        other.arg("0123").arg(0);
        let sent = [sha(), publish, sha(), other, sha()];
        let replies = [
            noscript(),
            Value::Int(1),
            Value::BulkString(b"1-0".to_vec()),
            noscript(),
            noscript(),
        ];
        let mut eval = redis::cmd("EVAL");
        eval.arg(RECORD).arg(2).arg("k").arg("c").arg(b"\r\n$x");
        let want = eval.get_packed_command();
        let check = |got: Vec<(usize, Cmd)>| {
            // Another script's EVALSHA is not ours to send again.
            assert_eq!(got.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 4]);
            assert!(got.iter().all(|(_, c)| c.get_packed_command() == want));
        };
        check(again(&sent, &replies));
        let packed: Vec<u8> = sent.iter().flat_map(|c| c.get_packed_command()).collect();
        check(again_packed(&packed, &replies));
        assert!(again_packed(&packed, &vec![Value::Okay; 5]).is_empty());
        // Cut bytes give up, never panic.
        for end in 0..packed.len() {
            let _ = again_packed(&packed[..end], &replies);
        }
    }
}
