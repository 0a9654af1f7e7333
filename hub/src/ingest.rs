//! Applies node batches: check, decode, store durably, then update the match index.
//!
//! Invariant: an acknowledgement is returned only after the batch is applied and the store is
//! flushed to the device, so an acknowledged summary survives a crash or power loss.

use std::sync::Arc;

use pilot_model::{CityCode, Summary, Tombstone};
use pilot_proto::pb;
use pilot_store::{Change, HubStore};

use crate::config::Limits;
use crate::matcher::Matcher;
use crate::{Error, Result};

/// The hub's write path.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: HubStore,
    matcher: Arc<Matcher>,
    limits: Limits,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Ingest {
    /// The write path over a store and an index.
    pub fn new(store: HubStore, matcher: Arc<Matcher>, limits: Limits) -> Self {
        Ingest { store, matcher, limits }
    }

    /// The hub's watermark for `city`; also records the contact.
    pub fn resume(&self, city: CityCode) -> Result<u64> {
        Ok(self.store.touch(city, now_ms())?.acked_seq)
    }

    /// Applies one batch from `city` (the caller's certificate city) and returns the ack.
    ///
    /// The whole batch is refused if it names another city anywhere, is over the size limit,
    /// is out of order, or holds an invalid entry; nothing of a refused batch is applied.
    pub fn apply(&self, city: CityCode, batch: pb::PushBatch) -> Result<pb::PushAck> {
        if batch.city != city.to_string() {
            return Err(Error::PermissionDenied(format!(
                "city {city} may not push for city {:?}",
                batch.city
            )));
        }
        if batch.entries.len() > self.limits.max_batch_entries {
            return Err(Error::Invalid {
                field: "entries",
                reason: format!(
                    "{} entries, at most {}",
                    batch.entries.len(),
                    self.limits.max_batch_entries
                ),
            });
        }
        let mut changes = Vec::with_capacity(batch.entries.len());
        let mut last = 0;
        for entry in batch.entries {
            if entry.seq <= last {
                return Err(Error::Invalid {
                    field: "seq",
                    reason: format!("sequence {} after {last}", entry.seq),
                });
            }
            last = entry.seq;
            let change = match entry.change {
                Some(pb::outbox_entry::Change::Upsert(s)) => Change::Upsert(Summary::try_from(s)?),
                Some(pb::outbox_entry::Change::Tombstone(t)) => {
                    Change::Tombstone(Tombstone::try_from(t)?)
                }
                None => {
                    return Err(Error::Invalid {
                        field: "change",
                        reason: format!("entry {} is empty", entry.seq),
                    });
                }
            };
            let owner = match &change {
                Change::Upsert(s) => s.key.city,
                Change::Tombstone(t) => t.key.city,
            };
            if owner != city {
                return Err(Error::PermissionDenied(format!(
                    "city {city} may not write summaries of city {owner}"
                )));
            }
            changes.push((entry.seq, change));
        }
        if batch.through_seq < last {
            return Err(Error::Invalid {
                field: "through_seq",
                reason: format!("{} is below entry {last}", batch.through_seq),
            });
        }
        let outcome = self.store.apply(city, &changes, batch.through_seq, now_ms())?;
        self.store.db().flush()?;
        self.matcher.apply(&outcome.applied);
        Ok(pb::PushAck {
            acked_seq: outcome.acked_seq,
            applied: u32::try_from(outcome.applied.len()).unwrap_or(u32::MAX),
            ignored: outcome.ignored,
        })
    }
}
