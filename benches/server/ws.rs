//! The load clients' WebSocket (RFC 6455), client side, over a plain loopback `TcpStream`:
//! the upgrade, masked text frames out, and frames read in place from one reusable buffer per
//! connection (no allocation, copy or UTF-8 re-check beyond `str::from_utf8` per frame). It
//! replaces tokio-tungstenite, whose per-message `Bytes`, frame machinery and read-buffer
//! upkeep cost the client about as much per delivery as our server spends; every server kind
//! is read through this same code. Only what the bench needs: `ws://` URLs, no extensions,
//! whole frames (a fragmented one is an error), close ends the connection.

use std::ops::Range;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Each connection's read buffer: one `read` takes up to this much (dozens of bench frames),
/// and it grows only to hold a larger single frame.
const READ_BUFFER: usize = 16 * 1024;
/// Larger frames (or an HTTP answer larger than the buffer) are refused.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// A received frame, borrowed from the connection's buffer.
pub enum In<'a> {
    Text(&'a str),
    /// A close frame: the connection is over (EOF shows as `fill` returning false).
    Closed,
}

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unread bytes: `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes the frame at `start` needs in all (0: not known yet).
    need: usize,
    /// Payload of a ping frame to answer (the latest).
    pong: Option<Vec<u8>>,
    /// Mask keys: a per-connection xorshift (masking is what RFC 6455 asks of a client;
    /// its keys guard against proxy cache poisoning, which a loopback bench has no use for).
    mask: u32,
}

impl Conn {
    /// Connects to `url` (`ws://host:port/path`) and does the upgrade; bytes the server sent
    /// after its answer stay in the buffer.
    pub async fn connect(url: &str) -> Result<Conn, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("only ws:// URLs: {url}"))?;
        let (host, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let stream = TcpStream::connect(host)
            .await
            .map_err(|e| format!("connect {host}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let seed = stream
            .local_addr()
            .map_or(1, |a| u32::from(a.port()) | 0x9e37_0000);
        let mut conn = Conn {
            stream,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            need: 0,
            pong: None,
            mask: seed,
        };
        let key = generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        conn.stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut answer = httparse::Response::new(&mut headers);
            match answer.parse(&conn.buf[..conn.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    if answer.code != Some(101) {
                        return Err(format!("upgrade answered {:?}", answer.code));
                    }
                    let accept = answer
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
                        .map(|h| h.value);
                    if accept != Some(derive_accept_key(key.as_bytes()).as_bytes()) {
                        return Err(
                            "upgrade answered without the right Sec-WebSocket-Accept".into()
                        );
                    }
                    conn.start = len;
                    conn.need = 0;
                    return Ok(conn);
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(format!("upgrade answer: {e}")),
            }
            conn.need = conn.end + 1;
            if !conn.fill().await? {
                return Err("closed during the upgrade".into());
            }
        }
    }

    /// Reads what the socket has (at least one byte) after the unread bytes; false at EOF.
    pub async fn fill(&mut self) -> Result<bool, String> {
        if self.start > 0 {
            // What is left is a frame's head at most: a short copy.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = self.need.max(self.end + 1);
        if want > MAX_FRAME {
            return Err(format!("a frame of {want} bytes (at most {MAX_FRAME})"));
        }
        if want > self.buf.len() {
            self.buf.resize(want, 0);
        }
        let n = self
            .stream
            .read(&mut self.buf[self.end..])
            .await
            .map_err(|e| e.to_string())?;
        self.end += n;
        Ok(n > 0)
    }

    /// The next whole frame already read, None when `fill` must read more. Pings are noted
    /// for `answer` and skipped, as are pongs and binary frames.
    pub fn next(&mut self) -> Result<Option<In<'_>>, String> {
        loop {
            let Some((opcode, payload)) = self.frame()? else {
                return Ok(None);
            };
            match opcode {
                1 => {
                    let text = std::str::from_utf8(&self.buf[payload])
                        .map_err(|e| format!("a text frame that is not UTF-8: {e}"))?;
                    return Ok(Some(In::Text(text)));
                }
                8 => return Ok(Some(In::Closed)),
                9 => self.pong = Some(self.buf[payload].to_vec()),
                _ => {} // binary (no bench server sends one after the handshake), pong
            }
        }
    }

    /// Parses the frame header at `start`: its opcode and payload range, once all of it has
    /// been read.
    fn frame(&mut self) -> Result<Option<(u8, Range<usize>)>, String> {
        let b = &self.buf[self.start..self.end];
        let [b0, b1, ..] = *b else { return Ok(None) };
        if b0 & 0x70 != 0 {
            return Err("a frame with reserved bits set (no extension was agreed)".into());
        }
        let opcode = b0 & 0x0f;
        if b0 & 0x80 == 0 || opcode == 0 {
            return Err("a fragmented message: the bench client reads whole frames only".into());
        }
        if !matches!(opcode, 1 | 2 | 8 | 9 | 10) {
            return Err(format!("a frame with the unknown opcode {opcode}"));
        }
        if b1 & 0x80 != 0 {
            return Err("a masked frame from the server (RFC 6455 5.1)".into());
        }
        let (head, len): (usize, usize) = match b1 & 0x7f {
            126 if b.len() >= 4 => (4, usize::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() >= 10 => {
                let mut n = [0; 8];
                n.copy_from_slice(&b[2..10]);
                (
                    10,
                    usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                )
            }
            126 | 127 => return Ok(None),
            n => (2, usize::from(n)),
        };
        if opcode >= 8 && len > 125 {
            return Err(format!("a control frame of {len} bytes (at most 125)"));
        }
        let total = head.saturating_add(len);
        if b.len() < total {
            self.need = total;
            return Ok(None);
        }
        self.need = 0;
        let payload = self.start + head..self.start + total;
        self.start += total;
        Ok(Some((opcode, payload)))
    }

    /// Answers the last ping frame read, if any.
    pub async fn answer(&mut self) -> Result<(), String> {
        match self.pong.take() {
            Some(payload) => self.send(10, &payload).await,
            None => Ok(()),
        }
    }

    pub async fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.send(1, text.as_bytes()).await
    }

    /// Answers a close frame (best effort: the connection is over either way).
    pub async fn close(&mut self) {
        if let Err(e) = self.send(8, &[]).await {
            eprintln!("closing: {e}");
        }
    }

    /// One masked frame.
    async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), String> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | n as u8),
            n @ 126..=0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        // xorshift32
        self.mask ^= self.mask << 13;
        self.mask ^= self.mask >> 17;
        self.mask ^= self.mask << 5;
        let key = self.mask.to_be_bytes();
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        self.stream
            .write_all(&frame)
            .await
            .map_err(|e| e.to_string())
    }
}
