//! The node's trees: raw records, the external-id index, the outbox, the pseudonym ledger and
//! metadata (sequence counters, the hub's acknowledgement, the node secret).

use pilot_model::{Kind, LocalId, Pseudonym, Record, Seq};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::keys::{decode, encode, seq_from_key, seq_key, u64_value};
use crate::{Db, Error, Result};

const RECORDS: &str = "node/records";
const EXTERNAL: &str = "node/external";
const OUTBOX: &str = "node/outbox";
const LEDGER: &str = "node/ledger";
const META: &str = "node/meta";
const HELD: &str = "node/held";

const META_LAST_SEQ: &[u8] = b"last_seq";
const META_ACKED_SEQ: &[u8] = b"acked_seq";
const META_SECRET: &[u8] = b"secret";

/// A record with its pseudonym and the sequence of its latest change (its version at the hub).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// The record.
    pub record: Record,
    /// The record's pseudonym.
    pub pseudonym: Pseudonym,
    /// Outbox sequence of the record's latest change.
    pub seq: Seq,
}

/// What an outbox entry asks the sync task to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxOp {
    /// Share the record's current state (or withhold it, as the anonymizer decides).
    Upsert,
    /// The record is gone: send a tombstone.
    Delete,
}

/// One change waiting to reach the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The record concerned.
    pub local_id: LocalId,
    /// Its bank.
    pub kind: Kind,
    /// What to send.
    pub op: OutboxOp,
}

/// The result of [`NodeStore::put`].
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    /// A new record was stored.
    Created(StoredRecord),
    /// An existing record changed.
    Updated(StoredRecord),
    /// The record equals what is stored; nothing was written.
    Unchanged(StoredRecord),
}

/// Record counts by bank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Demands.
    pub demands: u64,
    /// Achievements.
    pub achievements: u64,
    /// Experts.
    pub experts: u64,
}

/// The node's typed view of its store.
#[derive(Debug, Clone)]
pub struct NodeStore {
    db: Db,
    records: sled::Tree,
    external: sled::Tree,
    outbox: sled::Tree,
    ledger: sled::Tree,
    meta: sled::Tree,
    held: sled::Tree,
}

/// The id prefix of each bank, so that a prefix scan lists one bank.
fn prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::Demand => "dem-",
        Kind::Achievement => "ach-",
        Kind::Expert => "exp-",
    }
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

fn abort<T>(e: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

impl NodeStore {
    /// Opens the node's trees in `db`.
    pub fn open(db: &Db) -> Result<Self> {
        Ok(NodeStore {
            records: db.tree(RECORDS)?,
            external: db.tree(EXTERNAL)?,
            outbox: db.tree(OUTBOX)?,
            ledger: db.tree(LEDGER)?,
            meta: db.tree(META)?,
            held: db.tree(HELD)?,
            db: db.clone(),
        })
    }

    /// The underlying database, for flushing.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn sled_err(&self, e: sled::Error) -> Error {
        Error::from_sled(self.db.path(), e)
    }

    fn tx_err(&self, e: TransactionError<Error>) -> Error {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => self.sled_err(e),
        }
    }

    /// A fresh local id for a new record of `kind`, e.g. `dem-000017`.
    pub fn allocate_local_id(&self, kind: Kind) -> Result<LocalId> {
        let n = self.db.db.generate_id().map_err(|e| self.sled_err(e))?;
        Ok(LocalId::parse(&format!("{}{:06}", prefix(kind), n + 1))
            .expect("generated ids are valid"))
    }

    /// Returns the node secret, storing `fresh` first if none exists yet.
    ///
    /// NB: the secret is generated once, at first start, and must survive every restart:
    /// pseudonyms are derived from it, and a new secret would orphan every summary at the hub.
    pub fn secret_or_init(&self, fresh: &[u8]) -> Result<Vec<u8>> {
        let _ = self
            .meta
            .compare_and_swap(META_SECRET, None as Option<&[u8]>, Some(fresh))
            .map_err(|e| self.sled_err(e))?;
        let stored = self.meta.get(META_SECRET).map_err(|e| self.sled_err(e))?;
        Ok(stored.expect("the secret was just stored if absent").to_vec())
    }

    /// Stores `record` (create or update) with its pseudonym, and appends an upsert to the
    /// outbox in the same transaction.
    ///
    /// The external id must not belong to another record.
    /// If the stored record has the same body, status and external id, nothing is written.
    pub fn put(&self, record: Record, pseudonym: Pseudonym) -> Result<PutOutcome> {
        let id = record.local_id.clone();
        let trees = (&self.records, &self.external, &self.outbox, &self.ledger, &self.meta);
        trees
            .transaction(|(records, external, outbox, ledger, meta)| {
                let old: Option<StoredRecord> = match records.get(id.as_str())? {
                    Some(b) => Some(decode(RECORDS, &b).or_else(abort)?),
                    None => None,
                };
                if let Some(old) = &old
                    && old.record.body == record.body
                    && old.record.status == record.status
                    && old.record.external_id == record.external_id
                {
                    return Ok(PutOutcome::Unchanged(old.clone()));
                }
                if let Some(ext) = &record.external_id
                    && let Some(owner) = external.get(ext.as_bytes())?
                    && owner.as_ref() != id.as_str().as_bytes()
                {
                    return abort(Error::Conflict(format!(
                        "external id {ext:?} belongs to record {}",
                        String::from_utf8_lossy(&owner)
                    )));
                }
                if let Some(old) = &old
                    && old.record.kind() != record.kind()
                {
                    return abort(Error::Conflict(format!(
                        "record {id} is a {}, not a {}",
                        old.record.kind(),
                        record.kind()
                    )));
                }
                if let Some(old_ext) = old.as_ref().and_then(|o| o.record.external_id.as_ref())
                    && Some(old_ext) != record.external_id.as_ref()
                {
                    external.remove(old_ext.as_bytes())?;
                }
                if let Some(ext) = &record.external_id {
                    external.insert(ext.as_bytes(), id.as_str().as_bytes())?;
                }
                let seq =
                    Seq(u64_value(META, meta.get(META_LAST_SEQ)?.as_deref()).or_else(abort)? + 1);
                meta.insert(META_LAST_SEQ, &seq_key(seq.0))?;
                let entry =
                    OutboxEntry { local_id: id.clone(), kind: record.kind(), op: OutboxOp::Upsert };
                outbox.insert(&seq_key(seq.0), encode(&entry))?;
                ledger.insert(pseudonym.as_str().as_bytes(), id.as_str().as_bytes())?;
                let stored =
                    StoredRecord { record: record.clone(), pseudonym: pseudonym.clone(), seq };
                records.insert(id.as_str().as_bytes(), encode(&stored))?;
                Ok(if old.is_some() {
                    PutOutcome::Updated(stored)
                } else {
                    PutOutcome::Created(stored)
                })
            })
            .map_err(|e| self.tx_err(e))
    }

    /// Deletes a record and appends a delete to the outbox in the same transaction.
    ///
    /// Returns the deleted record, or `None` if there was none.
    pub fn delete(&self, id: &LocalId) -> Result<Option<StoredRecord>> {
        let trees =
            (&self.records, &self.external, &self.outbox, &self.ledger, &self.meta, &self.held);
        trees
            .transaction(|(records, external, outbox, ledger, meta, held)| {
                let Some(bytes) = records.remove(id.as_str())? else { return Ok(None) };
                let old: StoredRecord = decode(RECORDS, &bytes).or_else(abort)?;
                if let Some(ext) = &old.record.external_id {
                    external.remove(ext.as_bytes())?;
                }
                ledger.remove(old.pseudonym.as_str().as_bytes())?;
                held.remove(id.as_str().as_bytes())?;
                let seq = u64_value(META, meta.get(META_LAST_SEQ)?.as_deref()).or_else(abort)? + 1;
                meta.insert(META_LAST_SEQ, &seq_key(seq))?;
                let entry = OutboxEntry {
                    local_id: id.clone(),
                    kind: old.record.kind(),
                    op: OutboxOp::Delete,
                };
                outbox.insert(&seq_key(seq), encode(&entry))?;
                Ok(Some(old))
            })
            .map_err(|e| self.tx_err(e))
    }

    /// Reads a record.
    pub fn get(&self, id: &LocalId) -> Result<Option<StoredRecord>> {
        match self.records.get(id.as_str()).map_err(|e| self.sled_err(e))? {
            Some(b) => Ok(Some(decode(RECORDS, &b)?)),
            None => Ok(None),
        }
    }

    /// The local id owning an external id.
    pub fn find_external(&self, external_id: &str) -> Result<Option<LocalId>> {
        match self.external.get(external_id.as_bytes()).map_err(|e| self.sled_err(e))? {
            Some(b) => {
                let s = std::str::from_utf8(&b).map_err(|e| Error::corrupt(EXTERNAL, e))?;
                Ok(Some(LocalId::parse(s).map_err(|e| Error::corrupt(EXTERNAL, e))?))
            }
            None => Ok(None),
        }
    }

    /// The local id behind one of this node's pseudonyms.
    pub fn resolve(&self, pseudonym: &Pseudonym) -> Result<Option<LocalId>> {
        match self.ledger.get(pseudonym.as_str().as_bytes()).map_err(|e| self.sled_err(e))? {
            Some(b) => {
                let s = std::str::from_utf8(&b).map_err(|e| Error::corrupt(LEDGER, e))?;
                Ok(Some(LocalId::parse(s).map_err(|e| Error::corrupt(LEDGER, e))?))
            }
            None => Ok(None),
        }
    }

    /// Records that the privacy gate held back at their last send, or clears the mark.
    ///
    /// `reason` is the gate's stable reason code; `None` means the record was shared.
    pub fn set_held(&self, id: &LocalId, reason: Option<&str>) -> Result<()> {
        match reason {
            Some(r) => self.held.insert(id.as_str().as_bytes(), r.as_bytes()).map(|_| ()),
            None => self.held.remove(id.as_str().as_bytes()).map(|_| ()),
        }
        .map_err(|e| self.sled_err(e))
    }

    /// Records currently held back by the privacy gate, with their reason codes.
    pub fn held_back(&self) -> Result<Vec<(LocalId, String)>> {
        let mut out = Vec::new();
        for item in self.held.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let id = std::str::from_utf8(&k).ok().and_then(|s| LocalId::parse(s).ok());
            let id = id.ok_or_else(|| Error::corrupt(HELD, "key is not a local id"))?;
            out.push((id, String::from_utf8_lossy(&v).into_owned()));
        }
        Ok(out)
    }

    /// Lists records in local-id order, optionally of one bank, starting after `after`.
    pub fn list(
        &self,
        kind: Option<Kind>,
        after: Option<&LocalId>,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let pfx = kind.map_or("", prefix);
        let start: Vec<u8> = match after {
            Some(a) => {
                let mut k = a.as_str().as_bytes().to_vec();
                k.push(0);
                k
            }
            None => pfx.as_bytes().to_vec(),
        };
        let mut out = Vec::new();
        for item in self.records.range(start..) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            if !k.starts_with(pfx.as_bytes()) {
                break;
            }
            out.push(decode(RECORDS, &v)?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Record counts by bank.
    pub fn counts(&self) -> Result<Counts> {
        let count = |k: Kind| -> Result<u64> {
            let mut n = 0;
            for item in self.records.scan_prefix(prefix(k)).keys() {
                item.map_err(|e| self.sled_err(e))?;
                n += 1;
            }
            Ok(n)
        };
        Ok(Counts {
            demands: count(Kind::Demand)?,
            achievements: count(Kind::Achievement)?,
            experts: count(Kind::Expert)?,
        })
    }

    /// Up to `limit` outbox entries with sequence above `after`, in order.
    pub fn outbox_after(&self, after: Seq, limit: usize) -> Result<Vec<(Seq, OutboxEntry)>> {
        let mut out = Vec::new();
        for item in self.outbox.range(seq_key(after.0 + 1)..) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push((Seq(seq_from_key(OUTBOX, &k)?), decode(OUTBOX, &v)?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// The highest sequence written.
    pub fn last_seq(&self) -> Result<Seq> {
        Ok(Seq(u64_value(
            META,
            self.meta.get(META_LAST_SEQ).map_err(|e| self.sled_err(e))?.as_deref(),
        )?))
    }

    /// The highest sequence the hub acknowledged.
    pub fn acked_seq(&self) -> Result<Seq> {
        Ok(Seq(u64_value(
            META,
            self.meta.get(META_ACKED_SEQ).map_err(|e| self.sled_err(e))?.as_deref(),
        )?))
    }

    /// Records the hub's acknowledgement and forgets the outbox up to it.
    ///
    /// The acknowledgement may also move backwards (a hub restored from an older backup says so
    /// on resume); the node then resends from there, which is why records are re-read at send time.
    pub fn set_acked(&self, acked: Seq) -> Result<()> {
        self.meta.insert(META_ACKED_SEQ, &seq_key(acked.0)).map_err(|e| self.sled_err(e))?;
        for item in self.outbox.range(..=seq_key(acked.0)).keys() {
            let k = item.map_err(|e| self.sled_err(e))?;
            self.outbox.remove(k).map_err(|e| self.sled_err(e))?;
        }
        Ok(())
    }

    /// Appends an upsert for every stored record, so a hub that lost state gets everything again.
    ///
    /// The sequence first jumps to at least `min_seq`, so that the new entries are newer than
    /// anything the hub has seen from this city (a node restored from an older backup).
    /// Returns how many entries were appended.
    pub fn requeue_all(&self, min_seq: Seq) -> Result<u64> {
        self.meta
            .fetch_and_update(META_LAST_SEQ, |old| {
                let cur = old.map_or(0, |b| b.try_into().map(u64::from_be_bytes).unwrap_or(0));
                Some(seq_key(cur.max(min_seq.0)).to_vec())
            })
            .map_err(|e| self.sled_err(e))?;
        let mut n = 0;
        for item in self.records.iter() {
            let (_, v) = item.map_err(|e| self.sled_err(e))?;
            let stored: StoredRecord = decode(RECORDS, &v)?;
            let record = stored.record.clone();
            let id = record.local_id.clone();
            (&self.records, &self.outbox, &self.meta)
                .transaction(|(records, outbox, meta)| {
                    let seq =
                        u64_value(META, meta.get(META_LAST_SEQ)?.as_deref()).or_else(abort)? + 1;
                    meta.insert(META_LAST_SEQ, &seq_key(seq))?;
                    let entry = OutboxEntry {
                        local_id: id.clone(),
                        kind: record.kind(),
                        op: OutboxOp::Upsert,
                    };
                    outbox.insert(&seq_key(seq), encode(&entry))?;
                    let restamped = StoredRecord { seq: Seq(seq), ..stored.clone() };
                    records.insert(id.as_str().as_bytes(), encode(&restamped))?;
                    Ok(())
                })
                .map_err(|e| self.tx_err(e))?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use pilot_model::{Demand, RecordBody, Status, UnixMillis};

    use super::*;

    fn store() -> (tempfile::TempDir, NodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        (dir, NodeStore::open(&db).unwrap())
    }

    fn demand(s: &NodeStore, ext: Option<&str>, title: &str) -> Record {
        Record {
            local_id: s.allocate_local_id(Kind::Demand).unwrap(),
            external_id: ext.map(str::to_owned),
            status: Status::Open,
            created_at: UnixMillis(1),
            updated_at: UnixMillis(1),
            body: RecordBody::Demand(Demand {
                title: title.into(),
                description: "需要".into(),
                ..Default::default()
            }),
        }
    }

    fn pseudo(n: u8) -> Pseudonym {
        Pseudonym::parse(&format!("{n:02x}").repeat(16)).unwrap()
    }

    #[test]
    fn put_writes_record_and_outbox_under_one_sequence() {
        let (_d, s) = store();
        let r = demand(&s, Some("D-1"), "隔膜");
        let PutOutcome::Created(stored) = s.put(r.clone(), pseudo(1)).unwrap() else { panic!() };
        assert_eq!(stored.seq, Seq(1));
        assert!(matches!(s.put(r.clone(), pseudo(1)).unwrap(), PutOutcome::Unchanged(_)));
        let mut changed = r.clone();
        changed.status = Status::Withdrawn;
        let PutOutcome::Updated(stored) = s.put(changed, pseudo(1)).unwrap() else { panic!() };
        assert_eq!(stored.seq, Seq(2));
        let out = s.outbox_after(Seq(0), 10).unwrap();
        assert_eq!(out.iter().map(|(q, _)| q.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(s.find_external("D-1").unwrap(), Some(r.local_id.clone()));
        assert_eq!(s.resolve(&pseudo(1)).unwrap(), Some(r.local_id));
    }

    #[test]
    fn an_external_id_cannot_be_taken_by_another_record() {
        let (_d, s) = store();
        s.put(demand(&s, Some("D-1"), "a"), pseudo(1)).unwrap();
        let err = s.put(demand(&s, Some("D-1"), "b"), pseudo(2)).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        assert_eq!(s.counts().unwrap().demands, 1, "the refused record was not stored");
    }

    #[test]
    fn acknowledgement_prunes_the_outbox_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path()).unwrap();
            let s = NodeStore::open(&db).unwrap();
            for i in 0..5 {
                s.put(demand(&s, None, &format!("t{i}")), pseudo(i)).unwrap();
            }
            let first = s.list(Some(Kind::Demand), None, 10).unwrap()[0].record.local_id.clone();
            s.delete(&first).unwrap();
            s.set_acked(Seq(4)).unwrap();
            db.flush().unwrap();
        }
        let db = Db::open(dir.path()).unwrap();
        let s = NodeStore::open(&db).unwrap();
        assert_eq!(s.acked_seq().unwrap(), Seq(4));
        assert_eq!(s.last_seq().unwrap(), Seq(6));
        let rest = s.outbox_after(Seq(4), 10).unwrap();
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[1].1.op, OutboxOp::Delete);
        assert_eq!(s.counts().unwrap().demands, 4);
    }

    #[test]
    fn held_back_marks_are_set_cleared_and_dropped_with_the_record() {
        let (_d, s) = store();
        let a = demand(&s, None, "a");
        let b = demand(&s, None, "b");
        s.put(a.clone(), pseudo(1)).unwrap();
        s.put(b.clone(), pseudo(2)).unwrap();
        s.set_held(&a.local_id, Some("too_few_terms")).unwrap();
        s.set_held(&b.local_id, Some("residual_identifier")).unwrap();
        s.set_held(&b.local_id, None).unwrap();
        assert_eq!(s.held_back().unwrap(), vec![(a.local_id.clone(), "too_few_terms".to_owned())]);
        s.delete(&a.local_id).unwrap();
        assert!(s.held_back().unwrap().is_empty());
    }

    #[test]
    fn the_secret_is_set_once() {
        let (_d, s) = store();
        assert_eq!(s.secret_or_init(b"first").unwrap(), b"first");
        assert_eq!(s.secret_or_init(b"second").unwrap(), b"first");
    }
}
