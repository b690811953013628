//! Our own blocking stream to one node (TCP, TLS or a Unix socket), under the single-node
//! connection. The redis crate's blocking connection parses every reply with its combine
//! parser, about 1,000 instructions for a `:1\r\n` (more than Redis spends on the PUBLISH
//! that made it), and cannot lend its socket. Here the replies of a pipeline are found by a
//! scan of the bytes ([`frame_len`]); only the frames whose value is wanted (a command's
//! reply, an error) go through the crate's parser, one whole frame at a time.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::fd::AsRawFd;
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, RedisError, RedisResult, Value};

/// Bytes asked of the socket at a time (the replies of a whole pipeline of PUBLISHes).
const READ_CHUNK: usize = 64 << 10;
/// The longest header or simple line accepted from a server.
const MAX_LINE: usize = 1 << 20;
/// The fewest bytes a RESP reply takes (`_\r\n`, `+\r\n`).
const MIN_REPLY: usize = 3;
/// Below this many bytes to wait for, a read takes whatever comes: a wake-up or two saved is
/// not worth the extra system calls (a blocking emit waits for one reply).
const MIN_LOWAT: usize = 256;
/// The longest bulk reply accepted (Redis's default `proto-max-bulk-len`).
const MAX_BULK: i64 = 512 << 20;

/// An open, logged-in connection to one node.
pub(crate) struct Wire {
    stream: Stream,
    /// Received bytes not yet consumed: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The socket's `SO_RCVLOWAT` (plain TCP): 1, the kernel's default, until a read of a
    /// pipeline's replies sets it.
    #[cfg_attr(not(unix), allow(dead_code))]
    lowat: usize,
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(read).and(s.set_write_timeout(write)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(read).and(s.set_write_timeout(write)),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s
                .get_ref()
                .set_read_timeout(read)
                .and(s.get_ref().set_write_timeout(write)),
        }
    }

    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.get_ref().set_read_timeout(Some(t)),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Stream::Unix(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// How to reach a node: its address and login, and for `rediss://` the TLS client settings.
pub(crate) struct Target {
    pub(crate) info: ConnectionInfo,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Wire {
    /// Connects and logs in (`HELLO 3` for RESP3, else `AUTH` when there is a password; then
    /// `SELECT` for a database other than 0), all within `timeout`; afterwards each read and
    /// write waits at most `io_timeout`.
    pub(crate) fn connect(
        target: &Target,
        timeout: Duration,
        io_timeout: Duration,
    ) -> RedisResult<Wire> {
        let deadline = Instant::now() + timeout;
        let stream = match target.info.addr() {
            ConnectionAddr::Tcp(host, port) => Stream::Tcp(tcp(host, *port, timeout)?),
            #[cfg(feature = "tls")]
            ConnectionAddr::TcpTls { host, port, .. } => {
                let Some(config) = &target.tls else {
                    return Err(invalid("rediss:// without TLS settings"));
                };
                let name = rustls::pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| invalid_detail("not a TLS server name", e.to_string()))?;
                let conn = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| RedisError::from(io::Error::other(e)))?;
                let sock = tcp(host, *port, timeout)?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock)))
            }
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
            _ => return Err(invalid("this kind of address is not supported here")),
        };
        // The login (and a TLS handshake, done on the first write) within what is left.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out("connect timeout"));
        }
        stream.set_timeouts(Some(left), Some(left))?;
        let mut wire = Wire {
            stream,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            lowat: 1,
        };
        wire.log_in(target.info.redis_settings(), left)?;
        wire.stream
            .set_timeouts(Some(io_timeout), Some(io_timeout))?;
        Ok(wire)
    }

    fn log_in(&mut self, settings: &RedisConnectionInfo, timeout: Duration) -> RedisResult<()> {
        let first = if settings.protocol().supports_resp3() {
            let mut hello = redis::cmd("HELLO");
            hello.arg(3);
            if let Some(password) = settings.password() {
                hello
                    .arg("AUTH")
                    .arg(settings.username().unwrap_or("default"))
                    .arg(password);
            }
            Some(hello)
        } else {
            settings.password().map(|p| auth(settings.username(), p))
        };
        let select = (settings.db() != 0).then(|| {
            let mut c = redis::cmd("SELECT");
            c.arg(settings.db());
            c
        });
        let cmds: Vec<&redis::Cmd> = first.iter().chain(&select).collect();
        if cmds.is_empty() {
            return Ok(());
        }
        let mut replies = self.commands(&cmds, timeout)?;
        if first.is_some() {
            if let Value::ServerError(e) = replies.remove(0) {
                let old_redis = settings.username().is_some()
                    && !settings.protocol().supports_resp3()
                    && e.details()
                        .is_some_and(|d| d.contains("wrong number of arguments for 'auth'"));
                if !old_redis {
                    return Err(e.into());
                }
                // A Redis before 6 knows no users: the password alone, as the redis crate does.
                let mut retry = vec![auth(None, settings.password().unwrap_or_default())];
                retry.extend(select.clone());
                let refs: Vec<&redis::Cmd> = retry.iter().collect();
                replies = self.commands(&refs, timeout)?;
                if let Value::ServerError(e) = replies.remove(0) {
                    return Err(e.into());
                }
            }
        }
        if let Some(Value::ServerError(e)) = replies.pop() {
            return Err(e.into());
        }
        Ok(())
    }

    /// Sends `cmds` as one pipeline and reads their replies (error replies as values).
    fn commands(&mut self, cmds: &[&redis::Cmd], timeout: Duration) -> RedisResult<Vec<Value>> {
        let mut packed = Vec::new();
        for c in cmds {
            c.write_packed_command(&mut packed);
        }
        self.send(&packed)?;
        self.values(cmds.len(), timeout)
    }

    /// Writes packed commands.
    pub(crate) fn send(&mut self, packed: &[u8]) -> RedisResult<()> {
        self.stream.write_all(packed)?;
        self.stream.flush()?;
        Ok(())
    }

    /// Reads `n` replies as values (an error reply as `Value::ServerError`), all within
    /// `timeout`.
    pub(crate) fn values(&mut self, n: usize, timeout: Duration) -> RedisResult<Vec<Value>> {
        let mut values = Vec::with_capacity(n);
        self.replies(n, timeout, |frame| {
            values.push(redis::parse_redis_value(frame).map_err(|e| protocol(e.to_string()))?);
            Ok(())
        })?;
        Ok(values)
    }

    /// Reads `n` replies, all within `timeout`, keeping only the error replies, each with its
    /// index (`Value::ServerError`): the cheap way to read the replies of PUBLISHes.
    pub(crate) fn errors(
        &mut self,
        n: usize,
        timeout: Duration,
    ) -> RedisResult<Vec<(usize, Value)>> {
        let mut errors = Vec::new();
        let mut i = 0;
        self.replies(n, timeout, |frame| {
            if matches!(frame[0], b'-' | b'!') {
                match redis::parse_redis_value(frame) {
                    Ok(v @ Value::ServerError(_)) => errors.push((i, v)),
                    Ok(other) => return Err(protocol(format!("{other:?}"))),
                    Err(e) => return Err(protocol(e.to_string())),
                }
            }
            i += 1;
            Ok(())
        })?;
        Ok(errors)
    }

    /// Reads `n` replies and gives each whole frame to `each`; a push frame is no reply and
    /// is skipped. The whole lot gets `timeout`: near its end a read waits only for what is
    /// left of it. Any error here leaves the stream unusable.
    fn replies(
        &mut self,
        n: usize,
        timeout: Duration,
        mut each: impl FnMut(&[u8]) -> RedisResult<()>,
    ) -> RedisResult<()> {
        let deadline = Instant::now() + timeout;
        let mut left = n;
        let mut shortened = false;
        while left > 0 {
            let frames = &self.buf[self.start..self.end];
            let mut used = 0;
            while left > 0 {
                let Some(len) = frame_len(&frames[used..]).map_err(protocol)? else {
                    break;
                };
                let frame = &frames[used..used + len];
                used += len;
                if frame[0] != b'>' {
                    left -= 1;
                    each(frame)?;
                }
            }
            self.start += used;
            if left == 0 {
                break;
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait < timeout / 2 {
                if wait.is_zero() {
                    return Err(timed_out(format!(
                        "no complete reply to a batch of {n} within {timeout:?}"
                    )));
                }
                self.stream.set_read_timeout(wait)?;
                shortened = true;
            }
            // Every reply still to come is at least 3 bytes (`_\r\n`), and the partial frame
            // held counts toward the first: that many bytes will come, so the read waits for
            // them and this thread wakes once or twice per pipeline rather than at each of
            // Redis's writes (one per 16 KB of commands it reads: a dozen per pipeline, two
            // context switches each when the emitter, the writer and Redis share a CPU).
            let want = left
                .saturating_mul(MIN_REPLY)
                .saturating_sub(self.end - self.start);
            self.fill(want, deadline)?;
        }
        if shortened {
            self.stream.set_read_timeout(timeout)?;
        }
        Ok(())
    }

    /// Reads more bytes after the unconsumed ones: at least `want` of them when the stream
    /// can wait for that many at once (plain TCP: `SO_RCVLOWAT`), else whatever comes first.
    fn fill(&mut self, want: usize, deadline: Instant) -> io::Result<()> {
        #[cfg(not(unix))]
        let _ = (want, deadline);
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.buf.len() - self.end < READ_CHUNK / 4 {
            // Room first by moving the partial frame to the front, else by growing.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() - self.end < READ_CHUNK / 4 {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let room = self.buf.len() - self.end;
        let got = match &self.stream {
            #[cfg(unix)]
            Stream::Tcp(s) => {
                let want = if want < MIN_LOWAT { 1 } else { want.min(room) };
                if want != self.lowat {
                    set_rcvlowat(s, want)?;
                    self.lowat = want;
                }
                if want > 1 {
                    read_at_least(s, &mut self.buf[self.end..], deadline)?
                } else {
                    self.stream.read(&mut self.buf[self.end..])?
                }
            }
            _ => self.stream.read(&mut self.buf[self.end..])?,
        };
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "Redis closed the connection",
            ));
        }
        self.end += got;
        Ok(())
    }
}

/// Sets the bytes a read (and a poll) of `s` waits for.
#[cfg(unix)]
fn set_rcvlowat(s: &TcpStream, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: an open socket, and an int option passed by pointer with its size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits until `s` holds its `SO_RCVLOWAT` bytes (or is closed, or failed) and reads what it
/// holds without blocking. A blocking read would not do: once it has taken some bytes, the
/// kernel wakes it only when the low-water mark's worth *more* has come, which may never.
#[cfg(unix)]
fn read_at_least(s: &TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "reply timeout"));
        }
        let mut pfd = libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Rounded up, so a wait never ends just before the deadline and spins.
        let ms = libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if ready == 0 {
            continue;
        }
        // SAFETY: `buf` is valid for writes of its length.
        let got = unsafe {
            libc::recv(
                s.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if got >= 0 {
            return Ok(got as usize);
        }
        let e = io::Error::last_os_error();
        if !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Err(e);
        }
    }
}

fn auth(username: Option<&str>, password: &str) -> redis::Cmd {
    let mut c = redis::cmd("AUTH");
    if let Some(u) = username {
        c.arg(u);
    }
    c.arg(password);
    c
}

fn tcp(host: &str, port: u16, timeout: Duration) -> RedisResult<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => invalid("could not resolve to any addresses"),
    })
}

fn invalid(what: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::InvalidClientConfig, what))
}

#[cfg(feature = "tls")]
fn invalid_detail(what: &'static str, detail: String) -> RedisError {
    RedisError::from((redis::ErrorKind::InvalidClientConfig, what, detail))
}

fn timed_out(what: impl Into<String>) -> RedisError {
    io::Error::new(io::ErrorKind::TimedOut, what.into()).into()
}

/// Bytes that are not RESP: the stream cannot be trusted any more (an I/O error, so the
/// connection is dropped).
fn protocol(what: impl Into<String>) -> RedisError {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a Redis reply: {}", what.into()),
    )
    .into()
}

/// The length of the whole RESP2/RESP3 value at the start of `b`, `Ok(None)` while it is
/// incomplete. Nested values are counted, not recursed into.
pub(crate) fn frame_len(b: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut at = 0;
    // Values still to be read: each header takes one and an aggregate adds its elements.
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let Some(&kind) = b.get(at) else {
            return Ok(None);
        };
        let Some(nl) = b[at..].iter().take(MAX_LINE).position(|&c| c == b'\n') else {
            if b.len() - at >= MAX_LINE {
                return Err("line too long");
            }
            return Ok(None);
        };
        let line_end = at + nl + 1;
        if nl < 2 || b[line_end - 2] != b'\r' {
            return Err("line not ended by CRLF");
        }
        let head = &b[at + 1..line_end - 2];
        at = line_end;
        match kind {
            b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => {}
            b'$' | b'=' | b'!' => {
                let len = number(head)?;
                if len == -1 {
                    continue;
                }
                if !(0..=MAX_BULK).contains(&len) {
                    return Err("bad bulk length");
                }
                let end = at + len as usize + 2;
                if b.len() < end {
                    return Ok(None);
                }
                if &b[end - 2..end] != b"\r\n" {
                    return Err("bulk not ended by CRLF");
                }
                at = end;
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let count = number(head)?;
                if count == -1 && kind == b'*' {
                    continue;
                }
                if !(0..=i64::from(u32::MAX)).contains(&count) {
                    return Err("bad element count");
                }
                pending = pending.saturating_add(match kind {
                    b'%' => 2 * count as u64,
                    // An attribute comes before the value it describes.
                    b'|' => 2 * count as u64 + 1,
                    _ => count as u64,
                });
            }
            _ => return Err("unknown reply type"),
        }
    }
    Ok(Some(at))
}

/// A RESP length: an optional minus and up to 18 digits.
fn number(text: &[u8]) -> Result<i64, &'static str> {
    let (neg, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err("bad length");
    }
    let n = digits
        .iter()
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    Ok(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A connection to a fake node on loopback that, once it has read the commands, writes
    /// `pieces` with a pause before each.
    /// `timeout` is the response timeout (each read's, as the connection's options give it).
    fn fake_node(pieces: Vec<Vec<u8>>, timeout: Duration) -> (Wire, thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let node = thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut commands = [0u8; 64];
            let _ = sock.read(&mut commands).unwrap();
            for piece in pieces {
                thread::sleep(Duration::from_millis(30));
                sock.write_all(&piece).unwrap();
            }
            // Held open until the client is done.
            let _ = sock.read(&mut commands);
        });
        let target = Target {
            info: redis::IntoConnectionInfo::into_connection_info(format!(
                "redis://127.0.0.1:{port}"
            ))
            .unwrap(),
            #[cfg(feature = "tls")]
            tls: None,
        };
        let mut wire = Wire::connect(&target, Duration::from_secs(2), timeout)
            .expect("connects (no login without a password)");
        wire.send(b"*1\r\n$4\r\nPING\r\n").unwrap();
        (wire, node)
    }

    #[test]
    fn replies_that_trickle_in_are_read_in_few_waits_and_none_is_missed() {
        // 1,000 replies: an error at 700; the rest in pieces cut inside frames, so a read
        // that waits for at least 3 bytes per reply still to come has taken some of a
        // piece when the next one is due.
        let mut all = Vec::new();
        for i in 0..1000 {
            all.extend_from_slice(if i == 700 {
                b"-ERR denied\r\n"
            } else {
                b":1\r\n"
            });
        }
        let cuts = [0, 1500, 2999, 3001, 3900, all.len()];
        let pieces = cuts.windows(2).map(|w| all[w[0]..w[1]].to_vec()).collect();
        let (mut wire, node) = fake_node(pieces, Duration::from_secs(5));
        // Every piece has come by the time a read could stall (waiting for bytes that never
        // come): a stall ends in the timeout, an error here.
        let errors = wire.errors(1000, Duration::from_secs(5)).unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, 700);
        assert!(matches!(&errors[0].1, Value::ServerError(e) if e.code() == "ERR"));
        assert_eq!(wire.start, wire.end, "nothing left over");
        drop(wire);
        node.join().unwrap();
    }

    #[test]
    fn a_batch_whose_last_reply_never_comes_times_out() {
        let mut replies = b":1\r\n".repeat(999);
        replies.extend_from_slice(b":1\r");
        let (mut wire, node) = fake_node(vec![replies], Duration::from_millis(400));
        let started = Instant::now();
        let err = wire.errors(1000, Duration::from_millis(400)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        // Not before the deadline (the read is bounded by it, so it ends).
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(400), "{took:?}");
        drop(wire);
        node.join().unwrap();
    }

    #[test]
    fn frames_of_every_kind_are_measured_whole() {
        let whole: &[&[u8]] = &[
            b":1\r\n",
            b"-NOPERM no permissions to access the 'x' channel\r\n",
            b"+OK\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n:1\r\n$1\r\nx\r\n",
            b"*2\r\n*1\r\n+a\r\n%1\r\n+k\r\n*1\r\n:3\r\n",
            b"%2\r\n+a\r\n:1\r\n+b\r\n_\r\n",
            b"~1\r\n#t\r\n",
            b">3\r\n+message\r\n+c\r\n$1\r\nx\r\n",
            b"|1\r\n+ttl\r\n:3\r\n:42\r\n",
            b"=7\r\ntxt:abc\r\n",
            b"!3\r\nERR\r\n",
            b",1.5\r\n",
            b"(123456789012345678901234567890\r\n",
        ];
        for frame in whole {
            assert_eq!(frame_len(frame), Ok(Some(frame.len())), "{frame:?}");
            // Followed by more, it is still itself; cut anywhere, it is incomplete.
            let mut more = frame.to_vec();
            more.extend_from_slice(b":2\r\n");
            assert_eq!(frame_len(&more), Ok(Some(frame.len())));
            for cut in 0..frame.len() {
                assert_eq!(frame_len(&frame[..cut]), Ok(None), "{frame:?} at {cut}");
            }
            // The crate's parser reads the same frame as one whole value.
            assert!(redis::parse_redis_value(frame).is_ok(), "{frame:?}");
        }
    }

    #[test]
    fn bytes_that_are_not_resp_are_refused() {
        for bad in [
            &b"?1\r\n"[..],
            b":1\n",
            b"$x\r\n",
            b"$3\r\nabcd\r\n",
            b"$-2\r\n",
            b"*-2\r\n",
            b"~-1\r\n",
            b"$99999999999999999999\r\n",
            b"*9999999999\r\n",
            b"\r\n",
        ] {
            assert!(frame_len(bad).is_err(), "{bad:?}");
        }
        let long = vec![b'+'; MAX_LINE + 1];
        assert_eq!(frame_len(&long), Err("line too long"));
    }
}
