//! A packet as the Redis command that sends it. [`Packet::args`] is the one description of
//! that command; [`write_command`] packs it as RESP (the bytes `redis::cmd` would pack,
//! without building a `Cmd`, which copies every argument once more) and [`command`] builds
//! the `Cmd` the cluster and async connections take.

use crate::packet::{Packet, RedisCommand};

/// Appends the packet's command (PUBLISH, SPUBLISH or XADD) as RESP.
pub(crate) fn write_command(out: &mut Vec<u8>, packet: &Packet) {
    match &packet.command {
        // The hot path: a fixed header and two arguments.
        RedisCommand::Publish => out.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n"),
        RedisCommand::SPublish => out.extend_from_slice(b"*3\r\n$8\r\nSPUBLISH\r\n"),
        RedisCommand::XAdd(_) => {
            let args = packet.args();
            out.push(b'*');
            write_decimal(out, 1 + args.len());
            out.extend_from_slice(b"\r\n$4\r\nXADD\r\n");
            for a in &args {
                bulk(out, a);
            }
            return;
        }
    }
    bulk(out, packet.channel.as_bytes());
    bulk(out, &packet.payload);
}

fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    write_decimal(out, b.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// An upper bound of what [`write_command`] appends.
pub(crate) fn packed_len(packet: &Packet) -> usize {
    // Header, two bulk headers (at most 20 digits each) and CRLFs.
    let base = 18 + 2 * 25 + packet.channel.len() + packet.payload.len();
    match &packet.command {
        RedisCommand::XAdd(e) => {
            // MAXLEN ~ <n> *, the fields and the payload field, each a bulk.
            base + 5 * 25
                + 20
                + e.fields
                    .iter()
                    .map(|(k, v)| 50 + k.len() + v.len())
                    .sum::<usize>()
                + 25
                + e.payload_field.len()
        }
        _ => base,
    }
}

/// The packet's command as a `redis::Cmd`, for connections that take one (the async and the
/// cluster ones): the same bytes as [`write_command`] packs.
///
/// ```
/// let p = symple::Packet::spublish("c", b"x".to_vec());
/// assert_eq!(symple::redis::command(&p).get_packed_command(), b"*3\r\n$8\r\nSPUBLISH\r\n$1\r\nc\r\n$1\r\nx\r\n");
/// ```
pub fn command(packet: &Packet) -> redis::Cmd {
    let name = packet.command_name();
    if let RedisCommand::XAdd(_) = packet.command {
        let args = packet.args();
        let size = name.len() + args.iter().map(|a| a.len()).sum::<usize>();
        let mut cmd = redis::Cmd::with_capacity(1 + args.len(), size);
        cmd.arg(name);
        for a in &args {
            cmd.arg(&**a);
        }
        return cmd;
    }
    // PUBLISH and SPUBLISH, once per packet on a cluster: sized at once, no argument list.
    let size = name.len() + packet.channel.len() + packet.payload.len();
    let mut cmd = redis::Cmd::with_capacity(3, size);
    cmd.arg(name).arg(&packet.channel).arg(&packet.payload);
    cmd
}

/// `n` in decimal, without the formatting machinery (twice per queued packet).
fn write_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::StreamEntry;

    #[test]
    fn packed_commands_are_what_redis_rs_packs() {
        for len in [0usize, 1, 9, 10, 99, 100, 12_345] {
            let payload = vec![b'x'; len];
            let entry = |maxlen| StreamEntry {
                maxlen,
                fields: vec![
                    ("uid".into(), "emitter".into()),
                    ("nsp".into(), "/é".into()),
                ],
                payload_field: "data".into(),
            };
            let packets = [
                Packet::new("symple#/#alice#", payload.clone()),
                Packet::spublish("socket.io#/#team#", payload.clone()),
                Packet::xadd("socket.io", entry(Some(10_000)), payload.clone()),
                Packet::xadd("s", entry(None), payload.clone()),
                Packet::xadd("s", entry(Some(u64::MAX)), payload),
            ];
            for packet in packets {
                let mut ours = Vec::new();
                write_command(&mut ours, &packet);
                let mut theirs = redis::cmd(packet.command_name());
                theirs.arg(&packet.channel);
                if let RedisCommand::XAdd(e) = &packet.command {
                    if let Some(n) = e.maxlen {
                        theirs.arg("MAXLEN").arg("~").arg(n);
                    }
                    theirs.arg("*");
                    for (k, v) in &e.fields {
                        theirs.arg(&**k).arg(&**v);
                    }
                    theirs.arg(&*e.payload_field);
                }
                theirs.arg(&packet.payload);
                assert_eq!(ours, theirs.get_packed_command(), "{packet:?}");
                assert_eq!(ours, command(&packet).get_packed_command(), "{packet:?}");
                assert!(ours.len() <= packed_len(&packet), "{packet:?}");
            }
        }
    }

    #[test]
    fn decimals() {
        for n in [0usize, 7, 10, 1_000_000, usize::MAX] {
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }
}
