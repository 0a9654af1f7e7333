//! Node → hub sync: a pure backoff policy and batch builder, and the task that drives them.
//!
//! The outbox is read in sequence order and each entry is turned into what it shares *now*:
//! the record is re-read and anonymized at send time (or its outcome is taken from those the
//! prepare task made ahead for the same sequence and day, see `crate::prepare`), so an entry
//! superseded by a later change of the same record is skipped, and nothing but `pilot-anon`'s
//! output is ever sent.
//! The hub's acknowledgement is the only thing that moves the outbox forward.
//!
//! Anti-entropy: whenever the outbox is drained and acknowledged (and at least every
//! `anti_entropy_secs`), the node compares the digest of its shared set ([`SharedIndex`]) with the
//! hub's. On a mismatch it lists the differing buckets; the hub drops what the node no longer
//! shares and names what it lacks, which the node queues again. The same check is the node's
//! heartbeat, from which the hub knows the city's last contact and lag.
//!
//! The functions here that touch the store ([`build_batch`], [`reconcile_watermark`],
//! [`listings`], [`requeue_pseudonyms`], [`expire_lapsed`]) are the whole sync logic; the async
//! task only moves their messages. The deterministic simulation drives the same functions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pilot_anon::{Anonymizer, Outcome};
use pilot_model::{BucketDigests, Date, Digest, Kind, Pseudonym, RecordBody, Seq};
use pilot_proto::pb;
use pilot_store::{NodeStore, OutboxOp, SentEntry, SharedChange, SharedIndex};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::SyncConfig;
use crate::grpc::hub_client::HubClient;
use crate::metrics::NodeMetrics;
use crate::prepare::{Prepared, mark_held};
use crate::{Error, Result};

/// Exponential reconnect backoff with full jitter, capped.
#[derive(Debug, Clone)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    attempt: u32,
}

impl Backoff {
    /// A backoff between `min_ms` and `max_ms`.
    pub fn new(min_ms: u64, max_ms: u64) -> Self {
        Backoff { min_ms, max_ms, attempt: 0 }
    }

    /// The delay before the next attempt; `random` is any uniformly random number.
    ///
    /// The ceiling doubles per failure up to `max_ms`; the delay is drawn from
    /// [ceiling/2, ceiling] so that 22 nodes restarting together spread out.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let ceiling = self.min_ms.saturating_mul(1u64 << self.attempt.min(32)).min(self.max_ms);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        Duration::from_millis(half + random % (ceiling - half + 1))
    }

    /// Forgets past failures after a successful session start.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Builds the next batch after `after`: the wire entries and the highest sequence it covers.
///
/// Entries superseded by a later change of the same record are covered but not sent.
/// Records the anonymizer holds back (as of `today`) are sent as tombstones, so the hub forgets
/// them. The shared set and the sharing ledger record what the batch tells the hub.
/// Outcomes in `prepared` (anonymized ahead for the same sequence and day) are used instead of
/// anonymizing again, and everything the batch covers is forgotten there.
pub fn build_batch(
    store: &NodeStore,
    shared: &SharedIndex,
    anon: &Anonymizer,
    prepared: Option<&Prepared>,
    after: Seq,
    limit: usize,
    today: Date,
) -> Result<Option<pb::PushBatch>> {
    let entries = store.outbox_after(after, limit)?;
    let Some((through, _)) = entries.last() else { return Ok(None) };
    let through = *through;
    let batch_id = store.next_batch_id()?;
    let sent_at_ms = crate::intake::now().0;
    let mut out = Vec::with_capacity(entries.len());
    let mut ledger = Vec::with_capacity(entries.len());
    let mut changes = Vec::with_capacity(entries.len());
    for (seq, entry) in entries {
        // The pseudonym comes from the stored record or the tombstone: no second HMAC.
        let (change, summary_json, tombstone_reason, pseudonym) = match entry.op {
            OutboxOp::Delete => {
                let t = anon.tombstone(&entry.local_id, entry.kind);
                (
                    pb::outbox_entry::Change::Tombstone(pb::Tombstone::from(&t)),
                    None,
                    Some("deleted".to_owned()),
                    t.get().key.pseudonym.clone(),
                )
            }
            OutboxOp::Upsert => {
                let Some(stored) = store.get(&entry.local_id)? else { continue };
                if stored.seq != seq {
                    continue;
                }
                let outcome = prepared
                    .and_then(|p| p.take(seq, today))
                    .unwrap_or_else(|| anon.anonymize(&stored.record, today));
                mark_held(store, &entry.local_id, &outcome)?;
                match outcome {
                    Outcome::Share(summary) => {
                        let json =
                            serde_json::to_string(summary.get()).expect("summaries serialize");
                        (
                            pb::outbox_entry::Change::Upsert(pb::Summary::from(&summary)),
                            Some(json),
                            None,
                            stored.pseudonym.clone(),
                        )
                    }
                    Outcome::Withhold { tombstone, reason } => {
                        debug!(local_id = %entry.local_id, reason = reason.code(), "not shared");
                        let t = pb::Tombstone::from(&tombstone);
                        (
                            pb::outbox_entry::Change::Tombstone(t),
                            None,
                            Some(reason.code().to_owned()),
                            stored.pseudonym.clone(),
                        )
                    }
                }
            }
        };
        changes.push(match &change {
            pb::outbox_entry::Change::Upsert(_) => SharedChange::Set {
                pseudonym: pseudonym.clone(),
                version: seq,
                local_id: entry.local_id.clone(),
            },
            pb::outbox_entry::Change::Tombstone(_) => SharedChange::Remove(pseudonym.clone()),
        });
        ledger.push(SentEntry {
            batch: batch_id,
            seq,
            sent_at_ms,
            local_id: entry.local_id.clone(),
            pseudonym,
            kind: entry.kind,
            summary_json,
            tombstone_reason,
        });
        out.push(pb::OutboxEntry { seq: seq.0, change: Some(change) });
    }
    store.record_sent(&ledger)?;
    shared.apply(&changes)?;
    // NB: on the device before the batch can leave. Otherwise a node killed after the hub
    // acknowledged the batch, but before its own writes reached the disk, comes back with the
    // hub's watermark past the batch and a shared set without it; anti-entropy then trusts the
    // shared set and has the hub drop the batch's summaries, which are never sent again.
    store.db().flush()?;
    if let Some(p) = prepared {
        p.sent_through(through);
    }
    Ok(Some(pb::PushBatch {
        city: anon.city().to_string(),
        entries: out,
        through_seq: through.0,
        last_seq: store.last_seq()?.0,
        after_seq: after.0,
    }))
}

/// The node's side of a digest comparison.
pub fn digest_request(
    store: &NodeStore,
    shared: &SharedIndex,
    anon: &Anonymizer,
    acked: Seq,
) -> Result<(pb::DigestRequest, BucketDigests)> {
    let buckets = shared.bucket_digests()?;
    let total = buckets.total();
    let req = pb::DigestRequest {
        city: anon.city().to_string(),
        digest: Some(pb::SetDigest { count: total.count, hash: total.hash }),
        last_seq: store.last_seq()?.0,
        acked_seq: acked.0,
    };
    Ok((req, buckets))
}

/// The buckets that differ from the hub's, as complete listings, at most about `max_entries`
/// pairs per request (a bucket is never split; one larger than that goes alone).
pub fn listings(
    shared: &SharedIndex,
    anon: &Anonymizer,
    mine: &BucketDigests,
    hub: &[pb::SetDigest],
    max_entries: usize,
) -> Result<Vec<pb::ReconcileRequest>> {
    let hub: Vec<Digest> = hub.iter().map(|d| Digest { count: d.count, hash: d.hash }).collect();
    let mut out = Vec::new();
    let mut current = pb::ReconcileRequest { city: anon.city().to_string(), buckets: vec![] };
    let mut size = 0;
    for bucket in mine.differing(&hub) {
        let entries: Vec<pb::SharedVersion> = shared
            .bucket(bucket)?
            .into_iter()
            .map(|e| pb::SharedVersion {
                pseudonym: e.pseudonym.as_str().to_owned(),
                version: e.version.0,
            })
            .collect();
        if size > 0 && size + entries.len() > max_entries {
            out.push(std::mem::replace(
                &mut current,
                pb::ReconcileRequest { city: anon.city().to_string(), buckets: vec![] },
            ));
            size = 0;
        }
        size += entries.len();
        current.buckets.push(pb::BucketListing { bucket: bucket as u32, entries });
    }
    if !current.buckets.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// Queues again the records the hub asked for; unknown pseudonyms (a record deleted since) are
/// skipped. Returns how many were queued; the caller wakes the sender.
pub fn requeue_pseudonyms(
    store: &NodeStore,
    shared: &SharedIndex,
    pseudonyms: &[String],
) -> Result<usize> {
    let mut ids = Vec::with_capacity(pseudonyms.len());
    for p in pseudonyms {
        let Ok(p) = Pseudonym::parse(p) else { continue };
        if let Some(e) = shared.get(&p)? {
            ids.push(e.local_id);
        }
    }
    let mut n = 0;
    if !ids.is_empty() {
        let mut w = store.write();
        for id in &ids {
            n += usize::from(w.requeue(id)?.is_some());
        }
        w.commit()?;
        store.db().flush()?;
    }
    Ok(n)
}

/// Queues every shared demand whose deadline is before `today`, so that its tombstone reaches
/// the hub. Returns how many were queued.
pub fn expire_lapsed(store: &NodeStore, shared: &SharedIndex, today: Date) -> Result<usize> {
    let mut lapsed = Vec::new();
    store.scan(Some(Kind::Demand), |s| {
        if let RecordBody::Demand(d) = &s.record.body
            && d.deadline.is_some_and(|d| d < today)
            && s.record.status.is_shared()
        {
            lapsed.push((s.record.local_id, s.pseudonym));
        }
        true
    })?;
    let mut ids = Vec::new();
    for (id, p) in lapsed {
        if shared.get(&p)?.is_some() {
            ids.push(id);
        }
    }
    if !ids.is_empty() {
        let mut w = store.write();
        for id in &ids {
            w.requeue(id)?;
        }
        w.commit()?;
        store.db().flush()?;
    }
    Ok(ids.len())
}

/// Shared view of the sync task's state, for statistics.
#[derive(Debug)]
pub struct SyncStatus {
    shared: SharedIndex,
    metrics: Arc<NodeMetrics>,
    /// Held (shared) by every store step of the sync task, and exclusively by a backup.
    gate: std::sync::RwLock<()>,
    connected: AtomicBool,
    digest_state: AtomicU8,
    digest_checked_ms: AtomicU64,
    /// Outcomes anonymized ahead of sending.
    prepared: Prepared,
}

impl SyncStatus {
    /// The state of a sync task over `shared`, holding at most `prepare_ahead` outcomes
    /// anonymized ahead of sending.
    pub fn new(shared: SharedIndex, metrics: Arc<NodeMetrics>, prepare_ahead: usize) -> Self {
        SyncStatus {
            shared,
            metrics,
            prepared: Prepared::new(prepare_ahead),
            gate: std::sync::RwLock::new(()),
            connected: AtomicBool::new(false),
            digest_state: AtomicU8::new(0),
            digest_checked_ms: AtomicU64::new(0),
        }
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// Outcomes anonymized ahead of sending.
    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Held by every store step of the sync and prepare tasks; a backup waits for them.
    pub(crate) fn gate(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A consistent backup of the node's store into `out`: the sync task's store steps and
    /// every intake write wait while it is taken.
    pub fn backup(
        &self,
        store: &NodeStore,
        out: &mut impl std::io::Write,
    ) -> Result<(pilot_store::Manifest, String)> {
        let _paused = self.gate.write().unwrap_or_else(|p| p.into_inner());
        Ok(store.backup(&self.shared, out)?)
    }

    /// A shared handle to the node's metrics.
    pub fn metrics_handle(&self) -> Arc<NodeMetrics> {
        self.metrics.clone()
    }

    /// Adds the sync figures (connection, shared digest, anti-entropy state) to `stats`.
    /// Blocking: scans the shared set.
    pub fn fill_stats(&self, stats: &mut pb::StatsReply) -> Result<()> {
        let d = self.shared.bucket_digests()?.total();
        let (state, checked) = self.digest_state();
        stats.hub_connected = self.connected();
        stats.shared_digest = Some(pb::SetDigest { count: d.count, hash: d.hash });
        stats.digest_state = state as i32;
        stats.digest_checked_unix_ms = i64::try_from(checked).unwrap_or(i64::MAX);
        stats.prepared_seq = self.prepared.cursor().0.max(stats.acked_seq);
        Ok(())
    }

    /// Whether a push stream to the hub is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The last anti-entropy outcome and when it was reached (ms since the epoch, 0 if never).
    pub fn digest_state(&self) -> (pb::DigestState, u64) {
        let state = match self.digest_state.load(Ordering::Relaxed) {
            1 => pb::DigestState::Equal,
            2 => pb::DigestState::Repairing,
            _ => pb::DigestState::Unknown,
        };
        (state, self.digest_checked_ms.load(Ordering::Relaxed))
    }

    fn set_digest_state(&self, state: pb::DigestState) {
        self.digest_state.store(state as u8, Ordering::Relaxed);
        self.digest_checked_ms.store(crate::intake::now().0, Ordering::Relaxed);
    }
}

/// Everything the sync task needs.
#[derive(Debug, Clone)]
pub struct SyncTask {
    /// The node's store.
    pub store: NodeStore,
    /// What the node has told the hub it shares.
    pub shared: SharedIndex,
    /// The anonymizer.
    pub anon: Arc<Anonymizer>,
    /// The hub.
    pub hub: HubClient,
    /// Tuning.
    pub cfg: SyncConfig,
    /// Woken by every local change.
    pub wake: Arc<Notify>,
    /// Connection state for statistics.
    pub status: Arc<SyncStatus>,
}

impl SyncTask {
    /// Runs until `token` is cancelled, reconnecting with backoff after any failure.
    pub async fn run(self, token: CancellationToken) {
        let mut backoff = Backoff::new(self.cfg.backoff_min_ms, self.cfg.backoff_max_ms);
        loop {
            let result = tokio::select! {
                _ = token.cancelled() => return,
                r = self.session(&token, &mut backoff) => r,
            };
            self.status.connected.store(false, Ordering::Relaxed);
            if token.is_cancelled() {
                return;
            }
            let delay = backoff.next_delay(rand::random());
            match result {
                Ok(()) => {}
                Err(e) => {
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "sync session ended")
                }
            }
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&NodeStore, &SharedIndex, &Anonymizer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (store, shared, anon) = (self.store.clone(), self.shared.clone(), self.anon.clone());
        let status = self.status.clone();
        tokio::task::spawn_blocking(move || {
            // A backup in progress holds this exclusively.
            let _step = status.gate();
            f(&store, &shared, &anon)
        })
        .await
        .map_err(|e| Error::HubUnavailable(format!("sync worker failed: {e}")))?
    }

    /// One anti-entropy round; returns whether the hub now equals (or already equalled) the node.
    /// Called only with nothing in flight and everything acknowledged.
    async fn anti_entropy(&self, acked: Seq) -> Result<AntiEntropy> {
        let (req, mine) = self.blocking(move |s, sh, a| digest_request(s, sh, a, acked)).await?;
        let reply = self.hub.digest(req).await?;
        if reply.equal {
            self.status.set_digest_state(pb::DigestState::Equal);
            return Ok(AntiEntropy::Equal);
        }
        if reply.acked_seq != acked.0 {
            // The hub's watermark moved under us: it restarted from an older state, lost its
            // data, or applied a late batch of an old stream. Start a new session, whose resume
            // aligns the watermarks (and resends everything if the hub lost data).
            return Err(Error::HubUnavailable(format!(
                "the hub's watermark is {} but ours is {}; resuming",
                reply.acked_seq, acked.0
            )));
        }
        if reply.buckets.is_empty() {
            return Ok(AntiEntropy::NotComparable);
        }
        self.status.set_digest_state(pb::DigestState::Repairing);
        let chunk = self.cfg.reconcile_chunk;
        let hub_buckets = reply.buckets;
        let requests =
            self.blocking(move |_, sh, a| listings(sh, a, &mine, &hub_buckets, chunk)).await?;
        let (mut resend, mut dropped) = (Vec::new(), 0u64);
        for r in requests {
            let reply = self.hub.reconcile(r).await?;
            dropped += u64::from(reply.dropped);
            resend.extend(reply.resend);
        }
        let n = resend.len();
        let queued = self.blocking(move |s, sh, _| requeue_pseudonyms(s, sh, &resend)).await?;
        warn!(resend = n, queued, dropped, "anti-entropy repaired a difference with the hub");
        Ok(AntiEntropy::Repaired)
    }

    /// One connection's worth of sync: resume, then stream until an error or cancellation.
    async fn session(&self, token: &CancellationToken, backoff: &mut Backoff) -> Result<()> {
        let last_seq = self.blocking(|s, _, _| Ok(s.last_seq()?)).await?;
        let hub_acked = self.hub.resume(last_seq).await?;
        let mut acked = self.blocking(move |s, _, _| reconcile_watermark(s, hub_acked)).await?;
        backoff.reset();
        info!(acked_seq = acked.0, "sync session started");
        let today = crate::intake::now().date();
        let lapsed = self.blocking(move |s, sh, _| expire_lapsed(s, sh, today)).await?;
        if lapsed > 0 {
            info!(lapsed, "demands past their deadline queued for withdrawal");
        }
        let mut last_expiry = Instant::now();
        // Compare digests as soon as the outbox first drains, then every interval.
        let mut next_check = Instant::now();
        let interval = Duration::from_secs(self.cfg.anti_entropy_secs);
        let mut repairs_in_a_row = 0u32;
        let mut sent_at = std::collections::VecDeque::new();

        let (tx, rx) = mpsc::channel::<pb::PushBatch>(self.cfg.max_in_flight);
        let mut acks = self.hub.push(tokio_stream::wrappers::ReceiverStream::new(rx)).await?;
        self.status.connected.store(true, Ordering::Relaxed);
        let mut sent = acked;
        let mut in_flight = 0usize;
        let idle = Duration::from_millis(self.cfg.idle_poll_ms);
        loop {
            while in_flight < self.cfg.max_in_flight {
                let limit = self.cfg.batch_size;
                let today = crate::intake::now().date();
                let status = self.status.clone();
                let Some(batch) = self
                    .blocking(move |s, sh, a| {
                        build_batch(s, sh, a, Some(status.prepared()), sent, limit, today)
                    })
                    .await?
                else {
                    break;
                };
                sent = Seq(batch.through_seq);
                let m = self.status.metrics();
                for e in &batch.entries {
                    match e.change {
                        Some(pb::outbox_entry::Change::Upsert(_)) => m.summaries_sent.add(1),
                        _ => m.tombstones_sent.add(1),
                    }
                }
                sent_at.push_back(Instant::now());
                if tx.send(batch).await.is_err() {
                    return Err(Error::HubUnavailable("push stream closed".into()));
                }
                in_flight += 1;
            }
            if in_flight == 0 {
                if last_expiry.elapsed() >= EXPIRY_SWEEP {
                    last_expiry = Instant::now();
                    let today = crate::intake::now().date();
                    if self.blocking(move |s, sh, _| expire_lapsed(s, sh, today)).await? > 0 {
                        continue;
                    }
                }
                if Instant::now() >= next_check {
                    next_check = Instant::now() + interval;
                    match self.anti_entropy(acked).await? {
                        AntiEntropy::Equal => {
                            repairs_in_a_row = 0;
                            debug!("digest equals the hub's");
                        }
                        // Check again as soon as the resent records are acknowledged (but not
                        // in a tight loop if something keeps them apart).
                        AntiEntropy::Repaired => {
                            self.status.metrics().repairs.add(1);
                            repairs_in_a_row += 1;
                            if repairs_in_a_row < 3 {
                                next_check = Instant::now();
                            }
                            continue;
                        }
                        AntiEntropy::NotComparable => {
                            next_check = Instant::now() + idle.max(Duration::from_millis(500));
                        }
                    }
                }
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = self.wake.notified() => continue,
                    _ = tokio::time::sleep(idle) => continue,
                    // Nothing is in flight, so anything here means the stream ended.
                    m = acks.message() => {
                        return Err(Error::HubUnavailable(match m {
                            Ok(_) => "hub closed the push stream".into(),
                            Err(status) => format!("{:?}: {}", status.code(), status.message()),
                        }));
                    }
                }
            }
            let ack = tokio::select! {
                _ = token.cancelled() => return Ok(()),
                r = tokio::time::timeout(self.cfg.rpc_timeout(), acks.message()) => r,
            };
            let ack = match ack {
                Err(_) => {
                    return Err(Error::HubUnavailable(
                        "no acknowledgement before the deadline".into(),
                    ));
                }
                Ok(Err(status)) => {
                    return Err(Error::HubUnavailable(format!(
                        "{:?}: {}",
                        status.code(),
                        status.message()
                    )));
                }
                Ok(Ok(None)) => {
                    return Err(Error::HubUnavailable("hub closed the push stream".into()));
                }
                Ok(Ok(Some(ack))) => ack,
            };
            in_flight -= 1;
            if let Some(t) = sent_at.pop_front() {
                self.status.metrics().ack_latency.observe("push", t.elapsed());
            }
            let new_acked = Seq(ack.acked_seq);
            if new_acked > acked {
                acked = new_acked;
                self.blocking(move |s, _, _| Ok(s.set_acked(new_acked)?)).await?;
                debug!(
                    acked_seq = acked.0,
                    applied = ack.applied,
                    ignored = ack.ignored,
                    "acknowledged"
                );
            }
        }
    }
}

/// How often a connected node looks for demands that lapsed since the last sweep.
const EXPIRY_SWEEP: Duration = Duration::from_secs(3600);

/// What an anti-entropy round found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AntiEntropy {
    /// The hub holds exactly what the node shares.
    Equal,
    /// They differed; the hub dropped extras and the node queued what the hub lacked.
    Repaired,
    /// The watermarks differ (batches in flight); nothing was compared.
    NotComparable,
}

/// Aligns the node with the hub's watermark at the start of a session.
///
/// If the hub knows less than the node thought (the hub was restored or lost its data), the
/// pruned outbox cannot be replayed, so every record is queued again. If the hub knows a
/// higher sequence than the node ever wrote (the node was restored), the node's counter jumps
/// past it first so that its new changes are not taken for duplicates.
pub fn reconcile_watermark(store: &NodeStore, hub_acked: Seq) -> Result<Seq> {
    let node_acked = store.acked_seq()?;
    let last = store.last_seq()?;
    if hub_acked < node_acked || hub_acked > last {
        let n = store.requeue_all(hub_acked)?;
        warn!(
            hub_acked = hub_acked.0,
            node_acked = node_acked.0,
            requeued = n,
            "hub and node disagree; resending every record"
        );
    }
    store.set_acked(hub_acked)?;
    Ok(hub_acked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        for random in [0, 1, 7, 12_345, u64::MAX] {
            let mut b = Backoff::new(200, 30_000);
            let mut ceiling = 200;
            for _ in 0..12 {
                let d = b.next_delay(random).as_millis() as u64;
                assert!(
                    (ceiling / 2..=ceiling).contains(&d),
                    "{d} outside [{}, {ceiling}] for random {random}",
                    ceiling / 2
                );
                ceiling = (ceiling * 2).min(30_000);
            }
        }
        let mut b = Backoff::new(200, 30_000);
        for _ in 0..20 {
            b.next_delay(1);
        }
        assert!(
            b.next_delay(u64::MAX).as_millis() >= 15_000,
            "capped ceiling stays at the maximum"
        );
        b.reset();
        assert!(b.next_delay(u64::MAX).as_millis() <= 200, "reset starts over");
    }
}
