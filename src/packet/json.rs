//! JSON written exactly as JavaScript's `JSON.stringify` writes the same values: the text the
//! Socket.IO adapters built on `socket.io-adapter`'s cluster messages (sharded, streams)
//! publish; and, for native packets, exactly as `serde_json` writes them ([`Serde`]).
//!
//! Where JavaScript differs from `serde_json`: a number is JavaScript's shortest form (`2.0` is
//! `2`, `1e21` is `1e+21`, `-0.0` is `0`), and an object lists integer-like keys first,
//! ascending, like a JavaScript object (see [`crate::packet::view::js_key_order`]). Strings are
//! escaped the same way by both.

use serde_json::Value;

use crate::error::Error;
use crate::packet::bytes;
use crate::packet::view::{js_key_order, JsonView, Node};
use crate::protocol::Room;

/// How a writer spells what `JSON.stringify` and `serde_json` spell differently: floats and
/// the order of object keys.
pub(crate) trait Style {
    /// JavaScript's key order (integer-like keys first) rather than insertion order.
    const JS_KEY_ORDER: bool;
    /// Appends a float.
    fn float(out: &mut Vec<u8>, f: f64);
}

/// `JSON.stringify`.
pub(crate) enum Js {}

impl Style for Js {
    const JS_KEY_ORDER: bool = true;
    fn float(out: &mut Vec<u8>, f: f64) {
        write_number(out, f);
    }
}

/// `serde_json::to_writer` of the equal `serde_json::Value` (insertion order, floats as
/// serde_json writes them): the native packets' text.
pub(crate) enum Serde {}

impl Style for Serde {
    const JS_KEY_ORDER: bool = false;
    fn float(out: &mut Vec<u8>, f: f64) {
        // serde_json's own float formatting (rare in messages, so its generic path is fine);
        // writing into a Vec cannot fail.
        let _ = serde_json::to_writer(out, &f);
    }
}

/// Appends the JSON text of `value`.
///
/// ```
/// let mut out = Vec::new();
/// symple::packet::json::write_value(&mut out, &serde_json::json!({"b": 2.0, "10": [1e21, -0.0, "é\n"]}));
/// assert_eq!(out, "{\"10\":[1e+21,0,\"é\\n\"],\"b\":2}".as_bytes());
/// ```
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    // A `Value` view never fails.
    let _ = write_view(out, value);
}

/// Appends the JSON text of any [`JsonView`]: the bytes [`write_value`] writes for the equal
/// `Value`. On an error `out` holds a partial value.
pub fn write_view<'a, V: JsonView<'a>>(out: &mut Vec<u8>, value: V) -> Result<(), Error> {
    write_styled::<Js, V>(out, value)
}

/// Appends the JSON text of `value` in style `S`.
pub(crate) fn write_styled<'a, S: Style, V: JsonView<'a>>(
    out: &mut Vec<u8>,
    value: V,
) -> Result<(), Error> {
    match value.node()? {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Node::I64(i) => write_integer(out, i),
        Node::U64(u) => write_integer(out, u),
        Node::F64(f) => S::float(out, f),
        Node::Str(s) => write_str(out, s),
        Node::Array(items) => {
            out.push(b'[');
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_styled::<S, V>(out, item)?;
            }
            out.push(b']');
        }
        Node::Map(entries) if S::JS_KEY_ORDER => write_map::<V>(out, entries, &[])?,
        Node::Map(entries) => {
            out.push(b'{');
            for (i, (k, v)) in entries.enumerate() {
                write_member_key(out, i > 0, k);
                write_styled::<S, V>(out, v)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Appends `value` as `serde_json::to_writer` writes it: [`write_styled`] in the [`Serde`]
/// style, matched on the `Value` itself. Strings, the most common values, are written
/// inline in the loops over arrays and maps (no call per value); the rest recurse.
pub(crate) fn write_serde_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => write_str(out, s),
        Value::Object(map) => {
            out.push(b'{');
            for (i, (k, v)) in map.iter().enumerate() {
                write_member_key(out, i > 0, k);
                match v {
                    Value::String(s) => write_str(out, s),
                    v => write_serde_value(out, v),
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match v {
                    Value::String(s) => write_str(out, s),
                    v => write_serde_value(out, v),
                }
            }
            out.push(b']');
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                write_integer(out, i);
            } else if let Some(u) = n.as_u64() {
                write_integer(out, u);
            } else {
                // Without arbitrary_precision every other Number is a finite f64.
                Serde::float(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// Appends an object: `entries` in JavaScript's key order, then `extra` string fields (keys
/// the caller knows are absent and not integer-like) as if inserted last.
pub fn write_map<'a, V: JsonView<'a>>(
    out: &mut Vec<u8>,
    entries: V::Entries,
    extra: &[(&str, &str)],
) -> Result<(), Error> {
    out.push(b'{');
    let mut first = true;
    let mut entry = |out: &mut Vec<u8>, k: &str| {
        write_member_key(out, !std::mem::take(&mut first), k);
    };
    for (k, v) in js_key_order::<V>(entries) {
        entry(out, k);
        write_view(out, v)?;
    }
    for (k, v) in extra {
        entry(out, k);
        write_str(out, v);
    }
    out.push(b'}');
    Ok(())
}

/// Appends a quoted string, escaped as `JSON.stringify` (and `serde_json`) escape it: control
/// characters, `"` and `\\`; everything else as is.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    // Inlined where it is called: most strings are short keys with nothing to escape.
    if !write_short(out, false, s.as_bytes(), false) {
        write_escaped(out, s.as_bytes());
    }
}

/// Appends `"bytes"`, after a comma when `comma` and before a colon when `colon`, if `bytes`
/// is at most 16 bytes with nothing to escape: read once as two words (by length: two
/// overlapping words, two half words, or three bytes), which serve both the check and the
/// copy, with no loop and no `memcpy` call. `false`, writing nothing, otherwise.
#[inline(always)]
fn write_short(out: &mut Vec<u8>, comma: bool, bytes: &[u8], colon: bool) -> bool {
    let n = bytes.len();
    let s = bytes.as_ptr();
    // SAFETY (every branch): the reads stay within `bytes` (the second word ends at its last
    // byte), unaligned; the stores write `n` bytes at the place `put_short` gives, which has room
    // for them.
    unsafe {
        if n >= 8 {
            if n > 16 {
                return false;
            }
            let a = s.cast::<u64>().read_unaligned();
            let b = s.add(n - 8).cast::<u64>().read_unaligned();
            put_short(out, comma, n, colon, (a, b), |d| {
                d.cast::<u64>().write_unaligned(a);
                d.add(n - 8).cast::<u64>().write_unaligned(b);
            })
        } else if n >= 4 {
            let a = s.cast::<u32>().read_unaligned();
            let b = s.add(n - 4).cast::<u32>().read_unaligned();
            let w = u64::from(a) | u64::from(b) << 32;
            put_short(out, comma, n, colon, (w, w), |d| {
                d.cast::<u32>().write_unaligned(a);
                d.add(n - 4).cast::<u32>().write_unaligned(b);
            })
        } else if n > 0 {
            // 1 to 3 bytes: the first, the middle and the last (some the same byte), padded
            // with spaces, which need no escape.
            let (x, y, z) = (*s, *s.add(n / 2), *s.add(n - 1));
            let w = u64::from_le_bytes([x, y, z, b' ', b' ', b' ', b' ', b' ']);
            put_short(out, comma, n, colon, (w, w), |d| {
                *d = x;
                *d.add(n / 2) = y;
                *d.add(n - 1) = z;
            })
        } else {
            // Spaces: nothing to escape.
            const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
            put_short(out, comma, 0, colon, (SPACES, SPACES), |_| {})
        }
    }
}

/// The rest of [`write_short`]: checks `words` (every byte of the string, and copies of them
/// or spaces besides), then writes the comma, the quotes, the colon, and the `n` bytes
/// `store` writes at the place it is given. `false`, writing nothing, when a byte needs an
/// escape.
///
/// # Safety
///
/// `store` must write at most `n` bytes from the pointer it gets.
#[inline(always)]
unsafe fn put_short(
    out: &mut Vec<u8>,
    comma: bool,
    n: usize,
    colon: bool,
    words: (u64, u64),
    store: impl FnOnce(*mut u8),
) -> bool {
    if words_need_escape(words.0, words.1) {
        return false;
    }
    out.reserve(n + 4);
    // SAFETY: `reserve` made room for a comma, the quotes, a colon and the `n` bytes after
    // `len`; the comma and the colon are always written but only kept (the comma by moving
    // the rest past it) when asked for; every byte up to the new length is written.
    unsafe {
        let len = out.len();
        let mut at = out.as_mut_ptr().add(len);
        *at = b',';
        at = at.add(usize::from(comma));
        *at = b'"';
        store(at.add(1));
        *at.add(1 + n) = b'"';
        *at.add(2 + n) = b':';
        out.set_len(len + usize::from(comma) + n + 2 + usize::from(colon));
    }
    true
}

/// Whether two words have a byte JSON escapes.
#[inline(always)]
fn words_need_escape(a: u64, b: u64) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE2 is part of x86-64; the vector is made of two words in registers.
        unsafe {
            let v = std::arch::x86_64::_mm_set_epi64x(b as i64, a as i64);
            escape_mask(v) != 0
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        word_needs_escape(a) || word_needs_escape(b)
    }
}

/// A bit per byte of `v` that JSON escapes: below 0x20 (unsigned: `min(v, 0x1f) == v`), `"`
/// or `\\`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn escape_mask(v: std::arch::x86_64::__m128i) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of x86-64; no memory is touched.
    unsafe {
        let low = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        _mm_movemask_epi8(_mm_or_si128(low, _mm_or_si128(quote, backslash))) as u32
    }
}

/// Appends an object member's key: `,"key":` (`"key":` for the first, `comma` false), in
/// one reservation when the key is short and clean (nearly always).
#[inline(always)]
pub(crate) fn write_member_key(out: &mut Vec<u8>, comma: bool, key: &str) {
    if !write_short(out, comma, key.as_bytes(), true) {
        if comma {
            out.push(b',');
        }
        write_escaped(out, key.as_bytes());
        out.push(b':');
    }
}

/// [`write_str`] for strings of more than 16 bytes, or with something to escape: the clean
/// runs are copied and checked in one pass.
fn write_escaped(out: &mut Vec<u8>, mut rest: &[u8]) {
    out.reserve(rest.len() + 2);
    out.push(b'"');
    loop {
        // SAFETY: there is room for `rest.len()` bytes after `len` (reserved above, or below
        // after an escape); `copy_clean` writes at most that many and reports how many of the
        // leading ones are clean, which are the ones kept.
        let clean = unsafe {
            let len = out.len();
            let clean = copy_clean(rest, out.as_mut_ptr().add(len));
            out.set_len(len + clean);
            clean
        };
        let Some(&b) = rest.get(clean) else {
            break;
        };
        write_escape(out, b);
        rest = &rest[clean + 1..];
        out.reserve(rest.len() + 1);
    }
    out.push(b'"');
}

/// Copies `src` to `dst` up to its first byte to escape (maybe more), and gives that byte's
/// index (`src.len()` when there is none). SSE2 (every x86-64 has it): 16 bytes per step,
/// a load, a store and three compares; the text of a message is most of its bytes.
///
/// # Safety
///
/// `dst` must be valid for `src.len()` bytes of writes and must not overlap `src`.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn copy_clean(src: &[u8], dst: *mut u8) -> usize {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128};
    let n = src.len();
    if n < 16 {
        // SAFETY: the caller's promise.
        return unsafe { copy_clean_portable(src, dst) };
    }
    let s = src.as_ptr();
    // SAFETY: SSE2 is part of x86-64; every load reads 16 bytes inside `src` (`at + 16 <= n`)
    // and every store writes 16 bytes inside `dst`'s `n`.
    unsafe {
        let mut at = 0;
        while at + 16 <= n {
            let v = _mm_loadu_si128(s.add(at).cast::<__m128i>());
            _mm_storeu_si128(dst.add(at).cast::<__m128i>(), v);
            let m = escape_mask(v);
            if m != 0 {
                return at + m.trailing_zeros() as usize;
            }
            at += 16;
        }
        if at < n {
            // The last 16 bytes, overlapping the ones already checked (their bits dropped).
            let last = n - 16;
            let v = _mm_loadu_si128(s.add(last).cast::<__m128i>());
            _mm_storeu_si128(dst.add(last).cast::<__m128i>(), v);
            let m = escape_mask(v) >> (at - last);
            if m != 0 {
                return at + m.trailing_zeros() as usize;
            }
        }
        n
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
unsafe fn copy_clean(src: &[u8], dst: *mut u8) -> usize {
    // SAFETY: the caller's promise.
    unsafe { copy_clean_portable(src, dst) }
}

/// [`copy_clean`] without SIMD: a scan of eight bytes at a time, then one copy.
///
/// # Safety
///
/// As [`copy_clean`].
unsafe fn copy_clean_portable(src: &[u8], dst: *mut u8) -> usize {
    let clean = first_to_escape(src).unwrap_or(src.len());
    // SAFETY: `clean <= src.len()` bytes, which the caller made room for.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, clean) };
    clean
}

/// Bytes JSON escapes: control characters, `"` and `\\`.
static ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first byte that needs escaping. Eight bytes at a time (the last eight
/// overlapping the chunk before): this runs over every string of every JSON packet, and most
/// strings need no escape at all.
#[inline]
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().position(|&b| ESCAPED[usize::from(b)]);
    }
    let mut start = 0;
    while start + 8 <= n {
        if word_needs_escape(word(&bytes[start..start + 8])) {
            return find_from(bytes, start);
        }
        start += 8;
    }
    if start < n && word_needs_escape(word(&bytes[n - 8..])) {
        return find_from(bytes, start);
    }
    None
}

#[cold]
fn find_from(bytes: &[u8], start: usize) -> Option<usize> {
    bytes[start..]
        .iter()
        .position(|&b| ESCAPED[usize::from(b)])
        .map(|i| start + i)
}

/// Eight bytes as a word.
#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_ne_bytes(w)
}

/// Whether any of a word's eight bytes is below 0x20, `"` or `\\` (exact: the bit tricks may
/// mark extra bytes, never a clean word).
#[inline(always)]
fn word_needs_escape(x: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A high bit for a byte below `n` (ASCII only: `!x` drops bytes with the high bit set).
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    below(x, 0x20)
        | below(x ^ (ONES * u64::from(b'"')), 1)
        | below(x ^ (ONES * u64::from(b'\\')), 1)
        != 0
}

/// Appends the escape of one byte [`first_to_escape`] found.
#[cold]
fn write_escape(out: &mut Vec<u8>, b: u8) {
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0a => b'n',
        0x0c => b'f',
        0x0d => b'r',
        _ => 0,
    };
    if short == 0 {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.extend_from_slice(b"\\u00");
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    } else {
        out.extend_from_slice(&[b'\\', short]);
    }
}

/// Appends rooms as a JSON array: names as strings, integer rooms as numbers.
pub(crate) fn write_rooms(out: &mut Vec<u8>, rooms: &[Room]) {
    out.push(b'[');
    for (i, r) in rooms.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match r {
            Room::Name(n) => write_str(out, n),
            Room::Id(id) => write_integer(out, *id),
        }
    }
    out.push(b']');
}

/// Appends an integer in decimal.
pub fn write_integer(out: &mut Vec<u8>, i: impl itoa::Integer) {
    bytes::extend(out, itoa::Buffer::new().format(i).as_bytes());
}

/// Appends a number as JavaScript's `Number.prototype.toString` writes it (ECMAScript's
/// Number::toString): the shortest digits that read back as `f`, in plain notation from
/// 1e-7 up to 1e21, else as `<d>[.<ddd>]e±<n>`. Not finite: `null`, as `JSON.stringify`.
pub fn write_number(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        return out.extend_from_slice(b"null");
    }
    if f == 0.0 {
        return out.push(b'0');
    }
    if f < 0.0 {
        out.push(b'-');
    }
    // ryu gives the shortest round-tripping digits; only its layout differs from JavaScript's.
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(f.abs());
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    // The decimal point sits after `point` digits.
    let mut point = int.len() as i32 + exp;
    let lead = digits.iter().take_while(|&&d| d == b'0').count();
    digits.drain(..lead);
    point -= lead as i32;
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let k = digits.len() as i32;
    let n = point;
    let zeros = |out: &mut Vec<u8>, count: i32| {
        out.extend(std::iter::repeat_n(b'0', count.max(0) as usize))
    };
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        zeros(out, n - k);
    } else if 0 < n && n <= 21 {
        let (a, b) = digits.split_at(n as usize);
        out.extend_from_slice(a);
        out.push(b'.');
        out.extend_from_slice(b);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        zeros(out, -n);
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = n - 1;
        out.extend_from_slice(if e < 0 { b"e-" } else { b"e+" });
        write_integer(out, e.unsigned_abs());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every length up to 70 with a byte to escape (each kind) at every position, twice, and
    /// none: the inline, SSE2 and portable paths must each write what serde_json writes.
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let marks = [
            '"', '\\', '\n', '\u{1f}', '\u{0}', '\u{7f}', 'é', '€', '😀', ' ',
        ];
        for len in 0..70 {
            let clean: String = "abcdefghijklmnopqrstuvwxyz0123456789"
                .chars()
                .cycle()
                .take(len)
                .collect();
            let mut cases = vec![clean.clone()];
            for at in 0..len {
                for m in marks {
                    let mut with: Vec<char> = clean.chars().collect();
                    with[at] = m;
                    if at + 3 < len {
                        with[at + 3] = '"';
                    }
                    cases.push(with.into_iter().collect());
                }
            }
            for case in cases {
                let want = serde_json::to_string(&case).unwrap();
                let mut out = b"[".to_vec();
                write_str(&mut out, &case);
                assert_eq!(&out[1..], want.as_bytes(), "{case:?}");
                let mut member = Vec::new();
                write_member_key(&mut member, true, &case);
                assert_eq!(member, format!(",{want}:").into_bytes(), "{case:?}");
                write_member_key(&mut member, false, &case);
                assert_eq!(&member[want.len() + 2..], format!("{want}:").as_bytes());
                let mut portable = vec![0u8; case.len()];
                // SAFETY: `portable` has room for the whole string.
                let clean = unsafe { copy_clean_portable(case.as_bytes(), portable.as_mut_ptr()) };
                // SAFETY: as above.
                let fast = unsafe { copy_clean(case.as_bytes(), portable.as_mut_ptr()) };
                assert_eq!(clean, fast, "{case:?}");
                assert_eq!(portable[..clean], case.as_bytes()[..clean]);
            }
        }
    }

    /// The direct `Value` writer of native packets against serde_json, and against the
    /// generic writer it stands in for: strings (non-ASCII, control characters, quotes,
    /// backslashes, every short length and longer ones), numbers (big, negative, floats),
    /// nesting, empty containers.
    #[test]
    fn serde_values_are_written_as_serde_json_writes_them() {
        let mut values = vec![
            json!(null),
            json!(true),
            json!(false),
            json!(""),
            json!("a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}é/\u{2028}😀€"),
            json!(0),
            json!(-1),
            json!(42),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(i64::MAX as u64 + 1),
            json!(0.0),
            json!(-0.0),
            json!(2.0),
            json!(-1.25),
            json!(0.1),
            json!(1e21),
            json!(1e-7),
            json!(1.5e300),
            json!(-2.5e-300),
            json!(5e-324),
            json!(f64::MAX),
            json!(std::f64::consts::PI),
            json!([]),
            json!({}),
            json!([[], {}, [null, [1, [2.5, ["x"]]]]]),
            json!({"type": "message", "to": ["a", 7, "b|c"], "data": {"text": "hi\n", "n": -3,
                   "f": 0.5, "deep": {"k\"ey": {"é": [true, null, {}]}}, "10": 1, "2": 2}}),
        ];
        let marks = ['"', '\\', '\n', '\u{1f}', '\u{0}', '\u{7f}', 'é', '😀', ' '];
        for len in 0..40 {
            let clean: String = "abcdefghijklmnopqrstuvwxyz0123456789z"
                .chars()
                .take(len)
                .collect();
            values.push(json!(clean.clone()));
            values.push(json!({ clean.clone(): clean.clone() }));
            for m in marks {
                let mut with: Vec<char> = clean.chars().collect();
                with.insert(len / 2, m);
                let with: String = with.into_iter().collect();
                values.push(json!([with.clone(), { with.clone(): [with] }]));
            }
        }
        for v in &values {
            let want = serde_json::to_vec(v).unwrap();
            let mut direct = b"[".to_vec();
            write_serde_value(&mut direct, v);
            assert_eq!(&direct[1..], &want[..], "{v}");
            let mut viewed = Vec::new();
            crate::packet::view::JsonView::write_serde_json(v, &mut viewed).unwrap();
            assert_eq!(viewed, want, "{v}");
            let mut generic = Vec::new();
            write_styled::<Serde, &Value>(&mut generic, v).unwrap();
            assert_eq!(generic, want, "{v}");
        }
    }

    fn num(f: f64) -> String {
        let mut out = Vec::new();
        write_number(&mut out, f);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_read_as_javascript_writes_them() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (2.0, "2"),
            (-1.25, "-1.25"),
            (0.1, "0.1"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (1.23e-5, "0.0000123"),
            (123456.789, "123456.789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (-2.5e-300, "-2.5e-300"),
            (std::f64::consts::PI, "3.141592653589793"),
            (9007199254740993.0, "9007199254740992"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::NAN, "null"),
        ];
        for (f, js) in cases {
            assert_eq!(num(f), js, "{f:e}");
        }
    }

    #[test]
    fn strings_escape_what_json_stringify_escapes() {
        let mut out = Vec::new();
        write_str(
            &mut out,
            "a\"b\\c\u{8}\u{c}\n\r\t\u{0}\u{1f}\u{7f}é/\u{2028}😀",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0000\\u001f\u{7f}é/\u{2028}😀\""
        );
    }

    #[test]
    fn every_escape_is_found_wherever_it_sits() {
        // Every length around the eight-byte steps, one byte to escape at every place (and
        // none), against serde_json, which escapes the same bytes.
        for len in 0..40 {
            for at in 0..=len {
                for special in [0u8, 0x1f, b'"', b'\\', b'\n', 0x7f, 0xc3] {
                    let mut bytes = vec![b'a'; len];
                    if at < len {
                        bytes[at] = special;
                    }
                    if special == 0xc3 && at < len {
                        // Keep it UTF-8: é.
                        bytes.insert(at + 1, 0xa9);
                    }
                    let s = String::from_utf8(bytes).unwrap();
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn objects_list_index_keys_first_and_extras_last() {
        let v: Value = serde_json::from_str(r#"{"b":1,"10":2,"2":3,"01":4}"#).unwrap();
        let mut out = Vec::new();
        let Value::Object(map) = &v else {
            unreachable!()
        };
        write_map::<&Value>(&mut out, crate::packet::view::entries(map), &[("id", "x")]).unwrap();
        assert_eq!(out, br#"{"2":3,"10":2,"b":1,"01":4,"id":"x"}"#);
        let mut out = Vec::new();
        write_value(&mut out, &json!([{}, [], null, true, u64::MAX, i64::MIN]));
        assert_eq!(
            out,
            format!("[{{}},[],null,true,{},{}]", u64::MAX, i64::MIN).as_bytes()
        );
    }
}
