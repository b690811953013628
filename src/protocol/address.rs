//! `user|id` peer addresses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A peer address: `user|id` names one session, `user` alone every session of that user.
///
/// Parsing splits on the first `|`; at least one side must be non-empty.
///
/// ```
/// use symple::Address;
/// let a: Address = "alice|s1".parse()?;
/// assert_eq!((a.user(), a.id()), ("alice", Some("s1")));
/// let all: Address = "alice".parse()?;
/// assert_eq!(all.id(), None);
/// assert_eq!(all.to_string(), "alice");
/// assert!("".parse::<Address>().is_err());
/// # Ok::<(), symple::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    user: String,
    id: String,
}

impl Address {
    /// An address naming every session of `user`.
    ///
    /// ```
    /// assert_eq!(symple::Address::user_only("bob")?.to_string(), "bob");
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn user_only(user: impl Into<String>) -> Result<Self, Error> {
        Self::new(user, "")
    }

    /// An address from its two parts; either may be empty, not both, and the user may not
    /// contain `|` (it would be read back differently).
    ///
    /// ```
    /// assert_eq!(symple::Address::new("bob", "s2")?.to_string(), "bob|s2");
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn new(user: impl Into<String>, id: impl Into<String>) -> Result<Self, Error> {
        let (user, id) = (user.into(), id.into());
        check(&user, &id)?;
        Ok(Address { user, id })
    }

    /// The user part (may be empty for an id-only address `|id`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The session id, when the address names one session.
    pub fn id(&self) -> Option<&str> {
        (!self.id.is_empty()).then_some(self.id.as_str())
    }

    /// The room a server routes this address to: the session id's room when there is an
    /// id, the user's personal room otherwise.
    ///
    /// ```
    /// let a: symple::Address = "alice|s1".parse()?;
    /// assert_eq!(a.room(), "s1");
    /// # Ok::<(), symple::Error>(())
    /// ```
    pub fn room(&self) -> &str {
        if self.id.is_empty() {
            &self.user
        } else {
            &self.id
        }
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        AddressRef::parse(s).map(AddressRef::to_address)
    }
}

/// The one check of an address's parts: either may be empty, not both, and the user may not
/// contain `|` (it would be read back differently).
fn check(user: &str, id: &str) -> Result<(), Error> {
    if user.is_empty() && id.is_empty() {
        return Err(Error::InvalidAddress(
            "empty address: need a user, an id, or `user|id`".into(),
        ));
    }
    if user.bytes().any(|b| b == b'|') {
        return Err(Error::InvalidAddress(format!(
            "user {user:?} contains `|`, which separates user from id"
        )));
    }
    Ok(())
}

/// An address read in place from its text, as [`Address`] parses it but copying nothing (the
/// emit path reads a message's `to` this way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AddressRef<'a> {
    user: &'a str,
    id: &'a str,
    /// The address as [`Address`] displays it: `user`, or `user|id`.
    text: &'a str,
}

impl<'a> AddressRef<'a> {
    /// Splits on the first `|` and checks the parts. Inline: the emit path reads every
    /// message's `to` through it.
    #[inline]
    pub(crate) fn parse(s: &'a str) -> Result<Self, Error> {
        // A byte scan, not `split_once`: names are short, and this runs on every emit.
        let (user, id) = match s.bytes().position(|b| b == b'|') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        // Cut at the first `|`, the user has none: only emptiness is left to check (the
        // second scan `check` does would find nothing, on every emit).
        if user.is_empty() && id.is_empty() {
            check(user, id)?;
        }
        // `bob|` names every session of bob, so it reads back as `bob`.
        let text = if id.is_empty() { user } else { s };
        Ok(AddressRef { user, id, text })
    }

    /// The session id's room, or the user's when there is no id.
    pub(crate) fn room(self) -> &'a str {
        if self.id.is_empty() {
            self.user
        } else {
            self.id
        }
    }

    /// The address's text, as [`Address`] displays it.
    pub(crate) fn text(self) -> &'a str {
        self.text
    }

    /// The owned address.
    pub(crate) fn to_address(self) -> Address {
        Address {
            user: self.user.to_owned(),
            id: self.id.to_owned(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id.is_empty() {
            f.write_str(&self.user)
        } else {
            write!(f, "{}|{}", self.user, self.id)
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_on_first_pipe() {
        let a: Address = "u|a|b".parse().unwrap();
        assert_eq!((a.user(), a.id()), ("u", Some("a|b")));
        assert_eq!(a.to_string(), "u|a|b");
    }

    #[test]
    fn id_only_and_user_only() {
        let a: Address = "|s9".parse().unwrap();
        assert_eq!((a.user(), a.id(), a.room()), ("", Some("s9"), "s9"));
        assert_eq!(a.to_string(), "|s9");
        let b: Address = "bob|".parse().unwrap();
        assert_eq!(
            (b.id(), b.room(), b.to_string().as_str()),
            (None, "bob", "bob")
        );
    }

    #[test]
    fn borrowed_reading_is_the_owned_one() {
        for text in ["alice", "alice|s1", "|s9", "bob|", "u|a|b"] {
            let owned: Address = text.parse().unwrap();
            let borrowed = AddressRef::parse(text).unwrap();
            assert_eq!(borrowed.to_address(), owned, "{text}");
            assert_eq!(borrowed.text(), owned.to_string(), "{text}");
            assert_eq!(borrowed.room(), owned.room(), "{text}");
        }
    }

    #[test]
    fn rejects_empty() {
        for bad in ["", "|"] {
            let e = bad.parse::<Address>().unwrap_err();
            assert!(e.to_string().contains("empty address"), "{e}");
        }
        assert!(Address::new("a|b", "c").is_err());
    }

    #[test]
    fn serde_round_trip_validates() {
        let a: Address = serde_json::from_str("\"alice|x\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"alice|x\"");
        assert!(serde_json::from_str::<Address>("\"|\"").is_err());
        assert!(serde_json::from_str::<Address>("5").is_err());
    }
}
