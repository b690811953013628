//! A packet as the Redis command that sends it. [`Packet::args`] is the one description of
//! that command; [`write_command`] packs it as RESP (the bytes `redis::cmd` would pack,
//! without building a `Cmd`, which copies every argument once more) and [`command`] builds
//! the `Cmd` the cluster and async connections take.

use crate::packet::{Packet, RedisCommand, Sink};

/// Appends the packet's command (PUBLISH, SPUBLISH, XADD or a record's EVALSHA) as RESP.
pub(crate) fn write_command(out: &mut Vec<u8>, packet: &Packet) {
    match &packet.command {
        // The hot path: a fixed header and two arguments.
        RedisCommand::Publish => out.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n"),
        RedisCommand::SPublish => out.extend_from_slice(b"*3\r\n$8\r\nSPUBLISH\r\n"),
        RedisCommand::XAdd(_) | RedisCommand::Record(_) => {
            let args = packet.args();
            out.push(b'*');
            write_decimal(out, 1 + args.len());
            out.extend_from_slice(b"\r\n");
            bulk(out, packet.command_name().as_bytes());
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
        RedisCommand::Record(r) => {
            // The script's SHA1, the key, the numbers and the sender, the envelope's halves.
            base + 10 * 25 + 40 + r.key.len() + r.sender.len() + r.head.len() + r.tail.len() + 60
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
    command_for(packet, false)
}

/// [`command`]; `sharded`: a record publishes with SPUBLISH (see [`Packet::args_for`]).
fn command_for(packet: &Packet, sharded: bool) -> redis::Cmd {
    let name = packet.command_name();
    if let RedisCommand::XAdd(_) | RedisCommand::Record(_) = packet.command {
        let args = packet.args_for(sharded);
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

/// The command that sends `packet` on a Redis Cluster, and the key whose slot picks its node
/// (`None`: any node). The server's interest channels (see
/// [`channel::is_interest`](crate::protocol::envelope::channel::is_interest)) use sharded
/// pub/sub there, as the server subscribes to them: their PUBLISH goes out as SPUBLISH, to the
/// channel's shard only; so does a record's script. Every cluster publisher (the server, the
/// emitter, the CLI, the gem) goes through here.
pub(crate) fn cluster_command(packet: &Packet) -> (Option<&[u8]>, redis::Cmd) {
    if let RedisCommand::Record(_) = packet.command {
        return (packet.cluster_key(), command_for(packet, true));
    }
    if packet.command == RedisCommand::Publish
        && crate::protocol::envelope::channel::is_interest(&packet.channel)
    {
        let size = "SPUBLISH".len() + packet.channel.len() + packet.payload.len();
        let mut cmd = redis::Cmd::with_capacity(3, size);
        cmd.arg("SPUBLISH")
            .arg(&packet.channel)
            .arg(&packet.payload);
        return (Some(packet.channel.as_bytes()), cmd);
    }
    (packet.cluster_key(), command(packet))
}

/// `n` in decimal, without the formatting machinery (twice per queued packet).
fn write_decimal(out: &mut Vec<u8>, n: usize) {
    crate::packet::bytes::extend(out, itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `n` in decimal into `dst` when it has exactly `dst.len()` digits (the length a
/// PUBLISH guessed for its payload, nearly always right); `false`, leaving `dst`, otherwise.
#[inline]
fn fill_decimal(dst: &mut [u8], mut n: usize) -> bool {
    let digits = dst.len();
    // 10^(digits-1) <= n < 10^digits (n < 10 for one digit: 0 has one), with no overflow.
    let low = u32::try_from(digits)
        .ok()
        .and_then(|d| d.checked_sub(1))
        .and_then(|e| 10usize.checked_pow(e));
    let fits = match low {
        None => false,
        Some(1) => n < 10,
        Some(low) => n >= low && n / low < 10,
    };
    if !fits {
        return false;
    }
    for d in dst.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    true
}

/// A [`Sink`] that packs onto a pipeline's bytes: a PUBLISH is encoded in place (its payload
/// straight after its header, no packet made), a whole packet through [`write_command`]. The
/// bytes are the same as [`write_command`] packs for the same packet.
pub(crate) struct Resp<'b> {
    buf: &'b mut Vec<u8>,
    /// Commands packed.
    pub(crate) n: usize,
    /// The PUBLISH being written: where it starts, where its payload's length goes, where its
    /// payload starts.
    start: usize,
    len_at: usize,
    payload_at: usize,
    /// Digits left for the payload's length before it is known: as many as the last one had,
    /// so a stream of like messages never moves a payload.
    digits: usize,
}

impl<'b> Resp<'b> {
    pub(crate) fn new(buf: &'b mut Vec<u8>) -> Self {
        Resp {
            buf,
            n: 0,
            start: 0,
            len_at: 0,
            payload_at: 0,
            digits: 3,
        }
    }

    /// Makes room for `packets` more packets like the ones packed so far.
    pub(crate) fn reserve_like(&mut self, packets: usize) {
        if let Some(each) = self.buf.len().checked_div(self.n) {
            self.buf.reserve(each * packets);
        }
    }
}

impl Sink for Resp<'_> {
    fn publish(&mut self, channel: &[&str], size_hint: usize) -> &mut Vec<u8> {
        let channel_len = channel.iter().map(|p| p.len()).sum();
        let buf = &mut *self.buf;
        self.start = buf.len();
        buf.reserve(40 + channel_len + size_hint);
        buf.extend_from_slice(b"*3\r\n$7\r\nPUBLISH\r\n$");
        write_decimal(buf, channel_len);
        buf.extend_from_slice(b"\r\n");
        for part in channel {
            crate::packet::bytes::extend(buf, part.as_bytes());
        }
        buf.extend_from_slice(b"\r\n$");
        self.len_at = buf.len();
        buf.resize(buf.len() + self.digits, b'0');
        buf.extend_from_slice(b"\r\n");
        self.payload_at = buf.len();
        buf
    }

    fn end(&mut self) {
        let len = self.buf.len() - self.payload_at;
        if fill_decimal(&mut self.buf[self.len_at..self.len_at + self.digits], len) {
            // The guess was right: the digits are in place, with no formatting buffer.
            self.buf.extend_from_slice(b"\r\n");
            self.n += 1;
            return;
        }
        let mut text = itoa::Buffer::new();
        let digits = text.format(len).as_bytes();
        if digits.len() != self.digits {
            // The guess was off: move the payload to fit the length, once.
            let payload_at = self.len_at + digits.len() + 2;
            if payload_at > self.payload_at {
                self.buf.resize(payload_at + len, 0);
            }
            self.buf
                .copy_within(self.payload_at..self.payload_at + len, payload_at);
            self.buf.truncate(payload_at + len);
            self.buf[payload_at - 2..payload_at].copy_from_slice(b"\r\n");
            self.digits = digits.len();
        }
        self.buf[self.len_at..self.len_at + digits.len()].copy_from_slice(digits);
        self.buf.extend_from_slice(b"\r\n");
        self.n += 1;
    }

    fn abort(&mut self) {
        self.buf.truncate(self.start);
    }

    fn packet(&mut self, packet: Packet) {
        write_command(self.buf, &packet);
        self.n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::StreamEntry;

    #[test]
    fn interest_channels_are_spublished_on_a_cluster() {
        let room = Packet::new("symple:room:R", b"x".to_vec());
        let (key, cmd) = cluster_command(&room);
        assert_eq!(key, Some(&b"symple:room:R"[..]));
        assert_eq!(
            cmd.get_packed_command(),
            b"*3\r\n$8\r\nSPUBLISH\r\n$13\r\nsymple:room:R\r\n$1\r\nx\r\n"
        );
        let peer = Packet::new("symple:peer:s1", b"x".to_vec());
        assert_eq!(
            cluster_command(&peer).1.get_packed_command()[..16],
            *b"*3\r\n$8\r\nSPUBLISH"
        );
        for fixed in ["symple:broadcast", "symple:logout", "socket.io#/#"] {
            let p = Packet::new(fixed, b"x".to_vec());
            let (key, cmd) = cluster_command(&p);
            assert_eq!(key, None, "{fixed}");
            assert_eq!(cmd.get_packed_command(), command(&p).get_packed_command());
        }
        let sharded = Packet::spublish("socket.io#/#", b"x".to_vec());
        assert_eq!(cluster_command(&sharded).0, Some(&b"socket.io#/#"[..]));
    }

    #[test]
    fn fill_decimal_writes_only_a_number_of_exactly_that_many_digits() {
        for n in [0usize, 1, 9, 10, 99, 100, 999, 1000, 12_345, usize::MAX] {
            let text = n.to_string();
            for digits in 0..=21 {
                let mut dst = vec![b'x'; digits];
                let fits = fill_decimal(&mut dst, n);
                assert_eq!(fits, digits == text.len(), "{n} in {digits}");
                if fits {
                    assert_eq!(dst, text.as_bytes());
                } else {
                    assert!(dst.iter().all(|&b| b == b'x'));
                }
            }
        }
    }

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
    fn records_are_packed_as_redis_rs_packs_them_and_spublish_on_a_cluster() {
        let settings = crate::history::Settings::default();
        for len in [0usize, 9, 100, 12_345] {
            let message = vec![b'7'; len];
            let p = crate::history::record_packet("", 0, "R", None, message, &settings)
                .expect("R has history");
            let mut ours = Vec::new();
            write_command(&mut ours, &p);
            let mut theirs = redis::cmd("EVALSHA");
            for a in p.args() {
                theirs.arg(&*a);
            }
            assert_eq!(ours, theirs.get_packed_command());
            assert_eq!(ours, command(&p).get_packed_command());
            assert!(ours.len() <= packed_len(&p));
            let (key, cmd) = cluster_command(&p);
            assert_eq!(key, Some(&b"symple:room:R"[..]));
            let args: Vec<_> = cmd.args_iter().collect();
            assert_eq!(args[9], redis::Arg::Simple(&b"SPUBLISH"[..]));
            assert_eq!(args[8], redis::Arg::Simple(&vec![b'7'; len][..]));
        }
    }

    #[test]
    fn publishes_encoded_in_place_are_what_write_command_packs() {
        // Lengths whose digit counts go up and down, so the guess is wrong both ways.
        let lengths = [0usize, 5, 9, 10, 232, 99, 100, 12_345, 7, 1000, 999, 3];
        let mut ours = Vec::new();
        let mut sink = Resp::new(&mut ours);
        let mut theirs = Vec::new();
        for (i, &len) in lengths.iter().enumerate() {
            let payload: Vec<u8> = (0..len).map(|b| b as u8).collect();
            let channel = ["symple#/#", if i % 2 == 0 { "alice" } else { "" }, "#"];
            sink.publish(&channel, 0).extend_from_slice(&payload);
            sink.end();
            // One dropped on the way changes nothing.
            sink.publish(&["x"], 0).extend_from_slice(b"partial");
            sink.abort();
            write_command(&mut theirs, &Packet::new(channel.concat(), payload));
        }
        let streams = Packet::xadd(
            "s",
            StreamEntry {
                maxlen: None,
                fields: vec![],
                payload_field: "data".into(),
            },
            b"{}".to_vec(),
        );
        sink.packet(streams.clone());
        write_command(&mut theirs, &streams);
        assert_eq!(sink.n, lengths.len() + 1);
        assert_eq!(ours, theirs);
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
