//! Ruby values to and from JSON values, directly (no JSON text in between).
//!
//! Hash, Array, String, Symbol, Integer (within 64 bits), Float (finite), true, false and nil
//! convert as JSON does; Symbol keys become strings. Any other object is converted through
//! its `as_json` (ActiveSupport, models) or `to_h`; without either it is refused with
//! `Symple::InvalidMessage` naming its class. Integers stay integers, so `to(user.id)` and
//! `data: {id: 7}` keep their type on the wire.

use magnus::encoding::EncodingCapable;
use magnus::r_hash::ForEach;
use magnus::value::{Fixnum, Qfalse, Qtrue, ReprValue};
use magnus::{Error, Float, Integer, RArray, RHash, RString, Ruby, Symbol, Value};
use serde_json::{Map, Number, Value as Json};
use symple::{Object, Room};

use crate::errors::invalid_message;

/// Deepest nesting accepted; deeper input is almost always a cycle (`a = []; a << a`).
const MAX_DEPTH: usize = 128;

/// Any JSON value.
pub fn json(ruby: &Ruby, v: Value) -> Result<Json, Error> {
    to_json(ruby, v, 0)
}

/// A JSON object: the value must be a Hash (or convert to one).
pub fn object(ruby: &Ruby, v: Value) -> Result<Object, Error> {
    match to_json(ruby, v, 0)? {
        Json::Object(map) => Ok(map),
        _ => Err(invalid_message(
            ruby,
            format!("a message must be a Hash, not {}", class_name(v)),
        )),
    }
}

/// Rooms: a String or Symbol (a name, `user|id`), an Integer (an integer room), or an Array
/// of them (nested arrays are flattened).
pub fn rooms(ruby: &Ruby, v: Value) -> Result<Vec<Room>, Error> {
    let mut out = Vec::new();
    add_rooms(ruby, v, &mut out, 0)?;
    Ok(out)
}

fn add_rooms(ruby: &Ruby, v: Value, out: &mut Vec<Room>, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(too_deep(ruby));
    }
    if let Some(a) = RArray::from_value(v) {
        for i in 0..a.len() {
            add_rooms(ruby, a.entry(i as isize)?, out, depth + 1)?;
        }
        return Ok(());
    }
    let room = if let Some(s) = RString::from_value(v) {
        Room::Name(string(ruby, s)?)
    } else if let Some(s) = Symbol::from_value(v) {
        Room::Name(s.name()?.into_owned())
    } else if let Some(i) = Integer::from_value(v) {
        Room::Id(i.to_i64().map_err(|_| {
            invalid_message(
                ruby,
                format!("room {i} is outside the 64-bit integer range"),
            )
        })?)
    } else {
        return Err(invalid_message(
            ruby,
            format!(
                "a room is a String, Symbol or Integer (or an Array of them), not {}",
                describe(v)
            ),
        ));
    };
    out.push(room);
    Ok(())
}

fn to_json(ruby: &Ruby, v: Value, depth: usize) -> Result<Json, Error> {
    if depth > MAX_DEPTH {
        return Err(too_deep(ruby));
    }
    // Most likely types first: this runs for every value of every message.
    if let Some(s) = RString::from_value(v) {
        return string(ruby, s).map(Json::String);
    }
    if let Some(h) = RHash::from_value(v) {
        return hash(ruby, h, depth).map(Json::Object);
    }
    if let Some(i) = Fixnum::from_value(v) {
        return Ok(Json::from(i.to_i64()));
    }
    if let Some(s) = Symbol::from_value(v) {
        return Ok(Json::String(s.name()?.into_owned()));
    }
    if v.is_nil() {
        return Ok(Json::Null);
    }
    if Qtrue::from_value(v).is_some() {
        return Ok(Json::Bool(true));
    }
    if Qfalse::from_value(v).is_some() {
        return Ok(Json::Bool(false));
    }
    if let Some(a) = RArray::from_value(v) {
        let mut items = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            items.push(to_json(ruby, a.entry(i as isize)?, depth + 1)?);
        }
        return Ok(Json::Array(items));
    }
    if let Some(f) = Float::from_value(v) {
        let f = f.to_f64();
        return Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| invalid_message(ruby, format!("the Float {f} has no JSON form")));
    }
    if let Some(i) = Integer::from_value(v) {
        // A Bignum: fine while it fits in 64 bits, like Socket.IO's msgpack.
        if let Ok(n) = i.to_i64() {
            return Ok(Json::from(n));
        }
        if let Ok(n) = i.to_u64() {
            return Ok(Json::from(n));
        }
        return Err(invalid_message(
            ruby,
            format!("the Integer {i} is outside the 64-bit range JSON peers read"),
        ));
    }
    // Application objects: what ActiveSupport (or the object) says its JSON is.
    if let Some(r) = v.check_funcall::<_, _, Value>("as_json", ()) {
        return to_json(ruby, r?, depth + 1);
    }
    if let Some(r) = v.check_funcall::<_, _, Value>("to_h", ()) {
        return to_json(ruby, r?, depth + 1);
    }
    Err(invalid_message(
        ruby,
        format!(
            "cannot send {} as JSON: use Hash, Array, String, Symbol, Integer, Float, true, \
             false or nil, or give it an as_json or to_h method",
            describe(v)
        ),
    ))
}

fn hash(ruby: &Ruby, h: RHash, depth: usize) -> Result<Object, Error> {
    let mut map = Map::with_capacity(h.len());
    h.foreach(|k: Value, v: Value| {
        map.insert(key(ruby, k)?, to_json(ruby, v, depth + 1)?);
        Ok(ForEach::Continue)
    })?;
    Ok(map)
}

fn key(ruby: &Ruby, k: Value) -> Result<String, Error> {
    if let Some(s) = RString::from_value(k) {
        string(ruby, s)
    } else if let Some(s) = Symbol::from_value(k) {
        Ok(s.name()?.into_owned())
    } else if let Some(i) = Integer::from_value(k) {
        // JSON object keys are text; Ruby's JSON writes integer keys as their digits too.
        Ok(i.to_string())
    } else {
        Err(invalid_message(
            ruby,
            format!(
                "a Hash key must be a String, Symbol or Integer, not {}",
                describe(k)
            ),
        ))
    }
}

/// Ruby string to UTF-8. A binary string (read from a socket or a file) is accepted when its
/// bytes are valid UTF-8; other encodings are transcoded.
fn string(ruby: &Ruby, s: RString) -> Result<String, Error> {
    // SAFETY: the borrowed str is copied before any Ruby code can run.
    if let Some(t) = unsafe { s.test_as_str() } {
        return Ok(t.to_owned());
    }
    if s.enc_get() == ruby.ascii8bit_encindex() {
        // SAFETY: copied at once, as above.
        let bytes = unsafe { s.as_slice() }.to_vec();
        return String::from_utf8(bytes).map_err(|e| {
            invalid_message(
                ruby,
                format!(
                    "a binary String is not valid UTF-8 (bad byte at {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        });
    }
    s.to_string()
        .map_err(|e| invalid_message(ruby, format!("a String cannot be read as UTF-8: {e}")))
}

fn too_deep(ruby: &Ruby) -> Error {
    invalid_message(
        ruby,
        format!("value nested more than {MAX_DEPTH} levels deep (does it contain itself?)"),
    )
}

fn class_name(v: Value) -> String {
    // SAFETY: the name is copied before any Ruby code can run.
    unsafe { v.classname() }.into_owned()
}

/// `a Float (1.5)`: the class and a short inspect, so the error points at the value.
fn describe(v: Value) -> String {
    let mut shown = v.inspect();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    format!("{} ({shown})", class_name(v))
}

/// JSON to Ruby: objects become Hashes with String keys.
pub fn to_ruby(ruby: &Ruby, v: &Json) -> Result<Value, Error> {
    Ok(match v {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(true) => ruby.qtrue().as_value(),
        Json::Bool(false) => ruby.qfalse().as_value(),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ruby.integer_from_i64(i).as_value()
            } else if let Some(u) = n.as_u64() {
                ruby.integer_from_u64(u).as_value()
            } else {
                ruby.float_from_f64(n.as_f64().unwrap_or(f64::NAN))
                    .as_value()
            }
        }
        Json::String(s) => ruby.str_new(s).as_value(),
        Json::Array(items) => {
            let a = ruby.ary_new_capa(items.len());
            for item in items {
                a.push(to_ruby(ruby, item)?)?;
            }
            a.as_value()
        }
        Json::Object(map) => hash_to_ruby(ruby, map)?.as_value(),
    })
}

/// A JSON object as a Ruby Hash with String keys.
pub fn hash_to_ruby(ruby: &Ruby, map: &Object) -> Result<RHash, Error> {
    let h = ruby.hash_new();
    for (k, v) in map {
        h.aset(ruby.str_new(k), to_ruby(ruby, v)?)?;
    }
    Ok(h)
}
