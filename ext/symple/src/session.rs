//! `Symple::Native::SessionStore`: the crate's blocking `SessionStore` as a Ruby object.
//! `lib/symple/session.rb` wraps it in the documented `Symple::Session` API.
//!
//! Validation is the crate's (a non-empty String `user`, rooms as Strings, safe tokens,
//! positive TTLs), so Ruby and Rust accept exactly the same sessions.

use std::time::Duration;

use magnus::{function, method, prelude::*, Error, RArray, RClass, RModule, Ruby, Value};
use symple::redis::ConnectOptions;
use symple::session::{SessionStore as Store, Ttl, User};

use crate::errors::{self, guard};
use crate::{convert, nogvl};

#[magnus::wrap(class = "Symple::Native::SessionStore", free_immediately, size)]
pub struct SessionStore {
    inner: Store,
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class: RClass = native.define_class("SessionStore", ruby.class_object())?;
    class.define_singleton_method("connect", function!(SessionStore::connect, 4))?;
    class.define_singleton_method("check", function!(SessionStore::check, 3))?;
    class.define_method("set", method!(SessionStore::set, 3))?;
    class.define_method("create", method!(SessionStore::create, 2))?;
    class.define_method(
        "create_with_token",
        method!(SessionStore::create_with_token, 3),
    )?;
    class.define_method("get", method!(SessionStore::get, 1))?;
    class.define_method("exists?", method!(SessionStore::exists, 1))?;
    class.define_method("ttl", method!(SessionStore::ttl, 1))?;
    class.define_method("touch", method!(SessionStore::touch, 2))?;
    class.define_method("update", method!(SessionStore::update, 2))?;
    class.define_method("delete", method!(SessionStore::delete, 1))?;
    class.define_method("list", method!(SessionStore::list, 1))?;
    class.define_method("delete_user", method!(SessionStore::delete_user, 1))?;
    class.define_method("cleanup", method!(SessionStore::cleanup, 0))?;
    Ok(())
}

/// A user given to `list` or `delete_user`: a String, or an Integer id (checked by the crate).
fn user_of(ruby: &Ruby, v: Value) -> Result<User, Error> {
    if let Some(s) = magnus::RString::from_value(v) {
        return Ok(User::from(s.to_string()?));
    }
    if let Some(i) = magnus::Integer::from_value(v) {
        return i.to_i64().map(User::from).map_err(|_| {
            errors::new(
                ruby,
                errors::Kind::InvalidSession,
                format!("user id {i} is outside the 64-bit range"),
            )
        });
    }
    Err(errors::new(
        ruby,
        errors::Kind::InvalidSession,
        "a user is a String or an Integer",
    ))
}

fn seconds(ruby: &Ruby, what: &str, s: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(s).map_err(|_| {
        errors::new(
            ruby,
            errors::Kind::Base,
            format!("{what} must be a positive number of seconds, not {s}"),
        )
    })
}

impl SessionStore {
    /// Checks a token, session data and a TTL as every operation of the store does, without
    /// Redis (nil skips a part); returns the data as stored (String keys), or nil. For
    /// `Symple::Testing`'s in-memory store.
    fn check(
        ruby: &Ruby,
        token: Option<String>,
        data: Value,
        ttl: Option<i64>,
    ) -> Result<Value, Error> {
        guard(ruby, || {
            let fail = |e| errors::from_symple(ruby, e);
            if let Some(t) = &token {
                symple::session::validate_token(t).map_err(fail)?;
            }
            symple::session::validate_ttl(ttl).map_err(fail)?;
            if data.is_nil() {
                return Ok(ruby.qnil().as_value());
            }
            let data = convert::object(ruby, data)?;
            symple::session::validate_data(&data).map_err(fail)?;
            Ok(convert::hash_to_ruby(ruby, &data)?.as_value())
        })
    }

    fn connect(
        ruby: &Ruby,
        url: String,
        connect_timeout: f64,
        response_timeout: f64,
        pool_size: usize,
    ) -> Result<Self, Error> {
        guard(ruby, || {
            let opts = ConnectOptions::new(url)
                .connect_timeout(seconds(ruby, "connect_timeout", connect_timeout)?)
                .response_timeout(seconds(ruby, "response_timeout", response_timeout)?)
                .pool_size(pool_size);
            let inner = nogvl::io(ruby, || Store::with_options(opts))?;
            Ok(SessionStore { inner })
        })
    }

    /// Writes a session (`ttl` in seconds, nil for never).
    fn set(
        ruby: &Ruby,
        rb_self: &Self,
        token: String,
        data: Value,
        ttl: Option<i64>,
    ) -> Result<(), Error> {
        guard(ruby, || {
            let data = convert::object(ruby, data)?;
            nogvl::io(ruby, || rb_self.inner.set(&token, &data, ttl))
        })
    }

    /// Creates a session under a new random token and returns the token.
    fn create(ruby: &Ruby, rb_self: &Self, data: Value, ttl: Option<i64>) -> Result<String, Error> {
        guard(ruby, || {
            let data = convert::object(ruby, data)?;
            nogvl::io(ruby, || rb_self.inner.create(&data, ttl))
        })
    }

    /// Creates a session under `token`; fails when the token is taken.
    fn create_with_token(
        ruby: &Ruby,
        rb_self: &Self,
        token: String,
        data: Value,
        ttl: Option<i64>,
    ) -> Result<(), Error> {
        guard(ruby, || {
            let data = convert::object(ruby, data)?;
            nogvl::io(ruby, || rb_self.inner.create_with_token(&token, &data, ttl))
        })
    }

    /// The session as a Hash with String keys, or nil.
    fn get(ruby: &Ruby, rb_self: &Self, token: String) -> Result<Value, Error> {
        guard(ruby, || {
            match nogvl::io(ruby, || rb_self.inner.get(&token))? {
                Some(obj) => Ok(convert::hash_to_ruby(ruby, &obj)?.as_value()),
                None => Ok(ruby.qnil().as_value()),
            }
        })
    }

    fn exists(ruby: &Ruby, rb_self: &Self, token: String) -> Result<bool, Error> {
        guard(ruby, || nogvl::io(ruby, || rb_self.inner.exists(&token)))
    }

    /// Seconds left; -1 when it never expires; nil when absent.
    fn ttl(ruby: &Ruby, rb_self: &Self, token: String) -> Result<Option<i64>, Error> {
        guard(ruby, || {
            Ok(match nogvl::io(ruby, || rb_self.inner.ttl(&token))? {
                None => None,
                Some(Ttl::Never) => Some(-1),
                Some(Ttl::Seconds(s)) => Some(i64::try_from(s).unwrap_or(i64::MAX)),
            })
        })
    }

    fn touch(ruby: &Ruby, rb_self: &Self, token: String, ttl: i64) -> Result<bool, Error> {
        guard(ruby, || {
            nogvl::io(ruby, || rb_self.inner.touch(&token, ttl))
        })
    }

    fn update(ruby: &Ruby, rb_self: &Self, token: String, fields: Value) -> Result<bool, Error> {
        guard(ruby, || {
            let fields = convert::object(ruby, fields)?;
            nogvl::io(ruby, || rb_self.inner.update(&token, &fields))
        })
    }

    fn delete(ruby: &Ruby, rb_self: &Self, token: String) -> Result<bool, Error> {
        guard(ruby, || nogvl::io(ruby, || rb_self.inner.delete(&token)))
    }

    /// `[[token, expires_at_unix_seconds_or_nil], ...]`
    fn list(ruby: &Ruby, rb_self: &Self, user: Value) -> Result<RArray, Error> {
        guard(ruby, || {
            let user = user_of(ruby, user)?;
            let infos = nogvl::io(ruby, || rb_self.inner.list(user))?;
            let out = ruby.ary_new_capa(infos.len());
            for info in infos {
                let pair = ruby.ary_new_capa(2);
                pair.push(info.token)?;
                pair.push(info.expires_at.map(|t| t.timestamp()))?;
                out.push(pair)?;
            }
            Ok(out)
        })
    }

    fn delete_user(ruby: &Ruby, rb_self: &Self, user: Value) -> Result<u64, Error> {
        guard(ruby, || {
            let user = user_of(ruby, user)?;
            nogvl::io(ruby, || rb_self.inner.delete_user(user))
        })
    }

    fn cleanup(ruby: &Ruby, rb_self: &Self) -> Result<u64, Error> {
        guard(ruby, || nogvl::io(ruby, || rb_self.inner.cleanup()))
    }
}
