//! The WebSocket upgrade and the socket a connection speaks through, built for many idle
//! clients: tungstenite does the protocol, over [`Lean`] I/O whose buffers exist only while
//! bytes are in flight. (axum's `WebSocketUpgrade` gives each connection a read buffer it
//! holds for life and no way to put another I/O layer under tungstenite.)

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, Method, Request, Response, StatusCode, Version};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// A client's WebSocket.
pub type Socket = WebSocketStream<Lean<TokioIo<Upgraded>>>;

/// Bytes taken from the socket per read syscall when the reader asks for fewer (tungstenite
/// asks for a few bytes at a time); kept on the stack, so an idle connection holds none.
const READ_CHUNK: usize = 4096;

/// The most tungstenite asks for per read, and the read buffer it allocates up front (it
/// grows that to the largest frame read and never shrinks it). Small: what the auth frame
/// left of it stays for the connection's life (128 cost each idle connection ~90 bytes
/// more); a larger client frame takes more read calls, each a copy out of `Lean`'s chunk
/// (one syscall per `READ_CHUNK` still).
const TUNGSTENITE_READ: usize = 32;

/// Written frames gathered before the writer waits for the socket (one write per batch).
const WRITE_HIGH: usize = 128 * 1024;

/// Drained buffers each thread keeps for the next batch: under fan-out every delivery
/// would otherwise allocate a write buffer, grow it by reallocation and free it (large
/// blocks, outside the allocator's thread cache when that is kept small).
const SPARE_BUFS: usize = 4;

/// Write buffers above this go back to the allocator: one burst to a slow reader is not
/// kept for later.
const SPARE_MAX: usize = 64 * 1024;

thread_local! {
    // Boxed as `Lean` holds them: handed over without a new allocation.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<Bufs>>> = const { RefCell::new(Vec::new()) };
}

/// A thread's spare buffers, or new empty ones.
fn take_spare() -> Box<Bufs> {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps drained buffers (nothing held for reading, nothing left to write) for the next
/// batch on this thread, unless there are enough or they are large.
fn give_spare(mut b: Box<Bufs>) {
    if b.write.capacity() > SPARE_MAX || b.read.capacity() > 0 {
        return;
    }
    b.write.clear();
    b.write_pos = 0;
    b.read_pos = 0;
    // A thread being torn down frees them instead.
    let _kept = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_BUFS {
            s.push(b);
        }
    });
}

/// Checks a WebSocket upgrade request; on success takes its upgrade handle and gives the
/// `101 Switching Protocols` answer. `None`: not a (valid) WebSocket upgrade.
pub fn accept<B>(req: &mut Request<B>) -> Option<(OnUpgrade, Response<Body>)> {
    if req.version() > Version::HTTP_11 || req.method() != Method::GET {
        return None;
    }
    let h = req.headers();
    if !has_token(h, header::CONNECTION, "upgrade")
        || !is(h, header::UPGRADE, "websocket")
        || !is(h, header::SEC_WEBSOCKET_VERSION, "13")
    {
        return None;
    }
    let accept = derive_accept_key(h.get(header::SEC_WEBSOCKET_KEY)?.as_bytes());
    let response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(Body::empty())
        .ok()?;
    let on_upgrade = req.extensions_mut().remove::<OnUpgrade>()?;
    Some((on_upgrade, response))
}

fn is(h: &HeaderMap, name: HeaderName, value: &str) -> bool {
    h.get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

fn has_token(h: &HeaderMap, name: HeaderName, token: &str) -> bool {
    h.get_all(name).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// The server side of an upgraded connection; `max_size` bounds frames and messages.
pub async fn socket(upgraded: Upgraded, max_size: usize) -> Socket {
    WebSocketStream::from_raw_socket(
        Lean::new(TokioIo::new(upgraded)),
        Role::Server,
        Some(websocket_config(max_size)),
    )
    .await
}

/// Writes `texts` as text frames (see [`Lean::send_text`]), then flushes.
pub async fn send_texts<T: AsRef<str>>(
    ws: &mut Socket,
    texts: impl IntoIterator<Item = T>,
) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let lean = ws.get_mut();
    for t in texts {
        lean.send_text(t.as_ref().as_bytes()).await?;
    }
    lean.flush().await
}

/// The WebSocket settings of a client connection (over [`Lean`]): frames and messages up
/// to `max_size` bytes, small reads, no write buffer of tungstenite's own.
///
/// ```
/// let c = symple::server::websocket_config(1 << 20);
/// assert_eq!((c.max_message_size, c.max_frame_size), (Some(1 << 20), Some(1 << 20)));
/// ```
pub fn websocket_config(max_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(TUNGSTENITE_READ)
        // Every frame goes straight to `Lean`, which gathers them until the flush: no second
        // buffer kept at its high-water mark inside tungstenite.
        .write_buffer_size(0)
        .max_message_size(Some(max_size))
        .max_frame_size(Some(max_size))
}

/// I/O that holds no buffer while the connection is quiet: reads land on the stack and only
/// what the reader did not take is kept (until taken); writes are gathered until the flush
/// and the buffer is freed once written.
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # fn main() -> std::io::Result<()> {
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let (client, server) = tokio::io::duplex(64);
/// let (mut client, mut lean) = (client, symple::server::Lean::new(server));
/// client.write_all(b"hello").await?;
/// let mut got = [0; 5];
/// lean.read_exact(&mut got).await?;
/// assert_eq!(&got, b"hello");
/// lean.write_all(b"hi").await?; // gathered...
/// lean.flush().await?; // ...and written
/// let mut back = [0; 2];
/// client.read_exact(&mut back).await?;
/// assert_eq!(&back, b"hi");
/// # Ok(())
/// # })
/// # }
/// ```
#[derive(Debug)]
pub struct Lean<S> {
    inner: S,
    /// Bytes in flight, boxed: a quiet connection holds a null pointer here (its task's
    /// size, paid by every idle connection, does not include two buffers' bookkeeping).
    bufs: Option<Box<Bufs>>,
}

/// What [`Lean`] holds while bytes are in flight.
#[derive(Debug, Default)]
struct Bufs {
    /// Read but not yet taken: `read[read_pos..]`.
    read: Vec<u8>,
    read_pos: usize,
    /// Gathered but not yet written: `write[write_pos..]`.
    write: Vec<u8>,
    write_pos: usize,
}

impl<S> Lean<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Lean { inner, bufs: None }
    }

    /// The buffers, taken from the thread's spares when first needed.
    fn bufs(&mut self) -> &mut Bufs {
        self.bufs.get_or_insert_with(take_spare)
    }

    /// Gives the buffers back to the thread's spares once nothing is in flight either way.
    fn free_if_idle(&mut self) {
        if self
            .bufs
            .as_ref()
            .is_some_and(|b| b.read.is_empty() && b.write.is_empty())
        {
            if let Some(b) = self.bufs.take() {
                give_spare(b);
            }
        }
    }

    /// Bytes gathered and not yet written.
    fn pending_write(&self) -> usize {
        self.bufs
            .as_ref()
            .map_or(0, |b| b.write.len() - b.write_pos)
    }

    /// Bytes held for reading and for writing (for tests).
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        self.bufs
            .as_ref()
            .map_or((0, 0), |b| (b.read.capacity(), b.write.capacity()))
    }
}

/// Appends the header of an unmasked (server-to-client) final frame of `opcode` carrying
/// `len` payload bytes (RFC 6455, section 5.2).
fn put_header(out: &mut Vec<u8>, opcode: u8, len: usize) {
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// The opcode of a text frame.
const OP_TEXT: u8 = 0x1;

impl<S: AsyncWrite + Unpin> Lean<S> {
    /// Gathers a text frame of `text`, as tungstenite would write it for the server (final,
    /// unmasked, no extensions), waiting first while a slow reader has [`WRITE_HIGH`]
    /// bytes pending; [`flush`](tokio::io::AsyncWriteExt::flush) writes it out.
    ///
    /// Written here rather than through tungstenite, whose frame buffer would keep the
    /// capacity of the largest frame for the connection's life and costs one more copy.
    /// Safe to mix with tungstenite's own writes (pings, pongs, close): it hands each of
    /// its frames over whole, so frames never interleave; a pong it still holds may go
    /// out after later data frames, as control frames may.
    pub async fn send_text(&mut self, text: &[u8]) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_room(cx)).await?;
        let write = &mut self.bufs().write;
        write.reserve(text.len() + 10);
        put_header(write, OP_TEXT, text.len());
        write.extend_from_slice(text);
        Ok(())
    }

    /// Ready when fewer than [`WRITE_HIGH`] bytes wait to be written (it writes some out
    /// if not).
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.pending_write() >= WRITE_HIGH {
            // A slow reader: the writer waits until the socket takes some.
            if self.poll_drain(cx)?.is_pending() && self.pending_write() >= WRITE_HIGH {
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes out what is gathered; frees the buffer once it is all written.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(bufs) = self.bufs.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while bufs.write_pos < bufs.write.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &bufs.write[bufs.write_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            bufs.write_pos += n;
        }
        bufs.write.clear();
        bufs.write_pos = 0;
        if !bufs.read.is_empty() {
            // Kept for the unread bytes: a quiet connection holds no write capacity.
            bufs.write = Vec::new();
        }
        self.free_if_idle();
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Lean<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if let Some(b) = me.bufs.as_mut().filter(|b| b.read_pos < b.read.len()) {
            let n = buf.remaining().min(b.read.len() - b.read_pos);
            buf.put_slice(&b.read[b.read_pos..b.read_pos + n]);
            b.read_pos += n;
            if b.read_pos == b.read.len() {
                b.read = Vec::new();
                b.read_pos = 0;
                me.free_if_idle();
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_CHUNK {
            return Pin::new(&mut me.inner).poll_read(cx, buf);
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut got = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut me.inner).poll_read(cx, &mut got))?;
        let got = got.filled();
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            let b = me.bufs();
            b.read = got[n..].to_vec();
            b.read_pos = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Lean<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        ready!(me.poll_room(cx))?;
        me.bufs().write.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn upgrade_request(connection: &str, version: &str) -> Request<()> {
        let mut req = Request::get("/")
            .header(header::CONNECTION, connection)
            .header(header::UPGRADE, "WebSocket")
            .header(header::SEC_WEBSOCKET_VERSION, version)
            .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
            .body(())
            .unwrap();
        let handle = hyper::upgrade::on(Request::new(()));
        req.extensions_mut().insert(handle);
        req
    }

    #[test]
    fn upgrades_are_checked_and_answered() {
        let mut req = upgrade_request("keep-alive, Upgrade", "13");
        let (_, res) = accept(&mut req).expect("a valid upgrade");
        assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
        // The example of RFC 6455, section 1.3.
        assert_eq!(
            res.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(
            accept(&mut req).is_none(),
            "the upgrade handle is taken once"
        );
        assert!(accept(&mut upgrade_request("keep-alive", "13")).is_none());
        assert!(accept(&mut upgrade_request("upgrade", "8")).is_none());
        let mut post = upgrade_request("upgrade", "13");
        *post.method_mut() = Method::POST;
        assert!(accept(&mut post).is_none());
        let mut plain = Request::get("/").body(()).unwrap();
        assert!(accept(&mut plain).is_none());
    }

    #[tokio::test]
    async fn small_reads_keep_only_the_rest() {
        let (mut far, near) = tokio::io::duplex(64 * 1024);
        let mut lean = Lean::new(near);
        far.write_all(b"hello, world").await.unwrap();
        let mut two = [0u8; 2];
        lean.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"he");
        assert_eq!(lean.held().0, 10, "the rest, exactly");
        let mut rest = [0u8; 10];
        lean.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"llo, world");
        assert_eq!(lean.held(), (0, 0), "nothing held once taken");
        // A large read goes straight through.
        let big = vec![7u8; 3 * READ_CHUNK];
        far.write_all(&big).await.unwrap();
        let mut back = vec![0u8; 3 * READ_CHUNK];
        lean.read_exact(&mut back).await.unwrap();
        assert_eq!(back, big);
        assert_eq!(lean.held(), (0, 0));
        drop(far);
        assert_eq!(lean.read(&mut two).await.unwrap(), 0, "end of stream");
    }

    #[tokio::test]
    async fn writes_gather_until_flushed_then_free() {
        let (mut far, near) = tokio::io::duplex(64 * 1024);
        let mut lean = Lean::new(near);
        lean.write_all(b"one ").await.unwrap();
        lean.write_all(b"two").await.unwrap();
        assert!(lean.held().1 >= 7);
        lean.flush().await.unwrap();
        assert_eq!(lean.held(), (0, 0));
        let mut got = [0u8; 7];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two");
    }

    #[tokio::test]
    async fn drained_buffers_serve_the_next_batch_on_the_thread() {
        SPARE.with(|s| s.borrow_mut().clear());
        let (mut far, near) = tokio::io::duplex(64 * 1024);
        let (mut far2, near2) = tokio::io::duplex(64 * 1024);
        let (mut first, mut second) = (Lean::new(near), Lean::new(near2));
        first.write_all(&[b'a'; 5000]).await.unwrap();
        let grown = first.held().1;
        first.flush().await.unwrap();
        assert_eq!(
            first.held(),
            (0, 0),
            "the connection holds nothing once flushed"
        );
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1, "kept for the thread");
        second.write_all(b"b").await.unwrap();
        assert_eq!(
            second.held().1,
            grown,
            "the next batch starts with that capacity"
        );
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0);
        second.flush().await.unwrap();
        let mut got = vec![0u8; 5000];
        far.read_exact(&mut got).await.unwrap();
        assert!(got.iter().all(|&b| b == b'a'));
        let mut one = [0u8; 1];
        far2.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"b", "nothing of the first batch is written again");
        // A burst above the bound is freed, and the spares never exceed their count.
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1);
        let (_far3, near3) = tokio::io::duplex(1 << 20);
        let mut big = Lean::new(near3);
        big.write_all(&vec![0u8; SPARE_MAX + 1]).await.unwrap();
        big.flush().await.unwrap();
        assert_eq!(
            SPARE.with(|s| s.borrow().len()),
            0,
            "a large buffer is not kept"
        );
        for _ in 0..2 * SPARE_BUFS {
            give_spare(Box::default());
        }
        assert_eq!(SPARE.with(|s| s.borrow().len()), SPARE_BUFS);
    }

    #[tokio::test]
    async fn a_slow_reader_makes_the_writer_wait() {
        let (mut far, near) = tokio::io::duplex(1024);
        let mut lean = Lean::new(near);
        // Gathered well past the mark, with a pipe that takes 1 KiB: the next write waits.
        let block = vec![1u8; 2 * WRITE_HIGH];
        lean.write_all(&block).await.unwrap();
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), lean.write_all(b"x")).await;
        assert!(blocked.is_err(), "writer must wait for the reader");
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            far.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        lean.write_all(b"x").await.unwrap();
        lean.shutdown().await.unwrap();
        drop(lean);
        assert_eq!(reader.await.unwrap(), 2 * WRITE_HIGH + 1);
    }
}
