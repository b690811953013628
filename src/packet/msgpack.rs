//! MessagePack of JSON values, written exactly as `notepack.io` (the codec of
//! `@socket.io/redis-emitter` and `@socket.io/redis-adapter`) writes the same JavaScript values.
//!
//! Two JavaScript habits matter for byte identity: a number with no fractional part is an
//! integer (so `2.0` is written as the integer 2), and an object lists integer-like keys
//! (`"0"`, `"17"`) first, in ascending order, before the others in insertion order.
//!
//! One deliberate difference: notepack writes an integral number beyond the 64-bit range
//! (`1e300`) as a wrapped integer, which decodes to a different number; we write the float.

use rmp::encode;
use serde_json::Value;

use crate::error::Error;
use crate::packet::bytes;
use crate::packet::view::{is_array_index, js_key_order, JsonView, Node};

/// Appends the MessagePack form of `value` to `out`.
///
/// ```
/// let mut out = Vec::new();
/// symple::packet::msgpack::write_value(&mut out, &serde_json::json!({"a": [1, -1, 2.5, null]}));
/// assert_eq!(out, [0x81, 0xa1, b'a', 0x94, 0x01, 0xff, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0xc0]);
/// ```
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    // A `Value` view never fails.
    let _ = write_view(out, value);
}

/// Appends the MessagePack form of any [`JsonView`]: the bytes [`write_value`] writes for the
/// equal `Value`. On an error `out` holds a partial value.
pub fn write_view<'a, V: JsonView<'a>>(out: &mut Vec<u8>, value: V) -> Result<(), Error> {
    match value.node()? {
        Node::Null => out.push(0xc0),
        Node::Bool(b) => out.push(if b { 0xc3 } else { 0xc2 }),
        Node::I64(i) => write_int(out, i),
        Node::U64(u) => {
            let _ = encode::write_uint(out, u);
        }
        Node::F64(f) => write_float(out, f),
        Node::Str(s) => write_str(out, s),
        Node::Array(items) => {
            write_array_len(out, items.len());
            for item in items {
                write_view(out, item)?;
            }
        }
        Node::Map(entries) => write_map::<V>(out, entries, &[])?,
    }
    Ok(())
}

/// Appends a string: fixstr, str8, str16 or str32 by length, as notepack picks. Written by
/// hand (not through rmp's `Write` calls) so it inlines into the encoders: it is on every
/// emit's path, once per key and string value.
#[inline(always)]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let n = len_u32(s.len());
    if n <= 16 {
        // A fixstr short enough to copy inline: its header and bytes in one reservation.
        out.reserve(1 + s.len());
        // SAFETY: `reserve` made room for the header and the bytes after `len`; `s` is
        // borrowed apart from `out`; every byte up to the new length is written.
        unsafe {
            let len = out.len();
            let at = out.as_mut_ptr().add(len);
            *at = 0xa0 | n as u8;
            bytes::copy_short(s.as_bytes(), at.add(1));
            out.set_len(len + 1 + s.len());
        }
        return;
    }
    match n {
        0..=31 => out.push(0xa0 | n as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, n as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    bytes::extend(out, s.as_bytes());
}

/// Appends an array header (fixarray, array16 or array32).
#[inline(always)]
pub fn write_array_len(out: &mut Vec<u8>, len: usize) {
    write_container_len(out, len, 0x90, 0xdc);
}

/// Appends a map header (fixmap, map16 or map32).
#[inline(always)]
pub fn write_map_len(out: &mut Vec<u8>, len: usize) {
    write_container_len(out, len, 0x80, 0xde);
}

#[inline(always)]
fn write_container_len(out: &mut Vec<u8>, len: usize, fix: u8, marker16: u8) {
    let n = len_u32(len);
    match n {
        0..=15 => out.push(fix | n as u8),
        16..=0xffff => {
            out.push(marker16);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            // The 32-bit marker follows the 16-bit one (0xdc/0xdd, 0xde/0xdf).
            out.push(marker16 + 1);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Appends a signed integer in its smallest form (positive values use the unsigned family).
pub fn write_int(out: &mut Vec<u8>, i: i64) {
    if (-32..=127).contains(&i) {
        // A positive or negative fixint is the value's own low byte (two's complement), as
        // rmp writes it: one push rather than rmp's generic writer.
        out.push(i as u8);
    } else {
        let _ = encode::write_sint(out, i);
    }
}

fn len_u32(len: usize) -> u32 {
    // notepack throws past u32; a JSON value that large cannot reach here from Redis-sized input.
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn write_float(out: &mut Vec<u8>, f: f64) {
    // JavaScript has one number type: an integral float is an integer on the wire.
    // Past 64 bits notepack's integer path wraps and corrupts the value, so there we
    // keep the float (the one place our bytes differ from notepack's).
    if f.fract() != 0.0 || !f.is_finite() {
        let _ = encode::write_f64(out, f);
    } else if (i64::MIN as f64..0.0).contains(&f) {
        write_int(out, f as i64);
    } else if (0.0..u64::MAX as f64).contains(&f) {
        let _ = encode::write_uint(out, f as u64);
    } else {
        let _ = encode::write_f64(out, f);
    }
}

/// Appends a map: `entries`, then `extra` string fields (keys the caller knows are absent
/// from `entries`), as if they had been inserted last.
pub fn write_map<'a, V: JsonView<'a>>(
    out: &mut Vec<u8>,
    entries: V::Entries,
    extra: &[(&str, &str)],
) -> Result<(), Error> {
    write_map_len(out, entries.len() + extra.len());
    // Extra keys are never indices (callers pass `id`, `from`), so only entries are ordered.
    debug_assert!(extra.iter().all(|(k, _)| !is_array_index(k)));
    for (k, v) in js_key_order::<V>(entries) {
        write_str(out, k);
        write_view(out, v)?;
    }
    for (k, v) in extra {
        write_str(out, k);
        write_str(out, v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, &v);
        out
    }

    #[test]
    fn integers_take_the_smallest_form() {
        assert_eq!(enc(json!(127)), [0x7f]);
        assert_eq!(enc(json!(128)), [0xcc, 0x80]);
        assert_eq!(enc(json!(-32)), [0xe0]);
        assert_eq!(enc(json!(-33)), [0xd0, 0xdf]);
        assert_eq!(enc(json!(65536)), [0xce, 0, 1, 0, 0]);
        assert_eq!(enc(json!(u64::MAX))[0], 0xcf);
        assert_eq!(enc(json!(i64::MIN))[0], 0xd3);
    }

    #[test]
    fn headers_are_what_rmp_writes() {
        for n in [0usize, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536, 1 << 20] {
            let text = "x".repeat(n);
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_str(&mut ours, &text);
            encode::write_str(&mut theirs, &text).unwrap();
            assert_eq!(ours, theirs, "str of {n}");
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            write_array_len(&mut ours, n);
            write_map_len(&mut ours, n);
            encode::write_array_len(&mut theirs, n as u32).unwrap();
            encode::write_map_len(&mut theirs, n as u32).unwrap();
            assert_eq!(ours, theirs, "headers of {n}");
        }
    }

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(enc(json!(2.0)), [0x02]);
        assert_eq!(enc(json!(-0.0)), [0x00]);
        assert_eq!(enc(json!(0.5))[0], 0xcb);
        assert_eq!(enc(json!(1e300))[0], 0xcb);
        assert_eq!(
            enc(json!(1e19)),
            [0xcf, 0x8a, 0xc7, 0x23, 0x04, 0x89, 0xe8, 0, 0]
        );
        assert_eq!(enc(json!(-1e19))[0], 0xcb);
    }

    #[test]
    fn index_keys_come_first() {
        let v: Value = serde_json::from_str(r#"{"b":1,"10":2,"2":3,"01":4}"#).unwrap();
        let out = enc(v);
        let decoded = rmpv::decode::read_value(&mut &out[..]).unwrap();
        let keys: Vec<String> = decoded
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["2", "10", "b", "01"]);
    }
}
