//! The hub's trees: the latest summary (or tombstone) per (city, pseudonym) with its version,
//! and per-city sync state.

use pilot_model::{CityCode, Kind, Summary, SummaryKey, Tombstone};
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

/// What the hub knows of one city's sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CityState {
    /// Highest node sequence durably applied.
    pub acked_seq: u64,
    /// When the city last pushed, in milliseconds since the Unix epoch.
    pub last_sync_ms: u64,
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
    /// Changes that altered the stored state, in order; the index must follow them.
    pub applied: Vec<Change>,
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
    pub fn apply(
        &self,
        city: CityCode,
        entries: &[(u64, Change)],
        through_seq: u64,
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
                let mut out = ApplyOutcome::default();
                for (seq, change) in entries {
                    let key = summary_key(change.key());
                    let stored_version = match summaries.get(&key)? {
                        Some(b) => {
                            decode::<StoredSummary>(SUMMARIES, &b)
                                .map_err(ConflictableTransactionError::Abort)?
                                .version
                        }
                        None => 0,
                    };
                    if *seq <= state.acked_seq || *seq <= stored_version {
                        out.ignored += 1;
                        continue;
                    }
                    let value = match change {
                        Change::Upsert(s) => {
                            StoredSummary { version: *seq, kind: s.kind, summary: Some(s.clone()) }
                        }
                        Change::Tombstone(t) => {
                            StoredSummary { version: *seq, kind: t.kind, summary: None }
                        }
                    };
                    summaries.insert(key, encode(&value))?;
                    out.applied.push(change.clone());
                }
                let max_seq = entries.iter().map(|(s, _)| *s).max().unwrap_or(0);
                state.acked_seq = state.acked_seq.max(through_seq).max(max_seq);
                state.last_sync_ms = now_ms;
                cities.insert(city_key.as_bytes(), encode(&state))?;
                out.acked_seq = state.acked_seq;
                Ok(out)
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => self.sled_err(e),
            })
    }

    /// Records that a city made contact without changing its watermark.
    pub fn touch(&self, city: CityCode, now_ms: u64) -> Result<CityState> {
        let mut state = self.city_state(city)?;
        state.last_sync_ms = now_ms;
        self.cities
            .insert(city.to_string().as_bytes(), encode(&state))
            .map_err(|e| self.sled_err(e))?;
        Ok(state)
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

    /// Every live summary (tombstones left out), ordered by key; used to rebuild the index.
    pub fn live_summaries(&self) -> Result<Vec<Summary>> {
        let mut out = Vec::new();
        for item in self.summaries.iter() {
            let (_, v) = item.map_err(|e| self.sled_err(e))?;
            let stored: StoredSummary = decode(SUMMARIES, &v)?;
            out.extend(stored.summary);
        }
        Ok(out)
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
                2,
                10,
            )
            .unwrap();
        assert_eq!((out.acked_seq, out.applied.len(), out.ignored), (2, 2, 0));
        // The same batch again: nothing changes.
        let out = h.apply(c, &[(1, Change::Upsert(a.clone()))], 2, 11).unwrap();
        assert_eq!((out.acked_seq, out.applied.len(), out.ignored), (2, 0, 1));
        // A tombstone removes; a stale upsert after it does not resurrect.
        let t = Tombstone { key: a.key.clone(), kind: Kind::Achievement };
        h.apply(c, &[(5, Change::Tombstone(t))], 5, 12).unwrap();
        assert_eq!(h.live_summaries().unwrap().len(), 1);
        assert_eq!(h.get(&a.key).unwrap().unwrap().version, 5);
        assert_eq!(h.city_state(c).unwrap(), CityState { acked_seq: 5, last_sync_ms: 12 });
    }

    #[test]
    fn a_batch_with_another_citys_key_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let h = HubStore::open(&Db::open(dir.path()).unwrap()).unwrap();
        let c = CityCode::parse("421200").unwrap();
        let batch =
            [(1, Change::Upsert(summary("421200", 1))), (2, Change::Upsert(summary("350500", 2)))];
        assert!(matches!(h.apply(c, &batch, 2, 1), Err(Error::Conflict(_))));
        assert!(h.live_summaries().unwrap().is_empty());
        assert_eq!(h.city_state(c).unwrap().acked_seq, 0);
    }
}
