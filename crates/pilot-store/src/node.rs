//! The node's data: raw records, the external-id index, the outbox, the pseudonym index,
//! held-back marks and metadata, all in ONE sled tree under key prefixes, plus the sharing
//! ledger (what was sent to the hub) in a tree of its own.
//!
//! One tree, because sled's `apply_batch` is atomic within a tree: a whole import batch (every
//! record, its outbox entry and its external-id index entry) commits at once, at close to
//! bare-sled speed, which multi-tree transactions do not reach.
//! Writers are serialised by a mutex held by [`WriteBatch`]; readers never wait, except the first
//! [`NodeStore::resolve`] of a process (see below).
//!
//! Key layout of the `node` tree:
//! - `r/<local id>` → [`StoredRecord`] (JSON)
//! - `x/<external id>` → local id
//! - `o/<seq, 8 bytes big-endian>` → [`OutboxEntry`] (JSON)
//! - `h/<local id>` → reason code of the privacy gate's last refusal
//! - `m/<name>` → metadata (`last_seq`, `acked_seq`, `next_id`, `secret`)
//!
//! The pseudonym index (pseudonym → local id) is NOT stored: it lives in memory, is built from
//! the `r/` records (which hold their pseudonym) by the first `resolve` of the process, and is
//! then kept current by every commit. Storing it was the costliest part of durable intake:
//! pseudonyms are random, so every new record touched (and often split) a different leaf of the
//! tree. Because it is derived from durable records only, it is right after any restart or
//! crash. Stores written by older versions hold `p/<pseudonym>` keys; the first build removes
//! them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use pilot_model::{Kind, LocalId, Pseudonym, Record, Seq};
use serde::{Deserialize, Serialize};

use crate::keys::{decode, decode_borrowed, encode, encode_sized, seq_from_key, seq_key};
use crate::{Db, Error, Result};

const TREE: &str = "node";
const SENT: &str = "node/sent";

const LAST_SEQ: &[u8] = b"m/last_seq";
const ACKED_SEQ: &[u8] = b"m/acked_seq";
const NEXT_ID: &[u8] = b"m/next_id";
const SECRET: &[u8] = b"m/secret";

/// Buffer size for encoding a [`StoredRecord`]: a typical record (a paper-sized abstract with its
/// contacts and keywords) encodes to 1-2 KB.
const RECORD_JSON_CAPACITY: usize = 2048;

fn key(prefix: &str, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + rest.len());
    k.extend_from_slice(prefix.as_bytes());
    k.extend_from_slice(rest);
    k
}

fn record_key(id: &LocalId) -> Vec<u8> {
    key("r/", id.as_str().as_bytes())
}

fn outbox_key(seq: u64) -> Vec<u8> {
    key("o/", &seq_key(seq))
}

fn u64_of(v: Option<&[u8]>) -> Result<u64> {
    match v {
        None => Ok(0),
        Some(b) => seq_from_key(TREE, b),
    }
}

fn local_id_of(tree: &'static str, b: &[u8]) -> Result<LocalId> {
    let s = std::str::from_utf8(b).map_err(|e| Error::corrupt(tree, e))?;
    LocalId::parse(s).map_err(|e| Error::corrupt(tree, e))
}

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

/// The result of a put.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    /// A new record was stored.
    Created(StoredRecord),
    /// An existing record changed.
    Updated(StoredRecord),
    /// The record equals what is stored; nothing was written.
    Unchanged(StoredRecord),
}

impl PutOutcome {
    /// The stored record, whatever happened.
    pub fn stored(&self) -> &StoredRecord {
        match self {
            PutOutcome::Created(s) | PutOutcome::Updated(s) | PutOutcome::Unchanged(s) => s,
        }
    }
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

/// One entry of the sharing ledger: a summary version (or tombstone) that was sent to the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentEntry {
    /// The batch it travelled in (per node, increasing).
    pub batch: u64,
    /// The outbox sequence, which is the version at the hub.
    pub seq: Seq,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub sent_at_ms: u64,
    /// The record.
    pub local_id: LocalId,
    /// Its pseudonym.
    pub pseudonym: Pseudonym,
    /// Its bank.
    pub kind: Kind,
    /// Exactly what was sent: the summary as JSON, or `None` for a tombstone.
    pub summary_json: Option<String>,
    /// Why a tombstone was sent instead of a summary (`deleted`, `not_shared`, a gate reason).
    pub tombstone_reason: Option<String>,
}

/// A pseudonym as a number: 32 hex digits are 128 bits, which makes a compact, fast map key.
fn pseudonym_bits(p: &Pseudonym) -> u128 {
    u128::from_str_radix(p.as_str(), 16).expect("a pseudonym is 32 hex digits")
}

/// The in-memory pseudonym index: `None` until the first [`NodeStore::resolve`] builds it; from
/// then on every commit updates it while holding the writer lock.
#[derive(Default)]
struct PseudonymIndex(RwLock<Option<HashMap<u128, LocalId>>>);

impl std::fmt::Debug for PseudonymIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("PseudonymIndex").field("entries", &map.as_ref().map(HashMap::len)).finish()
    }
}

/// The node's typed view of its store.
#[derive(Debug, Clone)]
pub struct NodeStore {
    db: Db,
    tree: sled::Tree,
    sent: sled::Tree,
    writer: Arc<Mutex<()>>,
    pseudonyms: Arc<PseudonymIndex>,
}

/// The id prefix of each bank, so that a prefix scan lists one bank.
fn prefix(kind: Kind) -> &'static str {
    match kind {
        Kind::Demand => "dem-",
        Kind::Achievement => "ach-",
        Kind::Expert => "exp-",
    }
}

impl NodeStore {
    /// Opens the node's trees in `db`.
    pub fn open(db: &Db) -> Result<Self> {
        Ok(NodeStore {
            tree: db.tree(TREE)?,
            sent: db.tree(SENT)?,
            db: db.clone(),
            writer: Arc::new(Mutex::new(())),
            pseudonyms: Arc::default(),
        })
    }

    /// The underlying database, for flushing.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn sled_err(&self, e: sled::Error) -> Error {
        Error::from_sled(self.db.path(), e)
    }

    fn raw(&self, k: &[u8]) -> Result<Option<sled::IVec>> {
        self.tree.get(k).map_err(|e| self.sled_err(e))
    }

    /// Writes a consistent backup of the whole store to `out`, holding every writer of this
    /// store off meanwhile (the caller also pauses writers that bypass [`NodeStore::write`],
    /// such as the sync path's shared set). Returns the manifest and the file's SHA-256.
    pub fn backup(
        &self,
        shared: &crate::SharedIndex,
        out: &mut impl std::io::Write,
    ) -> Result<(crate::Manifest, String)> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let manifest = crate::Manifest::of_node(self, shared)?;
        let sum = crate::write_manifest_backup(&self.db, &manifest, out)?;
        Ok((manifest, sum))
    }

    /// Starts a write. Writes are serialised; the batch sees its own changes and commits
    /// atomically, or not at all if dropped.
    ///
    /// NB: while a batch is open, the same thread must not call the store's other write methods
    /// (`put`, `delete`, `allocate_local_id`, `set_acked`, `requeue_all`) nor `resolve`: they wait
    /// for this batch's lock. Use the batch's own methods instead.
    pub fn write(&self) -> WriteBatch<'_> {
        // A poisoned lock only means another writer panicked; the tree itself is consistent
        // because nothing is applied before commit.
        let guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        WriteBatch {
            store: self,
            _guard: guard,
            pending: HashMap::new(),
            meta: HashMap::new(),
            pseudonyms: Vec::new(),
        }
    }

    /// Returns the node secret, storing `fresh` first if none exists yet.
    ///
    /// NB: the secret is generated once, at first start, and must survive every restart:
    /// pseudonyms are derived from it, and a new secret would orphan every summary at the hub.
    pub fn secret_or_init(&self, fresh: &[u8]) -> Result<Vec<u8>> {
        let _ = self
            .tree
            .compare_and_swap(SECRET, None as Option<&[u8]>, Some(fresh))
            .map_err(|e| self.sled_err(e))?;
        Ok(self.raw(SECRET)?.expect("the secret was just stored if absent").to_vec())
    }

    /// A fresh local id for a new record of `kind`, e.g. `dem-000017`.
    pub fn allocate_local_id(&self, kind: Kind) -> Result<LocalId> {
        let mut w = self.write();
        let id = w.allocate_local_id(kind)?;
        w.commit()?;
        Ok(id)
    }

    /// Stores one record (create or update) with its outbox entry; see [`WriteBatch::put`].
    pub fn put(&self, record: Record, pseudonym: Pseudonym) -> Result<PutOutcome> {
        let mut w = self.write();
        let out = w.put(record, pseudonym)?;
        w.commit()?;
        Ok(out)
    }

    /// Deletes one record with its outbox entry; see [`WriteBatch::delete`].
    pub fn delete(&self, id: &LocalId) -> Result<Option<StoredRecord>> {
        let mut w = self.write();
        let out = w.delete(id)?;
        w.commit()?;
        Ok(out)
    }

    /// Reads a record.
    pub fn get(&self, id: &LocalId) -> Result<Option<StoredRecord>> {
        self.raw(&record_key(id))?.map(|b| decode(TREE, &b)).transpose()
    }

    /// The local id owning an external id.
    pub fn find_external(&self, external_id: &str) -> Result<Option<LocalId>> {
        self.raw(&key("x/", external_id.as_bytes()))?.map(|b| local_id_of(TREE, &b)).transpose()
    }

    /// The local id behind one of this node's pseudonyms.
    ///
    /// The first call of a process builds the in-memory index from every record (writers wait
    /// meanwhile; see `benches/intake.rs` for its cost); later calls are a map lookup.
    pub fn resolve(&self, pseudonym: &Pseudonym) -> Result<Option<LocalId>> {
        let bits = pseudonym_bits(pseudonym);
        if let Some(map) = self.pseudonyms.0.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(map.get(&bits).cloned());
        }
        // Under the writer lock, so that no commit lands between the scan and the map.
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.pseudonyms.0.write().unwrap_or_else(|p| p.into_inner());
        let map = match slot.take() {
            Some(map) => map,
            None => self.build_pseudonym_index()?,
        };
        Ok(slot.insert(map).get(&bits).cloned())
    }

    /// Builds the pseudonym index from the records; the caller holds the writer lock.
    fn build_pseudonym_index(&self) -> Result<HashMap<u128, LocalId>> {
        /// The one field of a [`StoredRecord`] the index needs, borrowed from the stored bytes.
        #[derive(Deserialize)]
        struct PseudonymOnly<'a> {
            #[serde(borrow)]
            pseudonym: &'a str,
        }
        let mut map = HashMap::new();
        for item in self.tree.scan_prefix(b"r/") {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let p: PseudonymOnly<'_> = decode_borrowed(TREE, &v)?;
            let p = Pseudonym::parse(p.pseudonym).map_err(|e| Error::corrupt(TREE, e))?;
            map.insert(pseudonym_bits(&p), local_id_of(TREE, &k[2..])?);
        }
        // Stores written by older versions kept the index on disk; it is never read again.
        let mut legacy = sled::Batch::default();
        let mut any = false;
        for k in self.tree.scan_prefix(b"p/").keys() {
            legacy.remove(k.map_err(|e| self.sled_err(e))?);
            any = true;
        }
        if any {
            self.tree.apply_batch(legacy).map_err(|e| self.sled_err(e))?;
        }
        Ok(map)
    }

    /// Marks a record as held back by the privacy gate (with its reason code), or clears the mark.
    ///
    /// Writes only when the mark changes: the sync path calls this for every record it sends,
    /// and almost all of them are shared with no mark to clear.
    pub fn set_held(&self, id: &LocalId, reason: Option<&str>) -> Result<()> {
        let k = key("h/", id.as_str().as_bytes());
        if self.raw(&k)?.as_deref() == reason.map(str::as_bytes) {
            return Ok(());
        }
        match reason {
            Some(r) => self.tree.insert(k, r.as_bytes()).map(|_| ()),
            None => self.tree.remove(k).map(|_| ()),
        }
        .map_err(|e| self.sled_err(e))
    }

    /// Records currently held back by the privacy gate, with their reason codes.
    pub fn held_back(&self) -> Result<Vec<(LocalId, String)>> {
        let mut out = Vec::new();
        for item in self.tree.scan_prefix(b"h/") {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            out.push((local_id_of(TREE, &k[2..])?, String::from_utf8_lossy(&v).into_owned()));
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
        let pfx = key("r/", kind.map_or("", prefix).as_bytes());
        let start = match after {
            Some(a) => {
                let mut k = record_key(a);
                k.push(0);
                k
            }
            None => pfx.clone(),
        };
        let mut out = Vec::new();
        for item in self.tree.range(start..) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            if !k.starts_with(&pfx) || out.len() >= limit {
                break;
            }
            out.push(decode(TREE, &v)?);
        }
        Ok(out)
    }

    /// Calls `f` for every record, in local-id order, until it returns false.
    pub fn scan(&self, kind: Option<Kind>, mut f: impl FnMut(StoredRecord) -> bool) -> Result<()> {
        for item in self.tree.scan_prefix(key("r/", kind.map_or("", prefix).as_bytes())) {
            let (_, v) = item.map_err(|e| self.sled_err(e))?;
            if !f(decode(TREE, &v)?) {
                break;
            }
        }
        Ok(())
    }

    /// Record counts by bank.
    pub fn counts(&self) -> Result<Counts> {
        let count = |k: Kind| -> Result<u64> {
            let mut n = 0;
            for item in self.tree.scan_prefix(key("r/", prefix(k).as_bytes())).keys() {
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
        for item in self.tree.range(outbox_key(after.0 + 1)..) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            if !k.starts_with(b"o/") || out.len() >= limit {
                break;
            }
            out.push((Seq(seq_from_key(TREE, &k[2..])?), decode(TREE, &v)?));
        }
        Ok(out)
    }

    /// The highest sequence written.
    pub fn last_seq(&self) -> Result<Seq> {
        Ok(Seq(u64_of(self.raw(LAST_SEQ)?.as_deref())?))
    }

    /// The highest sequence the hub acknowledged.
    pub fn acked_seq(&self) -> Result<Seq> {
        Ok(Seq(u64_of(self.raw(ACKED_SEQ)?.as_deref())?))
    }

    /// Records the hub's acknowledgement and forgets the outbox up to it, atomically.
    ///
    /// The acknowledgement may also move backwards (a hub restored from an older backup says so
    /// on resume); the node then resends from there, which is why records are re-read at send time.
    pub fn set_acked(&self, acked: Seq) -> Result<()> {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch = sled::Batch::default();
        batch.insert(ACKED_SEQ, &seq_key(acked.0));
        for item in self.tree.range(b"o/".to_vec()..=outbox_key(acked.0)).keys() {
            batch.remove(item.map_err(|e| self.sled_err(e))?);
        }
        self.tree.apply_batch(batch).map_err(|e| self.sled_err(e))
    }

    /// Appends an upsert for every stored record, so a hub that lost state gets everything again.
    ///
    /// The sequence first jumps to at least `min_seq`, so that the new entries are newer than
    /// anything the hub has seen from this city (a node restored from an older backup).
    /// Returns how many entries were appended.
    pub fn requeue_all(&self, min_seq: Seq) -> Result<u64> {
        let mut ids = Vec::new();
        self.scan(None, |s| {
            ids.push(s.record.local_id);
            true
        })?;
        let mut w = self.write();
        let last = w.last_seq()?;
        w.meta.insert(LAST_SEQ, last.max(min_seq.0));
        for id in &ids {
            w.requeue(id)?;
        }
        w.commit()?;
        Ok(ids.len() as u64)
    }

    /// Records sent entries in the sharing ledger.
    pub fn record_sent(&self, entries: &[SentEntry]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for e in entries {
            let mut k = seq_key(e.batch).to_vec();
            k.extend_from_slice(&seq_key(e.seq.0));
            batch.insert(k, encode(e));
        }
        self.sent.apply_batch(batch).map_err(|e| self.sled_err(e))
    }

    /// A fresh, increasing batch number for the sharing ledger.
    pub fn next_batch_id(&self) -> Result<u64> {
        self.db.db.generate_id().map_err(|e| self.sled_err(e)).map(|n| n + 1)
    }

    /// The sharing ledger, newest first, optionally for one record, after a `(batch, seq)` cursor.
    pub fn sent(
        &self,
        only: Option<&LocalId>,
        before: Option<(u64, u64)>,
        limit: usize,
    ) -> Result<Vec<SentEntry>> {
        let end = before.map(|(b, s)| {
            let mut k = seq_key(b).to_vec();
            k.extend_from_slice(&seq_key(s));
            k
        });
        let iter = match end {
            Some(e) => self.sent.range(..e),
            None => self.sent.range::<Vec<u8>, _>(..),
        };
        let mut out = Vec::new();
        for item in iter.rev() {
            let (_, v) = item.map_err(|e| self.sled_err(e))?;
            let e: SentEntry = decode(SENT, &v)?;
            if only.is_none_or(|id| *id == e.local_id) {
                out.push(e);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

/// A serialised, atomic write to the node's store.
///
/// Reads through the batch see its own pending changes, so one import can create a record and
/// update it again (the same external id twice in a file) correctly.
///
/// The pending changes are kept once, as sled's own buffers (keys of up to 22 bytes are inline,
/// larger values are copied into an `Arc` once), and turned into a `sled::Batch` at commit.
pub struct WriteBatch<'a> {
    store: &'a NodeStore,
    _guard: MutexGuard<'a, ()>,
    /// Key → new value, or `None` to remove the key.
    pending: HashMap<sled::IVec, Option<sled::IVec>>,
    meta: HashMap<&'static [u8], u64>,
    /// Changes to the in-memory pseudonym index, in order, applied after the commit.
    pseudonyms: Vec<(u128, Option<LocalId>)>,
}

impl std::fmt::Debug for WriteBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch").field("pending", &self.pending.len()).finish_non_exhaustive()
    }
}

impl WriteBatch<'_> {
    fn get_raw(&self, k: &[u8]) -> Result<Option<sled::IVec>> {
        match self.pending.get(k) {
            Some(v) => Ok(v.clone()),
            None => self.store.raw(k),
        }
    }

    fn insert(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.pending.insert(k.into(), Some(v.into()));
    }

    fn remove(&mut self, k: Vec<u8>) {
        self.pending.insert(k.into(), None);
    }

    fn meta_value(&self, name: &'static [u8]) -> Result<u64> {
        match self.meta.get(name) {
            Some(v) => Ok(*v),
            None => u64_of(self.store.raw(name)?.as_deref()),
        }
    }

    fn last_seq(&self) -> Result<u64> {
        self.meta_value(LAST_SEQ)
    }

    fn next_seq(&mut self) -> Result<u64> {
        let seq = self.last_seq()? + 1;
        self.meta.insert(LAST_SEQ, seq);
        Ok(seq)
    }

    /// Reads a record, including this batch's changes.
    pub fn get(&self, id: &LocalId) -> Result<Option<StoredRecord>> {
        self.get_raw(&record_key(id))?.map(|b| decode(TREE, &b)).transpose()
    }

    /// The local id owning an external id, including this batch's changes.
    pub fn find_external(&self, external_id: &str) -> Result<Option<LocalId>> {
        self.get_raw(&key("x/", external_id.as_bytes()))?.map(|b| local_id_of(TREE, &b)).transpose()
    }

    /// A fresh local id for a new record of `kind`, e.g. `dem-000017`.
    pub fn allocate_local_id(&mut self, kind: Kind) -> Result<LocalId> {
        let n = self.meta_value(NEXT_ID)? + 1;
        self.meta.insert(NEXT_ID, n);
        Ok(LocalId::parse(&format!("{}{n:06}", prefix(kind))).expect("generated ids are valid"))
    }

    /// Stores `record` (create or update) with its pseudonym, and appends an upsert to the outbox.
    ///
    /// The external id must not belong to another record, and a record cannot change bank.
    /// If the stored record has the same body, status and external id, nothing is written.
    pub fn put(&mut self, record: Record, pseudonym: Pseudonym) -> Result<PutOutcome> {
        let id = record.local_id.clone();
        let old = self.get(&id)?;
        if let Some(old) = &old
            && old.record.body == record.body
            && old.record.status == record.status
            && old.record.external_id == record.external_id
        {
            return Ok(PutOutcome::Unchanged(old.clone()));
        }
        if let Some(ext) = &record.external_id
            && let Some(owner) = self.find_external(ext)?
            && owner != id
        {
            return Err(Error::Conflict(format!("external id {ext:?} belongs to record {owner}")));
        }
        if let Some(old) = &old
            && old.record.kind() != record.kind()
        {
            return Err(Error::Conflict(format!(
                "record {id} is a {}, not a {}",
                old.record.kind(),
                record.kind()
            )));
        }
        if let Some(old_ext) = old.as_ref().and_then(|o| o.record.external_id.as_ref())
            && Some(old_ext) != record.external_id.as_ref()
        {
            self.remove(key("x/", old_ext.as_bytes()));
        }
        if let Some(ext) = &record.external_id {
            self.insert(key("x/", ext.as_bytes()), id.as_str().as_bytes().to_vec());
        }
        let seq = self.next_seq()?;
        let entry = OutboxEntry { local_id: id.clone(), kind: record.kind(), op: OutboxOp::Upsert };
        self.insert(outbox_key(seq), encode(&entry));
        let bits = pseudonym_bits(&pseudonym);
        let old_bits = old.as_ref().map(|o| pseudonym_bits(&o.pseudonym));
        if old_bits != Some(bits) {
            if let Some(old_bits) = old_bits {
                self.pseudonyms.push((old_bits, None));
            }
            self.pseudonyms.push((bits, Some(id.clone())));
        }
        let stored = StoredRecord { record, pseudonym, seq: Seq(seq) };
        self.insert(record_key(&id), encode_sized(&stored, RECORD_JSON_CAPACITY));
        Ok(if old.is_some() { PutOutcome::Updated(stored) } else { PutOutcome::Created(stored) })
    }

    /// Deletes a record and appends a delete to the outbox. Returns the deleted record, if any.
    pub fn delete(&mut self, id: &LocalId) -> Result<Option<StoredRecord>> {
        let Some(old) = self.get(id)? else { return Ok(None) };
        if let Some(ext) = &old.record.external_id {
            self.remove(key("x/", ext.as_bytes()));
        }
        self.pseudonyms.push((pseudonym_bits(&old.pseudonym), None));
        self.remove(key("h/", id.as_str().as_bytes()));
        self.remove(record_key(id));
        let seq = self.next_seq()?;
        let entry =
            OutboxEntry { local_id: id.clone(), kind: old.record.kind(), op: OutboxOp::Delete };
        self.insert(outbox_key(seq), encode(&entry));
        Ok(Some(old))
    }

    /// Queues a record to be sent again as it is (after a fix, a release or a hub rebuild).
    pub fn requeue(&mut self, id: &LocalId) -> Result<Option<StoredRecord>> {
        let Some(old) = self.get(id)? else { return Ok(None) };
        let seq = self.next_seq()?;
        let entry =
            OutboxEntry { local_id: id.clone(), kind: old.record.kind(), op: OutboxOp::Upsert };
        self.insert(outbox_key(seq), encode(&entry));
        let stored = StoredRecord { seq: Seq(seq), ..old };
        self.insert(record_key(id), encode_sized(&stored, RECORD_JSON_CAPACITY));
        Ok(Some(stored))
    }

    /// Applies everything atomically. The caller flushes ([`Db::flush`]) before acknowledging.
    pub fn commit(self) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (k, v) in self.pending {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        for (name, v) in self.meta {
            batch.insert(name, &seq_key(v));
        }
        self.store.tree.apply_batch(batch).map_err(|e| self.store.sled_err(e))?;
        // Still under the writer lock: the index moves with the tree.
        if !self.pseudonyms.is_empty() {
            let mut slot = self.store.pseudonyms.0.write().unwrap_or_else(|p| p.into_inner());
            if let Some(map) = slot.as_mut() {
                for (bits, id) in self.pseudonyms {
                    match id {
                        Some(id) => map.insert(bits, id),
                        None => map.remove(&bits),
                    };
                }
            }
        }
        Ok(())
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
    fn a_batch_sees_its_own_changes_and_commits_all_or_nothing() {
        let (_d, s) = store();
        // Records are built before the batch: allocating an id outside the batch would wait
        // for the batch's writer lock.
        let template = demand(&s, Some("D-1"), "first");
        let second = demand(&s, None, "second").body;
        let many: Vec<Record> =
            (0..100).map(|i| demand(&s, Some(&format!("E-{i}")), "t")).collect();
        {
            let mut w = s.write();
            let id = w.allocate_local_id(Kind::Demand).unwrap();
            let mut r = Record { local_id: id.clone(), ..template };
            assert!(matches!(w.put(r.clone(), pseudo(1)).unwrap(), PutOutcome::Created(_)));
            // The same external id again in the same batch resolves to the pending record.
            assert_eq!(w.find_external("D-1").unwrap(), Some(id.clone()));
            r.body = second;
            assert!(matches!(w.put(r, pseudo(1)).unwrap(), PutOutcome::Updated(_)));
            // Dropped without commit: nothing is written.
        }
        assert_eq!(s.counts().unwrap().demands, 0);
        assert!(s.outbox_after(Seq(0), 10).unwrap().is_empty());

        let mut w = s.write();
        for (i, r) in many.into_iter().enumerate() {
            w.put(r, pseudo(i as u8)).unwrap();
        }
        w.commit().unwrap();
        assert_eq!(s.counts().unwrap().demands, 100);
        assert_eq!(s.last_seq().unwrap(), Seq(100));
        assert_eq!(s.outbox_after(Seq(0), 1000).unwrap().len(), 100);
    }

    #[test]
    fn the_sharing_ledger_lists_newest_first_and_filters_by_record() {
        let (_d, s) = store();
        let id = |n: u8| LocalId::parse(&format!("dem-{n:06}")).unwrap();
        let entry = |batch, seq, n| SentEntry {
            batch,
            seq: Seq(seq),
            sent_at_ms: 1,
            local_id: id(n),
            pseudonym: pseudo(n),
            kind: Kind::Demand,
            summary_json: Some("{}".into()),
            tombstone_reason: None,
        };
        s.record_sent(&[entry(1, 1, 1), entry(1, 2, 2)]).unwrap();
        s.record_sent(&[entry(2, 3, 1)]).unwrap();
        let all = s.sent(None, None, 10).unwrap();
        assert_eq!(all.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [3, 2, 1]);
        let one = s.sent(Some(&id(1)), None, 10).unwrap();
        assert_eq!(one.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [3, 1]);
        let page = s.sent(None, Some((2, 3)), 10).unwrap();
        assert_eq!(page.iter().map(|e| e.seq.0).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn resolve_follows_commits_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c);
        {
            let db = Db::open(dir.path()).unwrap();
            let s = NodeStore::open(&db).unwrap();
            // A store written by an older version: the index is on disk under `p/`.
            s.tree.insert(b"p/legacy", b"dem-999999").unwrap();
            a = demand(&s, None, "a");
            b = demand(&s, None, "b");
            s.put(a.clone(), pseudo(1)).unwrap();
            // Before the index is built, commits leave it alone; the build sees them.
            assert_eq!(s.resolve(&pseudo(1)).unwrap(), Some(a.local_id.clone()));
            assert!(s.tree.scan_prefix(b"p/").next().is_none(), "the old index is removed");
            // After it is built, commits keep it current.
            s.put(b.clone(), pseudo(2)).unwrap();
            assert_eq!(s.resolve(&pseudo(2)).unwrap(), Some(b.local_id.clone()));
            s.delete(&a.local_id).unwrap();
            assert_eq!(s.resolve(&pseudo(1)).unwrap(), None);
            // A dropped batch changes nothing.
            c = demand(&s, None, "c");
            {
                let mut w = s.write();
                w.put(c.clone(), pseudo(3)).unwrap();
            }
            assert_eq!(s.resolve(&pseudo(3)).unwrap(), None);
            s.put(c.clone(), pseudo(3)).unwrap();
            db.flush().unwrap();
        }
        let db = Db::open(dir.path()).unwrap();
        let s = NodeStore::open(&db).unwrap();
        assert_eq!(s.resolve(&pseudo(1)).unwrap(), None);
        assert_eq!(s.resolve(&pseudo(2)).unwrap(), Some(b.local_id));
        assert_eq!(s.resolve(&pseudo(3)).unwrap(), Some(c.local_id));
    }

    #[test]
    fn the_secret_is_set_once() {
        let (_d, s) = store();
        assert_eq!(s.secret_or_init(b"first").unwrap(), b"first");
        assert_eq!(s.secret_or_init(b"second").unwrap(), b"first");
    }
}
