//! Node → hub sync: a pure backoff policy and batch builder, and the task that drives them.
//!
//! The outbox is read in sequence order and each entry is turned into what it shares *now*:
//! the record is re-read and re-anonymized at send time, so an entry superseded by a later
//! change of the same record is skipped, and nothing but `pilot-anon`'s output is ever sent.
//! The hub's acknowledgement is the only thing that moves the outbox forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pilot_anon::{Anonymizer, HoldReason, Outcome};
use pilot_model::Seq;
use pilot_proto::pb;
use pilot_store::{NodeStore, OutboxOp, SentEntry};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::SyncConfig;
use crate::grpc::hub_client::HubClient;
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
/// Records the anonymizer holds back are sent as tombstones, so the hub forgets them.
pub fn build_batch(
    store: &NodeStore,
    anon: &Anonymizer,
    after: Seq,
    limit: usize,
) -> Result<Option<pb::PushBatch>> {
    let entries = store.outbox_after(after, limit)?;
    let Some((through, _)) = entries.last() else { return Ok(None) };
    let through = *through;
    let batch_id = store.next_batch_id()?;
    let sent_at_ms = crate::intake::now().0;
    let mut out = Vec::with_capacity(entries.len());
    let mut ledger = Vec::with_capacity(entries.len());
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
                match anon.anonymize(&stored.record, crate::intake::now().date()) {
                    Outcome::Share(summary) => {
                        store.set_held(&entry.local_id, None)?;
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
                        // A record that is simply not shared (draft, closed, withdrawn, expired) is not
                        // "held back": only the privacy gate's refusals are.
                        let held =
                            !matches!(reason, HoldReason::NotShared(_) | HoldReason::Expired(_));
                        let mark = format!("{}\t{reason}", reason.code());
                        store.set_held(&entry.local_id, held.then_some(mark.as_str()))?;
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
    Ok(Some(pb::PushBatch { city: anon.city().to_string(), entries: out, through_seq: through.0 }))
}

/// Shared view of the sync task's state, for statistics.
#[derive(Debug, Default)]
pub struct SyncStatus {
    connected: AtomicBool,
}

impl SyncStatus {
    /// Whether a push stream to the hub is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Everything the sync task needs.
#[derive(Debug, Clone)]
pub struct SyncTask {
    /// The node's store.
    pub store: NodeStore,
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
        f: impl FnOnce(&NodeStore, &Anonymizer) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (store, anon) = (self.store.clone(), self.anon.clone());
        tokio::task::spawn_blocking(move || f(&store, &anon))
            .await
            .map_err(|e| Error::HubUnavailable(format!("sync worker failed: {e}")))?
    }

    /// One connection's worth of sync: resume, then stream until an error or cancellation.
    async fn session(&self, token: &CancellationToken, backoff: &mut Backoff) -> Result<()> {
        let hub_acked = self.hub.resume().await?;
        let mut acked = self.blocking(move |s, _| reconcile(s, hub_acked)).await?;
        backoff.reset();
        info!(acked_seq = acked.0, "sync session started");

        let (tx, rx) = mpsc::channel::<pb::PushBatch>(self.cfg.max_in_flight);
        let mut acks = self.hub.push(tokio_stream::wrappers::ReceiverStream::new(rx)).await?;
        self.status.connected.store(true, Ordering::Relaxed);
        let mut sent = acked;
        let mut in_flight = 0usize;
        let idle = Duration::from_millis(self.cfg.idle_poll_ms);
        loop {
            while in_flight < self.cfg.max_in_flight {
                let limit = self.cfg.batch_size;
                let Some(batch) = self.blocking(move |s, a| build_batch(s, a, sent, limit)).await?
                else {
                    break;
                };
                sent = Seq(batch.through_seq);
                if tx.send(batch).await.is_err() {
                    return Err(Error::HubUnavailable("push stream closed".into()));
                }
                in_flight += 1;
            }
            if in_flight == 0 {
                tokio::select! {
                    _ = token.cancelled() => return Ok(()),
                    _ = self.wake.notified() => continue,
                    _ = tokio::time::sleep(idle) => continue,
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
            let new_acked = Seq(ack.acked_seq);
            if new_acked > acked {
                acked = new_acked;
                self.blocking(move |s, _| Ok(s.set_acked(new_acked)?)).await?;
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

/// Aligns the node with the hub's watermark at the start of a session.
///
/// If the hub knows less than the node thought (the hub was restored or lost its data), the
/// pruned outbox cannot be replayed, so every record is queued again. If the hub knows a
/// higher sequence than the node ever wrote (the node was restored), the node's counter jumps
/// past it first so that its new changes are not taken for duplicates.
fn reconcile(store: &NodeStore, hub_acked: Seq) -> Result<Seq> {
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
