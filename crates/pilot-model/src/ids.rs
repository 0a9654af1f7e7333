//! Identifier newtypes: a record's local id, its pseudonym and the node's outbox sequence.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A record's stable id inside its own node, e.g. `dem-000017`.
///
/// NB: a local id never leaves the node; the hub only ever sees the [`Pseudonym`] derived from it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalId(String);

impl LocalId {
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Parses a local id: 1–64 ASCII letters, digits, `-` or `_`.
    pub fn parse(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(LocalId(s.to_owned()))
        } else {
            Err(Error::invalid("local_id", "expected 1-64 ascii letters, digits, '-' or '_'"))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LocalId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        LocalId::parse(&s)
    }
}

impl From<LocalId> for String {
    fn from(id: LocalId) -> String {
        id.0
    }
}

impl fmt::Display for LocalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shareable id of a record: 32 lowercase hex digits of a keyed HMAC of its local id.
///
/// Stable for a given node secret, meaningless without it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Pseudonym(String);

impl Pseudonym {
    /// Number of hex digits in a pseudonym.
    pub const LEN: usize = 32;

    /// The lowest pseudonym in key order (all zeros), for ranges over keys.
    pub fn lowest() -> Self {
        Pseudonym("0".repeat(Self::LEN))
    }

    /// Parses a pseudonym: exactly 32 lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self> {
        if s.len() == Self::LEN
            && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Pseudonym(s.to_owned()))
        } else {
            Err(Error::invalid("pseudonym", "expected 32 lowercase hex digits"))
        }
    }

    /// The pseudonym as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits, enough for people to tell pseudonyms apart in a listing.
    pub fn short(&self) -> &str {
        &self.0[..8]
    }
}

impl TryFrom<String> for Pseudonym {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Pseudonym::parse(&s)
    }
}

impl From<Pseudonym> for String {
    fn from(p: Pseudonym) -> String {
        p.0
    }
}

impl fmt::Display for Pseudonym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A position in a node's outbox.
///
/// Sequences start at 1 and grow by one per record change; 0 means "nothing yet".
/// The sequence of a record's latest change is that record's version at the hub.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Seq(pub u64);

impl Seq {
    /// The sequence that follows this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_id_rejects_spaces_and_overlong_ids() {
        assert!(LocalId::parse("dem-000017").is_ok());
        assert_eq!(LocalId::parse("a b").unwrap_err().field(), "local_id");
        assert!(LocalId::parse(&"x".repeat(65)).is_err());
        assert!(LocalId::parse("").is_err());
    }

    #[test]
    fn pseudonym_is_exactly_32_lowercase_hex() {
        let p = Pseudonym::parse("0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(p.short(), "01234567");
        assert!(Pseudonym::parse("0123456789ABCDEF0123456789abcdef").is_err());
        assert!(Pseudonym::parse("0123").is_err());
    }
}
