//! A read-only view of a JSON-like value, so the encoders can write packets straight from a
//! caller's own values (the Ruby extension's Hashes) without building a `serde_json::Value`
//! first. `&serde_json::Value` is the reference implementation: every encoder's view path
//! must give the bytes its `Value` path gives.

use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

use crate::error::Error;

/// What a value is. Arrays and maps hand out their children; map keys are text.
#[derive(Clone, Debug)]
pub enum Node<'a, I, E> {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer in the signed 64-bit range.
    I64(i64),
    /// An integer above `i64::MAX`.
    U64(u64),
    /// A finite float.
    F64(f64),
    /// UTF-8 text.
    Str(&'a str),
    /// The items, in order.
    Array(I),
    /// The entries, in insertion order, keys unique.
    Map(E),
}

/// A JSON value seen through `node`. Views are cheap handles (`Copy`), valid for `'a`.
pub trait JsonView<'a>: Copy {
    /// Items of an array.
    type Items: ExactSizeIterator<Item = Self>;
    /// Entries of a map; `Clone` so an encoder may walk them twice.
    type Entries: ExactSizeIterator<Item = (&'a str, Self)> + Clone;

    /// The value's kind and contents; an error when it has no JSON form.
    fn node(self) -> Result<Node<'a, Self::Items, Self::Entries>, Error>;

    /// Appends the value's JSON text as `serde_json` writes the equal `Value` (the text of
    /// native packets). The default goes through [`node`](Self::node); `&Value` overrides it
    /// with a writer that cannot fail, which needs no `Node` and no `Result` per value.
    #[doc(hidden)]
    #[inline]
    fn write_serde_json(self, out: &mut Vec<u8>) -> Result<(), Error> {
        crate::packet::json::write_styled::<crate::packet::json::Serde, Self>(out, self)
    }

    /// The value of `key`, when this is a map that has it.
    fn get(self, key: &str) -> Result<Option<Self>, Error> {
        Ok(match self.node()? {
            Node::Map(mut entries) => entries.find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        })
    }
}

/// The message fields the emit path reads (`type`, `id`, `from`, `to`), found in one pass
/// over a message's entries.
#[derive(Clone, Copy)]
pub(crate) struct Fields<V> {
    pub(crate) kind: Option<V>,
    pub(crate) id: Option<V>,
    pub(crate) from: Option<V>,
    pub(crate) to: Option<V>,
}

impl<'a, V: JsonView<'a>> Fields<V> {
    pub(crate) fn find(entries: V::Entries) -> Self {
        let mut f = Fields {
            kind: None,
            id: None,
            from: None,
            to: None,
        };
        for (k, v) in entries {
            match k {
                "type" => f.kind = Some(v),
                "id" => f.id = Some(v),
                "from" => f.from = Some(v),
                "to" => f.to = Some(v),
                _ => {}
            }
        }
        f
    }
}

/// The entries of a `serde_json` map as `(&str, &Value)` pairs.
#[derive(Clone)]
pub struct ValueEntries<'a>(serde_json::map::Iter<'a>);

impl<'a> Iterator for ValueEntries<'a> {
    type Item = (&'a str, &'a Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_str(), v))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for ValueEntries<'_> {}

impl<'a> JsonView<'a> for &'a Value {
    type Items = std::slice::Iter<'a, Value>;
    type Entries = ValueEntries<'a>;

    // Inline: it never fails, so where it is inlined the `Result` and the `Node` vanish
    // into the caller's match (out of line, each value paid a call through the GOT and
    // a ~64-byte result written and read back).
    #[inline]
    fn node(self) -> Result<Node<'a, Self::Items, Self::Entries>, Error> {
        Ok(match self {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => number(n),
            Value::String(s) => Node::Str(s),
            Value::Array(items) => Node::Array(items.iter()),
            Value::Object(map) => Node::Map(entries(map)),
        })
    }

    fn get(self, key: &str) -> Result<Option<Self>, Error> {
        Ok(self.get(key))
    }

    #[inline]
    fn write_serde_json(self, out: &mut Vec<u8>) -> Result<(), Error> {
        // A string inline where the caller loops over a message's fields; the rest in a call.
        match self {
            Value::String(s) => crate::packet::json::write_str(out, s),
            v => crate::packet::json::write_serde_value(out, v),
        }
        Ok(())
    }
}

/// The entries of a serde map as a view.
pub fn entries(map: &Map<String, Value>) -> ValueEntries<'_> {
    ValueEntries(map.iter())
}

#[inline]
fn number<I, E>(n: &Number) -> Node<'static, I, E> {
    if let Some(i) = n.as_i64() {
        Node::I64(i)
    } else if let Some(u) = n.as_u64() {
        Node::U64(u)
    } else {
        // Without arbitrary_precision every other Number is a finite f64.
        Node::F64(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// A map's entries in the order JavaScript lists an object's keys: integer-like keys (array
/// indices: canonical decimals below 2^32 - 1) first, ascending, then the others as inserted.
/// The order `JSON.stringify` and notepack write; no allocation when no key is integer-like.
///
/// ```
/// use symple::packet::view::{entries, js_key_order};
/// let v: serde_json::Value = serde_json::from_str(r#"{"b":1,"10":2,"2":3,"01":4}"#).unwrap();
/// let keys: Vec<&str> = js_key_order::<&serde_json::Value>(entries(v.as_object().unwrap()))
///     .map(|(k, _)| k)
///     .collect();
/// assert_eq!(keys, ["2", "10", "b", "01"]);
/// ```
#[inline]
pub fn js_key_order<'a, V: JsonView<'a>>(entries: V::Entries) -> JsKeyOrder<'a, V> {
    if !entries.clone().any(|(k, _)| array_index(k).is_some()) {
        return JsKeyOrder::Insertion(entries);
    }
    let mut indexed: Vec<(u32, &'a str, V)> = entries
        .clone()
        .filter_map(|(k, v)| array_index(k).map(|i| (i, k, v)))
        .collect();
    indexed.sort_by_key(|(i, _, _)| *i);
    let ordered: Vec<(&'a str, V)> = indexed
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .chain(entries.filter(|(k, _)| array_index(k).is_none()))
        .collect();
    JsKeyOrder::Reordered(ordered.into_iter())
}

/// The iterator [`js_key_order`] returns.
pub enum JsKeyOrder<'a, V: JsonView<'a>> {
    /// Insertion order (no integer-like key).
    Insertion(V::Entries),
    /// Reordered.
    Reordered(std::vec::IntoIter<(&'a str, V)>),
}

impl<'a, V: JsonView<'a>> Iterator for JsKeyOrder<'a, V> {
    type Item = (&'a str, V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            JsKeyOrder::Insertion(e) => e.next(),
            JsKeyOrder::Reordered(e) => e.next(),
        }
    }
}

/// True when JavaScript treats `k` as an array index, which object key order puts first.
pub fn is_array_index(k: &str) -> bool {
    array_index(k).is_some()
}

/// A canonical decimal below 2^32 - 1, as ECMAScript defines an array index. Inline: the
/// first byte decides for nearly every key, on every map the encoders write.
#[inline(always)]
fn array_index(k: &str) -> Option<u32> {
    let first = *k.as_bytes().first()?;
    if !first.is_ascii_digit() || (first == b'0' && k.len() > 1) {
        return None;
    }
    parse_index(k)
}

/// The parse behind [`array_index`], once the first byte is a digit (rare): out of line.
#[inline(never)]
fn parse_index(k: &str) -> Option<u32> {
    k.parse::<u32>().ok().filter(|&i| i != u32::MAX)
}

/// The view as a `serde_json::Value` (for small parts: `to`, error messages).
pub fn to_value<'a, V: JsonView<'a>>(v: V) -> Result<Value, Error> {
    Ok(match v.node()? {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::I64(i) => Value::from(i),
        Node::U64(u) => Value::from(u),
        Node::F64(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Node::Str(s) => Value::String(s.to_owned()),
        Node::Array(items) => Value::Array(items.map(to_value).collect::<Result<_, _>>()?),
        Node::Map(entries) => Value::Object(
            entries
                .map(|(k, v)| Ok((k.to_owned(), to_value(v)?)))
                .collect::<Result<_, Error>>()?,
        ),
    })
}

/// Serializes a view exactly as serde serializes the equal `serde_json::Value`.
#[derive(Clone, Copy)]
pub struct Ser<V>(pub V);

impl<'a, V: JsonView<'a>> Serialize for Ser<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.node().map_err(S::Error::custom)? {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(b),
            Node::I64(i) => s.serialize_i64(i),
            Node::U64(u) => s.serialize_u64(u),
            Node::F64(f) => s.serialize_f64(f),
            Node::Str(t) => s.serialize_str(t),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Ser(item))?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &Ser(v))?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({"s": "é\"\n", "i": -7, "u": u64::MAX, "f": 2.5, "g": 2.0, "n": null, "t": true,
               "a": [1, [2, {}], []], "o": {"10": 1, "2": 2, "k": {"d": [null]}}})
    }

    #[test]
    fn ser_writes_the_json_of_the_value() {
        let v = sample();
        assert_eq!(
            serde_json::to_string(&Ser(&v)).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
    }

    #[test]
    fn to_value_gives_back_the_value() {
        let v = sample();
        assert_eq!(to_value(&v).unwrap(), v);
        assert_eq!(JsonView::get(&v, "i").unwrap(), Some(&json!(-7)));
        assert_eq!(JsonView::get(&v, "zz").unwrap(), None);
    }
}
