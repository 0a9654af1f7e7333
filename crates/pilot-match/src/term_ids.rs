//! The term dictionary's look-up side: the id of a normalised term.
//!
//! Almost every term of a vocabulary is short (two to four Han characters, or an English word),
//! so short terms are keyed inline: a probe compares a few machine words in the table's own
//! slot instead of following a pointer to a heap string, which at a million summaries is a
//! cache miss on every term of every summary a rebuild reads. Longer terms have a table of their
//! own. Only looked up, never iterated, so hash order never shows.

use std::collections::HashMap;

type Hasher = foldhash::fast::RandomState;

/// Normalised term → term id.
#[derive(Debug, Default, Clone)]
pub(crate) struct TermIds {
    short: HashMap<ShortKey, u32, Hasher>,
    long: HashMap<Box<str>, u32, Hasher>,
}

/// A term of at most [`ShortKey::MAX`] bytes, stored inline: its bytes, zero-padded, then its
/// length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortKey([u8; ShortKey::MAX + 1]);

impl ShortKey {
    /// Longest term kept inline: seven Han characters and two bytes.
    const MAX: usize = 23;

    fn new(term: &str) -> Option<Self> {
        let len = term.len();
        if len > Self::MAX {
            return None;
        }
        let mut bytes = [0; Self::MAX + 1];
        bytes[..len].copy_from_slice(term.as_bytes());
        // The cast cannot truncate: `len` is at most `MAX`.
        bytes[Self::MAX] = len as u8;
        Some(ShortKey(bytes))
    }
}

impl TermIds {
    /// The id of `term`, if it has one.
    pub(crate) fn get(&self, term: &str) -> Option<u32> {
        match ShortKey::new(term) {
            Some(k) => self.short.get(&k).copied(),
            None => self.long.get(term).copied(),
        }
    }

    /// Gives `term` the id `id`.
    pub(crate) fn insert(&mut self, term: &str, id: u32) {
        match ShortKey::new(term) {
            Some(k) => self.short.insert(k, id),
            None => self.long.insert(term.into(), id),
        };
    }

    /// Keeps only the terms whose id passes `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u32) -> bool) {
        self.short.retain(|_, id| keep(*id));
        self.long.retain(|_, id| keep(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_terms_are_found_and_kept_apart() {
        let mut ids = TermIds::default();
        let long = "超高分子量聚乙烯纤维增强复合材料"; // 16 characters, 48 bytes
        let edge = "a".repeat(ShortKey::MAX);
        let over = "a".repeat(ShortKey::MAX + 1);
        for (i, t) in ["锂电池", "ai", "", long, &edge, &over].into_iter().enumerate() {
            ids.insert(t, i as u32);
        }
        assert_eq!(ids.get("锂电池"), Some(0));
        assert_eq!(ids.get("ai"), Some(1));
        assert_eq!(ids.get(""), Some(2));
        assert_eq!(ids.get(long), Some(3));
        assert_eq!(ids.get(&edge), Some(4));
        assert_eq!(ids.get(&over), Some(5));
        // Zero padding does not make a prefix equal to a longer term.
        assert_eq!(ids.get("锂电"), None);
        assert_eq!(ids.get("ai\0"), None);
        assert_eq!(ids.get(&"a".repeat(ShortKey::MAX - 1)), None);
        ids.retain(|id| id % 2 == 1);
        assert_eq!(ids.get("锂电池"), None);
        assert_eq!(ids.get(long), Some(3));
        assert_eq!(ids.get(&edge), None);
        assert_eq!(ids.get(&over), Some(5));
    }
}
