//! The hub's trees: the latest summary (or tombstone) per (city, pseudonym) with its version,
//! and per-city sync state, including the digest of the city's live summaries, which every
//! write keeps current in the same transaction.

use std::collections::HashMap;

use pilot_model::digest::bucket_of;
use pilot_model::{
    BucketDigests, CityCode, Digest, Kind, Pseudonym, Summary, SummaryKey, Tombstone,
};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::keys::{decode, encode};
use crate::{Db, Error, Result};

const SUMMARIES: &str = "hub/summaries";
const CITIES: &str = "hub/cities";

/// What the hub keeps for one (city, pseudonym).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSummary {
    /// The node sequence that produced this state; older versions are ignored.
    pub version: u64,
    /// The record's bank.
    pub kind: Kind,
    /// The summary, or `None` for a tombstone (kept so that a stale upsert cannot resurrect it).
    pub summary: Option<Summary>,
}

/// A [`StoredSummary`] to encode, borrowing its summary (the same bytes, without a copy).
#[derive(Serialize)]
struct StoredSummaryRef<'a> {
    version: u64,
    kind: Kind,
    summary: Option<&'a Summary>,
}

/// The part of a stored [`StoredSummary`] that an apply needs: its version and whether it
/// holds a summary, which is skipped rather than decoded.
#[derive(Deserialize)]
struct StoredVersion {
    version: u64,
    summary: Option<serde::de::IgnoredAny>,
}

/// What the hub knows of one city's sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CityState {
    /// Highest node sequence durably applied.
    pub acked_seq: u64,
    /// When the city last pushed, in milliseconds since the Unix epoch.
    pub last_sync_ms: u64,
    /// When the city last made any contact (resume, push or digest).
    pub last_contact_ms: u64,
    /// The node's highest outbox sequence, as last reported.
    pub node_last_seq: u64,
    /// Digest of the city's live summaries (tombstones excluded).
    pub digest: Digest,
    /// The outcome of the last digest comparison.
    pub digest_state: DigestState,
    /// When digests were last compared.
    pub digest_checked_ms: u64,
}

impl CityState {
    /// Sequences the node wrote that the hub has not applied.
    pub fn lag(&self) -> u64 {
        self.node_last_seq.saturating_sub(self.acked_seq)
    }
}

/// The outcome of the last anti-entropy comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestState {
    /// Never compared.
    #[default]
    Unknown,
    /// The hub held exactly what the node shares.
    Equal,
    /// They differed; the node is resending and the hub dropped what the node no longer has.
    Repairing,
}

/// What reconciling some buckets did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReconcileOutcome {
    /// Pseudonyms the node listed that the hub lacks or holds at another version.
    pub resend: Vec<Pseudonym>,
    /// Tombstones for summaries the hub held but the node no longer shares; the index must
    /// follow them.
    pub dropped: Vec<Change>,
}

/// One change from a node, versioned by its outbox sequence.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Store or replace a summary.
    Upsert(Summary),
    /// Remove a summary.
    Tombstone(Tombstone),
}

impl Change {
    fn key(&self) -> &SummaryKey {
        match self {
            Change::Upsert(s) => &s.key,
            Change::Tombstone(t) => &t.key,
        }
    }
}

/// What applying a batch did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyOutcome {
    /// The city's watermark after the batch.
    pub acked_seq: u64,
    /// Positions in the batch of the entries that altered the stored state, in order; the
    /// index must follow them.
    pub applied: Vec<usize>,
    /// Entries ignored as duplicates or stale versions.
    pub ignored: u32,
}

/// The hub's typed view of its store.
#[derive(Debug, Clone)]
pub struct HubStore {
    db: Db,
    summaries: sled::Tree,
    cities: sled::Tree,
}

/// Keys of one city's summaries start with this.
fn city_prefix(city: CityCode) -> Vec<u8> {
    let mut v = city.to_string().into_bytes();
    v.push(b'/');
    v
}

fn summary_key(k: &SummaryKey) -> Vec<u8> {
    let mut v = k.city.to_string().into_bytes();
    v.push(b'/');
    v.extend_from_slice(k.pseudonym.as_str().as_bytes());
    v
}

impl HubStore {
    /// Opens the hub's trees in `db`.
    pub fn open(db: &Db) -> Result<Self> {
        Ok(HubStore { summaries: db.tree(SUMMARIES)?, cities: db.tree(CITIES)?, db: db.clone() })
    }

    /// The underlying database, for flushing.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn sled_err(&self, e: sled::Error) -> Error {
        Error::from_sled(self.db.path(), e)
    }

    /// Applies a batch of one city's changes atomically.
    ///
    /// Entries at or below the city's watermark, and entries not newer than the stored version of
    /// their key, are ignored, so replays and duplicates are harmless. The watermark moves to
    /// `through_seq` (never backwards). The caller must [`Db::flush`] before acknowledging.
    ///
    /// NB: every entry's key must belong to `city`; the caller checks this before calling, and
    /// this function refuses the whole batch with [`Error::Conflict`] if it does not hold.
    ///
    /// `after_seq` is where the batch continues from: if the city's watermark is below it, an
    /// earlier batch was lost or reordered and the whole batch is refused with [`Error::Gap`]
    /// (applying it would move the watermark over changes the hub never saw).
    /// `node_last_seq` is the node's highest sequence when it sent the batch (for the lag figure).
    pub fn apply(
        &self,
        city: CityCode,
        entries: &[(u64, Change)],
        after_seq: u64,
        through_seq: u64,
        node_last_seq: u64,
        now_ms: u64,
    ) -> Result<ApplyOutcome> {
        if let Some((_, c)) = entries.iter().find(|(_, c)| c.key().city != city) {
            return Err(Error::Conflict(format!(
                "batch for city {city} holds a change for {}",
                c.key()
            )));
        }
        let city_key = city.to_string();
        (&self.summaries, &self.cities)
            .transaction(|(summaries, cities)| {
                let mut state: CityState = match cities.get(city_key.as_bytes())? {
                    Some(b) => decode(CITIES, &b).map_err(ConflictableTransactionError::Abort)?,
                    None => CityState::default(),
                };
                if after_seq > state.acked_seq {
                    return Err(ConflictableTransactionError::Abort(Error::Gap {
                        after: after_seq,
                        acked: state.acked_seq,
                    }));
                }
                let mut out = ApplyOutcome::default();
                for (i, (seq, change)) in entries.iter().enumerate() {
                    let key = summary_key(change.key());
                    let (stored_version, was_live) = match summaries.get(&key)? {
                        Some(b) => {
                            // Only the version and whether a summary is there: the summary
                            // itself is skipped, not decoded.
                            let old = decode::<StoredVersion>(SUMMARIES, &b)
                                .map_err(ConflictableTransactionError::Abort)?;
                            (old.version, old.summary.is_some())
                        }
                        None => (0, false),
                    };
                    if *seq <= state.acked_seq || *seq <= stored_version {
                        out.ignored += 1;
                        continue;
                    }
                    let pseudonym = &change.key().pseudonym;
                    if was_live {
                        state.digest.remove(pseudonym, stored_version);
                    }
                    let value = match change {
                        Change::Upsert(s) => {
                            state.digest.add(pseudonym, *seq);
                            StoredSummaryRef { version: *seq, kind: s.kind, summary: Some(s) }
                        }
                        Change::Tombstone(t) => {
                            StoredSummaryRef { version: *seq, kind: t.kind, summary: None }
                        }
                    };
                    summaries.insert(key, encode(&value))?;
                    out.applied.push(i);
                }
                let max_seq = entries.iter().map(|(s, _)| *s).max().unwrap_or(0);
                state.acked_seq = state.acked_seq.max(through_seq).max(max_seq);
                state.node_last_seq = node_last_seq.max(state.acked_seq);
                state.last_sync_ms = now_ms;
                state.last_contact_ms = now_ms;
                cities.insert(city_key.as_bytes(), encode(&state))?;
                out.acked_seq = state.acked_seq;
                Ok(out)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => self.sled_err(e),
            })
    }

    /// Writes a consistent backup of the hub's store to `out`; the caller holds batches off.
    /// Returns the manifest and the file's SHA-256.
    pub fn backup(&self, out: &mut impl std::io::Write) -> Result<(crate::Manifest, String)> {
        let manifest = crate::Manifest::of_hub(self)?;
        let sum = crate::write_manifest_backup(&self.db, &manifest, out)?;
        Ok((manifest, sum))
    }

    /// Records that a city made contact, and its highest sequence, without changing its
    /// watermark.
    pub fn touch(&self, city: CityCode, node_last_seq: u64, now_ms: u64) -> Result<CityState> {
        self.update_city(city, |state| {
            state.last_contact_ms = now_ms;
            state.node_last_seq = node_last_seq;
        })
    }

    /// Records the outcome of a digest comparison (also a contact).
    pub fn record_digest_check(
        &self,
        city: CityCode,
        equal: bool,
        node_last_seq: u64,
        now_ms: u64,
    ) -> Result<CityState> {
        self.update_city(city, |state| {
            state.last_contact_ms = now_ms;
            state.node_last_seq = node_last_seq;
            state.digest_checked_ms = now_ms;
            state.digest_state = if equal { DigestState::Equal } else { DigestState::Repairing };
        })
    }

    /// Read-modify-write of one city's state, atomic against concurrent batches.
    fn update_city(&self, city: CityCode, f: impl Fn(&mut CityState)) -> Result<CityState> {
        let key = city.to_string();
        let mut out = CityState::default();
        self.cities
            .fetch_and_update(key.as_bytes(), |old| {
                let mut state = old.and_then(|b| decode(CITIES, b).ok()).unwrap_or_default();
                f(&mut state);
                out = state;
                Some(encode(&state))
            })
            .map_err(|e| self.sled_err(e))?;
        Ok(out)
    }

    /// The digest of each bucket of a city's live summaries, computed from the store.
    pub fn bucket_digests(&self, city: CityCode) -> Result<BucketDigests> {
        let mut out = BucketDigests::default();
        self.scan_city(city, None, |p, version, live| {
            if live {
                out.add(&p, version);
            }
        })?;
        Ok(out)
    }

    /// Recomputes every city's digest from the stored summaries and corrects the stored one;
    /// run at start-up so that a store written before digests existed is right too.
    /// Returns the cities whose stored digest was wrong.
    pub fn recompute_digests(&self) -> Result<Vec<CityCode>> {
        let mut fixed = Vec::new();
        for (city, state) in self.cities()? {
            let digest = self.bucket_digests(city)?.total();
            if digest != state.digest {
                self.update_city(city, |s| s.digest = digest)?;
                fixed.push(city);
            }
        }
        Ok(fixed)
    }

    /// Calls `f(pseudonym, version, live)` for every stored key of `city`, optionally only in
    /// one bucket.
    fn scan_city(
        &self,
        city: CityCode,
        bucket: Option<usize>,
        mut f: impl FnMut(Pseudonym, u64, bool),
    ) -> Result<()> {
        let mut prefix = city_prefix(city);
        if let Some(b) = bucket {
            prefix.extend_from_slice(format!("{b:02x}").as_bytes());
        }
        let skip = city_prefix(city).len();
        for item in self.summaries.scan_prefix(&prefix) {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let p = std::str::from_utf8(&k[skip..]).map_err(|e| Error::corrupt(SUMMARIES, e))?;
            let p = Pseudonym::parse(p).map_err(|e| Error::corrupt(SUMMARIES, e))?;
            let stored: StoredSummary = decode(SUMMARIES, &v)?;
            f(p, stored.version, stored.summary.is_some());
        }
        Ok(())
    }

    /// Reconciles complete listings of some buckets of `city` with what the hub holds.
    ///
    /// Live summaries in a listed bucket that the listing lacks are turned into tombstones
    /// (keeping their version, so a stale replay cannot bring them back); listed pairs the hub
    /// lacks, or holds at another version, are returned for the node to send again. The caller
    /// must [`Db::flush`] before replying.
    pub fn reconcile(
        &self,
        city: CityCode,
        listings: &[(usize, Vec<(Pseudonym, u64)>)],
    ) -> Result<ReconcileOutcome> {
        let mut out = ReconcileOutcome::default();
        let mut drop = Vec::new();
        for (bucket, listed) in listings {
            let mut held: HashMap<Pseudonym, (u64, bool)> = HashMap::new();
            self.scan_city(city, Some(*bucket), |p, v, live| {
                held.insert(p, (v, live));
            })?;
            let listed_set: HashMap<&Pseudonym, u64> =
                listed.iter().map(|(p, v)| (p, *v)).collect();
            for (p, v) in listed {
                if bucket_of(p) != *bucket {
                    return Err(Error::Conflict(format!(
                        "pseudonym {p} is not in bucket {bucket}"
                    )));
                }
                if held.get(p) != Some(&(*v, true)) {
                    out.resend.push(p.clone());
                }
            }
            for (p, (v, live)) in held {
                if live && !listed_set.contains_key(&p) {
                    drop.push((p, v));
                }
            }
        }
        drop.sort();
        if drop.is_empty() {
            return Ok(out);
        }
        let city_key = city.to_string();
        let dropped = (&self.summaries, &self.cities)
            .transaction(|(summaries, cities)| {
                let mut state: CityState = match cities.get(city_key.as_bytes())? {
                    Some(b) => decode(CITIES, &b).map_err(ConflictableTransactionError::Abort)?,
                    None => CityState::default(),
                };
                let mut dropped = Vec::new();
                for (p, version) in &drop {
                    let key = summary_key(&SummaryKey { city, pseudonym: p.clone() });
                    let Some(b) = summaries.get(&key)? else { continue };
                    let stored: StoredSummary =
                        decode(SUMMARIES, &b).map_err(ConflictableTransactionError::Abort)?;
                    // A batch applied since the scan wins.
                    if stored.version != *version || stored.summary.is_none() {
                        continue;
                    }
                    state.digest.remove(p, *version);
                    let t = StoredSummary { version: *version, kind: stored.kind, summary: None };
                    summaries.insert(key, encode(&t))?;
                    dropped.push(Change::Tombstone(Tombstone {
                        key: SummaryKey { city, pseudonym: p.clone() },
                        kind: stored.kind,
                    }));
                }
                cities.insert(city_key.as_bytes(), encode(&state))?;
                Ok(dropped)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => self.sled_err(e),
            })?;
        out.dropped = dropped;
        Ok(out)
    }

    /// The sync state of one city (default if unknown).
    pub fn city_state(&self, city: CityCode) -> Result<CityState> {
        match self.cities.get(city.to_string().as_bytes()).map_err(|e| self.sled_err(e))? {
            Some(b) => decode(CITIES, &b),
            None => Ok(CityState::default()),
        }
    }

    /// Every city the hub has heard from, ordered by code.
    pub fn cities(&self) -> Result<Vec<(CityCode, CityState)>> {
        let mut out = Vec::new();
        for item in self.cities.iter() {
            let (k, v) = item.map_err(|e| self.sled_err(e))?;
            let code = std::str::from_utf8(&k).map_err(|e| Error::corrupt(CITIES, e))?;
            let city = CityCode::parse(code).map_err(|e| Error::corrupt(CITIES, e))?;
            out.push((city, decode(CITIES, &v)?));
        }
        Ok(out)
    }

    /// Every live summary (tombstones left out), ordered by key.
    pub fn live_summaries(&self) -> Result<Vec<Summary>> {
        self.each_live_summary().collect()
    }

    /// Every live summary (tombstones left out), ordered by key, read and decoded one at a
    /// time, so that rebuilding the index never holds them all; stops after the first error.
    pub fn each_live_summary(&self) -> impl Iterator<Item = Result<Summary>> + '_ {
        let mut failed = false;
        self.summaries
            .iter()
            .map_while(move |item| {
                if failed {
                    return None;
                }
                let stored = item
                    .map_err(|e| self.sled_err(e))
                    .and_then(|(_, v)| decode::<StoredSummary>(SUMMARIES, &v));
                failed = stored.is_err();
                Some(stored.map(|s| s.summary))
            })
            .filter_map(Result::transpose)
    }

    /// The stored state of one key.
    pub fn get(&self, key: &SummaryKey) -> Result<Option<StoredSummary>> {
        match self.summaries.get(summary_key(key)).map_err(|e| self.sled_err(e))? {
            Some(b) => Ok(Some(decode(SUMMARIES, &b)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use pilot_model::{Pseudonym, Status, WeightedTerm};

    use super::*;

    fn summary(city: &str, p: u8) -> Summary {
        Summary {
            key: SummaryKey {
                city: CityCode::parse(city).unwrap(),
                pseudonym: Pseudonym::parse(&format!("{p:02x}").repeat(16)).unwrap(),
            },
            kind: Kind::Achievement,
            status: Status::Open,
            fields: vec![],
            industries: vec![],
            trl: None,
            modes: vec![],
            budget: None,
            updated: None,
            deadline: None,
            terms: vec![WeightedTerm { term: "隔膜".into(), weight: 1.0 }],
        }
    }

    #[test]
    fn duplicates_and_stale_versions_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let h = HubStore::open(&Db::open(dir.path()).unwrap()).unwrap();
        let c = CityCode::parse("421200").unwrap();
        let a = summary("421200", 1);
        let out = h
            .apply(
                c,
                &[(1, Change::Upsert(a.clone())), (2, Change::Upsert(summary("421200", 2)))],
                0,
                2,
                2,
                10,
            )
            .unwrap();
        assert_eq!((out.acked_seq, out.applied.len(), out.ignored), (2, 2, 0));
        // The same batch again: nothing changes.
        let out = h.apply(c, &[(1, Change::Upsert(a.clone()))], 0, 2, 2, 11).unwrap();
        assert_eq!((out.acked_seq, out.applied.len(), out.ignored), (2, 0, 1));
        // A tombstone removes; a stale upsert after it does not resurrect.
        let t = Tombstone { key: a.key.clone(), kind: Kind::Achievement };
        h.apply(c, &[(5, Change::Tombstone(t))], 0, 5, 9, 12).unwrap();
        assert_eq!(h.live_summaries().unwrap().len(), 1);
        assert_eq!(h.get(&a.key).unwrap().unwrap().version, 5);
        let state = h.city_state(c).unwrap();
        assert_eq!((state.acked_seq, state.last_sync_ms, state.lag()), (5, 12, 4));
        let mut live = Digest::default();
        live.add(&summary("421200", 2).key.pseudonym, 2);
        assert_eq!(state.digest, live, "the digest follows upserts and tombstones");
        assert_eq!(h.bucket_digests(c).unwrap().total(), live);
    }

    #[test]
    fn live_summaries_stream_in_key_order_and_stop_at_a_corrupt_record() {
        let dir = tempfile::tempdir().unwrap();
        let h = HubStore::open(&Db::open(dir.path()).unwrap()).unwrap();
        let c = CityCode::parse("421200").unwrap();
        let (a, b) = (summary("421200", 1), summary("421200", 3));
        let batch = [(1, Change::Upsert(b.clone())), (2, Change::Upsert(a.clone()))];
        h.apply(c, &batch, 0, 2, 2, 10).unwrap();
        let keys: Vec<SummaryKey> = h.each_live_summary().map(|s| s.unwrap().key).collect();
        assert_eq!(keys, [a.key.clone(), b.key.clone()]);

        // A record that does not decode, between the two: the first comes, then the error,
        // then nothing.
        let mut between = summary_key(&a.key);
        between.push(0);
        h.summaries.insert(between, b"not a stored summary".to_vec()).unwrap();
        let items: Vec<Result<Summary>> = h.each_live_summary().collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().key, a.key);
        let err = items[1].as_ref().unwrap_err().to_string();
        assert!(err.contains(SUMMARIES), "the error names the tree: {err}");
        assert!(h.live_summaries().is_err());
    }

    #[test]
    fn a_batch_with_another_citys_key_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let h = HubStore::open(&Db::open(dir.path()).unwrap()).unwrap();
        let c = CityCode::parse("421200").unwrap();
        let batch =
            [(1, Change::Upsert(summary("421200", 1))), (2, Change::Upsert(summary("350500", 2)))];
        assert!(matches!(h.apply(c, &batch, 0, 2, 2, 1), Err(Error::Conflict(_))));
        assert!(h.live_summaries().unwrap().is_empty());
        assert_eq!(h.city_state(c).unwrap().acked_seq, 0);
    }

    #[test]
    fn reconcile_drops_what_the_node_lacks_and_names_what_the_hub_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let h = HubStore::open(&Db::open(dir.path()).unwrap()).unwrap();
        let c = CityCode::parse("421200").unwrap();
        let (a, b, x) = (summary("421200", 1), summary("421200", 2), summary("421200", 3));
        h.apply(
            c,
            &[
                (1, Change::Upsert(a.clone())),
                (2, Change::Upsert(b.clone())),
                (3, Change::Upsert(x)),
            ],
            0,
            3,
            3,
            1,
        )
        .unwrap();
        // The node shares a at version 1, b at version 7 (the hub missed it) and n (new to the
        // hub), and no longer shares x.
        let n = summary("421200", 4).key.pseudonym;
        let listing =
            |s: &Summary, v| (bucket_of(&s.key.pseudonym), vec![(s.key.pseudonym.clone(), v)]);
        let listings = vec![
            listing(&a, 1),
            listing(&b, 7),
            (bucket_of(&n), vec![(n.clone(), 4)]),
            (bucket_of(&summary("421200", 3).key.pseudonym), vec![]),
        ];
        let out = h.reconcile(c, &listings).unwrap();
        let mut resend = out.resend.clone();
        resend.sort();
        assert_eq!(resend, vec![b.key.pseudonym.clone(), n]);
        assert_eq!(out.dropped.len(), 1, "{:?}", out.dropped);
        assert!(h.get(&summary("421200", 3).key).unwrap().unwrap().summary.is_none());
        assert_eq!(h.live_summaries().unwrap().len(), 2);
        assert_eq!(h.city_state(c).unwrap().digest, h.bucket_digests(c).unwrap().total());
        // A pseudonym listed under the wrong bucket is refused.
        let wrong = (bucket_of(&a.key.pseudonym) + 1) % 256;
        assert!(matches!(
            h.reconcile(c, &[(wrong, vec![(a.key.pseudonym.clone(), 1)])]),
            Err(Error::Conflict(_))
        ));
    }

    #[test]
    fn a_batch_after_a_gap_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let h = HubStore::open(&Db::open(dir.path()).unwrap()).unwrap();
        let c = CityCode::parse("421200").unwrap();
        h.apply(c, &[(1, Change::Upsert(summary("421200", 1)))], 0, 1, 1, 1).unwrap();
        // Batch (10, 20] arrives before (1, 10]: refused whole.
        let err = h.apply(c, &[(11, Change::Upsert(summary("421200", 2)))], 10, 20, 20, 2);
        assert!(matches!(err, Err(Error::Gap { after: 10, acked: 1 })), "{err:?}");
        assert_eq!(h.city_state(c).unwrap().acked_seq, 1);
        assert_eq!(h.live_summaries().unwrap().len(), 1);
    }
}
