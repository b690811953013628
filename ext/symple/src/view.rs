//! Ruby values as a `JsonView`, so a message Hash is encoded straight into packet bytes with
//! no `serde_json` map built and dropped per message.
//!
//! Only plain data is viewed: Hash (String or Symbol keys), Array, UTF-8 String, Symbol,
//! Integer within 64 bits, finite Float, true, false, nil. Anything else (objects with
//! `as_json` or `to_h`, text needing transcoding, Integer keys, keys that collide once
//! converted, input `convert` refuses) is an error here, and the caller falls back to
//! `convert` plus the `Object` path, which handles it and words the error. Every value viewed
//! here reads as `convert` would read it, so both paths give the same bytes.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::os::raw::c_int;
use std::rc::Rc;

use magnus::r_hash::ForEach;
use magnus::rb_sys::{AsRawValue, FromRawValue};
use magnus::value::{Fixnum, Qfalse, Qtrue, ReprValue};
use magnus::{Float, Integer, RArray, RHash, RString, Symbol, Value};
use symple::packet::view::{JsonView, Node};
use symple::Error;

/// Same limit as `convert`: deeper input is almost always a cycle.
const MAX_DEPTH: usize = 128;

/// Up to this many keys, duplicates are found by comparing pairs; past it, with a set.
const PAIRWISE_KEYS: usize = 16;

/// A Ruby value, readable for `'a`: the time the caller promises that no Ruby code runs and
/// nothing is mutated, so the text borrowed from Ruby strings stays put. Reading allocates no
/// Ruby object, so no GC can run (and move or free anything) meanwhile.
#[derive(Clone, Copy)]
pub struct RubyView<'a> {
    value: Value,
    depth: usize,
    _borrow: PhantomData<&'a ()>,
}

impl RubyView<'_> {
    /// The view of a root value.
    ///
    /// # Safety
    ///
    /// While the view (or anything read through it) is in use, no Ruby code may run and no
    /// Ruby object may be changed or freed: hold the GVL and only encode.
    pub unsafe fn new(value: Value) -> Self {
        RubyView {
            value,
            depth: 0,
            _borrow: PhantomData,
        }
    }

    fn child(&self, value: Value) -> Self {
        RubyView {
            value,
            depth: self.depth + 1,
            _borrow: PhantomData,
        }
    }
}

/// Array items.
#[derive(Clone)]
pub struct Items<'a> {
    parent: RubyView<'a>,
    items: std::slice::Iter<'a, Value>,
}

impl<'a> Iterator for Items<'a> {
    type Item = RubyView<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.items.next().map(|v| self.parent.child(*v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl ExactSizeIterator for Items<'_> {}

/// Hash entries, read once and shared by clones (encoders walk them more than once).
#[derive(Clone)]
pub struct Entries<'a> {
    list: Rc<Vec<(&'a str, RubyView<'a>)>>,
    pos: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, RubyView<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.list.get(self.pos).copied();
        self.pos += 1;
        e
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.list.len().saturating_sub(self.pos);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Entries<'_> {}

impl<'a> JsonView<'a> for RubyView<'a> {
    type Items = Items<'a>;
    type Entries = Entries<'a>;

    fn node(self) -> Result<Node<'a, Items<'a>, Entries<'a>>, Error> {
        if self.depth > MAX_DEPTH {
            return Err(fallback("nested too deep"));
        }
        let v = self.value;
        // The order of `convert::to_json`, so a value is read as the same kind there.
        if let Some(s) = RString::from_value(v) {
            return text(s).map(Node::Str);
        }
        if let Some(h) = RHash::from_value(v) {
            return entries(self, h).map(Node::Map);
        }
        if let Some(i) = Fixnum::from_value(v) {
            return Ok(Node::I64(i.to_i64()));
        }
        if let Some(s) = Symbol::from_value(v) {
            return symbol(s).map(Node::Str);
        }
        if v.is_nil() {
            return Ok(Node::Null);
        }
        if Qtrue::from_value(v).is_some() {
            return Ok(Node::Bool(true));
        }
        if Qfalse::from_value(v).is_some() {
            return Ok(Node::Bool(false));
        }
        if let Some(a) = RArray::from_value(v) {
            // SAFETY: the caller of `new` keeps the array unchanged for 'a.
            let items = unsafe { extend(a.as_slice()) };
            return Ok(Node::Array(Items {
                parent: self,
                items: items.iter(),
            }));
        }
        if let Some(f) = Float::from_value(v) {
            let f = f.to_f64();
            return if f.is_finite() {
                Ok(Node::F64(f))
            } else {
                Err(fallback("non-finite Float"))
            };
        }
        if let Some(i) = Integer::from_value(v) {
            return bignum(i).ok_or_else(|| fallback("Integer outside 64 bits"));
        }
        Err(fallback("not plain data"))
    }
}

/// A Bignum within 64 bits, as `convert` reads it (`to_i64`, else `to_u64`). The range is
/// checked first: a conversion that raises allocates, and while viewing, Ruby must not
/// allocate (a compacting GC could move what the view borrows).
fn bignum<'a>(i: Integer) -> Option<Node<'a, Items<'a>, Entries<'a>>> {
    let raw = i.as_raw();
    let mut nlz_bits: c_int = 0;
    // SAFETY: `i` is an Integer and not a Fixnum (checked first in `node`), so a Bignum;
    // these only read it.
    let (bytes, negative) = unsafe {
        (
            rb_sys::rb_absint_size(raw, &mut nlz_bits),
            rb_sys::rb_big_sign(raw) == 0,
        )
    };
    if bytes > 8 {
        return None;
    }
    if negative {
        // Fits when |i| <= 2^63: fewer than 64 significant bits, or exactly 2^63.
        let fits = bytes < 8 || nlz_bits > 0 || unsafe { rb_sys::rb_absint_singlebit_p(raw) } != 0;
        return fits.then(|| i.to_i64().ok().map(Node::I64)).flatten();
    }
    let u = i.to_u64().ok()?;
    Some(i64::try_from(u).map_or(Node::U64(u), Node::I64))
}

fn entries<'a>(parent: RubyView<'a>, h: RHash) -> Result<Entries<'a>, Error> {
    let mut list = Vec::with_capacity(h.len());
    let mut bad = false;
    // Only reads: rb_hash_foreach calls no Ruby method.
    let walked = h.foreach(|k: Value, v: Value| {
        match key(k) {
            Ok(k) => list.push((k, parent.child(v))),
            Err(_) => {
                bad = true;
                return Ok(ForEach::Stop);
            }
        }
        Ok(ForEach::Continue)
    });
    if bad || walked.is_err() {
        return Err(fallback("a Hash key needs converting"));
    }
    if has_duplicates(&list) {
        // `{a: 1, "a" => 2}`: one key once converted; `convert` keeps its merge rules.
        return Err(fallback("Hash keys collide"));
    }
    Ok(Entries {
        list: Rc::new(list),
        pos: 0,
    })
}

fn has_duplicates(list: &[(&str, RubyView<'_>)]) -> bool {
    if list.len() <= PAIRWISE_KEYS {
        list.iter()
            .enumerate()
            .any(|(i, (k, _))| list[..i].iter().any(|(seen, _)| seen == k))
    } else {
        let mut seen = HashSet::with_capacity(list.len());
        !list.iter().all(|(k, _)| seen.insert(*k))
    }
}

fn key<'a>(k: Value) -> Result<&'a str, Error> {
    if let Some(s) = RString::from_value(k) {
        text(s)
    } else if let Some(s) = Symbol::from_value(k) {
        symbol(s)
    } else {
        // Integer keys become new Strings in `convert`; rare enough to leave to it.
        Err(fallback("key is not a String or Symbol"))
    }
}

/// The text of a String, read exactly as `convert::string` reads it (minus transcoding):
/// UTF-8 or US-ASCII that is valid, or binary that is UTF-8. The checks of magnus'
/// `test_as_str`, with one encoding lookup instead of several.
fn text<'a>(s: RString) -> Result<&'a str, Error> {
    let raw = s.as_raw();
    // SAFETY: `raw` is a String; these read its encoding and coderange (cached in its flags).
    let (enc, cr, utf8, usascii, binary) = unsafe {
        (
            rb_sys::rb_enc_get_index(raw),
            rb_sys::rb_enc_str_coderange(raw),
            rb_sys::rb_utf8_encindex(),
            rb_sys::rb_usascii_encindex(),
            rb_sys::rb_ascii8bit_encindex(),
        )
    };
    let seven_bit = cr == rb_sys::ruby_coderange_type::RUBY_ENC_CODERANGE_7BIT as c_int;
    let valid = seven_bit || cr == rb_sys::ruby_coderange_type::RUBY_ENC_CODERANGE_VALID as c_int;
    let readable = ((enc == utf8 || enc == usascii) && valid) || enc == binary;
    if !readable {
        return Err(fallback("String needs transcoding"));
    }
    // SAFETY: the caller of `RubyView::new` keeps the string unchanged for 'a.
    let bytes = unsafe { extend(s.as_slice()) };
    if enc == binary && !seven_bit {
        return std::str::from_utf8(bytes).map_err(|_| fallback("binary String is not UTF-8"));
    }
    // SAFETY: valid UTF-8 by its coderange, as magnus trusts it.
    Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// A Symbol's name, as `Symbol::name` (what `convert` uses) gives it, without copying.
fn symbol<'a>(s: Symbol) -> Result<&'a str, Error> {
    if let Some(st) = s.as_static() {
        return st.name().map_err(|_| fallback("Symbol name is not UTF-8"));
    }
    // SAFETY: a dynamic Symbol's name is a frozen String the Symbol holds; the Symbol is held
    // by the message being read.
    let name = unsafe { Value::from_raw(rb_sys::rb_sym2str(s.as_raw())) };
    // SAFETY: frozen, so unchanged for 'a.
    let Some(name) = RString::from_value(name) else {
        return Err(fallback("Symbol name is not a String"));
    };
    match unsafe { name.test_as_str() } {
        Some(t) => Ok(unsafe { extend_str(t) }),
        None => Err(fallback("Symbol name needs transcoding")),
    }
}

/// Lengthens a borrow of Ruby memory to `'a`.
///
/// # Safety
///
/// The memory must stay unchanged for `'a` (the contract of [`RubyView::new`]).
unsafe fn extend<'a, T>(s: &[T]) -> &'a [T] {
    unsafe { std::slice::from_raw_parts(s.as_ptr(), s.len()) }
}

/// [`extend`] for text.
///
/// # Safety
///
/// As [`extend`].
unsafe fn extend_str<'a>(s: &str) -> &'a str {
    unsafe { std::str::from_utf8_unchecked(extend(s.as_bytes())) }
}

/// The error that sends a message down the general path; never shown to Ruby.
fn fallback(why: &str) -> Error {
    Error::InvalidMessage(format!("not viewed directly: {why}"))
}
