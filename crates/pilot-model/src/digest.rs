//! Anti-entropy digests: what a set of (pseudonym, version) pairs looks like in 16 bytes.
//!
//! A node and the hub each fold the summaries a city shares into a [`Digest`]: a count and an
//! order-independent hash (a wrapping sum of a 64-bit mix of each pair). Equal digests mean, with
//! overwhelming probability, equal sets; a pair can be removed again by subtracting it, so both
//! sides maintain digests incrementally. The set is split into [`BUCKETS`] buckets by the first
//! byte of the pseudonym, so a mismatch is narrowed to the buckets that differ before any
//! pseudonym is exchanged.
//!
//! The hash is not cryptographic: pseudonyms are already uniformly random HMAC outputs, and a
//! node could only fool the hub about its own city's data.

use serde::{Deserialize, Serialize};

use crate::Pseudonym;

/// Buckets of a [`BucketDigests`]: one per value of a pseudonym's first byte.
pub const BUCKETS: usize = 256;

/// Count and order-independent hash of a set of (pseudonym, version) pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Digest {
    /// Pairs in the set.
    pub count: u64,
    /// Wrapping sum of [`pair_hash`] over the set.
    pub hash: u64,
}

/// SplitMix64's finaliser: a bijective, well-mixing 64-bit permutation.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 64-bit hash of one (pseudonym, version) pair.
pub fn pair_hash(pseudonym: &Pseudonym, version: u64) -> u64 {
    let hex = pseudonym.as_str();
    // A pseudonym is 32 lowercase hex digits, so both halves parse.
    let hi = u64::from_str_radix(&hex[..16], 16).unwrap_or(0);
    let lo = u64::from_str_radix(&hex[16..], 16).unwrap_or(0);
    mix(hi ^ mix(lo ^ mix(version)))
}

/// The bucket of a pseudonym: the value of its first byte.
pub fn bucket_of(pseudonym: &Pseudonym) -> usize {
    usize::from_str_radix(&pseudonym.as_str()[..2], 16).unwrap_or(0)
}

impl Digest {
    /// Adds a pair to the set.
    pub fn add(&mut self, pseudonym: &Pseudonym, version: u64) {
        self.count = self.count.wrapping_add(1);
        self.hash = self.hash.wrapping_add(pair_hash(pseudonym, version));
    }

    /// Removes a pair that is in the set.
    pub fn remove(&mut self, pseudonym: &Pseudonym, version: u64) {
        self.count = self.count.wrapping_sub(1);
        self.hash = self.hash.wrapping_sub(pair_hash(pseudonym, version));
    }

    /// A digest as 32 hex digits (count then hash), for logs and status screens.
    pub fn to_hex(self) -> String {
        format!("{:016x}{:016x}", self.count, self.hash)
    }
}

/// A digest per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketDigests(pub Vec<Digest>);

impl Default for BucketDigests {
    fn default() -> Self {
        BucketDigests(vec![Digest::default(); BUCKETS])
    }
}

impl BucketDigests {
    /// Adds a pair to its bucket.
    pub fn add(&mut self, pseudonym: &Pseudonym, version: u64) {
        self.0[bucket_of(pseudonym)].add(pseudonym, version);
    }

    /// The digest of the whole set.
    pub fn total(&self) -> Digest {
        self.0.iter().fold(Digest::default(), |acc, d| Digest {
            count: acc.count.wrapping_add(d.count),
            hash: acc.hash.wrapping_add(d.hash),
        })
    }

    /// Buckets whose digests differ from `other`'s, ascending; a missing bucket counts as empty.
    pub fn differing(&self, other: &[Digest]) -> Vec<usize> {
        (0..BUCKETS)
            .filter(|&b| {
                self.0.get(b).copied().unwrap_or_default()
                    != other.get(b).copied().unwrap_or_default()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: u32) -> Pseudonym {
        Pseudonym::parse(&format!("{:08x}", i.wrapping_mul(2_654_435_761)).repeat(4)).unwrap()
    }

    #[test]
    fn order_does_not_matter_and_removal_undoes_addition() {
        let mut a = Digest::default();
        let mut b = Digest::default();
        for i in 0..100 {
            a.add(&p(i), u64::from(i) + 1);
        }
        for i in (0..100).rev() {
            b.add(&p(i), u64::from(i) + 1);
        }
        assert_eq!(a, b);
        a.add(&p(500), 7);
        assert_ne!(a, b);
        a.remove(&p(500), 7);
        assert_eq!(a, b);
    }

    #[test]
    fn a_different_version_or_a_missing_pair_changes_the_digest() {
        let mut a = Digest::default();
        let mut b = Digest::default();
        a.add(&p(1), 1);
        b.add(&p(1), 2);
        assert_eq!(a.count, b.count);
        assert_ne!(a.hash, b.hash, "same pseudonym, other version");
        // Swapping versions between two pseudonyms is not the same set either.
        let (mut c, mut d) = (Digest::default(), Digest::default());
        c.add(&p(1), 1);
        c.add(&p(2), 2);
        d.add(&p(1), 2);
        d.add(&p(2), 1);
        assert_ne!(c, d);
    }

    #[test]
    fn buckets_narrow_a_difference_to_where_it_is() {
        let mut a = BucketDigests::default();
        let mut b = BucketDigests::default();
        for i in 0..1_000 {
            a.add(&p(i), 1);
            if i != 77 {
                b.add(&p(i), 1);
            }
        }
        assert_eq!(a.differing(&b.0), vec![bucket_of(&p(77))]);
        assert_eq!(a.total().count, 1_000);
        assert!(a.differing(&a.0).is_empty());
        assert_eq!(a.differing(&[]).len(), a.0.iter().filter(|d| d.count > 0).count());
    }
}
