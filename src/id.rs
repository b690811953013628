//! Message ids: unique, cheap, and safe across threads, processes, hosts and `fork`.
//!
//! A message id needs to be unique, not secret. Each thread draws a random 128-bit base from
//! the OS once (and again in a forked child, where it would otherwise repeat its parent's
//! sequence) and then counts up from it; the value is written as a version-4 uuid. So a
//! message costs a thread-local read, a fork check (one atomic load) and the formatting: no
//! random draw, no lock, no atomic shared between threads.
//!
//! Two sequences collide only if two bases, drawn anywhere (other threads, processes, hosts),
//! land within a sequence's length of each other in a 122-bit space: for 2^32 threads each
//! emitting 2^40 messages, a chance of about 2^-49.

use std::cell::Cell;

thread_local! {
    /// The fork generation this thread's sequence belongs to, and the next value in it.
    static NEXT: Cell<Option<(u64, u128)>> = const { Cell::new(None) };
}

/// The next value of this thread's sequence (a fresh random base after a fork or on first
/// use).
fn next() -> u128 {
    let generation = crate::fork::generation();
    let value = match NEXT.get() {
        Some((g, next)) if g == generation => next,
        _ => uuid::Uuid::new_v4().as_u128(),
    };
    NEXT.set(Some((generation, value.wrapping_add(1))));
    value
}

/// A fresh message id: a lower-case hyphenated version-4 uuid, held on the stack.
///
/// ```
/// let (a, b) = (symple::id::message_id(), symple::id::message_id());
/// assert_ne!(a, b);
/// assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
/// let text: String = a.to_string();
/// assert_eq!(text.len(), 36);
/// ```
pub fn message_id() -> MessageId {
    let bytes = uuid::Builder::from_random_bytes(next().to_be_bytes())
        .into_uuid()
        .into_bytes();
    MessageId(hyphenated(bytes))
}

/// `bytes` as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lower-case: the 32 digits made in two
/// 16-byte vectors (SSE2, part of every x86-64), then placed around the hyphens in word-sized
/// stores (about 40 instructions; a lookup per byte took about 100).
#[cfg(target_arch = "x86_64")]
#[inline]
fn hyphenated(bytes: [u8; 16]) -> [u8; 36] {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_set1_epi8,
        _mm_srli_epi16, _mm_storeu_si128, _mm_unpackhi_epi8, _mm_unpacklo_epi8,
    };
    let mut digits = [0u8; 32];
    // SAFETY: SSE2 is part of x86-64; the load reads the 16 bytes of `bytes`, the stores
    // write the 32 bytes of `digits`, unaligned accesses throughout.
    unsafe {
        let v = _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>());
        let mask = _mm_set1_epi8(0x0f);
        let high = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
        let low = _mm_and_si128(v, mask);
        // Each byte's high nibble, then its low one: the digits in reading order.
        let hex = |n: __m128i| {
            // '0' + n, and 'a' - '0' - 10 more for n above 9.
            let above9 = _mm_cmpgt_epi8(n, _mm_set1_epi8(9));
            let n = _mm_add_epi8(n, _mm_set1_epi8(b'0' as i8));
            _mm_add_epi8(
                n,
                _mm_and_si128(above9, _mm_set1_epi8((b'a' - b'0' - 10) as i8)),
            )
        };
        let first = hex(_mm_unpacklo_epi8(high, low));
        let second = hex(_mm_unpackhi_epi8(high, low));
        _mm_storeu_si128(digits.as_mut_ptr().cast::<__m128i>(), first);
        _mm_storeu_si128(digits.as_mut_ptr().add(16).cast::<__m128i>(), second);
    }
    place(&digits)
}

/// [`hyphenated`] without SIMD: a table lookup per byte.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn hyphenated_portable(bytes: [u8; 16]) -> [u8; 36] {
    let mut digits = [0u8; 32];
    for (pair, &b) in digits.chunks_exact_mut(2).zip(&bytes) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
    place(&digits)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn hyphenated(bytes: [u8; 16]) -> [u8; 36] {
    hyphenated_portable(bytes)
}

/// The 32 digits in the groups 8-4-4-4-12, hyphens between.
#[inline(always)]
fn place(d: &[u8; 32]) -> [u8; 36] {
    let mut text = [b'-'; 36];
    text[..8].copy_from_slice(&d[..8]);
    text[9..13].copy_from_slice(&d[8..12]);
    text[14..18].copy_from_slice(&d[12..16]);
    text[19..23].copy_from_slice(&d[16..20]);
    text[24..].copy_from_slice(&d[20..]);
    text
}

/// Every byte's two lower-case hex digits.
#[cfg(any(not(target_arch = "x86_64"), test))]
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX[b >> 4], HEX[b & 0xf]];
        b += 1;
    }
    t
};

/// A message id as text, without a heap allocation: it derefs to `str`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId([u8; 36]);

impl MessageId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // SAFETY: `message_id` writes only ASCII hex digits and hyphens.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl std::ops::Deref for MessageId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for MessageId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> String {
        id.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{hyphenated, hyphenated_portable, message_id};
    use std::collections::HashSet;

    fn is_v4(id: &str) -> bool {
        uuid::Uuid::parse_str(id)
            .is_ok_and(|u| u.get_version_num() == 4 && u.get_variant() == uuid::Variant::RFC4122)
            && id == id.to_lowercase()
    }

    /// The SIMD digits against the table and against uuid's own formatting: every byte value
    /// in every position (each nibble above and below 9), and the extremes.
    #[test]
    fn hyphenated_writes_what_uuid_writes() {
        let mut cases = vec![[0u8; 16], [0xff; 16]];
        for b in 0..=255u8 {
            let mut bytes: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(17));
            bytes[usize::from(b) % 16] = b;
            cases.push(bytes);
            cases.push([b; 16]);
        }
        for bytes in cases {
            let want = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
            assert_eq!(hyphenated(bytes), want.as_bytes(), "{bytes:?}");
            assert_eq!(hyphenated_portable(bytes), want.as_bytes(), "{bytes:?}");
        }
    }

    #[test]
    fn ids_from_many_threads_are_distinct_v4_uuids() {
        let per_thread = 20_000;
        let lists: Vec<Vec<String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(move || (0..per_thread).map(|_| message_id().into()).collect()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut seen = HashSet::new();
        for id in lists.iter().flatten() {
            assert!(is_v4(id), "{id}");
            assert!(seen.insert(id.clone()), "repeated id {id}");
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(*id, uuid.hyphenated().to_string());
        }
        assert_eq!(seen.len(), 4 * per_thread);
    }

    #[cfg(unix)]
    #[test]
    fn a_forked_child_does_not_repeat_its_parents_ids() {
        let before = message_id();
        let mut fds = [0; 2];
        // SAFETY: a pipe for the child's one id.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child makes one id, writes it and leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let id = message_id();
            // SAFETY: writes the id's bytes to the pipe and exits without unwinding.
            unsafe {
                libc::write(fds[1], id.as_ptr().cast(), id.len());
                libc::_exit(0);
            }
        }
        // SAFETY: the parent closes its copy of the write end.
        unsafe { libc::close(fds[1]) };
        let mut buf = [0u8; 64];
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len()) };
        let mut status = 0;
        // SAFETY: reaps the child forked above; closes the read end.
        unsafe {
            libc::waitpid(pid, &mut status, 0);
            libc::close(fds[0]);
        }
        let child = std::str::from_utf8(&buf[..usize::try_from(n).unwrap()]).unwrap();
        let parent_next = message_id();
        assert!(is_v4(child), "{child}");
        assert_ne!(
            child,
            parent_next.as_str(),
            "the child repeated the parent's next id"
        );
        assert_ne!(child, before.as_str());
    }
}
