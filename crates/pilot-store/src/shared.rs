//! The node's record of what it has told the hub it shares: pseudonym → (version, local id).
//!
//! The sync path writes it when it builds a batch: a summary sent sets the pair, a tombstone
//! sent removes it. Once everything is acknowledged it is exactly the set the hub should hold for
//! the city, which is what anti-entropy compares with the hub's digest; its local ids turn the
//! hub's "send these again" into outbox entries.
//!
//! Key layout of the `node/shared` tree: `<pseudonym>` → `<version, 8 bytes big-endian><local id>`.

use pilot_model::digest::bucket_of;
use pilot_model::{BucketDigests, LocalId, Pseudonym, Seq};

use crate::keys::{seq_from_key, seq_key};
use crate::{Db, Error, Result};

const SHARED: &str = "node/shared";

/// One change to the shared set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharedChange {
    /// The record's summary was sent at `version`.
    Set {
        /// The summary's pseudonym.
        pseudonym: Pseudonym,
        /// The outbox sequence that produced it.
        version: Seq,
        /// The record.
        local_id: LocalId,
    },
    /// A tombstone was sent: the hub should hold nothing for this pseudonym.
    Remove(Pseudonym),
}

/// One shared pair with its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEntry {
    /// The summary's pseudonym.
    pub pseudonym: Pseudonym,
    /// Its version.
    pub version: Seq,
    /// The record.
    pub local_id: LocalId,
}

/// The node's shared set.
#[derive(Debug, Clone)]
pub struct SharedIndex {
    db: Db,
    tree: sled::Tree,
}

impl SharedIndex {
    /// Opens the shared set in `db`.
    pub fn open(db: &Db) -> Result<Self> {
        Ok(SharedIndex { tree: db.tree(SHARED)?, db: db.clone() })
    }

    fn sled_err(&self, e: sled::Error) -> Error {
        Error::from_sled(self.db.path(), e)
    }

    /// Applies changes in order, atomically.
    pub fn apply(&self, changes: &[SharedChange]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for c in changes {
            match c {
                SharedChange::Set { pseudonym, version, local_id } => {
                    let mut v = seq_key(version.0).to_vec();
                    v.extend_from_slice(local_id.as_str().as_bytes());
                    batch.insert(pseudonym.as_str().as_bytes(), v);
                }
                SharedChange::Remove(p) => batch.remove(p.as_str().as_bytes()),
            }
        }
        self.tree.apply_batch(batch).map_err(|e| self.sled_err(e))
    }

    fn decode(k: &[u8], v: &[u8]) -> Result<SharedEntry> {
        let corrupt = |e: &dyn std::fmt::Display| Error::corrupt(SHARED, e);
        let p = std::str::from_utf8(k).map_err(|e| corrupt(&e))?;
        let pseudonym = Pseudonym::parse(p).map_err(|e| corrupt(&e))?;
        if v.len() < 8 {
            return Err(corrupt(&"value shorter than a version"));
        }
        let version = Seq(seq_from_key(SHARED, &v[..8])?);
        let id = std::str::from_utf8(&v[8..]).map_err(|e| corrupt(&e))?;
        let local_id = LocalId::parse(id).map_err(|e| corrupt(&e))?;
        Ok(SharedEntry { pseudonym, version, local_id })
    }

    /// The entry of one pseudonym.
    pub fn get(&self, pseudonym: &Pseudonym) -> Result<Option<SharedEntry>> {
        let key = pseudonym.as_str().as_bytes();
        match self.tree.get(key).map_err(|e| self.sled_err(e))? {
            Some(v) => Ok(Some(Self::decode(key, &v)?)),
            None => Ok(None),
        }
    }

    /// Calls `f` for every entry, in pseudonym order, optionally in one bucket only.
    pub fn scan(&self, bucket: Option<usize>, mut f: impl FnMut(SharedEntry)) -> Result<()> {
        let prefix = bucket.map(|b| format!("{b:02x}")).unwrap_or_default();
        for item in self.tree.scan_prefix(prefix.as_bytes()) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            f(Self::decode(&k, &v)?);
        }
        Ok(())
    }

    /// The digest of each bucket of the shared set.
    pub fn bucket_digests(&self) -> Result<BucketDigests> {
        let mut out = BucketDigests::default();
        self.scan(None, |e| out.add(&e.pseudonym, e.version.0))?;
        Ok(out)
    }

    /// Every entry of one bucket.
    pub fn bucket(&self, bucket: usize) -> Result<Vec<SharedEntry>> {
        let mut out = Vec::new();
        self.scan(Some(bucket), |e| {
            debug_assert_eq!(bucket_of(&e.pseudonym), bucket);
            out.push(e)
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use pilot_model::Digest;

    use super::*;

    fn p(i: u8) -> Pseudonym {
        Pseudonym::parse(&format!("{i:02x}").repeat(16)).unwrap()
    }

    #[test]
    fn sets_and_removals_survive_a_reopen_and_fold_into_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        {
            let idx = SharedIndex::open(&Db::open(dir.path()).unwrap()).unwrap();
            let set = |i: u8, v: u64| SharedChange::Set {
                pseudonym: p(i),
                version: Seq(v),
                local_id: LocalId::parse(&format!("dem-{i:06}")).unwrap(),
            };
            idx.apply(&[set(1, 1), set(2, 2), set(3, 3)]).unwrap();
            idx.apply(&[set(1, 9), SharedChange::Remove(p(3))]).unwrap();
            idx.db.flush().unwrap();
        }
        let idx = SharedIndex::open(&Db::open(dir.path()).unwrap()).unwrap();
        let mut want = Digest::default();
        want.add(&p(1), 9);
        want.add(&p(2), 2);
        assert_eq!(idx.bucket_digests().unwrap().total(), want);
        let e = idx.get(&p(1)).unwrap().unwrap();
        assert_eq!((e.version, e.local_id.as_str()), (Seq(9), "dem-000001"));
        assert_eq!(idx.get(&p(3)).unwrap(), None);
        assert_eq!(idx.bucket(2).unwrap().len(), 1);
        assert!(idx.bucket(3).unwrap().is_empty());
    }
}
