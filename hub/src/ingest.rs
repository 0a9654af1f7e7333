//! Applies node batches: check, decode, store durably, then update the match index.
//!
//! Invariant: an acknowledgement is returned only after the batch is applied and the store is
//! flushed to the device, so an acknowledged summary survives a crash or power loss.

use std::sync::Arc;

use pilot_model::digest::bucket_of;
use pilot_model::{BUCKETS, CityCode, Digest, Pseudonym, Summary, Tombstone};
use pilot_proto::pb;
use pilot_store::{Change, HubStore};
use tracing::info;

use crate::config::Limits;
use crate::matcher::Matcher;
use crate::metrics::HubMetrics;
use crate::{Error, Result};

/// The hub's write path.
#[derive(Debug, Clone)]
pub struct Ingest {
    store: HubStore,
    matcher: Arc<Matcher>,
    limits: Limits,
    metrics: Arc<HubMetrics>,
    /// Held (shared) by every batch and reconcile, and exclusively by a backup.
    gate: Arc<std::sync::RwLock<()>>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Ingest {
    /// The write path over a store and an index, counting into `metrics`.
    pub fn new(
        store: HubStore,
        matcher: Arc<Matcher>,
        limits: Limits,
        metrics: Arc<HubMetrics>,
    ) -> Self {
        Ingest { store, matcher, limits, metrics, gate: Default::default() }
    }

    /// A consistent backup of the store into `out`; batches wait while it is taken.
    pub fn backup(&self, out: &mut impl std::io::Write) -> Result<(pilot_store::Manifest, String)> {
        let _paused = self.gate.write().unwrap_or_else(|p| p.into_inner());
        Ok(self.store.backup(out)?)
    }

    /// The hub's metrics.
    pub fn metrics(&self) -> &HubMetrics {
        &self.metrics
    }

    /// The hub's watermark for `city`; also records the contact and the node's last sequence.
    pub fn resume(&self, city: CityCode, node_last_seq: u64) -> Result<u64> {
        Ok(self.store.touch(city, node_last_seq, now_ms())?.acked_seq)
    }

    /// Compares the node's digest with the hub's and, on a mismatch, returns the hub's buckets.
    ///
    /// A comparison is only meaningful when the node has nothing in flight: if its acknowledged
    /// sequence differs from the hub's watermark the reply says "not equal" without buckets and
    /// the state is left as it was (the node asks again once it has caught up).
    pub fn digest(&self, city: CityCode, req: &pb::DigestRequest) -> Result<pb::DigestReply> {
        let node = req.digest.unwrap_or_default();
        let node = Digest { count: node.count, hash: node.hash };
        let state = self.store.city_state(city)?;
        if req.acked_seq != state.acked_seq {
            self.store.touch(city, req.last_seq, now_ms())?;
            return Ok(pb::DigestReply {
                digest: Some(set_digest(state.digest)),
                equal: false,
                buckets: vec![],
                acked_seq: state.acked_seq,
            });
        }
        let equal = node == state.digest;
        self.store.record_digest_check(city, equal, req.last_seq, now_ms())?;
        let buckets = if equal {
            vec![]
        } else {
            info!(
                city = %city,
                hub = %state.digest.to_hex(),
                node = %node.to_hex(),
                "digest mismatch; comparing buckets"
            );
            self.store.bucket_digests(city)?.0.into_iter().map(set_digest).collect()
        };
        Ok(pb::DigestReply {
            digest: Some(set_digest(state.digest)),
            equal,
            buckets,
            acked_seq: state.acked_seq,
        })
    }

    /// Reconciles the node's complete listings of some buckets: drops what the node no longer
    /// shares (durably, and from the index) and names what the node must send again.
    pub fn reconcile(
        &self,
        city: CityCode,
        req: pb::ReconcileRequest,
    ) -> Result<pb::ReconcileReply> {
        let entries: usize = req.buckets.iter().map(|b| b.entries.len()).sum();
        if entries > self.limits.max_reconcile_entries {
            return Err(Error::Invalid {
                field: "buckets",
                reason: format!(
                    "{entries} entries, at most {}; split the buckets over several requests",
                    self.limits.max_reconcile_entries
                ),
            });
        }
        let mut seen = [false; BUCKETS];
        let mut listings = Vec::with_capacity(req.buckets.len());
        for listing in req.buckets {
            let bucket = usize::try_from(listing.bucket).unwrap_or(usize::MAX);
            if bucket >= BUCKETS || std::mem::replace(&mut seen[bucket], true) {
                return Err(Error::Invalid {
                    field: "bucket",
                    reason: format!("bucket {} is out of range or listed twice", listing.bucket),
                });
            }
            let mut pairs = Vec::with_capacity(listing.entries.len());
            for e in listing.entries {
                let p = Pseudonym::parse(&e.pseudonym).map_err(|err| Error::Invalid {
                    field: "pseudonym",
                    reason: err.to_string(),
                })?;
                if bucket_of(&p) != bucket {
                    return Err(Error::Invalid {
                        field: "pseudonym",
                        reason: format!("{p} does not belong to bucket {bucket}"),
                    });
                }
                pairs.push((p, e.version));
            }
            listings.push((bucket, pairs));
        }
        let _step = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let outcome = self.store.reconcile(city, &listings)?;
        let dropped = outcome.dropped.len();
        if dropped > 0 {
            self.metrics.dropped.add(&city.to_string(), dropped as u64);
            self.store.db().flush()?;
            self.matcher.apply(outcome.dropped);
        }
        info!(
            city = %city,
            buckets = listings.len(),
            resend = outcome.resend.len(),
            dropped,
            "reconciled"
        );
        Ok(pb::ReconcileReply {
            resend: outcome.resend.iter().map(|p| p.as_str().to_owned()).collect(),
            dropped: u32::try_from(dropped).unwrap_or(u32::MAX),
        })
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
        let outcome = self.store.apply(
            city,
            &changes,
            batch.after_seq,
            batch.through_seq,
            batch.last_seq,
            now_ms(),
        )?;
        self.store.db().flush()?;
        // The applied changes move into the index: no summary is copied.
        let mut changes: Vec<Option<Change>> =
            changes.into_iter().map(|(_, change)| Some(change)).collect();
        let applied: Vec<Change> =
            outcome.applied.iter().filter_map(|&i| changes.get_mut(i)?.take()).collect();
        self.matcher.apply(applied);
        let label = city.to_string();
        self.metrics.applied.add(&label, outcome.applied.len() as u64);
        self.metrics.ignored.add(&label, u64::from(outcome.ignored));
        Ok(pb::PushAck {
            acked_seq: outcome.acked_seq,
            applied: u32::try_from(outcome.applied.len()).unwrap_or(u32::MAX),
            ignored: outcome.ignored,
        })
    }
}

/// A digest in its wire form.
pub fn set_digest(d: Digest) -> pb::SetDigest {
    pb::SetDigest { count: d.count, hash: d.hash }
}
